-- Second-factor sign-in.
--
-- A client records clients.yaml's require_mfa: sign-ins to it need a
-- second factor. Existing clients get false until the next sync.
--
-- An auth request records the acr_values its client asked for, in order
-- of preference; requests stored before have none.
--
-- Constant defaults do not rewrite the tables.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;
ALTER TABLE auth_requests
    ADD COLUMN acr_values text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE auth_requests
    DROP COLUMN acr_values;
ALTER TABLE clients
    DROP COLUMN require_mfa;
