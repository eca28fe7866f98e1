-- The JWS algorithm a client registered for its ID tokens
-- (id_token_signed_response_alg in clients.yaml): RS256, ES256 or EdDSA,
-- or '' for the server's default. Existing clients get ''.

-- +goose Up
ALTER TABLE clients ADD COLUMN id_token_signed_response_alg TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE clients DROP COLUMN id_token_signed_response_alg;
