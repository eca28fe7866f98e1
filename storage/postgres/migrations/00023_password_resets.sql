-- Password-reset links (storage.PasswordResets).
--
-- password_resets holds each link by the SHA-256 of its token (id), never
-- the token; password_stamp is the SHA-256 of the user's password hash when
-- the link was made. A link goes with its user (ON DELETE CASCADE); Prune
-- deletes the expired ones (password_resets_expires_at). users_email serves
-- the lookup by email, ignoring ASCII case (lower under the "C" collation
-- changes only A-Z, as SQLite's NOCASE).

-- +goose Up
CREATE TABLE password_resets (
    id             text COLLATE "C" NOT NULL PRIMARY KEY,
    user_id        text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    password_stamp text NOT NULL,
    created_at     timestamptz,
    expires_at     timestamptz
);
CREATE INDEX password_resets_user_id ON password_resets (user_id);
CREATE INDEX password_resets_expires_at ON password_resets (expires_at);
CREATE INDEX users_email ON users (lower(email COLLATE "C"));

-- +goose Down
DROP INDEX users_email;
DROP TABLE password_resets;
