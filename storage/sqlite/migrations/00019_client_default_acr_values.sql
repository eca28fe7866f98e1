-- A client records clients.yaml's default_acr_values: the acr values asked
-- for when an authorization request names none, in order of preference, as
-- a JSON list. Existing clients get none until the next sync.

-- +goose Up
ALTER TABLE clients ADD COLUMN default_acr_values TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE clients DROP COLUMN default_acr_values;
