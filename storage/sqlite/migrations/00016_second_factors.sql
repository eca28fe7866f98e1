-- Second factors (storage.SecondFactors) and the half-signed-in state
-- (storage.PendingSignIns).
--
-- totp_credentials holds a user's one-time-code generator, one per user:
-- its secret sealed under the key-encryption key kek_id, and the last
-- RFC 6238 time step whose code was accepted (a code of that step or an
-- earlier one is a replay). recovery_codes holds a user's unused recovery
-- codes, found by their id (the code's first group) and checked against
-- the argon2id hash of the whole code; a used code is deleted. Both go
-- with their user (foreign keys are on, see connParams).
--
-- pending_sign_ins holds the state between a correct password and the
-- second factor still due: amr is a JSON array, remember 0/1;
-- auth_request_id and session_id are '' when there is none. Prune deletes
-- the expired ones.

-- +goose Up
CREATE TABLE totp_credentials (
    user_id       TEXT    NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret BLOB    NOT NULL,
    kek_id        TEXT    NOT NULL,
    last_step     INTEGER NOT NULL,
    created_at    INTEGER,
    last_used_at  INTEGER
) STRICT;

CREATE TABLE recovery_codes (
    user_id    TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id         TEXT NOT NULL,
    hash       TEXT NOT NULL,
    created_at INTEGER,
    PRIMARY KEY (user_id, id)
) STRICT;

CREATE TABLE pending_sign_ins (
    id              TEXT    NOT NULL PRIMARY KEY,
    user_id         TEXT    NOT NULL,
    browser_hash    TEXT    NOT NULL,
    auth_request_id TEXT    NOT NULL,
    session_id      TEXT    NOT NULL,
    remember        INTEGER NOT NULL DEFAULT 0,
    amr             TEXT    NOT NULL,
    auth_time       INTEGER,
    created_at      INTEGER,
    expires_at      INTEGER
) STRICT;
CREATE INDEX pending_sign_ins_expires_at ON pending_sign_ins (expires_at);

-- +goose Down
DROP TABLE pending_sign_ins;
DROP TABLE recovery_codes;
DROP TABLE totp_credentials;
