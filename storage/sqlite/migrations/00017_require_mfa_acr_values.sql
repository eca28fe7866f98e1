-- Second-factor sign-in.
--
-- A client records clients.yaml's require_mfa: sign-ins to it need a
-- second factor. Existing clients get false until the next sync.

-- +goose Up
ALTER TABLE clients ADD COLUMN require_mfa INTEGER NOT NULL DEFAULT 0;

-- +goose Down
ALTER TABLE clients DROP COLUMN require_mfa;
