-- A client records where it is declared (source: file for clients.yaml,
-- api for the admin API, registration for dynamic client registration) and
-- a version counting its changes, for compare-and-set updates (ETags).
-- Every existing client came from clients.yaml.

-- +goose Up
ALTER TABLE clients ADD COLUMN source text NOT NULL DEFAULT 'file';
ALTER TABLE clients ADD COLUMN version bigint NOT NULL DEFAULT 1;

-- +goose Down
ALTER TABLE clients DROP COLUMN version;
ALTER TABLE clients DROP COLUMN source;
