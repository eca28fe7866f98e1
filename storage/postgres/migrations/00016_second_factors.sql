-- Second factors (storage.SecondFactors) and the half-signed-in state
-- (storage.PendingSignIns).
--
-- totp_credentials holds a user's one-time-code generator, one per user:
-- its secret sealed under the key-encryption key kek_id, and the last
-- RFC 6238 time step whose code was accepted (a code of that step or an
-- earlier one is a replay). recovery_codes holds a user's unused recovery
-- codes, found by their id (the code's first group) and checked against
-- the argon2id hash of the whole code; a used code is deleted. Both go
-- with their user.
--
-- pending_sign_ins holds the state between a correct password and the
-- second factor still due (in SQL when Redis is not configured);
-- auth_request_id and session_id are '' when there is none. Prune deletes
-- the expired ones.

-- +goose Up
CREATE TABLE totp_credentials (
    user_id       text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    sealed_secret bytea  NOT NULL,
    kek_id        text   NOT NULL,
    last_step     bigint NOT NULL,
    created_at    timestamptz,
    last_used_at  timestamptz
);

CREATE TABLE recovery_codes (
    user_id    text COLLATE "C" NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    id         text COLLATE "C" NOT NULL,
    hash       text NOT NULL,
    created_at timestamptz,
    PRIMARY KEY (user_id, id)
);

CREATE TABLE pending_sign_ins (
    id              text COLLATE "C" NOT NULL PRIMARY KEY,
    user_id         text    NOT NULL,
    browser_hash    text    NOT NULL,
    auth_request_id text    NOT NULL,
    session_id      text    NOT NULL,
    remember        boolean NOT NULL DEFAULT false,
    amr             text[]  NOT NULL DEFAULT '{}',
    auth_time       timestamptz,
    created_at      timestamptz,
    expires_at      timestamptz
);
CREATE INDEX pending_sign_ins_expires_at ON pending_sign_ins (expires_at);

-- +goose Down
DROP TABLE pending_sign_ins;
DROP TABLE recovery_codes;
DROP TABLE totp_credentials;
