-- +goose Up
-- The clients registry applied last (storage.ClientRegistries): one row at
-- most. Instances compare their clients.yaml with it before applying theirs,
-- so an older file never undoes a newer one.
CREATE TABLE client_registry (
    id         INTEGER PRIMARY KEY CHECK (id = 1),
    revision   INTEGER NOT NULL,
    digest     TEXT    NOT NULL,
    applied_at INTEGER NOT NULL,
    applied_by TEXT    NOT NULL
) STRICT;

-- +goose Down
DROP TABLE client_registry;
