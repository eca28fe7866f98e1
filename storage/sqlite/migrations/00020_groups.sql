-- Groups (storage.Groups): named sets of users.
--
-- groups holds the groups by name (1–64 characters of [a-z0-9._-], checked
-- by the callers). group_members holds who is in which group; a membership
-- goes with its group and with its user (foreign keys are on, see
-- connParams). group_members_user_id serves a user's groups and the
-- cascade from users.

-- +goose Up
CREATE TABLE groups (
    name       TEXT NOT NULL PRIMARY KEY,
    created_at INTEGER
) STRICT;

CREATE TABLE group_members (
    group_name TEXT NOT NULL REFERENCES groups (name) ON DELETE CASCADE,
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    PRIMARY KEY (group_name, user_id)
) STRICT;
CREATE INDEX group_members_user_id ON group_members (user_id);

-- +goose Down
DROP TABLE group_members;
DROP TABLE groups;
