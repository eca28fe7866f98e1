-- A client records clients.yaml's allowed_groups: the groups whose members
-- may sign in to it. Empty: everyone may. Existing clients allow everyone
-- until the next sync. A constant default does not rewrite the table.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN allowed_groups text[] NOT NULL DEFAULT '{}';

-- +goose Down
ALTER TABLE clients
    DROP COLUMN allowed_groups;
