-- Per-client refresh-token policy (clients.yaml's refresh_token_grace_period,
-- refresh_token_idle_ttl, refresh_token_absolute_ttl), as integer
-- nanoseconds (time.Duration): 0 means the server's default (no idle limit
-- for the idle TTL), a negative grace period means no grace window.
-- Existing clients get 0.
--
-- A refresh grant records its family's absolute deadline
-- (absolute_expires_at), fixed at the code exchange; expires_at may come
-- earlier (the idle deadline). Grants stored before keep NULL, which the
-- provider reads as expires_at: that was their family's deadline.

-- +goose Up
ALTER TABLE clients ADD COLUMN refresh_token_grace_period INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN refresh_token_idle_ttl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN refresh_token_absolute_ttl INTEGER NOT NULL DEFAULT 0;
ALTER TABLE refresh_grants ADD COLUMN absolute_expires_at INTEGER;

-- +goose Down
ALTER TABLE refresh_grants DROP COLUMN absolute_expires_at;
ALTER TABLE clients DROP COLUMN refresh_token_absolute_ttl;
ALTER TABLE clients DROP COLUMN refresh_token_idle_ttl;
ALTER TABLE clients DROP COLUMN refresh_token_grace_period;
