-- The audit trail.
--
-- audit_events holds one row per event, appended and never updated:
-- AUTOINCREMENT keeps ids increasing and never reused, even after
-- PruneAudit has deleted the newest rows. time is Unix nanoseconds; an
-- unknown string is ''. The indexes serve AuditEvents' filters (each ends
-- in the rowid, id, so newest first needs no sort) and PruneAudit's
-- oldest-first deletes.

-- +goose Up
CREATE TABLE audit_events (
    id         INTEGER PRIMARY KEY AUTOINCREMENT,
    time       INTEGER NOT NULL,
    kind       TEXT    NOT NULL,
    user_id    TEXT    NOT NULL DEFAULT '',
    client_id  TEXT    NOT NULL DEFAULT '',
    session_id TEXT    NOT NULL DEFAULT '',
    family     TEXT    NOT NULL DEFAULT '',
    ip         TEXT    NOT NULL DEFAULT '',
    actor      TEXT    NOT NULL DEFAULT '',
    detail     TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX audit_events_user_time ON audit_events (user_id, time);
CREATE INDEX audit_events_client_time ON audit_events (client_id, time);
CREATE INDEX audit_events_time ON audit_events (time);

-- +goose Down
DROP TABLE audit_events;
