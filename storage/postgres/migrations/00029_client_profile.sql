-- A client records clients.yaml's profile: a security profile it is held
-- to ("" for none, "fapi2" for the FAPI 2.0 Security Profile). Existing
-- clients have none until the next sync.

-- +goose Up
ALTER TABLE clients ADD COLUMN profile text NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN profile;
