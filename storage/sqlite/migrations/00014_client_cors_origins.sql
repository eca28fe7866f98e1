-- The extra web origins from which a public web client may call the token,
-- revocation and userinfo endpoints in a browser (allowed_cors_origins in
-- clients.yaml), as a JSON list. Existing clients get none: only the
-- origins of their redirect URIs.

-- +goose Up
ALTER TABLE clients ADD COLUMN allowed_cors_origins TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE clients DROP COLUMN allowed_cors_origins;
