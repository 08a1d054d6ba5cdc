use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Connection, FromRow, Row, SqliteConnection, SqlitePool};
use tokio::sync::{MappedMutexGuard, MutexGuard, mpsc, oneshot};

use super::recent::RecentCache;
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

/// Read connections. WAL lets them read while the writer writes; a few are
/// plenty for an embedded database on a desktop.
const READERS: u32 = 4;
/// Most messages committed together; more wait for the next commit.
const MAX_BATCH: usize = 256;
/// Messages waiting for the writer before `add_message` waits to enqueue.
const QUEUE: usize = 4096;
/// How often, at most, the background checkpoint runs while messages are
/// being written.
const CHECKPOINT_EVERY: Duration = Duration::from_millis(100);
/// WAL pages (4 KiB each) after which the writer checkpoints by itself,
/// should the background checkpoint fall behind or the writes be others
/// than messages. SQLite's default is 1,000.
const WRITER_AUTOCHECKPOINT: &str = "8000";

/// SQLite allows one writer at a time, so the store has exactly one write
/// connection and several read connections:
///
/// - Every write goes through `writer`, one connection behind a fair async
///   lock. Writers queue there (in order, without blocking a thread) rather
///   than in SQLite's busy handler, which sleeps for milliseconds at a time,
///   and the one writer's page cache stays valid because nobody else changes
///   the file. It is not a pool of one because sqlx pings a pooled
///   connection's thread each time it is released: a thread round trip after
///   every write, during which the next write waits.
/// - Reads go to `reader` and never wait behind a write.
/// - Chat messages, the one write on every turn, are group-committed: a
///   writer task takes every message queued since its last commit and stores
///   them in one statement (one transaction). Each caller gets its reply
///   only after that commit, so a message is still stored before it is
///   acknowledged; under load many turns share one commit instead of
///   queueing for one each.
/// - Checkpoints (copying the WAL back into the database file, with an
///   fsync of each) run on a connection of their own, in the background,
///   rather than inside whichever commit happens to cross SQLite's
///   threshold, where they would hold up every message of that batch.
/// - The writer keeps the recent history of the conversations being served
///   current in memory (`recent`; see `store::recent`), so a chat turn
///   reads it without a thread round trip.
#[derive(Clone)]
pub struct SqliteStore {
    writer: Arc<Writer>,
    reader: SqlitePool,
    messages: mpsc::Sender<PendingMessage>,
    recent: Arc<RecentCache>,
}

/// The one write connection; `None` once the store is closed.
struct Writer(tokio::sync::Mutex<Option<SqliteConnection>>);

impl Writer {
    /// Waits for the connection, in turn. A dropped query or transaction
    /// leaves nothing behind for the next holder: the connection's thread
    /// runs commands in order, and sqlx queues a rollback for a transaction
    /// dropped unfinished.
    async fn lock(&self) -> StoreResult<MappedMutexGuard<'_, SqliteConnection>> {
        MutexGuard::try_map(self.0.lock().await, Option::as_mut).map_err(|_| closed())
    }
}

fn closed() -> StoreError {
    StoreError::Database(sqlx::Error::PoolClosed)
}

/// A message waiting for the group commit, and who to tell once it is stored.
struct PendingMessage {
    record: MessageRecord,
    stored: oneshot::Sender<StoreResult<()>>,
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
            // Only other processes (the CLI) can hold the write lock against
            // this one's writer.
            .busy_timeout(Duration::from_secs(5));
        // Switch a new file to WAL and migrate it on one connection before
        // the pools open others: several connections doing that at once can
        // meet "database is locked". That connection stays, to checkpoint.
        let mut checkpointer = SqliteConnection::connect_with(&options).await?;
        sqlx::migrate!("./migrations")
            .run(&mut checkpointer)
            .await?;
        let writer = SqliteConnection::connect_with(
            &options
                .clone()
                .pragma("wal_autocheckpoint", WRITER_AUTOCHECKPOINT),
        )
        .await?;
        // A write through a read connection is a bug; make it fail loudly.
        let reader = SqlitePoolOptions::new()
            .max_connections(READERS)
            .min_connections(1)
            .idle_timeout(None)
            .max_lifetime(None)
            // The default pings the connection's worker thread before handing
            // it out: a thread round trip per query that can only find a
            // live embedded database.
            .test_before_acquire(false)
            .connect_with(options.pragma("query_only", "ON"))
            .await?;
        let writer = Arc::new(Writer(tokio::sync::Mutex::new(Some(writer))));
        let (messages, queue) = mpsc::channel(QUEUE);
        // Ends with the writer task, which ends with the last store handle.
        let (wrote, written) = mpsc::channel(1);
        tokio::spawn(checkpoint_wal(checkpointer, written));
        let recent = Arc::new(RecentCache::default());
        tokio::spawn(commit_messages(
            writer.clone(),
            queue,
            wrote,
            recent.clone(),
        ));
        Ok(Self {
            writer,
            reader,
            messages,
            recent,
        })
    }

    /// Closes the connections; later calls fail. Writes already answered
    /// are committed.
    pub async fn close(&self) {
        if let Some(conn) = self.writer.0.lock().await.take() {
            let _ = conn.close().await;
        }
        self.reader.close().await;
    }
}

/// The group-commit loop: waits for a message, takes every one queued behind
/// it, stores them together, brings `recent` up to date and answers each
/// caller.
async fn commit_messages(
    writer: Arc<Writer>,
    mut queue: mpsc::Receiver<PendingMessage>,
    wrote: mpsc::Sender<()>,
    recent: Arc<RecentCache>,
) {
    let mut batch = Vec::with_capacity(MAX_BATCH);
    // The writer connection's `data_version` at its last commit: it moves
    // only when another connection (so another process) has committed.
    // Unknown before the first commit, when reads may already have filled
    // `recent`, so that one clears it too.
    let mut version = None;
    let mut seen = |now: i64| {
        if version != Some(now) {
            recent.clear();
        }
        version = Some(now);
    };
    while queue.recv_many(&mut batch, MAX_BATCH).await > 0 {
        // Full means a checkpoint is already due.
        let _ = wrote.try_send(());
        let records: Vec<&MessageRecord> = batch.iter().map(|m| &m.record).collect();
        let Ok(mut conn) = writer.lock().await else {
            for m in batch.drain(..) {
                let _ = m.stored.send(Err(closed()));
            }
            continue;
        };
        match insert_messages(&mut *conn, &records).await {
            Ok(now) => {
                seen(now);
                recent.stored(&records);
                for m in batch.drain(..) {
                    let _ = m.stored.send(Ok(()));
                }
            }
            Err(e) if batch.len() == 1 => {
                let _ = batch.pop().expect("one message").stored.send(Err(e));
            }
            // The statement is atomic, so nothing of the batch was stored.
            // One bad message (its conversation deleted meanwhile, say) must
            // not fail the others: store each alone, each with its outcome.
            Err(_) => {
                for m in batch.drain(..) {
                    let outcome = insert_messages(&mut *conn, &[&m.record]).await.map(|now| {
                        seen(now);
                        recent.stored(&[&m.record]);
                    });
                    let _ = m.stored.send(outcome);
                }
            }
        }
    }
}

/// Checkpoints the WAL after writes, at most every `CHECKPOINT_EVERY`.
/// PASSIVE never blocks the writer or readers; what a reader still needs is
/// copied next time.
async fn checkpoint_wal(mut conn: sqlx::SqliteConnection, mut written: mpsc::Receiver<()>) {
    while written.recv().await.is_some() {
        tokio::time::sleep(CHECKPOINT_EVERY).await;
        if let Err(e) = sqlx::query("PRAGMA wal_checkpoint(PASSIVE)")
            .execute(&mut conn)
            .await
        {
            tracing::warn!(error = %e, "WAL checkpoint failed; the writer will checkpoint instead");
        }
    }
    use sqlx::Connection;
    let _ = conn.close().await;
}

/// Stores messages in one statement, and so in one transaction: all or none.
/// The rows travel as one JSON array, so any number of them is a single
/// cached statement with a single parameter. Answers the connection's
/// `data_version`, read in the same round trip.
async fn insert_messages<'e, E>(ex: E, records: &[&MessageRecord]) -> StoreResult<i64>
where
    E: sqlx::Executor<'e, Database = sqlx::Sqlite>,
{
    let rows: Vec<_> = records
        .iter()
        .map(|m| {
            (
                &m.id,
                &m.conversation_id,
                &m.session_id,
                &m.role,
                &m.content,
                &m.emotion,
                &m.sources,
                m.latency_ms,
                m.llm_ms,
                &m.created_at,
            )
        })
        .collect();
    let rows = serde_json::to_string(&rows).map_err(|e| StoreError::Corrupt(e.to_string()))?;
    let returned = sqlx::query(
        "INSERT INTO messages \
         (id, conversation_id, session_id, role, content, emotion, sources, latency_ms, llm_ms, \
          created_at) \
         SELECT value ->> 0, value ->> 1, value ->> 2, value ->> 3, value ->> 4, value ->> 5, \
                value ->> 6, value ->> 7, value ->> 8, value ->> 9 \
         FROM json_each(?) ORDER BY key \
         RETURNING (SELECT data_version FROM pragma_data_version)",
    )
    .bind(rows)
    .fetch_all(ex)
    .await?;
    let first = returned
        .first()
        .ok_or_else(|| StoreError::Corrupt("no row stored".into()))?;
    Ok(first.try_get(0)?)
}

/// One stored message as `conversation_with_recent` packs it in JSON: the
/// columns of `messages` in table order.
type PackedMessage = (
    String,
    Option<String>,
    Option<String>,
    String,
    String,
    Option<String>,
    Option<String>,
    Option<i64>,
    Option<i64>,
    String,
);

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
                .fetch_optional(&self.reader)
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
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(sqlx::query_as("SELECT * FROM accounts WHERE is_owner = 1")
            .fetch_one(&self.reader)
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
        .fetch_one(&mut *self.writer.lock().await?)
        .await
        .map_err(|e| conflict_on_unique(e, "an account with this email"))
    }

    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>> {
        Ok(sqlx::query_as("SELECT * FROM accounts WHERE email = ?")
            .bind(email)
            .fetch_optional(&self.reader)
            .await?)
    }

    async fn account(&self, id: &str) -> StoreResult<Option<Account>> {
        Ok(sqlx::query_as("SELECT * FROM accounts WHERE id = ?")
            .bind(id)
            .fetch_optional(&self.reader)
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
        .fetch_one(&mut *self.writer.lock().await?)
        .await?)
    }

    async fn api_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>> {
        Ok(sqlx::query_as(
            "SELECT * FROM api_keys WHERE account_id = ? ORDER BY created_at DESC, id",
        )
        .bind(account_id)
        .fetch_all(&self.reader)
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
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(done.rows_affected() == 1)
    }

    async fn active_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>> {
        let key: Option<ApiKeyRecord> =
            sqlx::query_as("SELECT * FROM api_keys WHERE key_hash = ? AND revoked_at IS NULL")
                .bind(key_hash)
                .fetch_optional(&self.reader)
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
                    .execute(&mut *self.writer.lock().await?)
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
            .fetch_one(&mut *self.writer.lock().await?)
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
        .fetch_all(&self.reader)
        .await?)
    }

    async fn avatar(&self, account_id: &str, id: &str) -> StoreResult<Option<AvatarRecord>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AVATAR_COLUMNS} FROM consumer_avatars WHERE account_id = ? AND id = ?"
        ))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?)
    }

    async fn avatar_by_short_id(&self, short_id: &str) -> StoreResult<Option<AvatarRecord>> {
        Ok(sqlx::query_as(&format!(
            "SELECT {AVATAR_COLUMNS} FROM consumer_avatars WHERE short_id = ?"
        ))
        .bind(short_id)
        .fetch_optional(&self.reader)
        .await?)
    }

    async fn count_avatars(&self, account_id: &str) -> StoreResult<i64> {
        Ok(
            sqlx::query_scalar("SELECT COUNT(*) FROM consumer_avatars WHERE account_id = ?")
                .bind(account_id)
                .fetch_one(&self.reader)
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
        .fetch_optional(&mut *self.writer.lock().await?)
        .await
        .map_err(|e| conflict_on_unique(e, "an avatar with this slug"))
    }

    async fn delete_avatar(&self, account_id: &str, id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM consumer_avatars WHERE account_id = ? AND id = ?")
            .bind(account_id)
            .bind(id)
            .execute(&mut *self.writer.lock().await?)
            .await?;
        if done.rows_affected() > 0 {
            // Its conversations and their messages went with it.
            self.recent.clear();
        }
        Ok(done.rows_affected() == 1)
    }

    async fn record_view(&self, avatar_id: &str) -> StoreResult<()> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
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
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
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
        .fetch_one(&self.reader)
        .await?)
    }

    async fn analytics(&self, avatar_id: &str, since: &str) -> StoreResult<AnalyticsRows> {
        let views_by_day = sqlx::query(
            "SELECT substr(viewed_at, 1, 10) AS day, COUNT(*) AS n FROM avatar_views \
             WHERE avatar_id = ? AND viewed_at >= ? GROUP BY day ORDER BY day",
        )
        .bind(avatar_id)
        .bind(since)
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
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
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
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
        .fetch_all(&self.reader)
        .await?)
    }

    async fn delete_knowledge_item(&self, avatar_id: &str, item_id: &str) -> StoreResult<bool> {
        let done = sqlx::query("DELETE FROM knowledge_items WHERE avatar_id = ? AND id = ?")
            .bind(avatar_id)
            .bind(item_id)
            .execute(&mut *self.writer.lock().await?)
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
        .fetch_all(&self.reader)
        .await?)
    }

    async fn chunk_embeddings(&self, avatar_id: &str) -> StoreResult<Vec<(ChunkHit, Vec<f32>)>> {
        let rows = sqlx::query(
            "SELECT c.id AS chunk_id, c.item_id, i.title, c.heading, c.text, c.embedding \
             FROM knowledge_chunks c JOIN knowledge_items i ON i.id = c.item_id \
             WHERE c.avatar_id = ? AND c.embedding IS NOT NULL",
        )
        .bind(avatar_id)
        .fetch_all(&self.reader)
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
        Ok(insert_conversation(&mut *self.writer.lock().await?, &new).await?)
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
                .fetch_optional(&self.reader)
                .await?,
        )
    }

    async fn conversation_with_recent(
        &self,
        account_id: &str,
        id: &str,
        limit: u32,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>> {
        if let Some(kept) = self.recent.get(account_id, id, limit as usize) {
            return Ok(Some(kept));
        }
        let epoch = self.recent.epoch();
        // One statement rather than two: the history comes packed in a JSON
        // column of the conversation's row.
        let row = sqlx::query(
            "SELECT c.*, ( \
                 SELECT json_group_array(json_array(id, conversation_id, session_id, role, \
                            content, emotion, sources, latency_ms, llm_ms, created_at) \
                            ORDER BY created_at, seq) \
                 FROM (SELECT *, rowid AS seq FROM messages WHERE conversation_id = c.id \
                       ORDER BY created_at DESC, rowid DESC LIMIT ?1) \
             ) AS recent \
             FROM conversations c WHERE c.account_id = ?2 AND c.id = ?3",
        )
        .bind(i64::from(limit))
        .bind(account_id)
        .bind(id)
        .fetch_optional(&self.reader)
        .await?;
        let Some(row) = row else {
            return Ok(None);
        };
        let conv = ConversationRecord::from_row(&row)?;
        let packed: Vec<PackedMessage> = serde_json::from_str(row.try_get("recent")?)
            .map_err(|e| StoreError::Corrupt(format!("recent messages: {e}")))?;
        let recent = packed
            .into_iter()
            .map(
                |(
                    id,
                    conversation_id,
                    session_id,
                    role,
                    content,
                    emotion,
                    sources,
                    latency_ms,
                    llm_ms,
                    created_at,
                )| MessageRecord {
                    id,
                    conversation_id,
                    session_id,
                    role,
                    content,
                    emotion,
                    sources,
                    latency_ms,
                    llm_ms,
                    created_at,
                },
            )
            .collect::<Vec<_>>();
        self.recent.fill(epoch, &conv, &recent, limit as usize);
        Ok(Some((conv, recent)))
    }

    async fn end_conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>> {
        let ended = sqlx::query_as(
            "UPDATE conversations SET status = 'ended', ended_at = COALESCE(ended_at, ?) \
             WHERE account_id = ? AND id = ? RETURNING *",
        )
        .bind(now_iso())
        .bind(account_id)
        .bind(id)
        .fetch_optional(&mut *self.writer.lock().await?)
        .await?;
        self.recent.forget(id);
        Ok(ended)
    }

    async fn add_message(&self, thread: &Thread, msg: NewMessage) -> StoreResult<MessageRecord> {
        let record = message_record(thread, msg);
        let (stored, outcome) = oneshot::channel();
        let pending = PendingMessage {
            record: record.clone(),
            stored,
        };
        // The writer task lives as long as the store, unless its runtime
        // has shut down.
        let stopped = || StoreError::Database(sqlx::Error::PoolClosed);
        self.messages.send(pending).await.map_err(|_| stopped())?;
        outcome.await.map_err(|_| stopped())??;
        Ok(record)
    }

    async fn messages(&self, thread: &Thread) -> StoreResult<Vec<MessageRecord>> {
        let (column, id) = thread.column();
        Ok(sqlx::query_as(&format!(
            "SELECT * FROM messages WHERE {column} = ? ORDER BY created_at, rowid"
        ))
        .bind(id)
        .fetch_all(&self.reader)
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
        .fetch_all(&self.reader)
        .await?;
        newest_first.reverse();
        Ok(newest_first)
    }

    async fn log_conversation(
        &self,
        new: NewConversation,
        messages: Vec<NewMessage>,
    ) -> StoreResult<ConversationRecord> {
        let mut conn = self.writer.lock().await?;
        let mut tx = conn.begin().await?;
        let conv = insert_conversation(&mut *tx, &new).await?;
        let thread = Thread::Conversation(conv.id.clone());
        let records: Vec<MessageRecord> = messages
            .into_iter()
            .map(|m| message_record(&thread, m))
            .collect();
        if !records.is_empty() {
            insert_messages(&mut *tx, &records.iter().collect::<Vec<_>>()).await?;
        }
        tx.commit().await?;
        Ok(conv)
    }

    async fn session(&self, avatar_id: &str, id: &str) -> StoreResult<Option<SessionRecord>> {
        Ok(
            sqlx::query_as("SELECT * FROM avatar_sessions WHERE avatar_id = ? AND id = ?")
                .bind(avatar_id)
                .bind(id)
                .fetch_optional(&self.reader)
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
        .execute(&mut *self.writer.lock().await?)
        .await?;
        Ok(sqlx::query_as("SELECT * FROM avatar_sessions WHERE id = ?")
            .bind(id)
            .fetch_optional(&mut *self.writer.lock().await?)
            .await?)
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.reader).await?;
        sqlx::query("SELECT 1")
            .execute(&mut *self.writer.lock().await?)
            .await?;
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

/// A new message as it will be stored: its id and time are set here, when
/// it is received, not when its batch commits.
fn message_record(thread: &Thread, m: NewMessage) -> MessageRecord {
    let (conversation_id, session_id) = match thread {
        Thread::Conversation(id) => (Some(id.clone()), None),
        Thread::Session(id) => (None, Some(id.clone())),
    };
    MessageRecord {
        id: format!("msg_{}", uuid::Uuid::new_v4().simple()),
        conversation_id,
        session_id,
        role: m.role,
        content: m.content,
        emotion: m.emotion,
        sources: m.sources,
        latency_ms: m.latency_ms,
        llm_ms: m.llm_ms,
        created_at: now_iso(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::AvatarSettings;

    const TEST_DB: &str = "db.sqlite";

    /// A fresh database file (`TEST_DB`), removed with the returned directory.
    async fn temp_store() -> (tempfile::TempDir, SqliteStore) {
        let dir = tempfile::tempdir().unwrap();
        let s = SqliteStore::open(&dir.path().join(TEST_DB)).await.unwrap();
        (dir, s)
    }

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
        let (_dir, s) = temp_store().await;
        let a = s.owner().await.unwrap();
        let b = s.owner().await.unwrap();
        assert_eq!(a.id, b.id);
        assert!(a.is_owner);
        assert_eq!(a.plan_id, "local");
    }

    #[tokio::test]
    async fn slugs_are_unique_per_account_only() {
        let (_dir, s) = temp_store().await;
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
        let (_dir, s) = temp_store().await;
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
        .fetch_one(&s.reader)
        .await
        .unwrap();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn knowledge_is_searchable_and_deleted_with_its_avatar() {
        let (_dir, s) = temp_store().await;
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
        .fetch_one(&s.reader)
        .await
        .unwrap();
        assert_eq!(left, 0);
    }

    #[tokio::test]
    async fn sessions_end_once_with_a_duration() {
        let (_dir, s) = temp_store().await;
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
        let (_dir, s) = temp_store().await;
        let a = s.owner().await.unwrap();
        let conv = s
            .create_conversation(new_conversation(&a.id))
            .await
            .unwrap();
        let t = Thread::Conversation(conv.id);
        for i in 0..5 {
            s.add_message(&t, text("user", &format!("m{i}")))
                .await
                .unwrap();
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
        let (_dir, s) = temp_store().await;
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

    fn new_conversation(account: &str) -> NewConversation {
        NewConversation {
            account_id: account.into(),
            avatar_id: None,
            consumer_avatar_id: None,
            provider: "local".into(),
            model: "m".into(),
            system_prompt: "Be brief.".into(),
            byok: false,
            source: "api".into(),
            metadata: None,
        }
    }

    fn text(role: &str, content: &str) -> NewMessage {
        NewMessage {
            role: role.into(),
            content: content.into(),
            ..Default::default()
        }
    }

    #[tokio::test]
    async fn a_conversation_comes_with_its_recent_messages_in_one_read() {
        let (_dir, s) = temp_store().await;
        let a = s.owner().await.unwrap();
        let conv = s
            .create_conversation(new_conversation(&a.id))
            .await
            .unwrap();
        let (got, recent) = s
            .conversation_with_recent(&a.id, &conv.id, 3)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (got.id.as_str(), got.system_prompt.as_str()),
            (conv.id.as_str(), "Be brief.")
        );
        assert!(recent.is_empty());

        let t = Thread::Conversation(conv.id.clone());
        let mut stored = Vec::new();
        for i in 0..5 {
            stored.push(
                s.add_message(&t, text("user", &format!("m{i}")))
                    .await
                    .unwrap(),
            );
        }
        let last = s
            .add_message(
                &t,
                NewMessage {
                    role: "assistant".into(),
                    content: "with \"quotes\", ünïcode, \\ and\nlines\u{0}!".into(),
                    emotion: Some("happy".into()),
                    sources: Some("[{\"title\":\"A\",\"relevance\":0.5}]".into()),
                    latency_ms: Some(12),
                    llm_ms: Some(11),
                },
            )
            .await
            .unwrap();
        stored.push(last);
        let (_, recent) = s
            .conversation_with_recent(&a.id, &conv.id, 3)
            .await
            .unwrap()
            .unwrap();
        let contents: Vec<&str> = recent.iter().map(|m| m.content.as_str()).collect();
        assert_eq!(
            contents,
            ["m3", "m4", "with \"quotes\", ünïcode, \\ and\nlines\u{0}!"]
        );
        // Field for field what was stored, and what the plain read returns.
        let plain = s.recent_messages(&t, 3).await.unwrap();
        for ((packed, plain), returned) in recent.iter().zip(&plain).zip(&stored[3..]) {
            assert_eq!(format!("{packed:?}"), format!("{plain:?}"));
            assert_eq!(format!("{packed:?}"), format!("{returned:?}"));
        }

        let other = s.create_account("b@example.com", "B", "x").await.unwrap();
        assert!(
            s.conversation_with_recent(&other.id, &conv.id, 3)
                .await
                .unwrap()
                .is_none()
        );
        assert!(
            s.conversation_with_recent(&a.id, "nope", 3)
                .await
                .unwrap()
                .is_none()
        );
    }

    #[tokio::test]
    async fn concurrent_messages_are_all_stored_before_they_are_returned() {
        let (_dir, s) = temp_store().await;
        let a = s.owner().await.unwrap();
        let conv = s
            .create_conversation(new_conversation(&a.id))
            .await
            .unwrap();
        let t = Thread::Conversation(conv.id.clone());
        let sends = (0..200).map(|i| {
            let (s, t) = (s.clone(), t.clone());
            tokio::spawn(async move {
                let m = s
                    .add_message(&t, text("user", &format!("m{i}")))
                    .await
                    .unwrap();
                // Committed before it was returned: a fresh read finds it.
                let all = s.messages(&t).await.unwrap();
                assert!(all.iter().any(|x| x.id == m.id && x.content == m.content));
                m
            })
        });
        let returned = futures_join_all(sends).await;
        let stored = s.messages(&t).await.unwrap();
        assert_eq!(stored.len(), 200);
        for m in &returned {
            assert!(stored.iter().any(|x| format!("{x:?}") == format!("{m:?}")));
        }
    }

    #[tokio::test]
    async fn writes_dropped_midway_leave_the_writer_whole() {
        use std::future::Future;
        use std::task::Poll;
        let (dir, s) = temp_store().await;
        let a = s.owner().await.unwrap();
        let av = s.create_avatar(new_avatar(&a.id, "x")).await.unwrap();
        let (mut finished, mut dropped) = (0, 0);
        for i in 0..300u64 {
            // A view is a two-statement transaction; poll it a few times,
            // giving the connection's thread a varying head start, then drop
            // it wherever it has got to (as axum drops a handler whose client
            // hung up).
            let mut view = std::pin::pin!(s.record_view(&av.id));
            let mut done = false;
            for _ in 0..=(i % 6) {
                if std::future::poll_fn(|cx| Poll::Ready(view.as_mut().poll(cx).is_ready())).await {
                    done = true;
                    break;
                }
                std::thread::sleep(Duration::from_micros(i % 50 * 4));
            }
            if done { finished += 1 } else { dropped += 1 }
        }
        assert!(
            finished > 0 && dropped > 0,
            "{finished} finished, {dropped} dropped"
        );
        // The next writer gets the connection, outside any leftover transaction.
        s.record_view(&av.id).await.unwrap();
        let views: i64 =
            sqlx::query_scalar("SELECT COUNT(*) FROM avatar_views WHERE avatar_id = ?")
                .bind(&av.id)
                .fetch_one(&s.reader)
                .await
                .unwrap();
        let counted = s.avatar(&a.id, &av.id).await.unwrap().unwrap().view_count;
        // Each view is wholly stored or not at all, and every finished one is.
        assert_eq!(counted, views);
        assert!(views > finished, "{views} views for {finished} finished");
        // A second store on the file (another process) can write: no
        // transaction was left holding the write lock.
        let other = SqliteStore::open(&dir.path().join(TEST_DB)).await.unwrap();
        other.record_view(&av.id).await.unwrap();
    }

    #[tokio::test]
    async fn one_bad_message_does_not_fail_the_others_in_its_commit() {
        let (_dir, s) = temp_store().await;
        let a = s.owner().await.unwrap();
        let conv = s
            .create_conversation(new_conversation(&a.id))
            .await
            .unwrap();
        let good = Thread::Conversation(conv.id.clone());
        // No such conversation: the foreign key refuses it.
        let bad = Thread::Conversation("missing".into());
        let sends = (0..50).map(|i| {
            let s = s.clone();
            let t = if i == 25 { bad.clone() } else { good.clone() };
            tokio::spawn(async move { s.add_message(&t, text("user", &format!("m{i}"))).await })
        });
        let outcomes = futures_join_all(sends).await;
        for (i, o) in outcomes.iter().enumerate() {
            assert_eq!(o.is_ok(), i != 25, "message {i}: {o:?}");
        }
        assert_eq!(s.messages(&good).await.unwrap().len(), 49);
        assert!(s.messages(&bad).await.unwrap().is_empty());
    }

    #[tokio::test]
    async fn reads_see_committed_writes_and_cannot_write() {
        let (_dir, s) = temp_store().await;
        let a = s.owner().await.unwrap();
        let conv = s
            .create_conversation(new_conversation(&a.id))
            .await
            .unwrap();
        let t = Thread::Conversation(conv.id.clone());
        for i in 0..3 {
            let m = s
                .add_message(&t, text("user", &format!("m{i}")))
                .await
                .unwrap();
            let (_, recent) = s
                .conversation_with_recent(&a.id, &conv.id, 20)
                .await
                .unwrap()
                .unwrap();
            assert_eq!(recent.last().map(|r| &r.id), Some(&m.id));
        }
        let write = sqlx::query("DELETE FROM messages").execute(&s.reader).await;
        assert!(write.is_err(), "a read connection wrote");
        assert_eq!(s.messages(&t).await.unwrap().len(), 3);
        s.close().await;
    }

    /// What a turn reads from memory is what a cold read of the file finds:
    /// after concurrent turns on many conversations, after an end, after an
    /// avatar's deletion, and after another process's commits.
    #[tokio::test]
    async fn kept_history_matches_the_file() {
        let (dir, s) = temp_store().await;
        let path = dir.path().join(TEST_DB);
        let a = s.owner().await.unwrap();
        let av = s.create_avatar(new_avatar(&a.id, "kept")).await.unwrap();
        let mut convs = Vec::new();
        for i in 0..8 {
            let mut new = new_conversation(&a.id);
            new.consumer_avatar_id = (i % 4 == 0).then(|| av.id.clone());
            convs.push(s.create_conversation(new).await.unwrap().id);
        }
        /// A turn's read: the conversation and its last four messages.
        async fn read(
            s: &SqliteStore,
            account: &str,
            id: &str,
        ) -> Option<(ConversationRecord, Vec<MessageRecord>)> {
            s.conversation_with_recent(account, id, 4).await.unwrap()
        }
        fn debug(m: &[MessageRecord]) -> Vec<String> {
            m.iter().map(|m| format!("{m:?}")).collect()
        }
        // The file as another process (one that keeps nothing) reads it.
        let cold = |id: String| {
            let path = path.clone();
            let account = a.id.clone();
            async move {
                let other = SqliteStore::open(&path).await.unwrap();
                let got = read(&other, &account, &id)
                    .await
                    .map(|(c, m)| (c.status, debug(&m)));
                other.close().await;
                got
            }
        };
        // Turns run at once on different conversations, one after another
        // within each, as a conversation's turns do.
        let turns = convs.iter().map(|id| {
            let (s, id, account) = (s.clone(), id.clone(), a.id.clone());
            tokio::spawn(async move {
                let t = Thread::Conversation(id.clone());
                for i in 0..8 {
                    let (_, before) = read(&s, &account, &id).await.unwrap();
                    let u = s
                        .add_message(&t, text("user", &format!("q{i}")))
                        .await
                        .unwrap();
                    let r = s
                        .add_message(&t, text("assistant", &format!("a{i}")))
                        .await
                        .unwrap();
                    let (_, after) = read(&s, &account, &id).await.unwrap();
                    // Its own writes, in order, after what came before.
                    let mut want = before;
                    want.extend([u, r]);
                    let want = &want[want.len().saturating_sub(4)..];
                    assert_eq!(debug(&after), debug(want));
                }
            })
        });
        futures_join_all(turns).await;
        for id in &convs {
            let (_, kept) = read(&s, &a.id, id).await.unwrap();
            assert_eq!(kept.len(), 4);
            assert_eq!(
                Some(("active".to_string(), debug(&kept))),
                cold(id.clone()).await
            );
        }

        s.end_conversation(&a.id, &convs[1]).await.unwrap();
        let (ended, _) = read(&s, &a.id, &convs[1]).await.unwrap();
        assert_eq!(ended.status, "ended");
        assert!(s.delete_avatar(&a.id, &av.id).await.unwrap());
        for gone in [&convs[0], &convs[4]] {
            assert!(read(&s, &a.id, gone).await.is_none());
        }

        // Another process adds to a conversation this one keeps; this one
        // forgets what it kept at its next commit.
        let (_, kept) = read(&s, &a.id, &convs[2]).await.unwrap();
        let (_, again) = read(&s, &a.id, &convs[2]).await.unwrap();
        assert_eq!(debug(&kept), debug(&again));
        let other = SqliteStore::open(&path).await.unwrap();
        let t2 = Thread::Conversation(convs[2].clone());
        let theirs = other
            .add_message(&t2, text("user", "from elsewhere"))
            .await
            .unwrap();
        other.close().await;
        s.add_message(
            &Thread::Conversation(convs[3].clone()),
            text("user", "here"),
        )
        .await
        .unwrap();
        let (_, now) = read(&s, &a.id, &convs[2]).await.unwrap();
        assert_eq!(now.last().map(|m| &m.id), Some(&theirs.id));
        assert_eq!(
            Some(("active".to_string(), debug(&now))),
            cold(convs[2].clone()).await
        );
        s.close().await;
    }

    /// Awaits spawned tasks in order, failing on a panic in any.
    async fn futures_join_all<T: Send + 'static>(
        tasks: impl Iterator<Item = tokio::task::JoinHandle<T>>,
    ) -> Vec<T> {
        let mut out = Vec::new();
        for t in tasks.collect::<Vec<_>>() {
            out.push(t.await.unwrap());
        }
        out
    }
}
