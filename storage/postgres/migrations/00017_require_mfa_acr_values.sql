-- Second-factor sign-in.
--
-- A client records clients.yaml's require_mfa: sign-ins to it need a
-- second factor. Existing clients get false until the next sync. A
-- constant default does not rewrite the table.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN require_mfa boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE clients
    DROP COLUMN require_mfa;
