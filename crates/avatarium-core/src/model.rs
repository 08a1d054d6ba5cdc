//! Stored records and the avatar configuration they carry.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct Account {
    pub id: String,
    pub email: String,
    pub display_name: String,
    pub password_hash: Option<String>,
    pub is_owner: bool,
    pub plan_id: String,
    pub created_at: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ApiKeyRecord {
    pub id: String,
    pub account_id: String,
    pub name: String,
    pub prefix: String,
    pub key_hash: String,
    pub tier: String,
    pub created_at: String,
    pub last_used_at: Option<String>,
    pub revoked_at: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct AvatarRecord {
    pub id: String,
    pub account_id: String,
    pub short_id: String,
    pub slug: String,
    pub name: String,
    pub status: String,
    pub is_public: bool,
    #[sqlx(json)]
    pub settings: AvatarSettings,
    pub system_prompt: String,
    pub view_count: i64,
    pub conversation_count: i64,
    pub created_at: String,
    pub updated_at: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct KnowledgeItem {
    pub id: String,
    pub avatar_id: String,
    #[sqlx(rename = "type")]
    pub kind: String,
    pub title: String,
    pub source: Option<String>,
    pub mime: Option<String>,
    pub chars: i64,
    pub chunk_count: i64,
    pub created_at: String,
}

/// A retrieved chunk with its BM25 score (lower is better, as SQLite reports it).
#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ChunkHit {
    pub chunk_id: i64,
    pub item_id: String,
    pub title: String,
    pub heading: Option<String>,
    pub text: String,
    pub bm25: f64,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct ConversationRecord {
    pub id: String,
    pub account_id: String,
    pub avatar_id: Option<String>,
    pub consumer_avatar_id: Option<String>,
    pub provider: String,
    pub model: String,
    pub system_prompt: String,
    pub byok: bool,
    pub source: String,
    pub metadata: Option<String>,
    pub status: String,
    pub created_at: String,
    pub ended_at: Option<String>,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct MessageRecord {
    pub id: String,
    pub conversation_id: Option<String>,
    pub session_id: Option<String>,
    pub role: String,
    pub content: String,
    pub emotion: Option<String>,
    pub sources: Option<String>,
    pub latency_ms: Option<i64>,
    pub llm_ms: Option<i64>,
    pub created_at: String,
}

#[derive(Debug, Clone, sqlx::FromRow)]
pub struct SessionRecord {
    pub id: String,
    pub avatar_id: String,
    pub account_id: String,
    pub visitor_name: Option<String>,
    pub visitor_email: Option<String>,
    pub source: Option<String>,
    pub started_at: String,
    pub ended_at: Option<String>,
    pub duration_ms: Option<i64>,
    /// The end-of-session analysis, as JSON.
    pub summary: Option<String>,
}

/// Everything about a consumer avatar that is configuration rather than
/// identity: appearance, voice, AI and the "soul" fields the system prompt is
/// generated from. Stored as JSON; absent fields are omitted.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", default)]
pub struct AvatarSettings {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tagline: Option<String>,
    /// One of the shipped presets (`GET /v1/avatars`); its model is used when
    /// no `avatarModelUrl` is given.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_preset: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_model_url: Option<String>,
    /// `F` or `M` body type for rigs that need one.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_body: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub avatar_type: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub background_color: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub personality: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub greeting: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub traits: Option<Vec<String>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tone: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiz_mode: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub quiz_difficulty: Option<String>,
    /// Free-form instructions appended to the generated system prompt.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub custom_instructions: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub language: Option<String>,
    /// The persona preset this avatar was started from, if any.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub persona_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_gender: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_id: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub tts_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_provider: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub ai_model: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub voice_chat_enabled: Option<bool>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub allow_embedding: Option<bool>,
}

/// Soul fields: changing any of them regenerates the system prompt.
pub const SOUL_FIELDS: &[&str] = &[
    "name",
    "personality",
    "greeting",
    "traits",
    "tone",
    "quizMode",
    "quizDifficulty",
    "customInstructions",
    "language",
    "personaId",
];

pub const AVATAR_STATUSES: &[&str] = &["active", "paused"];
pub const QUIZ_DIFFICULTIES: &[&str] = &["easy", "medium", "hard"];
