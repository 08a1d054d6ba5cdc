//! The providers the studio knows out of the box, and how to turn one into a
//! [`ProviderConfig`].

use std::time::Duration;

use serde::Serialize;
use serde_json::Value;

use crate::{ProviderConfig, ProviderKind};

#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Capabilities {
    pub streaming: bool,
    /// The user brings their own API key.
    pub byok: bool,
    pub embeddings: bool,
    pub vision: bool,
}

#[derive(Clone, Debug, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub id: String,
    pub name: String,
    pub kind: ProviderKind,
    pub base_url: String,
    pub default_model: String,
    /// Suggestions for the picker; any model name the provider accepts works.
    pub models: Vec<String>,
    pub requires_key: bool,
    /// Runs on this machine: nothing leaves it.
    pub offline: bool,
    pub capabilities: Capabilities,
}

/// Ollama loads a model on its first request, which can take a minute on a
/// laptop; the 30 s default would give up on a healthy server.
const LOCAL_SERVER_FIRST_TOKEN_TIMEOUT: Duration = Duration::from_secs(120);

#[allow(clippy::too_many_arguments)]
fn entry(
    id: &str,
    name: &str,
    kind: ProviderKind,
    base_url: &str,
    models: &[&str],
    requires_key: bool,
    offline: bool,
    capabilities: Capabilities,
) -> ProviderInfo {
    ProviderInfo {
        id: id.into(),
        name: name.into(),
        kind,
        base_url: base_url.into(),
        default_model: models[0].into(),
        models: models.iter().map(|m| (*m).to_owned()).collect(),
        requires_key,
        offline,
        capabilities,
    }
}

/// Every built-in provider; the first model of each is its default.
pub fn catalog() -> Vec<ProviderInfo> {
    use ProviderKind::*;
    let caps = |embeddings, vision| Capabilities {
        streaming: true,
        byok: true,
        embeddings,
        vision,
    };
    vec![
        entry(
            "local",
            "Built-in (offline)",
            Local,
            "",
            &["avatarium-local"],
            false,
            true,
            Capabilities {
                streaming: true,
                byok: false,
                embeddings: false,
                vision: false,
            },
        ),
        entry(
            "groq",
            "Groq",
            OpenAiCompatible,
            "https://api.groq.com/openai/v1",
            &[
                "llama-3.3-70b-versatile",
                "llama-3.1-8b-instant",
                "openai/gpt-oss-120b",
                "openai/gpt-oss-20b",
            ],
            true,
            false,
            caps(false, false),
        ),
        entry(
            "openai",
            "OpenAI",
            OpenAiCompatible,
            "https://api.openai.com/v1",
            &[
                "gpt-4o-mini",
                "gpt-4o",
                "gpt-4.1-mini",
                "gpt-4.1",
                "gpt-4.1-nano",
            ],
            true,
            false,
            caps(true, true),
        ),
        entry(
            "anthropic",
            "Anthropic",
            Anthropic,
            "https://api.anthropic.com",
            &[
                "claude-haiku-4-5",
                "claude-sonnet-4-6",
                "claude-sonnet-4-5",
                "claude-opus-4-6",
            ],
            true,
            false,
            caps(false, true),
        ),
        entry(
            "gemini",
            "Google Gemini",
            Gemini,
            "https://generativelanguage.googleapis.com",
            &[
                "gemini-3.5-flash",
                "gemini-3.5-flash-lite",
                "gemini-3.1-flash-lite",
                "gemini-2.5-flash-lite",
            ],
            true,
            false,
            caps(true, true),
        ),
        entry(
            "ollama",
            "Ollama (this computer)",
            OpenAiCompatible,
            "http://127.0.0.1:11434/v1",
            &["llama3.2", "llama3.1", "qwen2.5", "mistral", "gemma3"],
            false,
            true,
            Capabilities {
                streaming: true,
                byok: false,
                embeddings: true,
                vision: false,
            },
        ),
    ]
}

/// The catalog entry with this id.
pub fn find(id: &str) -> Option<ProviderInfo> {
    catalog().into_iter().find(|p| p.id == id)
}

/// A ready-to-use configuration for a catalog provider, with the user's key,
/// base URL and model overriding the entry's defaults.
///
/// An id that is not in the catalog but comes with a `base_url` is taken to
/// be an OpenAI-compatible server (llama.cpp, LM Studio, vLLM, a proxy); its
/// model may be left out, and is then omitted from requests so the server
/// uses whatever it has loaded. An unknown id without a base URL gives None.
pub fn config_for(
    id: &str,
    api_key: Option<String>,
    base_url: Option<String>,
    model: Option<String>,
) -> Option<ProviderConfig> {
    let base_url = base_url.filter(|u| !u.trim().is_empty());
    let model = model.filter(|m| !m.trim().is_empty());
    let Some(info) = find(id) else {
        let base_url = base_url?;
        let cfg = ProviderConfig::new(
            id,
            ProviderKind::OpenAiCompatible,
            base_url,
            model.unwrap_or_default(),
        );
        return Some(cfg.with_key(api_key));
    };
    let mut cfg = ProviderConfig::new(
        id,
        info.kind,
        base_url.unwrap_or(info.base_url),
        model.unwrap_or(info.default_model),
    )
    .with_key(api_key);
    if info.offline && info.kind != ProviderKind::Local {
        cfg.first_token_timeout = LOCAL_SERVER_FIRST_TOKEN_TIMEOUT;
    }
    Some(cfg)
}

/// Lists the models of an OpenAI-compatible server (`GET {base}/models`), or
/// None when nothing usable answers within `timeout`. Used to detect a
/// running Ollama or llama.cpp server, so it must fail fast.
pub async fn probe_openai_compatible(
    http: &reqwest::Client,
    base_url: &str,
    timeout: Duration,
) -> Option<Vec<String>> {
    let url = crate::retry::join(base_url, "models");
    let probe = async {
        let response = http.get(url).timeout(timeout).send().await.ok()?;
        if !response.status().is_success() {
            return None;
        }
        let body: Value = response.json().await.ok()?;
        let models = body.get("data")?.as_array()?;
        Some(
            models
                .iter()
                .filter_map(|m| m.get("id").and_then(Value::as_str).map(str::to_owned))
                .collect(),
        )
    };
    tokio::time::timeout(timeout, probe).await.ok().flatten()
}
