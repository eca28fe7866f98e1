-- Single sign-out, consent and login throttling.
--
-- Clients gain clients.yaml's skip_consent and their OpenID Back-Channel
-- and Front-Channel Logout registrations ('' and false for none); existing
-- clients get none. Constant defaults do not rewrite the table.
--
-- A session records its absolute deadline (absolute_expires_at, fixed at
-- sign-in; NULL for sessions stored before, which then never outlive
-- their expires_at), whether the user asked to be remembered, and the
-- clients signed in through it (in the order they first were). A refresh
-- grant records the session it was issued in ('' when unknown).
--
-- consents holds one standing consent per user and client, its scopes
-- sorted by bytes.
--
-- logout_notices is the back-channel logout delivery queue: a notice is
-- due when next_attempt has come (NULL: at once) and dropped at deadline.
-- Claimers lock due rows with FOR UPDATE SKIP LOCKED. Prune deletes
-- notices past their deadline.
--
-- login_failures counts failed sign-ins per key (an account or a client
-- address) until expires_at; a counter past it counts as 0. Prune deletes
-- those.

-- +goose Up
ALTER TABLE clients
    ADD COLUMN skip_consent                         boolean NOT NULL DEFAULT false,
    ADD COLUMN backchannel_logout_uri               text    NOT NULL DEFAULT '',
    ADD COLUMN backchannel_logout_session_required  boolean NOT NULL DEFAULT false,
    ADD COLUMN frontchannel_logout_uri              text    NOT NULL DEFAULT '',
    ADD COLUMN frontchannel_logout_session_required boolean NOT NULL DEFAULT false;

ALTER TABLE sessions
    ADD COLUMN absolute_expires_at timestamptz,
    ADD COLUMN remember            boolean NOT NULL DEFAULT false,
    ADD COLUMN clients             text[]  NOT NULL DEFAULT '{}';

ALTER TABLE refresh_grants
    ADD COLUMN session_id text NOT NULL DEFAULT '';

CREATE TABLE consents (
    user_id    text COLLATE "C" NOT NULL,
    client_id  text COLLATE "C" NOT NULL,
    scopes     text[] NOT NULL DEFAULT '{}',
    created_at timestamptz,
    updated_at timestamptz,
    PRIMARY KEY (user_id, client_id)
);

CREATE TABLE logout_notices (
    id           text COLLATE "C" NOT NULL PRIMARY KEY,
    client_id    text    NOT NULL,
    user_id      text    NOT NULL,
    session_id   text    NOT NULL,
    created_at   timestamptz,
    deadline     timestamptz,
    attempts     integer NOT NULL DEFAULT 0,
    next_attempt timestamptz,
    last_error   text    NOT NULL DEFAULT ''
);
CREATE INDEX logout_notices_next_attempt ON logout_notices (next_attempt NULLS FIRST);
CREATE INDEX logout_notices_deadline ON logout_notices (deadline);

CREATE TABLE login_failures (
    key        text    NOT NULL PRIMARY KEY,
    count      integer NOT NULL,
    last_at    timestamptz,
    expires_at timestamptz
);
CREATE INDEX login_failures_expires_at ON login_failures (expires_at);

-- +goose Down
DROP TABLE login_failures;
DROP TABLE logout_notices;
DROP TABLE consents;
ALTER TABLE refresh_grants
    DROP COLUMN session_id;
ALTER TABLE sessions
    DROP COLUMN clients,
    DROP COLUMN remember,
    DROP COLUMN absolute_expires_at;
ALTER TABLE clients
    DROP COLUMN frontchannel_logout_session_required,
    DROP COLUMN backchannel_logout_uri,
    DROP COLUMN backchannel_logout_session_required,
    DROP COLUMN frontchannel_logout_uri,
    DROP COLUMN skip_consent;
