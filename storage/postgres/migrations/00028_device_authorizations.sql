-- Device sign-ins (RFC 8628, storage.DeviceAuthorizations), when no Redis
-- holds them.
--
-- device_authorizations holds each one by the SHA-256 of its device code,
-- never the code; user_code is the normal form of what the user types
-- (unique while the row is kept). interval_us is the least time between
-- polls in microseconds; status pending, approved, denied or redeemed.
-- Prune deletes a row at its keep_until (after expires_at, so that a late
-- poll learns expired_token).

-- +goose Up
CREATE TABLE device_authorizations (
    device_code_hash text COLLATE "C" NOT NULL PRIMARY KEY,
    user_code        text COLLATE "C" NOT NULL UNIQUE,
    client_id        text COLLATE "C" NOT NULL,
    scopes           text[] NOT NULL,
    acr_values       text[] NOT NULL,
    created_at       timestamptz,
    expires_at       timestamptz,
    keep_until       timestamptz,
    interval_us      bigint NOT NULL,
    last_poll        timestamptz,
    status           text NOT NULL,
    user_id          text COLLATE "C" NOT NULL,
    session_id       text COLLATE "C" NOT NULL,
    auth_time        timestamptz,
    amr              text[] NOT NULL,
    redeemed_by      text COLLATE "C" NOT NULL
);
CREATE INDEX device_authorizations_keep_until ON device_authorizations (keep_until);

-- +goose Down
DROP TABLE device_authorizations;
