-- Password-reset links (storage.PasswordResets).
--
-- password_resets holds each link by the SHA-256 of its token (id), never
-- the token; password_stamp is the SHA-256 of the user's password hash when
-- the link was made. A link goes with its user (foreign keys are on, see
-- connParams); Prune deletes the expired ones (password_resets_expires_at).
-- users_email serves the lookup by email, ignoring ASCII case.

-- +goose Up
CREATE TABLE password_resets (
    id             TEXT NOT NULL PRIMARY KEY,
    user_id        TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_stamp TEXT NOT NULL,
    created_at     INTEGER,
    expires_at     INTEGER
) STRICT;
CREATE INDEX password_resets_user_id ON password_resets (user_id);
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);
CREATE INDEX users_email ON users (email COLLATE NOCASE);

-- +goose Down
DROP INDEX users_email;
DROP TABLE password_resets;
