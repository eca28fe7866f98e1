-- Pushed and signed authorization requests (RFC 9126, RFC 9101).
--
-- A client records clients.yaml's require_pushed_authorization_requests
-- and request_object_signing_alg; existing clients get neither until the
-- next sync.
--
-- pushed_requests holds each pushed authorization request by the SHA-256
-- of its request_uri's random part (id), with the client that pushed it and
-- its parameters (a URL-encoded form) until its single use; Prune deletes
-- the expired ones (pushed_requests_expires_at).

-- +goose Up
ALTER TABLE clients ADD COLUMN require_pushed_authorization_requests INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN request_object_signing_alg TEXT NOT NULL DEFAULT '';
CREATE TABLE pushed_requests (
    id         TEXT NOT NULL PRIMARY KEY,
    client_id  TEXT NOT NULL,
    params     TEXT NOT NULL,
    created_at INTEGER,
    expires_at INTEGER
) STRICT;
CREATE INDEX pushed_requests_expires_at ON pushed_requests (expires_at);

-- +goose Down
DROP TABLE pushed_requests;
ALTER TABLE clients DROP COLUMN request_object_signing_alg;
ALTER TABLE clients DROP COLUMN require_pushed_authorization_requests;
