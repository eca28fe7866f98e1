-- A client records clients.yaml's allowed_groups: the groups whose members
-- may sign in to it, as a JSON list. Empty: everyone may. Existing clients
-- allow everyone until the next sync.

-- +goose Up
ALTER TABLE clients ADD COLUMN allowed_groups TEXT NOT NULL DEFAULT '[]';

-- +goose Down
ALTER TABLE clients DROP COLUMN allowed_groups;
