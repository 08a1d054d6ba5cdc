//! Storage behind a small trait, so handlers never see SQL and tests or
//! future back-ends can stand in for SQLite.

mod sqlite;

use async_trait::async_trait;

use crate::model::{Account, ApiKeyRecord, AvatarRecord, AvatarSettings, SessionRecord};

pub use sqlite::SqliteStore;

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// A uniqueness rule was broken; the string names what clashed.
    #[error("{0} already exists")]
    Conflict(&'static str),
    #[error(transparent)]
    Database(#[from] sqlx::Error),
    #[error(transparent)]
    Migrate(#[from] sqlx::migrate::MigrateError),
    #[error("stored data is corrupt: {0}")]
    Corrupt(String),
}

pub type StoreResult<T> = Result<T, StoreError>;

pub struct NewAvatar {
    pub account_id: String,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub is_public: bool,
    pub settings: AvatarSettings,
    pub system_prompt: String,
}

/// A full replacement of an avatar's mutable fields, computed by the caller
/// from the stored record and a partial update.
pub struct AvatarUpdate {
    pub slug: String,
    pub name: String,
    pub status: String,
    pub is_public: bool,
    pub settings: AvatarSettings,
    pub system_prompt: String,
}

pub struct NewSession {
    pub avatar_id: String,
    pub account_id: String,
    pub visitor_name: Option<String>,
    pub visitor_email: Option<String>,
    pub source: Option<String>,
}

/// Raw per-day figures for an avatar since a given instant; the caller fills
/// in days without activity.
#[derive(Debug, Default, Clone)]
pub struct AnalyticsRows {
    /// (YYYY-MM-DD, views)
    pub views_by_day: Vec<(String, i64)>,
    /// (YYYY-MM-DD, sessions started)
    pub sessions_by_day: Vec<(String, i64)>,
    /// (YYYY-MM-DD, duration in ms) of every ended session.
    pub durations: Vec<(String, i64)>,
}

#[async_trait]
pub trait Store: Send + Sync + 'static {
    /// The local owner account, created on first use.
    async fn owner(&self) -> StoreResult<Account>;
    async fn create_account(
        &self,
        email: &str,
        display_name: &str,
        password_hash: &str,
    ) -> StoreResult<Account>;
    async fn account_by_email(&self, email: &str) -> StoreResult<Option<Account>>;
    async fn account(&self, id: &str) -> StoreResult<Option<Account>>;

    async fn create_api_key(
        &self,
        account_id: &str,
        name: &str,
        key_hash: &str,
        prefix: &str,
        tier: &str,
    ) -> StoreResult<ApiKeyRecord>;
    async fn api_keys(&self, account_id: &str) -> StoreResult<Vec<ApiKeyRecord>>;
    /// Revokes an active key of this account; false if there is none.
    async fn revoke_api_key(&self, account_id: &str, key_id: &str) -> StoreResult<bool>;
    /// An active (unrevoked) key by hash, marking it used.
    async fn active_api_key(&self, key_hash: &str) -> StoreResult<Option<ApiKeyRecord>>;

    async fn create_avatar(&self, new: NewAvatar) -> StoreResult<AvatarRecord>;
    async fn avatars(&self, account_id: &str) -> StoreResult<Vec<AvatarRecord>>;
    async fn avatar(&self, account_id: &str, id: &str) -> StoreResult<Option<AvatarRecord>>;
    async fn avatar_by_short_id(&self, short_id: &str) -> StoreResult<Option<AvatarRecord>>;
    async fn count_avatars(&self, account_id: &str) -> StoreResult<i64>;
    async fn update_avatar(
        &self,
        account_id: &str,
        id: &str,
        update: AvatarUpdate,
    ) -> StoreResult<Option<AvatarRecord>>;
    /// Deletes the avatar and, by cascade, its views, sessions and messages.
    async fn delete_avatar(&self, account_id: &str, id: &str) -> StoreResult<bool>;
    async fn record_view(&self, avatar_id: &str) -> StoreResult<()>;

    async fn create_session(&self, new: NewSession) -> StoreResult<SessionRecord>;
    async fn count_sessions_since(&self, account_id: &str, since: &str) -> StoreResult<i64>;
    async fn analytics(&self, avatar_id: &str, since: &str) -> StoreResult<AnalyticsRows>;

    /// Cheap liveness probe for health checks.
    async fn ping(&self) -> StoreResult<()>;
}
