-- Gatehouse embedded schema.
--
-- Conventions: times are INTEGER Unix nanoseconds (UTC), NULL for the zero
-- time; string lists are JSON arrays in TEXT columns; booleans are 0/1.
-- A record whose expires_at is NULL (the zero time) is never live.

-- +goose Up
CREATE TABLE clients (
    id                         TEXT    NOT NULL PRIMARY KEY,
    secret_hash                TEXT    NOT NULL,
    name                       TEXT    NOT NULL,
    redirect_uris              TEXT    NOT NULL,
    post_logout_redirect_uris  TEXT    NOT NULL,
    grant_types                TEXT    NOT NULL,
    response_types             TEXT    NOT NULL,
    token_endpoint_auth_method TEXT    NOT NULL,
    application_type           TEXT    NOT NULL,
    scopes                     TEXT    NOT NULL,
    disabled                   INTEGER NOT NULL DEFAULT 0,
    created_at                 INTEGER,
    updated_at                 INTEGER
) STRICT;

CREATE TABLE users (
    id             TEXT    NOT NULL PRIMARY KEY,
    username       TEXT    NOT NULL,
    email          TEXT    NOT NULL,
    email_verified INTEGER NOT NULL DEFAULT 0,
    name           TEXT    NOT NULL,
    password_hash  TEXT    NOT NULL,
    disabled       INTEGER NOT NULL DEFAULT 0,
    created_at     INTEGER,
    updated_at     INTEGER
) STRICT;
CREATE UNIQUE INDEX users_username ON users (username);

CREATE TABLE sessions (
    id         TEXT NOT NULL PRIMARY KEY,
    user_id    TEXT NOT NULL,
    auth_time  INTEGER,
    amr        TEXT NOT NULL,
    user_agent TEXT NOT NULL,
    ip         TEXT NOT NULL,
    created_at INTEGER,
    last_seen  INTEGER,
    expires_at INTEGER
) STRICT;
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE auth_requests (
    id                    TEXT    NOT NULL PRIMARY KEY,
    client_id             TEXT    NOT NULL,
    redirect_uri          TEXT    NOT NULL,
    scopes                TEXT    NOT NULL,
    state                 TEXT    NOT NULL,
    nonce                 TEXT    NOT NULL,
    response_type         TEXT    NOT NULL,
    response_mode         TEXT    NOT NULL,
    code_challenge        TEXT    NOT NULL,
    code_challenge_method TEXT    NOT NULL,
    prompt                TEXT    NOT NULL,
    max_age               INTEGER,
    login_hint            TEXT    NOT NULL,
    id_token_hint         TEXT    NOT NULL,
    hint_subject          TEXT    NOT NULL,
    browser_hash          TEXT    NOT NULL,
    created_at            INTEGER,
    expires_at            INTEGER,
    done                  INTEGER NOT NULL DEFAULT 0,
    user_id               TEXT    NOT NULL,
    session_id            TEXT    NOT NULL,
    auth_time             INTEGER,
    amr                   TEXT    NOT NULL,
    -- NULL until a code is issued; NULLs do not collide in a UNIQUE index.
    code_hash             TEXT
) STRICT;
CREATE UNIQUE INDEX auth_requests_code_hash ON auth_requests (code_hash);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

CREATE TABLE refresh_grants (
    token_hash TEXT NOT NULL PRIMARY KEY,
    family_id  TEXT NOT NULL,
    client_id  TEXT NOT NULL,
    user_id    TEXT NOT NULL,
    scopes     TEXT NOT NULL,
    audience   TEXT NOT NULL,
    auth_time  INTEGER,
    amr        TEXT NOT NULL,
    created_at INTEGER,
    expires_at INTEGER,
    used_at    INTEGER
) STRICT;
CREATE INDEX refresh_grants_family_id ON refresh_grants (family_id);
CREATE INDEX refresh_grants_used_at ON refresh_grants (used_at);
CREATE INDEX refresh_grants_user_id ON refresh_grants (user_id);
CREATE INDEX refresh_grants_expires_at ON refresh_grants (expires_at);

CREATE TABLE signing_keys (
    id             TEXT NOT NULL PRIMARY KEY,
    algorithm      TEXT NOT NULL,
    public_jwk     BLOB NOT NULL,
    private_sealed BLOB NOT NULL,
    kek_id         TEXT NOT NULL,
    created_at     INTEGER,
    publish_at     INTEGER,
    activate_at    INTEGER,
    retire_at      INTEGER,
    delete_at      INTEGER
) STRICT;
CREATE INDEX signing_keys_created_at ON signing_keys (created_at);

CREATE TABLE secrets (
    name       TEXT NOT NULL PRIMARY KEY,
    sealed     BLOB NOT NULL,
    kek_id     TEXT NOT NULL,
    created_at INTEGER
) STRICT;

-- +goose Down
DROP TABLE secrets;
DROP TABLE signing_keys;
DROP TABLE refresh_grants;
DROP TABLE auth_requests;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE clients;
