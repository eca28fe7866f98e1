-- The format of a client's access tokens (access_token_format in
-- clients.yaml): 'jwt' (RFC 9068) or 'opaque', or '' for jwt. Existing
-- clients get ''.

-- +goose Up
ALTER TABLE clients ADD COLUMN access_token_format TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN access_token_format;
