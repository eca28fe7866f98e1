-- +goose Up
-- No query looks refresh grants up by used_at (every lookup is by token
-- hash, family, user or expiry; reuse detection reads used_at of the row it
-- found), yet every rotation changed this index twice: the old grant's entry
-- moved and the new grant's was added. Dropping it saves those page writes
-- on every refresh.
DROP INDEX refresh_grants_used_at;

-- +goose Down
CREATE INDEX refresh_grants_used_at ON refresh_grants (used_at);
