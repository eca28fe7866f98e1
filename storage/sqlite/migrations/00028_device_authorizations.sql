-- Device sign-ins (RFC 8628, storage.DeviceAuthorizations), when no Redis
-- holds them.
--
-- device_authorizations holds each one by the SHA-256 of its device code,
-- never the code; user_code is the normal form of what the user types
-- (unique while the row is kept). scopes, acr_values and amr are JSON
-- arrays; interval_ns the least time between polls in nanoseconds; status
-- pending, approved, denied or redeemed. Prune deletes a row at its
-- keep_until (after expires_at, so that a late poll learns expired_token).

-- +goose Up
CREATE TABLE device_authorizations (
    device_code_hash TEXT    NOT NULL PRIMARY KEY,
    user_code        TEXT    NOT NULL UNIQUE,
    client_id        TEXT    NOT NULL,
    scopes           TEXT    NOT NULL,
    acr_values       TEXT    NOT NULL,
    created_at       INTEGER,
    expires_at       INTEGER,
    keep_until       INTEGER,
    interval_ns      INTEGER NOT NULL,
    last_poll        INTEGER,
    status           TEXT    NOT NULL,
    user_id          TEXT    NOT NULL,
    session_id       TEXT    NOT NULL,
    auth_time        INTEGER,
    amr              TEXT    NOT NULL,
    redeemed_by      TEXT    NOT NULL
) STRICT;
CREATE INDEX device_authorizations_keep_until ON device_authorizations (keep_until);

-- +goose Down
DROP TABLE device_authorizations;
