-- +goose Up
-- The clients registry applied last (storage.ClientRegistries): one row at
-- most. Instances compare their clients.yaml with it before applying theirs,
-- so an older file never undoes a newer one.
CREATE TABLE client_registry (
    id         smallint PRIMARY KEY CHECK (id = 1),
    revision   bigint      NOT NULL,
    digest     text        NOT NULL,
    applied_at timestamptz NOT NULL,
    applied_by text        NOT NULL
);

-- +goose Down
DROP TABLE client_registry;
