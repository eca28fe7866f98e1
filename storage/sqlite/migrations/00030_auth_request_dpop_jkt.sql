-- An auth request records the DPoP key its code is bound to (RFC 9449
-- §10): the JWK thumbprint of dpop_jkt, or of the key of the DPoP proof a
-- pushed request came with; '' for none. Requests stored before are bound
-- to none.

-- +goose Up
ALTER TABLE auth_requests ADD COLUMN dpop_jkt TEXT NOT NULL DEFAULT '';

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN dpop_jkt;
