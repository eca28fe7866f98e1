-- Pushed and signed authorization requests (RFC 9126, RFC 9101).
--
-- A client records clients.yaml's require_pushed_authorization_requests
-- and request_object_signing_alg; existing clients get neither until the
-- next sync. A constant default does not rewrite the table.
--
-- pushed_requests holds each pushed authorization request by the SHA-256
-- of its request_uri's random part (id), with the client that pushed it and
-- its parameters (a URL-encoded form) until its single use; Prune deletes
-- the expired ones (pushed_requests_expires_at). Deployments with Redis
-- keep them there instead.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN require_pushed_authorization_requests boolean NOT NULL DEFAULT false,
    ADD COLUMN request_object_signing_alg text NOT NULL DEFAULT '';
CREATE TABLE pushed_requests (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    client_id  text COLLATE "C" NOT NULL,
    params     text NOT NULL,
    created_at timestamptz,
    expires_at timestamptz
);
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);

-- +goose Down
DROP TABLE pushed_requests;
ALTER TABLE clients
    DROP COLUMN request_object_signing_alg,
    DROP COLUMN require_pushed_authorization_requests;
