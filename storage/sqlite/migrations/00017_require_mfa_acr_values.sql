-- Second-factor sign-in.
--
-- A client records clients.yaml's require_mfa: sign-ins to it need a
-- second factor. Existing clients get false until the next sync.
--
-- An auth request records the acr_values its client asked for, in order
-- of preference, as a JSON list; requests stored before have none.

-- +goose Up
ALTER TABLE clients ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0;
ALTER TABLE auth_requests ADD COLUMN acr_values TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN acr_values;
ALTER TABLE clients DROP COLUMN require_mfa;
