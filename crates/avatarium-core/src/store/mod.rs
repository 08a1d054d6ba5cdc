//! Storage behind a small trait, so handlers never see SQL and tests or
//! future back-ends can stand in for SQLite.

mod recent;
mod sqlite;

use async_trait::async_trait;

use crate::model::{
    Account, ApiKeyRecord, AvatarRecord, AvatarSettings, ChunkHit, ConversationRecord,
    KnowledgeItem, MessageRecord, SessionRecord,
};

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

pub struct NewKnowledgeItem {
    pub avatar_id: String,
    pub kind: String,
    pub title: String,
    pub source: Option<String>,
    pub mime: Option<String>,
    pub chars: i64,
}

pub struct NewChunk {
    pub heading: Option<String>,
    pub text: String,
    /// The text as the full-text index sees it (stemmed tokens).
    pub fts_doc: String,
    pub embedding: Option<Vec<f32>>,
}

pub struct NewConversation {
    pub account_id: String,
    pub avatar_id: Option<String>,
    pub consumer_avatar_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub system_prompt: String,
    pub byok: bool,
    pub source: String,
    pub metadata: Option<String>,
}

/// Where a message belongs: an API conversation or a public avatar session.
#[derive(Clone, Debug)]
pub enum Thread {
    Conversation(String),
    Session(String),
}

impl Thread {
    /// The `messages` column that points at this thread, and its id.
    pub(crate) fn column(&self) -> (&'static str, &str) {
        match self {
            Self::Conversation(id) => ("conversation_id", id),
            Self::Session(id) => ("session_id", id),
        }
    }
}

#[derive(Default)]
pub struct NewMessage {
    pub role: String,
    pub content: String,
    pub emotion: Option<String>,
    pub sources: Option<String>,
    pub latency_ms: Option<i64>,
    pub llm_ms: Option<i64>,
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
    /// (YYYY-MM-DD, messages) of the avatar's sessions.
    pub messages_by_day: Vec<(String, i64)>,
    /// Reply latencies (ms) of the avatar's answers.
    pub latencies: Vec<i64>,
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

    async fn add_knowledge(
        &self,
        item: NewKnowledgeItem,
        chunks: Vec<NewChunk>,
    ) -> StoreResult<KnowledgeItem>;
    async fn knowledge_items(&self, avatar_id: &str) -> StoreResult<Vec<KnowledgeItem>>;
    async fn delete_knowledge_item(&self, avatar_id: &str, item_id: &str) -> StoreResult<bool>;
    /// Best chunks of one avatar for an FTS5 MATCH expression, best first.
    async fn search_knowledge(
        &self,
        avatar_id: &str,
        fts_query: &str,
        limit: u32,
    ) -> StoreResult<Vec<ChunkHit>>;
    /// Every chunk of the avatar that has an embedding.
    async fn chunk_embeddings(&self, avatar_id: &str) -> StoreResult<Vec<(ChunkHit, Vec<f32>)>>;

    async fn create_conversation(&self, new: NewConversation) -> StoreResult<ConversationRecord>;
    async fn conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>>;
    /// Marks it ended; None if it does not exist for this account.
    async fn end_conversation(
        &self,
        account_id: &str,
        id: &str,
    ) -> StoreResult<Option<ConversationRecord>>;
    /// A conversation of this account with its last `limit` messages,
    /// oldest first: everything a turn needs from storage, in one read.
    async fn conversation_with_recent(
        &self,
        account_id: &str,
        id: &str,
        limit: u32,
    ) -> StoreResult<Option<(ConversationRecord, Vec<MessageRecord>)>>;
    /// Stores a message; it is committed when this returns. Concurrent
    /// calls may share one commit.
    async fn add_message(&self, thread: &Thread, msg: NewMessage) -> StoreResult<MessageRecord>;
    async fn messages(&self, thread: &Thread) -> StoreResult<Vec<MessageRecord>>;
    /// The last `limit` messages, oldest first: a prompt's history costs the
    /// same however long the conversation has run.
    async fn recent_messages(&self, thread: &Thread, limit: u32)
    -> StoreResult<Vec<MessageRecord>>;
    /// A whole conversation at once (004's conversation log).
    async fn log_conversation(
        &self,
        new: NewConversation,
        messages: Vec<NewMessage>,
    ) -> StoreResult<ConversationRecord>;

    async fn session(&self, avatar_id: &str, id: &str) -> StoreResult<Option<SessionRecord>>;
    /// Ends a session once, storing its analysis; an ended session is
    /// returned unchanged.
    async fn end_session(&self, id: &str, summary_json: &str)
    -> StoreResult<Option<SessionRecord>>;

    /// Cheap liveness probe for health checks.
    async fn ping(&self) -> StoreResult<()>;
}
