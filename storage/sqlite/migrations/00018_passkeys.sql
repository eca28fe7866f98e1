-- Passkeys (storage.Passkeys) and WebAuthn ceremonies
-- (storage.WebAuthnCeremonies).
--
-- passkeys holds users' WebAuthn credentials, found by their credential id
-- (WebAuthn's rawId: up to 1023 arbitrary bytes, unique across users).
-- credential is go-webauthn's credential record as JSON, opaque to the
-- store; sign_count is the authenticator's signature counter as last seen
-- (a uint32), updated only by a compare-and-set on its previous value. A
-- user's passkeys go with the user (foreign keys are on, see connParams).
--
-- webauthn_ceremonies holds the server's half of a registration or an
-- authentication until the browser answers (in SQL when Redis is not
-- configured); user_id is '' for a passwordless sign-in, data is
-- go-webauthn's session data as JSON. A ceremony is taken (deleted) once;
-- Prune deletes the expired ones.

-- +goose Up
CREATE TABLE passkeys (
    id           BLOB    NOT NULL PRIMARY KEY,
    user_id      TEXT    NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    name         TEXT    NOT NULL,
    credential   BLOB    NOT NULL,
    sign_count   INTEGER NOT NULL CHECK (sign_count BETWEEN 0 AND 4294967295),
    created_at   INTEGER,
    last_used_at INTEGER
) STRICT;
CREATE INDEX passkeys_user_id ON passkeys (user_id);

CREATE TABLE webauthn_ceremonies (
    id         TEXT NOT NULL PRIMARY KEY,
    kind       TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    binding    TEXT NOT NULL,
    data       BLOB NOT NULL,
    created_at INTEGER,
    expires_at INTEGER
) STRICT;
CREATE INDEX webauthn_ceremonies_expires_at ON webauthn_ceremonies (expires_at);

-- +goose Down
DROP TABLE webauthn_ceremonies;
DROP TABLE passkeys;
