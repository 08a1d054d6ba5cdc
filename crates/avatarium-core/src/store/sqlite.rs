use std::path::Path;
use std::str::FromStr;
use std::time::Duration;

use async_trait::async_trait;
use sqlx::sqlite::{SqliteConnectOptions, SqliteJournalMode, SqlitePoolOptions, SqliteSynchronous};
use sqlx::{Row, SqlitePool};

use super::{AnalyticsRows, AvatarUpdate, NewAvatar, NewSession, Store, StoreError, StoreResult};
use crate::ids;
use crate::model::{Account, ApiKeyRecord, AvatarRecord, SessionRecord};
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
             VALUES (?, ?, ?, ?, ?, ?, ?) \
             RETURNING id, avatar_id, account_id, visitor_name, visitor_email, source, \
                       started_at, ended_at, duration_ms",
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
        Ok(AnalyticsRows {
            views_by_day,
            sessions_by_day,
            durations,
        })
    }

    async fn ping(&self) -> StoreResult<()> {
        sqlx::query("SELECT 1").execute(&self.pool).await?;
        Ok(())
    }
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
