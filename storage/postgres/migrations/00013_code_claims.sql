-- +goose Up
-- A code is redeemed in two steps (storage.AuthRequests.ClaimCode): a
-- redemption attempt claims it for a lease, then marks it redeemed once its
-- tokens are stored, or gives it back. A redeemed request stays until Prune
-- removes it at its expiry, so a retry of the same attempt is recognised.
ALTER TABLE auth_requests ADD COLUMN code_claim text;
ALTER TABLE auth_requests ADD COLUMN code_claim_until timestamptz;
ALTER TABLE auth_requests ADD COLUMN code_redeemed boolean NOT NULL DEFAULT false;

-- +goose Down
ALTER TABLE auth_requests DROP COLUMN code_redeemed;
ALTER TABLE auth_requests DROP COLUMN code_claim_until;
ALTER TABLE auth_requests DROP COLUMN code_claim;
