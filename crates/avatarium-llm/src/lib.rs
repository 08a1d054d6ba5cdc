//! Chat providers behind one streaming trait: real wire clients for
//! OpenAI-compatible servers (OpenAI, Groq, Ollama, llama.cpp, LM Studio,
//! vLLM), Anthropic Messages and Gemini, plus the offline `local` provider
//! that answers from an avatar's persona and knowledge base.

pub mod analysis;
pub mod anthropic;
pub mod catalog;
pub mod gemini;
pub mod local;
pub mod openai;
mod retry;
pub mod speakable;
pub mod text;
mod types;

use std::sync::Arc;

pub use catalog::{ProviderInfo, catalog};
pub use types::*;

/// Builds the provider a configuration describes.
pub fn build(cfg: ProviderConfig, http: reqwest::Client) -> Arc<dyn ChatProvider> {
    match cfg.kind {
        ProviderKind::OpenAiCompatible => Arc::new(openai::OpenAiProvider::new(cfg, http)),
        ProviderKind::Anthropic => Arc::new(anthropic::AnthropicProvider::new(cfg, http)),
        ProviderKind::Gemini => Arc::new(gemini::GeminiProvider::new(cfg, http)),
        ProviderKind::Local => Arc::new(local::LocalProvider::new()),
    }
}
