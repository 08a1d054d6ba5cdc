-- Accounts stand in for the hosted service's Firebase users. The first start
-- creates the owner account (is_owner = 1), which has no password: its tokens
-- come from the CLI on the same machine.
CREATE TABLE accounts (
    id            TEXT PRIMARY KEY NOT NULL,
    email         TEXT NOT NULL UNIQUE COLLATE NOCASE,
    display_name  TEXT NOT NULL DEFAULT '',
    password_hash TEXT,
    is_owner      INTEGER NOT NULL DEFAULT 0,
    plan_id       TEXT NOT NULL DEFAULT 'free',
    created_at    TEXT NOT NULL
);

-- Only a SHA-256 of each key is kept: keys are 190-bit random strings, so a
-- fast hash is as strong as a slow one and keeps per-request checks cheap.
CREATE TABLE api_keys (
    id           TEXT PRIMARY KEY NOT NULL,
    account_id   TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    name         TEXT NOT NULL,
    prefix       TEXT NOT NULL,
    key_hash     TEXT NOT NULL UNIQUE,
    tier         TEXT NOT NULL,
    created_at   TEXT NOT NULL,
    last_used_at TEXT,
    revoked_at   TEXT
);
CREATE INDEX api_keys_account ON api_keys(account_id);

-- Consumer avatars. Columns that are queried or constrained are real
-- columns; the rest of the avatar's configuration (soul, voice, appearance)
-- lives in `settings` as JSON so new fields need no migration.
CREATE TABLE consumer_avatars (
    id                 TEXT PRIMARY KEY NOT NULL,
    account_id         TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    short_id           TEXT NOT NULL UNIQUE,
    slug               TEXT NOT NULL,
    name               TEXT NOT NULL,
    status             TEXT NOT NULL DEFAULT 'active',
    is_public          INTEGER NOT NULL DEFAULT 1,
    settings           TEXT NOT NULL DEFAULT '{}',
    system_prompt      TEXT NOT NULL DEFAULT '',
    view_count         INTEGER NOT NULL DEFAULT 0,
    conversation_count INTEGER NOT NULL DEFAULT 0,
    created_at         TEXT NOT NULL,
    updated_at         TEXT NOT NULL,
    UNIQUE (account_id, slug)
);
CREATE INDEX consumer_avatars_account ON consumer_avatars(account_id, created_at);

-- One row per public page view, so analytics can bucket views by day.
CREATE TABLE avatar_views (
    avatar_id TEXT NOT NULL REFERENCES consumer_avatars(id) ON DELETE CASCADE,
    viewed_at TEXT NOT NULL
);
CREATE INDEX avatar_views_avatar ON avatar_views(avatar_id, viewed_at);

-- Visitor sessions with a public avatar. account_id is the avatar owner's,
-- denormalised so monthly quotas are one indexed count.
CREATE TABLE avatar_sessions (
    id            TEXT PRIMARY KEY NOT NULL,
    avatar_id     TEXT NOT NULL REFERENCES consumer_avatars(id) ON DELETE CASCADE,
    account_id    TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    visitor_name  TEXT,
    visitor_email TEXT,
    source        TEXT,
    started_at    TEXT NOT NULL,
    ended_at      TEXT,
    duration_ms   INTEGER,
    summary       TEXT
);
CREATE INDEX avatar_sessions_avatar ON avatar_sessions(avatar_id, started_at);
CREATE INDEX avatar_sessions_account ON avatar_sessions(account_id, started_at);
