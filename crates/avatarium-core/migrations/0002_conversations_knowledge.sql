-- Knowledge base: items as the creator added them, chunks for retrieval.
CREATE TABLE knowledge_items (
    id          TEXT PRIMARY KEY NOT NULL,
    avatar_id   TEXT NOT NULL REFERENCES consumer_avatars(id) ON DELETE CASCADE,
    type        TEXT NOT NULL,          -- text | url | file
    title       TEXT NOT NULL,
    source      TEXT,                   -- the URL or file name
    mime        TEXT,
    chars       INTEGER NOT NULL,
    chunk_count INTEGER NOT NULL,
    created_at  TEXT NOT NULL
);
CREATE INDEX knowledge_items_avatar ON knowledge_items(avatar_id, created_at);

CREATE TABLE knowledge_chunks (
    id        INTEGER PRIMARY KEY,
    item_id   TEXT NOT NULL REFERENCES knowledge_items(id) ON DELETE CASCADE,
    avatar_id TEXT NOT NULL,
    idx       INTEGER NOT NULL,
    heading   TEXT,
    text      TEXT NOT NULL,
    -- little-endian f32 vector from the configured embeddings provider, if any
    embedding BLOB
);
CREATE INDEX knowledge_chunks_item ON knowledge_chunks(item_id);
CREATE INDEX knowledge_chunks_avatar ON knowledge_chunks(avatar_id);

-- Full-text index over stemmed chunk text (stemming is done in Rust, so the
-- same stemmer serves documents and queries). rowid = knowledge_chunks.id.
CREATE VIRTUAL TABLE knowledge_fts USING fts5(doc, tokenize = 'unicode61');

CREATE TRIGGER knowledge_chunks_fts_delete AFTER DELETE ON knowledge_chunks BEGIN
    DELETE FROM knowledge_fts WHERE rowid = old.id;
END;

-- API conversations (000) and logged conversations (004).
CREATE TABLE conversations (
    id                 TEXT PRIMARY KEY NOT NULL,
    account_id         TEXT NOT NULL REFERENCES accounts(id) ON DELETE CASCADE,
    avatar_id          TEXT,            -- a preset id or a consumer avatar id
    consumer_avatar_id TEXT REFERENCES consumer_avatars(id) ON DELETE CASCADE,
    provider           TEXT NOT NULL,
    model              TEXT NOT NULL,
    system_prompt      TEXT NOT NULL,
    byok               INTEGER NOT NULL DEFAULT 0,
    source             TEXT NOT NULL DEFAULT 'api',
    metadata           TEXT,
    status             TEXT NOT NULL DEFAULT 'active',
    created_at         TEXT NOT NULL,
    ended_at           TEXT
);
CREATE INDEX conversations_account ON conversations(account_id, created_at);

-- Messages of a conversation or of a public avatar session (exactly one of
-- the two is set).
CREATE TABLE messages (
    id              TEXT PRIMARY KEY NOT NULL,
    conversation_id TEXT REFERENCES conversations(id) ON DELETE CASCADE,
    session_id      TEXT REFERENCES avatar_sessions(id) ON DELETE CASCADE,
    role            TEXT NOT NULL,
    content         TEXT NOT NULL,
    emotion         TEXT,
    sources         TEXT,               -- JSON [{title, relevance}]
    latency_ms      INTEGER,
    llm_ms          INTEGER,
    created_at      TEXT NOT NULL,
    CHECK ((conversation_id IS NULL) <> (session_id IS NULL))
);
CREATE INDEX messages_conversation ON messages(conversation_id, created_at);
CREATE INDEX messages_session ON messages(session_id, created_at);
