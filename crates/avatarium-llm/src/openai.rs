//! OpenAI Chat Completions over SSE, the dialect OpenAI, Groq, Ollama,
//! llama.cpp, LM Studio and vLLM all speak.

use async_trait::async_trait;
use eventsource_stream::Event;
use serde_json::{Map, Value, json};

use crate::retry::{self, Step};
use crate::{ChatProvider, ChatRequest, ProviderConfig, ProviderError, TextStream};

/// The embedding model used against OpenAI itself. Other OpenAI-compatible
/// servers (Ollama, llama.cpp) embed with the configured default model,
/// since they have no fixed embedding model name.
pub const OPENAI_EMBEDDING_MODEL: &str = "text-embedding-3-small";

pub struct OpenAiProvider {
    cfg: ProviderConfig,
    http: reqwest::Client,
}

impl OpenAiProvider {
    pub fn new(cfg: ProviderConfig, http: reqwest::Client) -> Self {
        Self { cfg, http }
    }

    fn is_openai(&self) -> bool {
        self.cfg.id == "openai" || self.cfg.base_url.contains("api.openai.com")
    }

    fn post(&self, path: &str) -> reqwest::RequestBuilder {
        let request = self.http.post(retry::join(&self.cfg.base_url, path));
        match &self.cfg.api_key {
            // Local servers run without a key, and some reject a bogus one.
            Some(key) => request.bearer_auth(key),
            None => request,
        }
    }

    fn chat_body(&self, req: &ChatRequest) -> Value {
        let model = req.model.as_deref().unwrap_or(&self.cfg.default_model);
        let mut body = Map::new();
        // llama.cpp serves whatever it loaded and accepts no model at all;
        // an empty name would be rejected by stricter servers.
        if !model.is_empty() {
            body.insert("model".into(), json!(model));
        }
        let messages: Vec<Value> = req
            .messages
            .iter()
            .map(|m| json!({ "role": m.role, "content": m.content }))
            .collect();
        body.insert("messages".into(), Value::Array(messages));
        body.insert("stream".into(), json!(true));
        if let Some(t) = req.temperature {
            body.insert("temperature".into(), json!(t));
        }
        if let Some(n) = req.max_tokens {
            // OpenAI's newer models refuse `max_tokens`; every other
            // compatible server only knows `max_tokens`.
            let field = if self.is_openai() {
                "max_completion_tokens"
            } else {
                "max_tokens"
            };
            body.insert(field.into(), json!(n));
        }
        Value::Object(body)
    }
}

impl std::fmt::Debug for OpenAiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("OpenAiProvider")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ChatProvider for OpenAiProvider {
    fn id(&self) -> &str {
        &self.cfg.id
    }

    fn default_model(&self) -> &str {
        &self.cfg.default_model
    }

    async fn stream(&self, req: ChatRequest) -> Result<TextStream, ProviderError> {
        let body = self.chat_body(&req);
        retry::open_stream(
            &self.cfg,
            || self.post("chat/completions").json(&body),
            parse_event,
            true,
        )
        .await
    }

    /// `POST {base}/embeddings`, with [`OPENAI_EMBEDDING_MODEL`] on OpenAI and
    /// the configured default model elsewhere.
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ProviderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        if self.cfg.id == "groq" {
            // Groq has no embeddings endpoint; saying so beats a 404.
            return Err(ProviderError::Unsupported("embeddings"));
        }
        let model = if self.is_openai() {
            OPENAI_EMBEDDING_MODEL
        } else {
            self.cfg.default_model.as_str()
        };
        let body = json!({ "model": model, "input": texts });
        let reply = retry::send_json(&self.cfg, || self.post("embeddings").json(&body)).await?;
        parse_embeddings(&reply, texts.len())
    }
}

fn parse_event(event: &Event) -> Step {
    let data = event.data.trim();
    if data == "[DONE]" {
        return Step::Done;
    }
    if data.is_empty() {
        return Step::Skip;
    }
    let chunk: Value = match serde_json::from_str(data) {
        Ok(v) => v,
        Err(e) => return Step::Fail(ProviderError::Protocol(format!("unreadable chunk: {e}"))),
    };
    if let Some(error) = chunk.get("error") {
        // vLLM, OpenRouter and others report failures inside the stream.
        let message = error
            .get("message")
            .or(Some(error))
            .and_then(Value::as_str)
            .unwrap_or("error inside the stream")
            .to_owned();
        let code = error
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok());
        return Step::Fail(retry::error_for_code(code.unwrap_or(500), message));
    }
    match chunk
        .pointer("/choices/0/delta/content")
        .and_then(Value::as_str)
    {
        Some(text) if !text.is_empty() => Step::Delta(text.to_owned()),
        // Role-only first chunks, the final finish_reason chunk, usage chunks.
        _ => Step::Skip,
    }
}

fn parse_embeddings(reply: &Value, expected: usize) -> Result<Vec<Vec<f32>>, ProviderError> {
    let bad = |what: &str| ProviderError::Protocol(format!("unexpected embeddings reply: {what}"));
    let data = reply
        .get("data")
        .and_then(Value::as_array)
        .ok_or_else(|| bad("no data"))?;
    let mut rows: Vec<(u64, Vec<f32>)> = Vec::with_capacity(data.len());
    for (position, item) in data.iter().enumerate() {
        // Order is documented by `index`, not by position.
        let index = item
            .get("index")
            .and_then(Value::as_u64)
            .unwrap_or(position as u64);
        let vector = item
            .get("embedding")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("an item has no embedding"))?
            .iter()
            .map(|x| x.as_f64().map(|x| x as f32))
            .collect::<Option<Vec<f32>>>()
            .ok_or_else(|| bad("an embedding is not a list of numbers"))?;
        rows.push((index, vector));
    }
    if rows.len() != expected {
        return Err(bad(&format!("{} vectors for {expected} texts", rows.len())));
    }
    rows.sort_by_key(|(index, _)| *index);
    Ok(rows.into_iter().map(|(_, v)| v).collect())
}
