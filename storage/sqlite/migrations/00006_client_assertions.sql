-- private_key_jwt client authentication (clients.yaml's jwks and
-- jwks_uri): jwks is the client's inline JWK Set as JSON text, jwks_uri
-- where its keys are fetched from; '' for clients without. Existing
-- clients get ''.
--
-- client_assertions remembers the jti of every client assertion accepted,
-- until the assertion has expired (expires_at, Unix nanoseconds), so that
-- none is accepted twice. Prune deletes expired rows.

-- +goose Up
ALTER TABLE clients ADD COLUMN jwks TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN jwks_uri TEXT NOT NULL DEFAULT '';
CREATE TABLE client_assertions (
    client_id  TEXT    NOT NULL,
    jti        TEXT    NOT NULL,
    expires_at INTEGER NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);

-- +goose Down
DROP TABLE client_assertions;
ALTER TABLE clients DROP COLUMN jwks_uri;
ALTER TABLE clients DROP COLUMN jwks;
