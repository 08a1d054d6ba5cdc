use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{
    AnalyticsRows, AvatarUpdate, NewAvatar, NewChunk, NewConversation, NewKnowledgeItem,
    NewMessage, NewSession, Store, StoreError, StoreResult, Thread,
};
use crate::ids;
use crate::model::{
    Account, ApiKeyRecord, AvatarRecord, ChunkHit, ConversationRecord, KnowledgeItem,
    MessageRecord, SessionRecord,
};
use crate::time::now_iso;

pub const OWNER_EMAIL: &str = "owner@localhost";

#[derive(Clone)]
pub struct SqliteStore {
    pool: SqlitePool,
}

impl SqliteStore {
    /// Opens (creating if needed) the database file in WAL mode and applies
    /// pending migrations.
    pub async fn open(path: &Path) -> StoreResult<Self> {
        if let Some(dir) = path.parent() {
            std::fs::create_dir_all(dir).map_err(|e| StoreError::Database(sqlx::Error::Io(e)))?;
        }
        let options = SqliteConnectOptions::new()
            .filename(path)
            .create_if_missing(true)
            .journal_mode(SqliteJournalMode::Wal)
            // WAL + NORMAL is durable against application crashes and only
            // risks the last commits on power loss, for a large write speed-up.
            .synchronous(SqliteSynchronous::Normal)
            .foreign_keys(true)
            .busy_timeout(Duration::from_secs(5));
        Self::connect(options).await
    }

    /// A private in-memory database, for unit tests.
    pub async fn in_memory() -> StoreResult<Self> {
        let options = SqliteConnectOptions::from_str("sqlite::memory:")?.foreign_keys(true);
        Self::connect(options).await
    }

    async fn connect(options: SqliteConnectOptions) -> StoreResult<Self> {
        let in_memory = options.get_filename() == Path::new(":memory:");
        if !in_memory {
            // Switch a new file to WAL and migrate it on one connection
            // before the pool opens others: several connections doing that
            // at once can meet "database is locked".
            use sqlx::Connection;
            let mut first = sqlx::SqliteConnection::connect_with(&options).await?;
            sqlx::migrate!("./migrations").run(&mut first).await?;
            first.close().await?;
        }
        let pool = SqlitePoolOptions::new()
            // Each in-memory connection would be its own database.
            .max_connections(if in_memory { 1 } else { 8 })
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            .connect_with(options)
            .await?;
        sqlx::migrate!("./migrations").run(&pool).await?;
        Ok(Self { pool })
    }

    pub fn pool(&self) -> &SqlitePool {
        &self.pool
    }

    pub async fn close(&self) {
        self.pool.close().await;
    }
}

fn conflict_on_unique(err: sqlx::Error, what: &'static str) -> StoreError {
    match &err {
        sqlx::Error::Database(db) if db.is_unique_violation() => StoreError::Conflict(what),
        _ => StoreError::Database(err),
    }
}

const AVATAR_COLUMNS: &str = "id, account_id, short_id, slug, name, status, is_public, settings, \
     system_prompt, view_count, conversation_count, created_at, updated_at";

#[async_trait]
impl Store for SqliteStore {
    async fn owner(&self) -> StoreResult<Account> {
        if let Some(owner) =
            sqlx::query_as::<_, Account>("SELECT * FROM accounts WHERE is_owner = 1")
                .fetch_optional(&self.pool)
                .await?
        {
            return Ok(owner);
        }
        // Two processes (CLI and server) may race here on first start; the
        // unique email makes the loser's insert a no-op.
        sqlx::query(
            "INSERT INTO accounts (id, email, display_name, is_owner, plan_id, created_at) \
             VALUES (?, ?, 'Owner', 1, 'local', ?) ON CONFLICT(email) DO NOTHING",
        )
        .bind(ids::uuid())
        .bind(OWNER_EMAIL)
        .bind(now_iso())
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_as("SELECT * FROM accounts WHERE is_owner = 1")
            .fetch_one(&self.pool)
            .await?)
    }

    async fn create_account(
        &self,
        email: &str,
        display_name: &str,
        password_hash: &str,
    ) -> StoreResult<Account> {
        sqlx::query_as(
            "INSERT INTO accounts (id, email, display_name, password_hash, plan_id, created_at) \
             VALUES (?, ?, ?, ?, 'free', ?) RETURNING *",
        )
        .bind(ids::uuid())
        .bind(email)
        .bind(display_name)
        .bind(password_hash)
        .bind(now_iso())
        .fetch_one(&self.pool)
        .await
        .map_err(|e| conflict_on_unique(e, "an account with this email"))
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        Ok(sqlx::query_as("SELECT * FROM accounts WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn account(&self, id: &str) -> StoreResult<Option<Account>> {
        Ok(sqlx::query_as("SELECT * FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn create_api_key(
        &self,
        account_id: &str,
        name: &str,
        key_hash: &str,
        prefix: &str,
        tier: &str,
    ) -> StoreResult<ApiKeyRecord> {
        Ok(sqlx::query_as(
            "INSERT INTO api_keys (id, account_id, name, prefix, key_hash, tier, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(ids::uuid())
        .bind(account_id)
        .bind(name)
        .bind(prefix)
        .bind(key_hash)
        .bind(tier)
        .bind(now_iso())
        .fetch_one(&self.pool)
        .await?)
    }

    async fn api_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        Ok(sqlx::query_as(
            "SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at DESC, id",
        )
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn revoke_api_key(&self, account_id: &str, key_id: &str) -> StoreResult<bool> {
        let done = sqlx::query(
            "UPDATE api_keys SET revoked_at = ? \
             WHERE id = ? AND account_id = ? AND revoked_at IS NULL",
        )
        .bind(now_iso())
        .bind(key_id)
        .bind(account_id)
        .execute(&self.pool)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn active_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let key: Option<ApiKeyRecord> =
            sqlx::query_as("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL")
                .bind(key_hash)
                .fetch_optional(&self.pool)
                .await?;
        if let Some(k) = &key {
            // Record use at most once a minute so authenticated traffic does
            // not turn every read into a write.
            let now = chrono::Utc::now();
            let stale = crate::time::to_iso(now - chrono::Duration::seconds(60));
            if k.last_used_at.as_deref().is_none_or(|t| t < stale.as_str()) {
                sqlx::query("UPDATE api_keys SET last_used_at = ? WHERE id = ?")
                    .bind(crate::time::to_iso(now))
                    .bind(&k.id)
                    .execute(&self.pool)
                    .await?;
            }
        }
        Ok(key)
    }

    async fn create_avatar(&self, new: NewAvatar) -> StoreResult<AvatarRecord> {
        let settings =
            serde_json::to_string(&new.settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        let now = now_iso();
        // A clash of random short ids is astronomically unlikely, but retrying
        // costs nothing and keeps the guarantee absolute.
        for _ in 0..5 {
            let result = sqlx::query_as::<_, AvatarRecord>(&format!(
                "INSERT INTO consumer_avatars \
                 (id, account_id, short_id, slug, name, status, is_public, settings, system_prompt, \
                  created_at, updated_at) \
                 VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING {AVATAR_COLUMNS}"
            ))
            .bind(ids::uuid())
            .bind(&new.account_id)
            .bind(ids::short_id())
            .bind(&new.slug)
            .bind(&new.name)
            .bind(&new.status)
            .bind(new.is_public)
            .bind(&settings)
            .bind(&new.system_prompt)
            .bind(&now)
            .bind(&now)
            .fetch_one(&self.pool)
            .await;
            match result {
                Ok(rec) => return Ok(rec),
                Err(sqlx::Error::Database(db))
                    if db.is_unique_violation() && db.message().contains("short_id") =>
                {
                    continue;
                }
                Err(e) => return Err(conflict_on_unique(e, "an avatar with this slug")),
            }
        }
        Err(StoreError::Conflict("short id"))
    }

    async fn avatars(&self, account_id: &str) -> StoreResult<Vec<AvatarRecord>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AVATAR_COLUMNS} FROM consumer_avatars WHERE account_id = ? \
             ORDER BY created_at DESC, id"
        ))
        .bind(account_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn avatar(&self, account_id: &str, id: &str) -> StoreResult<Option<AvatarRecord>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AVATAR_COLUMNS} FROM consumer_avatars WHERE account_id = ? AND id = ?"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn avatar_by_short_id(&self, short_id: &str) -> StoreResult<Option<AvatarRecord>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AVATAR_COLUMNS} FROM consumer_avatars WHERE short_id = ?"
        ))
        .bind(short_id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn count_avatars(&self, account_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM consumer_avatars WHERE account_id = ?")
                .bind(account_id)
                .fetch_one(&self.pool)
                .await?,
        )
    }

    async fn update_avatar(
        &self,
        account_id: &str,
        id: &str,
        u: AvatarUpdate,
    ) -> StoreResult<Option<AvatarRecord>> {
        let settings =
            serde_json::to_string(&u.settings).map_err(|e| StoreError::Corrupt(e.to_string()))?;
        sqlx::query_as(&format!(
            "UPDATE consumer_avatars SET slug = ?, name = ?, status = ?, is_public = ?, \
             settings = ?, system_prompt = ?, updated_at = ? \
             WHERE account_id = ? AND id = ? RETURNING {AVATAR_COLUMNS}"
        ))
        .bind(&u.slug)
        .bind(&u.name)
        .bind(&u.status)
        .bind(u.is_public)
        .bind(&settings)
        .bind(&u.system_prompt)
        .bind(now_iso())
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await
        .map_err(|e| conflict_on_unique(e, "an avatar with this slug"))
    }

    async fn delete_avatar(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM consumer_avatars WHERE account_id = ? AND id = ?")
            .bind(account_id)
            .bind(id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn record_view(&self, avatar_id: &str) -> StoreResult<()> {
        let mut tx = self.pool.begin().await?;
        sqlx::query("INSERT INTO avatar_views (avatar_id, viewed_at) VALUES (?, ?)")
            .bind(avatar_id)
            .bind(now_iso())
            .execute(&mut *tx)
            .await?;
        sqlx::query("UPDATE consumer_avatars SET view_count = view_count + 1 WHERE id = ?")
            .bind(avatar_id)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(())
    }

    async fn create_session(&self, new: NewSession) -> StoreResult<SessionRecord> {
        let mut tx = self.pool.begin().await?;
        let rec: SessionRecord = sqlx::query_as(
            "INSERT INTO avatar_sessions \
             (id, avatar_id, account_id, visitor_name, visitor_email, source, started_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(ids::uuid())
        .bind(&new.avatar_id)
        .bind(&new.account_id)
        .bind(&new.visitor_name)
        .bind(&new.visitor_email)
        .bind(&new.source)
        .bind(now_iso())
        .fetch_one(&mut *tx)
        .await?;
        sqlx::query(
            "UPDATE consumer_avatars SET conversation_count = conversation_count + 1 WHERE id = ?",
        )
        .bind(&new.avatar_id)
        .execute(&mut *tx)
        .await?;
        tx.commit().await?;
        Ok(rec)
    }

    async fn count_sessions_since(&self, account_id: &str, since: &str) -> StoreResult<i64> {
        Ok(sqlx::query_scalar(
            "SELECT COUNT(*) FROM avatar_sessions WHERE account_id = ? AND started_at >= ?",
        )
        .bind(account_id)
        .bind(since)
        .fetch_one(&self.pool)
        .await?)
    }

    async fn analytics(&self, avatar_id: &str, since: &str) -> StoreResult<AnalyticsRows> {
        let views_by_day = sqlx::query(
            "SELECT substr(viewed_at, 1, 10) AS day, COUNT(*) AS n FROM avatar_views \
             WHERE avatar_id = ? AND viewed_at >= ? GROUP BY day ORDER BY day",
        )
        .bind(avatar_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.get::<String, _>("day"), r.get::<i64, _>("n")))
        .collect();
        let sessions_by_day = sqlx::query(
            "SELECT substr(started_at, 1, 10) AS day, COUNT(*) AS n FROM avatar_sessions \
             WHERE avatar_id = ? AND started_at >= ? GROUP BY day ORDER BY day",
        )
        .bind(avatar_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.get::<String, _>("day"), r.get::<i64, _>("n")))
        .collect();
        let durations = sqlx::query(
            "SELECT substr(started_at, 1, 10) AS day, duration_ms FROM avatar_sessions \
             WHERE avatar_id = ? AND started_at >= ? AND duration_ms IS NOT NULL \
             ORDER BY started_at",
        )
        .bind(avatar_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.get::<String, _>("day"), r.get::<i64, _>("duration_ms")))
        .collect();
        let messages_by_day = sqlx::query(
            "SELECT substr(m.created_at, 1, 10) AS day, COUNT(*) AS n FROM messages m \
             JOIN avatar_sessions s ON s.id = m.session_id \
             WHERE s.avatar_id = ? AND m.created_at >= ? GROUP BY day ORDER BY day",
        )
        .bind(avatar_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?
        .into_iter()
        .map(|r| (r.get::<String, _>("day"), r.get::<i64, _>("n")))
        .collect();
        let latencies = sqlx::query_scalar(
            "SELECT m.latency_ms FROM messages m JOIN avatar_sessions s ON s.id = m.session_id \
             WHERE s.avatar_id = ? AND m.created_at >= ? AND m.latency_ms IS NOT NULL",
        )
        .bind(avatar_id)
        .bind(since)
        .fetch_all(&self.pool)
        .await?;
        Ok(AnalyticsRows {
            views_by_day,
            sessions_by_day,
            durations,
            messages_by_day,
            latencies,
        })
    }

    async fn add_knowledge(
        &self,
        item: NewKnowledgeItem,
        chunks: Vec<NewChunk>,
    ) -> StoreResult<KnowledgeItem> {
        let mut tx = self.pool.begin().await?;
        let rec: KnowledgeItem = sqlx::query_as(
            "INSERT INTO knowledge_items \
             (id, avatar_id, type, title, source, mime, chars, chunk_count, created_at) \
             VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
        )
        .bind(ids::uuid())
        .bind(&item.avatar_id)
        .bind(&item.kind)
        .bind(&item.title)
        .bind(&item.source)
        .bind(&item.mime)
        .bind(item.chars)
        .bind(chunks.len() as i64)
        .bind(now_iso())
        .fetch_one(&mut *tx)
        .await?;
        for (idx, c) in chunks.iter().enumerate() {
            let embedding = c
                .embedding
                .as_ref()
                .map(|v| v.iter().flat_map(|f| f.to_le_bytes()).collect::<Vec<u8>>());
            let chunk_id: i64 = sqlx::query_scalar(
                "INSERT INTO knowledge_chunks (item_id, avatar_id, idx, heading, text, embedding) \
                 VALUES (?, ?, ?, ?, ?, ?) RETURNING id",
            )
            .bind(&rec.id)
            .bind(&item.avatar_id)
            .bind(idx as i64)
            .bind(&c.heading)
            .bind(&c.text)
            .bind(embedding)
            .fetch_one(&mut *tx)
            .await?;
            sqlx::query("INSERT INTO knowledge_fts (rowid, doc) VALUES (?, ?)")
                .bind(chunk_id)
                .bind(&c.fts_doc)
                .execute(&mut *tx)
                .await?;
        }
        tx.commit().await?;
        Ok(rec)
    }

    async fn knowledge_items(&self, avatar_id: &str) -> StoreResult<Vec<KnowledgeItem>> {
        Ok(sqlx::query_as(
            "SELECT * FROM knowledge_items WHERE avatar_id = ? ORDER BY created_at DESC, id",
        )
        .bind(avatar_id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn delete_knowledge_item(&self, avatar_id: &str, item_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM knowledge_items WHERE avatar_id = ? AND id = ?")
            .bind(avatar_id)
            .bind(item_id)
            .execute(&self.pool)
            .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn search_knowledge(
        &self,
        avatar_id: &str,
        fts_query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ChunkHit>> {
        Ok(sqlx::query_as(
            "SELECT c.id AS chunk_id, c.item_id, i.title, c.heading, c.text, \
                    bm25(knowledge_fts) AS bm25 \
             FROM knowledge_fts \
             JOIN knowledge_chunks c ON c.id = knowledge_fts.rowid \
             JOIN knowledge_items i ON i.id = c.item_id \
             WHERE knowledge_fts MATCH ? AND c.avatar_id = ? \
             ORDER BY bm25 LIMIT ?",
        )
        .bind(fts_query)
        .bind(avatar_id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?)
    }

    async fn chunk_embeddings(&self, avatar_id: &str) -> StoreResult<Vec<(ChunkHit, Vec<f32>)>> {
        let rows = sqlx::query(
            "SELECT c.id AS chunk_id, c.item_id, i.title, c.heading, c.text, c.embedding \
             FROM knowledge_chunks c JOIN knowledge_items i ON i.id = c.item_id \
             WHERE c.avatar_id = ? AND c.embedding IS NOT NULL",
        )
        .bind(avatar_id)
        .fetch_all(&self.pool)
        .await?;
        Ok(rows
            .into_iter()
            .map(|r| {
                let blob: Vec<u8> = r.get("embedding");
                let v = blob
                    .chunks_exact(4)
                    .map(|b| f32::from_le_bytes([b[0], b[1], b[2], b[3]]))
                    .collect();
                (
                    ChunkHit {
                        chunk_id: r.get("chunk_id"),
                        item_id: r.get("item_id"),
                        title: r.get("title"),
                        heading: r.get("heading"),
                        text: r.get("text"),
                        bm25: 0.0,
                    },
                    v,
                )
            })
            .collect())
    }

    async fn create_conversation(&self, new: NewConversation) -> StoreResult<ConversationRecord> {
        Ok(insert_conversation(&self.pool, &new).await?)
    }

    async fn conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        Ok(
            sqlx::query_as("SELECT * FROM conversations WHERE account_id = ? AND id = ?")
                .bind(account_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn end_conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        Ok(sqlx::query_as(
            "UPDATE conversations SET status = 'ended', ended_at = COALESCE(ended_at, ?) \
             WHERE account_id = ? AND id = ? RETURNING *",
        )
        .bind(now_iso())
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.pool)
        .await?)
    }

    async fn add_message(&self, thread: &Thread, msg: NewMessage) -> StoreResult<MessageRecord> {
        Ok(insert_message(&self.pool, thread, &msg).await?)
    }

    async fn messages(&self, thread: &Thread) -> StoreResult<Vec<MessageRecord>> {
        let (column, id) = thread.column();
        Ok(sqlx::query_as(&format!(
            "SELECT * FROM messages WHERE {column} = ? ORDER BY created_at, rowid"
        ))
        .bind(id)
        .fetch_all(&self.pool)
        .await?)
    }

    async fn recent_messages(
        &self,
        thread: &Thread,
        limit: u32,
    ) -> StoreResult<Vec<MessageRecord>> {
        let (column, id) = thread.column();
        let mut newest_first: Vec<MessageRecord> = sqlx::query_as(&format!(
            "SELECT * FROM messages WHERE {column} = ? ORDER BY created_at DESC, rowid DESC LIMIT ?"
        ))
        .bind(id)
        .bind(i64::from(limit))
        .fetch_all(&self.pool)
        .await?;
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn log_conversation(
        &self,
        new: NewConversation,
        messages: Vec<NewMessage>,
    ) -> StoreResult<ConversationRecord> {
        let mut tx = self.pool.begin().await?;
        let conv = insert_conversation(&mut *tx, &new).await?;
        let thread = Thread::Conversation(conv.id.clone());
        for m in &messages {
            insert_message(&mut *tx, &thread, m).await?;
        }
        tx.commit().await?;
        Ok(conv)
    }

    async fn session(&self, avatar_id: &str, id: &str) -> StoreResult<Option<SessionRecord>> {
        Ok(
            sqlx::query_as("SELECT * FROM avatar_sessions WHERE avatar_id = ? AND id = ?")
                .bind(avatar_id)
                .bind(id)
                .fetch_optional(&self.pool)
                .await?,
        )
    }

    async fn end_session(
        &self,
        id: &str,
        summary_json: &str,
    ) -> StoreResult<Option<SessionRecord>> {
        let now = chrono::Utc::now();
        sqlx::query(
            "UPDATE avatar_sessions SET ended_at = ?, summary = ?, \
             duration_ms = CAST((julianday(?) - julianday(started_at)) * 86400000 AS INTEGER) \
             WHERE id = ? AND ended_at IS NULL",
        )
        .bind(crate::time::to_iso(now))
        .bind(summary_json)
        .bind(crate::time::to_iso(now))
        .bind(id)
        .execute(&self.pool)
        .await?;
        Ok(sqlx::query_as("SELECT * FROM avatar_sessions WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.pool)
            .await?)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
}

async fn insert_conversation<'e, E>(
    ex: E,
    new: &NewConversation,
) -> sqlx::Result<ConversationRecord>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    sqlx::query_as(
        "INSERT INTO conversations \
         (id, account_id, avatar_id, consumer_avatar_id, provider, model, system_prompt, byok, \
          source, metadata, created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(ids::uuid())
    .bind(&new.account_id)
    .bind(&new.avatar_id)
    .bind(&new.consumer_avatar_id)
    .bind(&new.provider)
    .bind(&new.model)
    .bind(&new.system_prompt)
    .bind(new.byok)
    .bind(&new.source)
    .bind(&new.metadata)
    .bind(now_iso())
    .fetch_one(ex)
    .await
}

async fn insert_message<'e, E>(
    ex: E,
    thread: &Thread,
    m: &NewMessage,
) -> sqlx::Result<MessageRecord>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let (conversation_id, session_id) = match thread {
        Thread::Conversation(id) => (Some(id.as_str()), None),
        Thread::Session(id) => (None, Some(id.as_str())),
    };
    sqlx::query_as(
        "INSERT INTO messages \
         (id, conversation_id, session_id, role, content, emotion, sources, latency_ms, llm_ms, \
          created_at) \
         VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?) RETURNING *",
    )
    .bind(format!("msg_{}", uuid::Uuid::new_v4().simple()))
    .bind(conversation_id)
    .bind(session_id)
    .bind(&m.role)
    .bind(&m.content)
    .bind(&m.emotion)
    .bind(&m.sources)
    .bind(m.latency_ms)
    .bind(m.llm_ms)
    .bind(now_iso())
    .fetch_one(ex)
    .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AvatarSettings;

    fn new_avatar(account: &str, slug: &str) -> NewAvatar {
        NewAvatar {
            account_id: account.into(),
            slug: slug.into(),
            name: "Test".into(),
            status: "active".into(),
            is_public: true,
            settings: AvatarSettings {
                greeting: Some("Hi".into()),
                ..Default::default()
            },
            system_prompt: "You are Test.".into(),
        }
    }

    #[tokio::test]
    async fn owner_is_created_once() {
        let s = SqliteStore::in_memory().await.unwrap();
        let a = s.owner().await.unwrap();
        let b = s.owner().await.unwrap();
        assert_eq!(a.id, b.id);
        assert!(a.is_owner);
        assert_eq!(a.plan_id, "local");
    }

    #[tokio::test]
    async fn slugs_are_unique_per_account_only() {
        let s = SqliteStore::in_memory().await.unwrap();
        let a = s.owner().await.unwrap();
        let b = s.create_account("b@example.com", "B", "x").await.unwrap();
        let first = s.create_avatar(new_avatar(&a.id, "helper")).await.unwrap();
        assert_eq!(first.settings.greeting.as_deref(), Some("Hi"));
        assert!(matches!(
            s.create_avatar(new_avatar(&a.id, "helper")).await,
            Err(StoreError::Conflict(_))
        ));
        s.create_avatar(new_avatar(&b.id, "helper")).await.unwrap();
        assert!(s.avatar(&b.id, &first.id).await.unwrap().is_none());
        assert!(!s.delete_avatar(&b.id, &first.id).await.unwrap());
        assert!(s.delete_avatar(&a.id, &first.id).await.unwrap());
    }

    #[tokio::test]
    async fn deleting_an_avatar_cascades_to_its_sessions_and_views() {
        let s = SqliteStore::in_memory().await.unwrap();
        let a = s.owner().await.unwrap();
        let av = s.create_avatar(new_avatar(&a.id, "x")).await.unwrap();
        s.record_view(&av.id).await.unwrap();
        s.create_session(NewSession {
            avatar_id: av.id.clone(),
            account_id: a.id.clone(),
            visitor_name: None,
            visitor_email: None,
            source: None,
        })
        .await
        .unwrap();
        let rec = s.avatar(&a.id, &av.id).await.unwrap().unwrap();
        assert_eq!((rec.view_count, rec.conversation_count), (1, 1));
        s.delete_avatar(&a.id, &av.id).await.unwrap();
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM avatar_views) + (SELECT COUNT(*) FROM avatar_sessions)",
        )
        .fetch_one(s.pool())
        .await
        .unwrap();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn knowledge_is_searchable_and_deleted_with_its_avatar() {
        let s = SqliteStore::in_memory().await.unwrap();
        let a = s.owner().await.unwrap();
        let av = s.create_avatar(new_avatar(&a.id, "kb")).await.unwrap();
        let chunk = |t: &str| NewChunk {
            heading: None,
            text: t.into(),
            fts_doc: t.to_lowercase(),
            embedding: Some(vec![0.5, -1.0]),
        };
        let item = s
            .add_knowledge(
                NewKnowledgeItem {
                    avatar_id: av.id.clone(),
                    kind: "text".into(),
                    title: "Pricing FAQ".into(),
                    source: None,
                    mime: Some("text/plain".into()),
                    chars: 40,
                },
                vec![chunk("basic cost 10 dollar"), chunk("office in lisbon")],
            )
            .await
            .unwrap();
        assert_eq!(item.chunk_count, 2);
        let hits = s
            .search_knowledge(&av.id, "\"cost\" OR \"price\"", 5)
            .await
            .unwrap();
        assert_eq!(hits.len(), 1);
        assert_eq!(hits[0].title, "Pricing FAQ");
        assert!(hits[0].bm25 < 0.0);
        let emb = s.chunk_embeddings(&av.id).await.unwrap();
        assert_eq!(emb[0].1, vec![0.5, -1.0]);

        s.delete_avatar(&a.id, &av.id).await.unwrap();
        let left: i64 = sqlx::query_scalar(
            "SELECT (SELECT COUNT(*) FROM knowledge_items) + (SELECT COUNT(*) FROM knowledge_chunks) \
             + (SELECT COUNT(*) FROM knowledge_fts)",
        )
        .fetch_one(s.pool())
        .await
        .unwrap();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn sessions_end_once_with_a_duration() {
        let s = SqliteStore::in_memory().await.unwrap();
        let a = s.owner().await.unwrap();
        let av = s.create_avatar(new_avatar(&a.id, "x")).await.unwrap();
        let sess = s
            .create_session(NewSession {
                avatar_id: av.id.clone(),
                account_id: a.id.clone(),
                visitor_name: None,
                visitor_email: None,
                source: None,
            })
            .await
            .unwrap();
        let t = Thread::Session(sess.id.clone());
        s.add_message(
            &t,
            NewMessage {
                role: "user".into(),
                content: "hi".into(),
                ..Default::default()
            },
        )
        .await
        .unwrap();
        let ended = s
            .end_session(&sess.id, "{\"summary\":\"a\"}")
            .await
            .unwrap()
            .unwrap();
        assert!(ended.duration_ms.unwrap() >= 0);
        let again = s
            .end_session(&sess.id, "{\"summary\":\"b\"}")
            .await
            .unwrap()
            .unwrap();
        assert_eq!(again.summary.as_deref(), Some("{\"summary\":\"a\"}"));
        assert_eq!(s.messages(&t).await.unwrap().len(), 1);
    }

    #[tokio::test]
    async fn recent_messages_are_the_last_ones_oldest_first() {
        let s = SqliteStore::in_memory().await.unwrap();
        let a = s.owner().await.unwrap();
        let conv = s
            .create_conversation(NewConversation {
                account_id: a.id.clone(),
                avatar_id: None,
                consumer_avatar_id: None,
                provider: "local".into(),
                model: "m".into(),
                system_prompt: String::new(),
                byok: false,
                source: "api".into(),
                metadata: None,
            })
            .await
            .unwrap();
        let t = Thread::Conversation(conv.id);
        for i in 0..5 {
            let m = NewMessage {
                role: "user".into(),
                content: format!("m{i}"),
                ..Default::default()
            };
            s.add_message(&t, m).await.unwrap();
        }
        let recent: Vec<String> = s
            .recent_messages(&t, 3)
            .await
            .unwrap()
            .into_iter()
            .map(|m| m.content)
            .collect();
        assert_eq!(recent, ["m2", "m3", "m4"]);
    }

    #[tokio::test]
    async fn revoked_keys_are_not_found() {
        let s = SqliteStore::in_memory().await.unwrap();
        let a = s.owner().await.unwrap();
        let k = s
            .create_api_key(&a.id, "ci", "hash1", "av_live_abc", "local")
            .await
            .unwrap();
        assert!(s.active_api_key("hash1").await.unwrap().is_some());
        assert!(s.revoke_api_key(&a.id, &k.id).await.unwrap());
        assert!(!s.revoke_api_key(&a.id, &k.id).await.unwrap());
        assert!(s.active_api_key("hash1").await.unwrap().is_none());
    }
}
