-- The audit trail.
--
-- audit_events holds one row per event, appended and never updated; id
-- comes from a sequence, so ids are unique and never reused. An unknown
-- string is ''. The indexes serve AuditEvents' filters and PruneAudit's
-- oldest-first deletes.

-- +goose Up
CREATE TABLE audit_events (
    id         bigserial   PRIMARY KEY,
    time       timestamptz NOT NULL,
    kind       text        NOT NULL,
    user_id    text COLLATE "C" NOT NULL DEFAULT '',
    client_id  text COLLATE "C" NOT NULL DEFAULT '',
    session_id text        NOT NULL DEFAULT '',
    family     text        NOT NULL DEFAULT '',
    ip         text        NOT NULL DEFAULT '',
    actor      text        NOT NULL DEFAULT '',
    detail     text        NOT NULL DEFAULT ''
);
CREATE INDEX audit_events_user_time ON audit_events (user_id, time);
CREATE INDEX audit_events_client_time ON audit_events (client_id, time);
CREATE INDEX audit_events_time ON audit_events (time);

-- +goose Down
DROP TABLE audit_events;
