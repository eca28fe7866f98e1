-- +goose Up
-- Prune drops the kept answer of a rotated refresh token once its grace
-- window has passed (reuse detection needs only the hash and used_at); this
-- index finds those rows without scanning every grant.
CREATE INDEX refresh_grants_replay_until ON refresh_grants (replay_until) WHERE replay IS NOT NULL;

-- +goose Down
DROP INDEX refresh_grants_replay_until;
