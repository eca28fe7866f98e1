-- +goose Up
-- The rotation lock is a lease in a one-row table rather than a held
-- transaction: SQLite has one writer at a time, so a transaction held while
-- the holder writes keys through other connections would block itself.
CREATE TABLE key_rotation_lock (
    id         INTEGER NOT NULL PRIMARY KEY CHECK (id = 1),
    holder     TEXT    NOT NULL,
    expires_at INTEGER NOT NULL
) STRICT;

-- +goose Down
DROP TABLE key_rotation_lock;
