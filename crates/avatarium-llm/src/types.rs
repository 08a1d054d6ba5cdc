use std::pin::Pin;
use std::time::Duration;

use async_trait::async_trait;
use futures::{Stream, StreamExt};
use serde::{Deserialize, Serialize};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    System,
    User,
    Assistant,
}

#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub role: Role,
    pub content: String,
}

impl Message {
    pub fn system(c: impl Into<String>) -> Self {
        Self {
            role: Role::System,
            content: c.into(),
        }
    }
    pub fn user(c: impl Into<String>) -> Self {
        Self {
            role: Role::User,
            content: c.into(),
        }
    }
    pub fn assistant(c: impl Into<String>) -> Self {
        Self {
            role: Role::Assistant,
            content: c.into(),
        }
    }
}

/// A knowledge-base excerpt retrieved for the current question.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Passage {
    pub title: String,
    pub text: String,
    /// In [0, 1].
    pub relevance: f32,
}

/// What the offline provider knows about the avatar it speaks for (remote
/// models get the same through the system prompt).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Persona {
    pub name: String,
    pub tagline: Option<String>,
    pub personality: Option<String>,
    pub greeting: Option<String>,
}

#[derive(Clone, Debug, Default)]
pub struct ChatRequest {
    /// None: the provider's default model.
    pub model: Option<String>,
    /// The conversation, oldest first; a system message, if any, first.
    pub messages: Vec<Message>,
    pub temperature: Option<f32>,
    pub max_tokens: Option<u32>,
    /// Retrieved knowledge, already in the system prompt for remote models;
    /// the local provider answers from it directly.
    pub knowledge: Vec<Passage>,
    pub persona: Option<Persona>,
}

impl ChatRequest {
    pub fn last_user_message(&self) -> Option<&str> {
        self.messages
            .iter()
            .rev()
            .find(|m| m.role == Role::User)
            .map(|m| m.content.as_str())
    }
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum ProviderError {
    #[error("the provider refused the credentials: {0}")]
    Unauthorized(String),
    #[error("the provider is rate limiting: {0}")]
    RateLimited(String),
    #[error("the provider rejected the request: {0}")]
    BadRequest(String),
    #[error("the provider failed with status {status}: {message}")]
    Upstream { status: u16, message: String },
    #[error("the provider did not answer in time")]
    Timeout,
    #[error("the provider is unreachable: {0}")]
    Network(String),
    #[error("the provider sent something unexpected: {0}")]
    Protocol(String),
    #[error("{0}")]
    NotConfigured(String),
    #[error("{0} is not supported by this provider")]
    Unsupported(&'static str),
}

impl ProviderError {
    /// Worth another try before the first token: overload and outages.
    pub fn is_retryable(&self) -> bool {
        match self {
            Self::RateLimited(_) | Self::Timeout | Self::Network(_) => true,
            Self::Upstream { status, .. } => *status >= 500,
            _ => false,
        }
    }
}

pub type TextStream = Pin<Box<dyn Stream<Item = Result<String, ProviderError>> + Send>>;

#[async_trait]
pub trait ChatProvider: Send + Sync {
    /// `openai`, `groq`, `anthropic`, `gemini`, `ollama`, `local`, or a custom id.
    fn id(&self) -> &str;
    fn default_model(&self) -> &str;

    /// Streams the reply as text deltas. An error before the first delta is
    /// returned here (after retries); a failure mid-stream is an `Err` item.
    async fn stream(&self, req: ChatRequest) -> Result<TextStream, ProviderError>;

    async fn complete(&self, req: ChatRequest) -> Result<String, ProviderError> {
        let mut s = self.stream(req).await?;
        let mut out = String::new();
        while let Some(delta) = s.next().await {
            out.push_str(&delta?);
        }
        Ok(out)
    }

    /// Embeddings for hybrid retrieval, where the provider has them.
    async fn embed(&self, _texts: &[String]) -> Result<Vec<Vec<f32>>, ProviderError> {
        Err(ProviderError::Unsupported("embeddings"))
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum ProviderKind {
    #[serde(rename = "openai-compatible")]
    OpenAiCompatible,
    Anthropic,
    Gemini,
    Local,
}

#[derive(Clone)]
pub struct ProviderConfig {
    pub id: String,
    pub kind: ProviderKind,
    /// e.g. `https://api.openai.com/v1`, `https://api.anthropic.com`,
    /// `https://generativelanguage.googleapis.com`.
    pub base_url: String,
    pub api_key: Option<String>,
    pub default_model: String,
    /// Limit on connecting and receiving the first token.
    pub first_token_timeout: Duration,
    /// Limit on the silence between two chunks once streaming.
    pub idle_timeout: Duration,
    /// Extra attempts on 429/5xx/network errors before the first token.
    pub max_retries: u32,
    pub retry_base_delay: Duration,
}

impl std::fmt::Debug for ProviderConfig {
    // Keys never reach logs, not even through Debug.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ProviderConfig")
            .field("id", &self.id)
            .field("kind", &self.kind)
            .field("base_url", &self.base_url)
            .field("api_key", &self.api_key.as_ref().map(|_| "<redacted>"))
            .field("default_model", &self.default_model)
            .finish_non_exhaustive()
    }
}

impl ProviderConfig {
    pub fn new(
        id: impl Into<String>,
        kind: ProviderKind,
        base_url: impl Into<String>,
        default_model: impl Into<String>,
    ) -> Self {
        Self {
            id: id.into(),
            kind,
            base_url: base_url.into(),
            api_key: None,
            default_model: default_model.into(),
            first_token_timeout: Duration::from_secs(30),
            idle_timeout: Duration::from_secs(30),
            max_retries: 2,
            retry_base_delay: Duration::from_millis(250),
        }
    }

    pub fn with_key(mut self, key: Option<String>) -> Self {
        self.api_key = key.filter(|k| !k.is_empty());
        self
    }
}
