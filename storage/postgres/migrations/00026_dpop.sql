-- DPoP (RFC 9449).
--
-- A client records clients.yaml's dpop_bound_access_tokens: every token
-- request of the client must carry a DPoP proof. Existing clients get
-- false until the next sync.
--
-- A refresh grant records the thumbprint (RFC 7638) of the key a public
-- client's refresh token is bound to; '' for unbound grants, which all
-- existing ones are.
--
-- dpop_proofs remembers the jti of every DPoP proof accepted, per key
-- thumbprint, until the proof's window has ended (expires_at), so that
-- none is accepted twice on any instance; deployments with Redis keep them
-- there instead. Prune deletes expired rows.
--
-- Constant defaults do not rewrite the tables.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN dpop_bound_access_tokens boolean NOT NULL DEFAULT false;
ALTER TABLE refresh_grants
    ADD COLUMN dpop_jkt text NOT NULL DEFAULT '';
CREATE TABLE dpop_proofs (
    jkt        text        NOT NULL,
    jti        text        NOT NULL,
    expires_at timestamptz NOT NULL,
    PRIMARY KEY (jkt, jti)
);
CREATE INDEX dpop_proofs_expires_at ON dpop_proofs (expires_at);

-- +goose Down
DROP TABLE dpop_proofs;
ALTER TABLE refresh_grants
    DROP COLUMN dpop_jkt;
ALTER TABLE clients
    DROP COLUMN dpop_bound_access_tokens;
