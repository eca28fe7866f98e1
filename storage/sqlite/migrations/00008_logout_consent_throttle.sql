-- Single sign-out, consent and login throttling.
--
-- Clients gain clients.yaml's skip_consent and their OpenID Back-Channel
-- and Front-Channel Logout registrations ('' and 0 for none); existing
-- clients get none.
--
-- A session records its absolute deadline (absolute_expires_at, fixed at
-- sign-in; NULL for sessions stored before, which then never outlive
-- their expires_at), whether the user asked to be remembered, and the
-- clients signed in through it (a JSON array, in the order they first
-- were). A refresh grant records the session it was issued in ('' when
-- unknown).
--
-- consents holds one standing consent per user and client: its scopes
-- are a sorted JSON array.
--
-- logout_notices is the back-channel logout delivery queue: a notice is
-- due when next_attempt has come (NULL: at once) and dropped at deadline.
-- Prune deletes notices past their deadline.
--
-- login_failures counts failed sign-ins per key (an account or a client
-- address) until expires_at; a counter past it counts as 0. Prune deletes
-- those.

-- +goose Up
ALTER TABLE clients ADD COLUMN skip_consent INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN backchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN backchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;
ALTER TABLE clients ADD COLUMN frontchannel_logout_uri TEXT NOT NULL DEFAULT '';
ALTER TABLE clients ADD COLUMN frontchannel_logout_session_required INTEGER NOT NULL DEFAULT 0;

ALTER TABLE sessions ADD COLUMN absolute_expires_at INTEGER;
ALTER TABLE sessions ADD COLUMN remember INTEGER NOT NULL DEFAULT 0;
ALTER TABLE sessions ADD COLUMN clients TEXT NOT NULL DEFAULT '[]';

ALTER TABLE refresh_grants ADD COLUMN session_id TEXT NOT NULL DEFAULT '';

CREATE TABLE consents (
    user_id    TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    created_at INTEGER,
    updated_at INTEGER,
    PRIMARY KEY (user_id, client_id)
) STRICT;

CREATE TABLE logout_notices (
    id           TEXT    NOT NULL PRIMARY KEY,
    client_id    TEXT    NOT NULL,
    user_id      TEXT    NOT NULL,
    session_id   TEXT    NOT NULL,
    created_at   INTEGER,
    deadline     INTEGER,
    attempts     INTEGER NOT NULL DEFAULT 0,
    next_attempt INTEGER,
    last_error   TEXT    NOT NULL DEFAULT ''
) STRICT;
CREATE INDEX logout_notices_next_attempt ON logout_notices (next_attempt);
CREATE INDEX logout_notices_deadline ON logout_notices (deadline);

CREATE TABLE login_failures (
    key        TEXT    NOT NULL PRIMARY KEY,
    count      INTEGER NOT NULL,
    last_at    INTEGER,
    expires_at INTEGER
) STRICT;
CREATE INDEX login_failures_expires_at ON login_failures (expires_at);

-- +goose Down
DROP TABLE login_failures;
DROP TABLE logout_notices;
DROP TABLE consents;
ALTER TABLE refresh_grants DROP COLUMN session_id;
ALTER TABLE sessions DROP COLUMN clients;
ALTER TABLE sessions DROP COLUMN remember;
ALTER TABLE sessions DROP COLUMN absolute_expires_at;
ALTER TABLE clients DROP COLUMN frontchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN frontchannel_logout_uri;
ALTER TABLE clients DROP COLUMN backchannel_logout_session_required;
ALTER TABLE clients DROP COLUMN backchannel_logout_uri;
ALTER TABLE clients DROP COLUMN skip_consent;
