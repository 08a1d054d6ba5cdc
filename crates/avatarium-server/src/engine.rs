//! The conversation engine shared by every chat path (conversations, public
//! avatars, `/api/chat`, the OpenAI-compatible endpoints): which provider
//! answers, what knowledge grounds it, and how the prompt is assembled.

use std::collections::HashMap;
use std::future::Future;
use std::sync::{Arc, LazyLock, Mutex, RwLock};
use std::time::Duration;

use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;

use avatarium_core::model::{AvatarRecord, MessageRecord};
use avatarium_core::presets;
use avatarium_core::store::{NewMessage, Thread};
use avatarium_llm::{self as llm, ChatProvider, ChatRequest, Message, Passage, Persona};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// A caller's own provider key (000's `byokAI`). Kept in memory only, for the
/// life of the conversation: it is never stored, logged or returned.
#[derive(Clone, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Byok {
    pub provider: String,
    pub api_key: String,
    #[serde(default)]
    pub model: Option<String>,
    #[serde(default)]
    pub base_url: Option<String>,
}

impl std::fmt::Debug for Byok {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Byok")
            .field("provider", &self.provider)
            .field("api_key", &"<redacted>")
            .field("model", &self.model)
            .field("base_url", &self.base_url)
            .finish()
    }
}

impl Byok {
    pub fn validate(&self) -> ApiResult<()> {
        if self.api_key.trim().is_empty() {
            return Err(ApiError::bad_request("byokAI.apiKey is required"));
        }
        let known = ["groq", "openai", "anthropic", "gemini"];
        if !known.contains(&self.provider.as_str()) && self.base_url.is_none() {
            return Err(ApiError::bad_request(
                "byokAI.provider must be groq, openai, anthropic or gemini (or give byokAI.baseUrl for an OpenAI-compatible server)",
            ));
        }
        if let Some(u) = &self.base_url
            && !(u.starts_with("http://") || u.starts_with("https://"))
        {
            return Err(ApiError::bad_request(
                "byokAI.baseUrl must be an http(s) URL",
            ));
        }
        Ok(())
    }
}

/// The provider that will answer, and under which names.
#[derive(Clone)]
pub struct Chosen {
    pub provider: Arc<dyn ChatProvider>,
    pub id: String,
    pub model: String,
    pub byok: bool,
}

/// Live engine state: detected local servers, BYOK keys of open
/// conversations, and the sockets of each conversation.
#[derive(Default)]
pub struct Engine {
    pub local_models: RwLock<Vec<String>>,
    byok: Mutex<HashMap<String, Byok>>,
    ended: Mutex<HashMap<String, watch::Sender<bool>>>,
}

static LOCAL: LazyLock<Arc<dyn ChatProvider>> =
    LazyLock::new(|| Arc::new(llm::local::LocalProvider::new()));

pub fn local_provider() -> Arc<dyn ChatProvider> {
    LOCAL.clone()
}

impl Engine {
    pub fn remember_byok(&self, conversation_id: &str, byok: Byok) {
        self.byok
            .lock()
            .expect("byok lock")
            .insert(conversation_id.to_string(), byok);
    }

    pub fn byok_for(&self, conversation_id: &str) -> Option<Byok> {
        self.byok
            .lock()
            .expect("byok lock")
            .get(conversation_id)
            .cloned()
    }

    /// A receiver that flips to `true` when the conversation ends.
    pub fn subscribe(&self, conversation_id: &str) -> watch::Receiver<bool> {
        let mut map = self.ended.lock().expect("hub lock");
        map.entry(conversation_id.to_string())
            .or_insert_with(|| watch::channel(false).0)
            .subscribe()
    }

    /// Ends the conversation for every socket and forgets its key.
    pub fn end(&self, conversation_id: &str) {
        if let Some(tx) = self.ended.lock().expect("hub lock").remove(conversation_id) {
            let _ = tx.send(true);
        }
        self.byok.lock().expect("byok lock").remove(conversation_id);
    }
}

impl AppState {
    /// Whether a provider can answer without a caller's key.
    pub fn provider_configured(&self, id: &str) -> bool {
        if id == "local" {
            return true;
        }
        let settings = self.config.providers.get(id);
        if settings.is_some_and(|s| s.api_key.is_some()) {
            return true;
        }
        if id == "ollama" {
            return settings.is_some()
                || !self
                    .engine
                    .local_models
                    .read()
                    .expect("models lock")
                    .is_empty();
        }
        // A custom OpenAI-compatible server given only by its URL.
        settings.is_some_and(|s| s.base_url.is_some())
            && llm::catalog::config_for(id, None, None, None).is_none()
    }

    pub fn default_provider_id(&self) -> String {
        self.config
            .default_provider
            .clone()
            .filter(|p| self.provider_configured(p))
            .unwrap_or_else(|| "local".into())
    }

    /// Picks the provider for a request: the caller's key first, then the
    /// named provider when this server has a key for it, else the default
    /// (the offline provider unless configured otherwise), so an avatar
    /// always answers.
    pub fn choose_provider(
        &self,
        requested: Option<&str>,
        model: Option<&str>,
        byok: Option<&Byok>,
    ) -> ApiResult<Chosen> {
        if let Some(b) = byok {
            b.validate()?;
            let cfg = llm::catalog::config_for(
                &b.provider,
                Some(b.api_key.clone()),
                b.base_url.clone(),
                b.model.clone().or(model.map(str::to_owned)),
            )
            .ok_or_else(|| ApiError::bad_request(format!("Unknown provider '{}'", b.provider)))?;
            return Ok(self.build(cfg, true));
        }
        let id = match requested.map(str::trim).filter(|p| !p.is_empty()) {
            Some(p) if self.provider_configured(p) => p.to_string(),
            Some(p) if llm::catalog::config_for(p, None, None, None).is_none() && p != "local" => {
                return Err(ApiError::bad_request(format!(
                    "Unknown provider '{p}'; see GET /v1/ai/providers"
                )));
            }
            _ => self.default_provider_id(),
        };
        if id == "local" {
            let p = local_provider();
            let model = p.default_model().to_string();
            return Ok(Chosen {
                provider: p,
                id,
                model,
                byok: false,
            });
        }
        let s = self.config.providers.get(&id).cloned().unwrap_or_default();
        let base_url = s
            .base_url
            .clone()
            .or_else(|| (id == "ollama").then(|| self.config.ollama_url.clone()));
        let cfg = llm::catalog::config_for(
            &id,
            s.api_key.map(|k| k.0),
            base_url,
            model.map(str::to_owned).or(s.model),
        )
        .ok_or_else(|| ApiError::bad_request(format!("Unknown provider '{id}'")))?;
        Ok(self.build(cfg, false))
    }

    fn build(&self, cfg: llm::ProviderConfig, byok: bool) -> Chosen {
        let id = cfg.id.clone();
        let model = cfg.default_model.clone();
        Chosen {
            provider: llm::build(cfg, self.http.clone()),
            id,
            model,
            byok,
        }
    }

    /// The last turns of a thread as prompt history.
    pub async fn history(&self, thread: &Thread) -> ApiResult<Vec<Message>> {
        let records = self
            .store
            .recent_messages(thread, MAX_HISTORY as u32)
            .await?;
        Ok(turns(&records))
    }

    /// Stores the user's message of a turn while the provider starts on the
    /// answer, and returns both once both are done: the caller acknowledges
    /// nothing before the message is committed, and the commit no longer
    /// adds to the turn's latency. The message is stored whatever the
    /// provider does; a provider failure comes back as a 502 and, since the
    /// reply is stored only by the caller once complete, leaves no reply.
    pub async fn store_user_while<T>(
        &self,
        thread: &Thread,
        text: String,
        provider: &str,
        answer: impl Future<Output = Result<T, llm::ProviderError>>,
    ) -> ApiResult<(MessageRecord, T)> {
        let store = self.store.add_message(
            thread,
            NewMessage {
                role: "user".into(),
                content: text,
                ..Default::default()
            },
        );
        // Both run to the end (no early exit on the first error), so a
        // failed provider call never cuts the store short.
        let (stored, answered) = tokio::join!(store, answer);
        let user = stored?;
        let answer = answered.map_err(|e| provider_error(provider, &e))?;
        Ok((user, answer))
    }

    /// A provider's key: the caller's own, else this server's, with the
    /// server's base-URL override. None when neither has one.
    pub fn provider_key(
        &self,
        provider: &str,
        byok: Option<String>,
    ) -> Option<(String, Option<String>)> {
        let settings = self.config.providers.get(provider);
        let key = byok.filter(|k| !k.trim().is_empty()).or_else(|| {
            settings
                .and_then(|s| s.api_key.as_ref())
                .map(|k| k.expose().to_string())
        })?;
        Some((key, settings.and_then(|s| s.base_url.clone())))
    }

    /// The provider that embeds knowledge, when one is configured.
    pub fn embedder(&self) -> Option<Chosen> {
        let id = self.config.embeddings_provider.as_deref()?;
        if id == "local" || !self.provider_configured(id) {
            return None;
        }
        self.choose_provider(Some(id), None, None).ok()
    }

    /// Embeddings for chunks being added; None (and a warning) when there is
    /// no embedder or it fails, so ingestion never depends on the network.
    pub async fn embed_texts(&self, texts: &[String]) -> Option<Vec<Vec<f32>>> {
        let e = self.embedder()?;
        match e.provider.embed(texts).await {
            Ok(v) if v.len() == texts.len() => Some(v),
            Ok(_) => None,
            Err(err) => {
                tracing::warn!(provider = %e.id, error = %err, "knowledge stored without embeddings");
                None
            }
        }
    }

    /// The knowledge most relevant to `question`, best first: full-text
    /// matches, plus semantic matches when an embedder is configured.
    pub async fn retrieve(&self, avatar_id: &str, question: &str) -> ApiResult<Vec<Passage>> {
        let mut hits: Vec<(avatarium_core::model::ChunkHit, Option<f32>)> =
            match llm::text::fts5_query(question) {
                Some(query) => self
                    .store
                    .search_knowledge(avatar_id, &query, 6)
                    .await?
                    .into_iter()
                    .map(|h| (h, None))
                    .collect(),
                None => Vec::new(),
            };
        if let Some(q) = self
            .embed_texts(&[question.to_string()])
            .await
            .and_then(|mut v| v.pop())
        {
            for (hit, v) in self.store.chunk_embeddings(avatar_id).await? {
                let c = cosine(&q, &v);
                match hits.iter_mut().find(|(h, _)| h.chunk_id == hit.chunk_id) {
                    Some((_, slot)) => *slot = Some(c),
                    None => hits.push((hit, Some(c))),
                }
            }
        }
        let terms = llm::text::question_terms(question);
        let mut passages: Vec<Passage> = hits
            .into_iter()
            .map(|(h, semantic)| {
                // BM25 ranks well but says little in absolute terms (with a
                // handful of chunks its IDF is near zero), so relevance is
                // mostly how well the best sentence (or the title) covers
                // the question, nudged by BM25, and averaged with the
                // embedding similarity when there is one.
                let lexical = llm::text::sentences(&h.text)
                    .iter()
                    .map(|s| llm::text::overlap_score(&terms, s))
                    .chain([llm::text::overlap_score(&terms, &h.title)])
                    .fold(0.0f32, f32::max);
                let x = (-h.bm25).max(0.0) as f32;
                let keyword = 0.8 * lexical + 0.2 * x / (x + 1.5);
                let relevance = match semantic {
                    Some(c) => 0.5 * keyword + 0.5 * c.max(0.0),
                    None => keyword,
                };
                Passage {
                    title: h.title,
                    text: match h.heading {
                        Some(head) if !h.text.starts_with(&head) => format!("{head}\n{}", h.text),
                        _ => h.text,
                    },
                    relevance: relevance.clamp(0.0, 1.0),
                }
            })
            .collect();
        passages.sort_by(|a, b| b.relevance.total_cmp(&a.relevance));
        passages.truncate(6);
        Ok(passages)
    }

    /// Probes for a local OpenAI-compatible server (Ollama) so it can be
    /// offered in `/v1/models`; quick and silent when none runs.
    pub async fn detect_local_models(&self) {
        let found = llm::catalog::probe_openai_compatible(
            &self.http,
            &self.config.ollama_url,
            Duration::from_millis(400),
        )
        .await
        .unwrap_or_default();
        *self.engine.local_models.write().expect("models lock") = found;
    }
}

fn cosine(a: &[f32], b: &[f32]) -> f32 {
    if a.len() != b.len() || a.is_empty() {
        return 0.0;
    }
    let (mut dot, mut na, mut nb) = (0.0f32, 0.0f32, 0.0f32);
    for (x, y) in a.iter().zip(b) {
        dot += x * y;
        na += x * x;
        nb += y * y;
    }
    if na == 0.0 || nb == 0.0 {
        0.0
    } else {
        dot / (na.sqrt() * nb.sqrt())
    }
}

/// Stored messages as chat turns (system and other roles left out).
pub fn turns(records: &[MessageRecord]) -> Vec<Message> {
    records
        .iter()
        .filter_map(|m| match m.role.as_str() {
            "user" => Some(Message::user(m.content.clone())),
            "assistant" => Some(Message::assistant(m.content.clone())),
            _ => None,
        })
        .collect()
}

/// 002's `sources`: one per knowledge item, its best relevance.
pub fn sources_json(passages: &[Passage]) -> Value {
    let mut seen: Vec<(String, f32)> = Vec::new();
    for p in passages {
        match seen.iter_mut().find(|(t, _)| *t == p.title) {
            Some((_, r)) => *r = r.max(p.relevance),
            None => seen.push((p.title.clone(), p.relevance)),
        }
    }
    Value::Array(
        seen.into_iter()
            .map(|(title, r)| json!({ "title": title, "relevance": round2(r) }))
            .collect(),
    )
}

/// Two decimals, computed in f64 so 0.9f32 prints as 0.9.
pub fn round2(r: f32) -> f64 {
    (f64::from(r) * 100.0).round() / 100.0
}

/// The passages good enough to cite.
pub fn cited(passages: &[Passage]) -> Vec<Passage> {
    passages
        .iter()
        .filter(|p| p.relevance >= 0.15)
        .cloned()
        .collect()
}

pub fn persona_of(avatar: &AvatarRecord) -> Persona {
    Persona {
        name: avatar.name.clone(),
        tagline: avatar.settings.tagline.clone(),
        personality: avatar.settings.personality.clone(),
        greeting: avatar.settings.greeting.clone(),
    }
}

pub fn preset_persona(preset_id: &str) -> Option<(Persona, String)> {
    let p = presets::by_id(preset_id)?;
    let prompt = format!(
        "You are {}, a friendly talking avatar. {} Your replies are spoken aloud: keep them to \
         two to four short sentences of plain text, with no markdown, lists, URLs or emoji.",
        p.name, p.description
    );
    Some((
        Persona {
            name: p.name.clone(),
            tagline: Some(p.description.clone()),
            personality: None,
            greeting: None,
        },
        prompt,
    ))
}

/// Most recent turns kept in the prompt; older ones are dropped first.
pub const MAX_HISTORY: usize = 20;
pub const MAX_MESSAGE_CHARS: usize = 8000;

/// System prompt + knowledge + recent history + the new user message.
pub fn build_request(
    system_prompt: &str,
    knowledge: Vec<Passage>,
    mut history: Vec<Message>,
    user: &str,
    persona: Option<Persona>,
    model: Option<String>,
) -> ChatRequest {
    let mut system = system_prompt.trim().to_string();
    if !knowledge.is_empty() {
        system.push_str("\n\nKnowledge base excerpts (answer from these when they are relevant):");
        for (i, p) in knowledge.iter().enumerate() {
            system.push_str(&format!("\n[{}] {}: {}", i + 1, p.title, p.text.trim()));
        }
    }
    history.retain(|m| m.role != llm::Role::System && !m.content.trim().is_empty());
    if history.len() > MAX_HISTORY {
        history.drain(..history.len() - MAX_HISTORY);
    }
    let mut messages = Vec::with_capacity(history.len() + 2);
    if !system.is_empty() {
        messages.push(Message::system(system));
    }
    messages.extend(history);
    messages.push(Message::user(user));
    ChatRequest {
        model,
        messages,
        temperature: None,
        max_tokens: None,
        knowledge,
        persona,
    }
}

/// An upstream failure as the API reports it: 502 PROVIDER_ERROR with the
/// provider's reason (keys are already redacted by the clients).
pub fn provider_error(provider: &str, e: &llm::ProviderError) -> ApiError {
    ApiError::Provider(format!("Provider '{provider}' failed: {e}"))
}

pub fn validate_user_text(text: &str) -> ApiResult<&str> {
    let t = text.trim();
    if t.is_empty() {
        return Err(ApiError::bad_request("message must not be empty"));
    }
    if t.chars().count() > MAX_MESSAGE_CHARS {
        return Err(ApiError::bad_request(format!(
            "message must be at most {MAX_MESSAGE_CHARS} characters"
        )));
    }
    Ok(t)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn requests_carry_knowledge_and_bounded_history() {
        let history: Vec<Message> = (0..30).map(|i| Message::user(format!("q{i}"))).collect();
        let req = build_request(
            "You are Aria.",
            vec![Passage {
                title: "Pricing FAQ".into(),
                text: "Basic costs 10 dollars.".into(),
                relevance: 0.8,
            }],
            history,
            "What are your prices?",
            None,
            None,
        );
        assert_eq!(req.messages.len(), MAX_HISTORY + 2);
        assert!(
            req.messages[0]
                .content
                .contains("[1] Pricing FAQ: Basic costs 10 dollars.")
        );
        assert_eq!(
            req.messages.last().unwrap().content,
            "What are your prices?"
        );
        assert_eq!(req.messages[1].content, "q10");
    }

    #[test]
    fn sources_are_one_per_item_with_the_best_relevance() {
        let p = |t: &str, r| Passage {
            title: t.into(),
            text: String::new(),
            relevance: r,
        };
        let s = sources_json(&[p("A", 0.5), p("B", 0.3), p("A", 0.9)]);
        assert_eq!(
            s,
            json!([{"title": "A", "relevance": 0.9}, {"title": "B", "relevance": 0.3}])
        );
    }

    #[test]
    fn byok_debug_hides_the_key() {
        let b = Byok {
            provider: "openai".into(),
            api_key: "sk-secret".into(),
            model: None,
            base_url: None,
        };
        assert!(!format!("{b:?}").contains("sk-secret"));
    }
}
