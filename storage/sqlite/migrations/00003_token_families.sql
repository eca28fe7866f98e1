-- Refresh-token reuse detection and family revocation.
--
-- A grant records when its family was revoked (revoked_at) and the sealed
-- token response its rotation produced, replayed to retries of the same
-- token until replay_until. revoked_families remembers a revoked family
-- until expires_at (the life of the access tokens it issued), also for
-- families that never had a refresh grant; Prune deletes it after that.

-- +goose Up
ALTER TABLE refresh_grants ADD COLUMN revoked_at INTEGER;
ALTER TABLE refresh_grants ADD COLUMN replay BLOB;
ALTER TABLE refresh_grants ADD COLUMN replay_until INTEGER;

CREATE TABLE revoked_families (
    id         TEXT NOT NULL PRIMARY KEY,
    revoked_at INTEGER,
    expires_at INTEGER
) STRICT;
CREATE INDEX revoked_families_expires_at ON revoked_families (expires_at);

-- +goose Down
DROP TABLE revoked_families;
ALTER TABLE refresh_grants DROP COLUMN replay_until;
ALTER TABLE refresh_grants DROP COLUMN replay;
ALTER TABLE refresh_grants DROP COLUMN revoked_at;
