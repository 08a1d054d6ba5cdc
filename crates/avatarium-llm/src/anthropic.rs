//! Anthropic Messages API over SSE.

use async_trait::async_trait;
use eventsource_stream::Event;
use serde_json::{Map, Value, json};

use crate::retry::{self, Step};
use crate::{ChatProvider, ChatRequest, ProviderConfig, ProviderError, Role, TextStream};

pub const ANTHROPIC_VERSION: &str = "2023-06-01";

/// The API requires `max_tokens`; a spoken reply rarely needs more.
pub const DEFAULT_MAX_TOKENS: u32 = 1024;

pub struct AnthropicProvider {
    cfg: ProviderConfig,
    http: reqwest::Client,
}

impl AnthropicProvider {
    pub fn new(cfg: ProviderConfig, http: reqwest::Client) -> Self {
        Self { cfg, http }
    }

    fn url(&self) -> String {
        // Accept a base URL given with or without the version segment.
        let base = self.cfg.base_url.trim_end_matches('/');
        if base.ends_with("/v1") {
            retry::join(base, "messages")
        } else {
            retry::join(base, "v1/messages")
        }
    }
}

impl std::fmt::Debug for AnthropicProvider {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("AnthropicProvider")
            .field("cfg", &self.cfg)
            .finish_non_exhaustive()
    }
}

#[async_trait]
impl ChatProvider for AnthropicProvider {
    fn id(&self) -> &str {
        &self.cfg.id
    }

    fn default_model(&self) -> &str {
        &self.cfg.default_model
    }

    async fn stream(&self, req: ChatRequest) -> Result<TextStream, ProviderError> {
        let key = self
            .cfg
            .api_key
            .as_deref()
            .ok_or_else(|| ProviderError::NotConfigured("Anthropic needs an API key".into()))?;
        let key = retry::secret_header(key)?;
        let body = request_body(&req, &self.cfg.default_model);
        let url = self.url();
        retry::open_stream(
            &self.cfg,
            || {
                self.http
                    .post(&url)
                    .header("x-api-key", key.clone())
                    .header("anthropic-version", ANTHROPIC_VERSION)
                    .json(&body)
            },
            parse_event,
            true,
        )
        .await
    }
}

fn request_body(req: &ChatRequest, default_model: &str) -> Value {
    let spoken = || req.messages.iter().filter(|m| !m.content.trim().is_empty());
    let mut system: Vec<String> = spoken()
        .filter(|m| m.role == Role::System)
        .map(|m| m.content.clone())
        .collect();
    // The API rejects a conversation that opens with an assistant turn, which
    // is how an avatar's greeting arrives: keep it as context instead.
    let opening: Vec<&str> = spoken()
        .filter(|m| m.role != Role::System)
        .take_while(|m| m.role == Role::Assistant)
        .map(|m| m.content.as_str())
        .collect();
    if !opening.is_empty() {
        system.push(opening_note(&opening));
    }
    // The API wants alternating turns and rejects empty text blocks.
    let mut turns: Vec<(Role, String)> = Vec::new();
    for m in spoken()
        .filter(|m| m.role != Role::System)
        .skip(opening.len())
    {
        match turns.last_mut() {
            Some((role, text)) if *role == m.role => {
                text.push_str("\n\n");
                text.push_str(&m.content);
            }
            _ => turns.push((m.role, m.content.clone())),
        }
    }
    let messages: Vec<Value> = turns
        .into_iter()
        .map(|(role, content)| json!({ "role": role, "content": content }))
        .collect();

    let mut body = Map::new();
    body.insert(
        "model".into(),
        json!(req.model.as_deref().unwrap_or(default_model)),
    );
    body.insert(
        "max_tokens".into(),
        json!(req.max_tokens.unwrap_or(DEFAULT_MAX_TOKENS)),
    );
    if !system.is_empty() {
        body.insert("system".into(), json!(system.join("\n\n")));
    }
    body.insert("messages".into(), Value::Array(messages));
    body.insert("stream".into(), json!(true));
    if let Some(t) = req.temperature {
        // Anthropic's range is 0..=1 where OpenAI's is 0..=2; out of range is a 400.
        body.insert("temperature".into(), json!(t.clamp(0.0, 1.0)));
    }
    Value::Object(body)
}

pub(crate) fn opening_note(opening: &[&str]) -> String {
    format!(
        "You opened this conversation by saying: \"{}\"",
        opening.join(" ")
    )
}

fn parse_event(event: &Event) -> Step {
    let data: Value = match serde_json::from_str(&event.data) {
        Ok(v) => v,
        Err(e) => return Step::Fail(ProviderError::Protocol(format!("unreadable event: {e}"))),
    };
    // The `type` field repeats the SSE event name; trust whichever is present.
    let kind = data
        .get("type")
        .and_then(Value::as_str)
        .unwrap_or(&event.event);
    match kind {
        "content_block_delta" => match data.pointer("/delta/type").and_then(Value::as_str) {
            Some("text_delta") => match data.pointer("/delta/text").and_then(Value::as_str) {
                Some(text) if !text.is_empty() => Step::Delta(text.to_owned()),
                _ => Step::Skip,
            },
            // Thinking, signatures and tool input are not spoken.
            _ => Step::Skip,
        },
        "message_stop" => Step::Done,
        "error" => Step::Fail(stream_error(&data)),
        // message_start, content_block_start/stop, message_delta, ping, and
        // event types added after this was written.
        _ => Step::Skip,
    }
}

/// An `event: error` carries no HTTP status; its `error.type` tells which
/// status it would have had, and so whether a retry can help.
fn stream_error(data: &Value) -> ProviderError {
    let kind = data
        .pointer("/error/type")
        .and_then(Value::as_str)
        .unwrap_or("api_error");
    let message = data
        .pointer("/error/message")
        .and_then(Value::as_str)
        .unwrap_or(kind)
        .to_owned();
    let status = match kind {
        "invalid_request_error" => 400,
        "authentication_error" => 401,
        "billing_error" => 402,
        "permission_error" => 403,
        "not_found_error" => 404,
        "request_too_large" => 413,
        "rate_limit_error" => 429,
        "timeout_error" => 504,
        "overloaded_error" => 529,
        _ => 500,
    };
    retry::error_for_code(status, message)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Message;

    #[test]
    fn system_goes_top_level_and_turns_merge() {
        let req = ChatRequest {
            messages: vec![
                Message::system("Be brief."),
                Message::assistant("Hello, I am Ada."),
                Message::user("Hi"),
                Message::user("Are you there?"),
                Message::assistant(""),
                Message::assistant("Yes."),
            ],
            temperature: Some(1.4),
            ..Default::default()
        };
        let body = request_body(&req, "claude-haiku-4-5");
        assert_eq!(
            body["system"],
            "Be brief.\n\nYou opened this conversation by saying: \"Hello, I am Ada.\""
        );
        assert_eq!(body["max_tokens"], DEFAULT_MAX_TOKENS);
        assert_eq!(body["temperature"], 1.0);
        assert_eq!(
            body["messages"],
            json!([
                { "role": "user", "content": "Hi\n\nAre you there?" },
                { "role": "assistant", "content": "Yes." },
            ])
        );
    }
}
