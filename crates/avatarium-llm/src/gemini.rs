//! Gemini API (`generativelanguage.googleapis.com`), `streamGenerateContent`
//! over SSE.

use async_trait::async_trait;
use eventsource_stream::Event;
use serde_json::{Map, Value, json};

use crate::retry::{self, Step};
use crate::{ChatProvider, ChatRequest, ProviderConfig, ProviderError, Role, TextStream};

/// Used by [`GeminiProvider::embed`] whatever the chat model is.
pub const GEMINI_EMBEDDING_MODEL: &str = "gemini-embedding-001";

pub struct GeminiProvider {
    cfg: ProviderConfig,
    http: reqwest::Client,
}

impl GeminiProvider {
    pub fn new(cfg: ProviderConfig, http: reqwest::Client) -> Self {
        Self { cfg, http }
    }

    fn key(&self) -> Result<reqwest::header::HeaderValue, ProviderError> {
        let key = self
            .cfg
            .api_key
            .as_deref()
            .ok_or_else(|| ProviderError::NotConfigured("Gemini needs an API key".into()))?;
        retry::secret_header(key)
    }

    /// `{base}/v1beta/models/{model}:{method}`; the key travels in a header,
    /// never in the URL, so it cannot leak through URLs in error texts.
    fn url(&self, model: &str, method: &str) -> String {
        let base = self.cfg.base_url.trim_end_matches('/');
        let base = if base.ends_with("/v1beta") || base.ends_with("/v1") {
            base.to_owned()
        } else {
            format!("{base}/v1beta")
        };
        let model = model.strip_prefix("models/").unwrap_or(model);
        format!("{base}/models/{model}:{method}")
    }
}

impl std::fmt::Debug for GeminiProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("GeminiProvider")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ChatProvider for GeminiProvider {
    fn id(&self) -> &str {
        &self.cfg.id
    }

    fn default_model(&self) -> &str {
        &self.cfg.default_model
    }

    async fn stream(&self, req: ChatRequest) -> Result<TextStream, ProviderError> {
        let key = self.key()?;
        let model = req.model.as_deref().unwrap_or(&self.cfg.default_model);
        let url = format!("{}?alt=sse", self.url(model, "streamGenerateContent"));
        let body = request_body(&req);
        // Gemini has no end-of-reply event: the stream just closes.
        retry::open_stream(
            &self.cfg,
            || {
                self.http
                    .post(&url)
                    .header("x-goog-api-key", key.clone())
                    .json(&body)
            },
            parse_event,
            false,
        )
        .await
    }

    /// `batchEmbedContents` with [`GEMINI_EMBEDDING_MODEL`].
    async fn embed(&self, texts: &[String]) -> Result<Vec<Vec<f32>>, ProviderError> {
        if texts.is_empty() {
            return Ok(Vec::new());
        }
        let key = self.key()?;
        let url = self.url(GEMINI_EMBEDDING_MODEL, "batchEmbedContents");
        let requests: Vec<Value> = texts
            .iter()
            .map(|t| json!({ "model": format!("models/{GEMINI_EMBEDDING_MODEL}"), "content": { "parts": [{ "text": t }] } }))
            .collect();
        let body = json!({ "requests": requests });
        let reply = retry::send_json(&self.cfg, || {
            self.http
                .post(&url)
                .header("x-goog-api-key", key.clone())
                .json(&body)
        })
        .await?;
        let bad =
            |what: &str| ProviderError::Protocol(format!("unexpected embeddings reply: {what}"));
        let vectors = reply
            .get("embeddings")
            .and_then(Value::as_array)
            .ok_or_else(|| bad("no embeddings"))?
            .iter()
            .map(|e| {
                e.get("values")
                    .and_then(Value::as_array)
                    .and_then(|v| {
                        v.iter()
                            .map(|x| x.as_f64().map(|x| x as f32))
                            .collect::<Option<Vec<f32>>>()
                    })
                    .ok_or_else(|| bad("an embedding is not a list of numbers"))
            })
            .collect::<Result<Vec<_>, _>>()?;
        if vectors.len() != texts.len() {
            return Err(bad(&format!(
                "{} vectors for {} texts",
                vectors.len(),
                texts.len()
            )));
        }
        Ok(vectors)
    }
}

fn request_body(req: &ChatRequest) -> Value {
    let spoken = || req.messages.iter().filter(|m| !m.content.trim().is_empty());
    let mut system: Vec<Value> = spoken()
        .filter(|m| m.role == Role::System)
        .map(|m| json!({ "text": m.content }))
        .collect();
    // Gemini wants the first turn to be the user's; an avatar's greeting
    // opens the conversation, so it becomes context instead.
    let opening: Vec<&str> = spoken()
        .filter(|m| m.role != Role::System)
        .take_while(|m| m.role == Role::Assistant)
        .map(|m| m.content.as_str())
        .collect();
    if !opening.is_empty() {
        system.push(json!({ "text": crate::anthropic::opening_note(&opening) }));
    }
    // Consecutive turns of one role become one turn with several parts.
    let mut contents: Vec<(&str, Vec<Value>)> = Vec::new();
    for m in spoken()
        .filter(|m| m.role != Role::System)
        .skip(opening.len())
    {
        let role = if m.role == Role::Assistant {
            "model"
        } else {
            "user"
        };
        let part = json!({ "text": m.content });
        match contents.last_mut() {
            Some((last, parts)) if *last == role => parts.push(part),
            _ => contents.push((role, vec![part])),
        }
    }
    let contents: Vec<Value> = contents
        .into_iter()
        .map(|(role, parts)| json!({ "role": role, "parts": parts }))
        .collect();

    let mut body = Map::new();
    body.insert("contents".into(), Value::Array(contents));
    if !system.is_empty() {
        body.insert("systemInstruction".into(), json!({ "parts": system }));
    }
    let mut generation = Map::new();
    if let Some(t) = req.temperature {
        generation.insert("temperature".into(), json!(t));
    }
    if let Some(n) = req.max_tokens {
        generation.insert("maxOutputTokens".into(), json!(n));
    }
    if !generation.is_empty() {
        body.insert("generationConfig".into(), Value::Object(generation));
    }
    Value::Object(body)
}

fn parse_event(event: &Event) -> Step {
    if event.data.trim().is_empty() {
        return Step::Skip;
    }
    let chunk: Value = match serde_json::from_str(&event.data) {
        Ok(v) => v,
        Err(e) => return Step::Fail(ProviderError::Protocol(format!("unreadable chunk: {e}"))),
    };
    if let Some(error) = chunk.get("error") {
        let message = error
            .get("message")
            .and_then(Value::as_str)
            .unwrap_or("error inside the stream")
            .to_owned();
        let code = error
            .get("code")
            .and_then(Value::as_u64)
            .and_then(|c| u16::try_from(c).ok());
        return Step::Fail(retry::error_for_code(code.unwrap_or(500), message));
    }
    let Some(candidate) = chunk.pointer("/candidates/0") else {
        if let Some(reason) = chunk
            .pointer("/promptFeedback/blockReason")
            .and_then(Value::as_str)
        {
            return Step::Fail(ProviderError::BadRequest(format!(
                "Gemini blocked the prompt ({reason})"
            )));
        }
        // Usage-only chunks.
        return Step::Skip;
    };
    let text: String = candidate
        .pointer("/content/parts")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
        // Thought summaries are the model thinking aloud, not the reply.
        .filter(|part| part.get("thought").and_then(Value::as_bool) != Some(true))
        .filter_map(|part| part.get("text").and_then(Value::as_str))
        .collect();
    if text.is_empty() {
        Step::Skip
    } else {
        Step::Delta(text)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn roles_and_system_instruction() {
        let req = ChatRequest {
            messages: vec![
                Message::system("Be brief."),
                Message::assistant("Hello, I am Ada."),
                Message::user("Hi"),
                Message::user("Who are you?"),
                Message::assistant("Hello!"),
                Message::user("Bye"),
            ],
            max_tokens: Some(200),
            ..Default::default()
        };
        let body = request_body(&req);
        assert_eq!(
            body["systemInstruction"],
            json!({ "parts": [
                { "text": "Be brief." },
                { "text": "You opened this conversation by saying: \"Hello, I am Ada.\"" },
            ] })
        );
        assert_eq!(
            body["contents"],
            json!([
                { "role": "user", "parts": [{ "text": "Hi" }, { "text": "Who are you?" }] },
                { "role": "model", "parts": [{ "text": "Hello!" }] },
                { "role": "user", "parts": [{ "text": "Bye" }] },
            ])
        );
        assert_eq!(body["generationConfig"], json!({ "maxOutputTokens": 200 }));
    }
}
