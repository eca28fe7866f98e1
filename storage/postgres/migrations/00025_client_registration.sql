-- Dynamic client registration (storage.Registrations).
--
-- initial_access_tokens holds the tokens an operator mints to let others
-- register clients: the token's SHA-256 (hex) only, its expiry (pruned
-- once past), how many clients it may register (max_uses, 0 for no limit)
-- and has (uses). client_registrations holds the SHA-256 of each registered
-- client's registration access token (RFC 7592); it goes with its client.

-- +goose Up
CREATE TABLE initial_access_tokens (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    token_hash text COLLATE "C" NOT NULL UNIQUE,
    expires_at timestamptz NOT NULL,
    max_uses   integer NOT NULL DEFAULT 0,
    uses       integer NOT NULL DEFAULT 0,
    created_at timestamptz,
    created_by text NOT NULL DEFAULT ''
);
CREATE INDEX initial_access_tokens_expires_at ON initial_access_tokens (expires_at);

CREATE TABLE client_registrations (
    client_id        text COLLATE "C" NOT NULL PRIMARY KEY REFERENCES clients (id) ON DELETE CASCADE,
    token_hash       text COLLATE "C" NOT NULL,
    initial_token_id text NOT NULL DEFAULT '',
    created_at       timestamptz
);

-- +goose Down
DROP TABLE client_registrations;
DROP TABLE initial_access_tokens;
