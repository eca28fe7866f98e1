-- Per-client refresh-token policy (clients.yaml's refresh_token_grace_period,
-- refresh_token_idle_ttl, refresh_token_absolute_ttl), as bigint
-- nanoseconds (time.Duration, so values round-trip exactly): 0 means the
-- server's default (no idle limit for the idle TTL), a negative grace
-- period means no grace window. Existing clients get 0; a constant default
-- does not rewrite the table.
--
-- A refresh grant records its family's absolute deadline
-- (absolute_expires_at), fixed at the code exchange; expires_at may come
-- earlier (the idle deadline). The column is nullable without a default,
-- so adding it does not rewrite refresh_grants: grants stored before keep
-- NULL, which the provider reads as expires_at, their family's deadline.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN refresh_token_grace_period bigint NOT NULL DEFAULT 0,
    ADD COLUMN refresh_token_idle_ttl     bigint NOT NULL DEFAULT 0,
    ADD COLUMN refresh_token_absolute_ttl bigint NOT NULL DEFAULT 0;
ALTER TABLE refresh_grants
    ADD COLUMN absolute_expires_at timestamptz;

-- +goose Down
ALTER TABLE refresh_grants
    DROP COLUMN absolute_expires_at;
ALTER TABLE clients
    DROP COLUMN refresh_token_absolute_ttl,
    DROP COLUMN refresh_token_idle_ttl,
    DROP COLUMN refresh_token_grace_period;
