-- Gatehouse production schema.
--
-- Conventions: times are timestamptz (microseconds), NULL for the zero time;
-- string lists are text[] (never NULL: an empty list is '{}'); binary values
-- are bytea. Columns that are sorted or compared as identifiers use the "C"
-- collation, so ordering is by bytes whatever the database's locale.
-- A record whose expires_at is NULL (the zero time) is never live.

-- +goose Up
CREATE TABLE clients (
    id                         text COLLATE "C" NOT NULL PRIMARY KEY,
    secret_hash                text    NOT NULL,
    name                       text    NOT NULL,
    redirect_uris              text[]  NOT NULL DEFAULT '{}',
    post_logout_redirect_uris  text[]  NOT NULL DEFAULT '{}',
    grant_types                text[]  NOT NULL DEFAULT '{}',
    response_types             text[]  NOT NULL DEFAULT '{}',
    token_endpoint_auth_method text    NOT NULL,
    application_type           text    NOT NULL,
    scopes                     text[]  NOT NULL DEFAULT '{}',
    disabled                   boolean NOT NULL DEFAULT false,
    created_at                 timestamptz,
    updated_at                 timestamptz
);

CREATE TABLE users (
    id             text COLLATE "C" NOT NULL PRIMARY KEY,
    username       text COLLATE "C" NOT NULL,
    email          text    NOT NULL,
    email_verified boolean NOT NULL DEFAULT false,
    name           text    NOT NULL,
    password_hash  text    NOT NULL,
    disabled       boolean NOT NULL DEFAULT false,
    created_at     timestamptz,
    updated_at     timestamptz
);
CREATE UNIQUE INDEX users_username ON users (username);

CREATE TABLE sessions (
    id         text COLLATE "C" NOT NULL PRIMARY KEY,
    user_id    text   NOT NULL,
    auth_time  timestamptz,
    amr        text[] NOT NULL DEFAULT '{}',
    user_agent text   NOT NULL,
    ip         text   NOT NULL,
    created_at timestamptz,
    last_seen  timestamptz,
    expires_at timestamptz
);
CREATE INDEX sessions_user_id ON sessions (user_id);
CREATE INDEX sessions_expires_at ON sessions (expires_at);

CREATE TABLE auth_requests (
    id                    text    NOT NULL PRIMARY KEY,
    client_id             text    NOT NULL,
    redirect_uri          text    NOT NULL,
    scopes                text[]  NOT NULL DEFAULT '{}',
    state                 text    NOT NULL,
    nonce                 text    NOT NULL,
    response_type         text    NOT NULL,
    response_mode         text    NOT NULL,
    code_challenge        text    NOT NULL,
    code_challenge_method text    NOT NULL,
    prompt                text[]  NOT NULL DEFAULT '{}',
    max_age               bigint,
    login_hint            text    NOT NULL,
    id_token_hint         text    NOT NULL,
    hint_subject          text    NOT NULL,
    browser_hash          text    NOT NULL,
    created_at            timestamptz,
    expires_at            timestamptz,
    done                  boolean NOT NULL DEFAULT false,
    user_id               text    NOT NULL,
    session_id            text    NOT NULL,
    auth_time             timestamptz,
    amr                   text[]  NOT NULL DEFAULT '{}',
    -- NULL until a code is issued; NULLs do not collide in a UNIQUE index.
    code_hash             text
);
CREATE UNIQUE INDEX auth_requests_code_hash ON auth_requests (code_hash);
CREATE INDEX auth_requests_expires_at ON auth_requests (expires_at);

CREATE TABLE refresh_grants (
    token_hash text   NOT NULL PRIMARY KEY,
    family_id  text   NOT NULL,
    client_id  text   NOT NULL,
    user_id    text   NOT NULL,
    scopes     text[] NOT NULL DEFAULT '{}',
    audience   text[] NOT NULL DEFAULT '{}',
    auth_time  timestamptz,
    amr        text[] NOT NULL DEFAULT '{}',
    created_at timestamptz,
    expires_at timestamptz,
    used_at    timestamptz
);
CREATE INDEX refresh_grants_family_id ON refresh_grants (family_id);
CREATE INDEX refresh_grants_used_at ON refresh_grants (used_at);
CREATE INDEX refresh_grants_user_id ON refresh_grants (user_id);
CREATE INDEX refresh_grants_expires_at ON refresh_grants (expires_at);

CREATE TABLE signing_keys (
    id             text COLLATE "C" NOT NULL PRIMARY KEY,
    algorithm      text  NOT NULL,
    public_jwk     bytea NOT NULL,
    private_sealed bytea NOT NULL,
    kek_id         text  NOT NULL,
    created_at     timestamptz,
    publish_at     timestamptz,
    activate_at    timestamptz,
    retire_at      timestamptz,
    delete_at      timestamptz
);
CREATE INDEX signing_keys_created_at ON signing_keys (created_at);
CREATE INDEX signing_keys_kek_id ON signing_keys (kek_id);

CREATE TABLE secrets (
    name       text  NOT NULL PRIMARY KEY,
    sealed     bytea NOT NULL,
    kek_id     text  NOT NULL,
    created_at timestamptz
);

-- +goose Down
DROP TABLE secrets;
DROP TABLE signing_keys;
DROP TABLE refresh_grants;
DROP TABLE auth_requests;
DROP TABLE sessions;
DROP TABLE users;
DROP TABLE clients;
