-- private_key_jwt client authentication (clients.yaml's jwks and
-- jwks_uri): jwks is the client's inline JWK Set as JSON text, jwks_uri
-- where its keys are fetched from; '' for clients without. A constant
-- default does not rewrite the table.
--
-- client_assertions remembers the jti of every client assertion accepted,
-- until the assertion has expired (expires_at), so that none is accepted
-- twice. Prune deletes expired rows.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN jwks     text NOT NULL DEFAULT '',
    ADD COLUMN jwks_uri text NOT NULL DEFAULT '';
CREATE TABLE client_assertions (
    client_id  text        NOT NULL,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (client_id, jti)
);
CREATE INDEX client_assertions_expires_at ON client_assertions (expires_at);

-- +goose Down
DROP TABLE client_assertions;
ALTER TABLE clients
    DROP COLUMN jwks_uri,
    DROP COLUMN jwks;
