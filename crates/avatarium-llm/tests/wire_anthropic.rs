//! The Anthropic client against a fake that speaks Messages streaming
//! (`message_start`, `content_block_*`, `ping`, `message_delta`,
//! `message_stop`, `error` events).

mod fakes;

use avatarium_llm::anthropic::AnthropicProvider;
use avatarium_llm::{ChatProvider, ChatRequest, Message, ProviderError, ProviderKind};
use fakes::*;
use serde_json::{Value, json};

fn event(name: &str, data: Value) -> String {
    format!("event: {name}\ndata: {data}\n\n")
}

fn text_delta(text: &str) -> String {
    event(
        "content_block_delta",
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "text_delta", "text": text } }),
    )
}

fn error_event(kind: &str, message: &str) -> String {
    event(
        "error",
        json!({ "type": "error", "error": { "type": kind, "message": message } }),
    )
}

const ANTHROPIC: Dialect = Dialect {
    id: "anthropic",
    kind: ProviderKind::Anthropic,
    model: "claude-haiku-4-5",
    base_suffix: "",
    preamble: || {
        vec![
            event(
                "message_start",
                json!({ "type": "message_start", "message": {
                    "id": "msg_fake", "type": "message", "role": "assistant", "content": [],
                    "model": "claude-haiku-4-5", "stop_reason": null, "stop_sequence": null,
                    "usage": { "input_tokens": 25, "output_tokens": 1 },
                } }),
            ),
            event(
                "content_block_start",
                json!({ "type": "content_block_start", "index": 0, "content_block": { "type": "text", "text": "" } }),
            ),
            event("ping", json!({ "type": "ping" })),
        ]
    },
    delta: text_delta,
    finish: || {
        vec![
            event(
                "content_block_stop",
                json!({ "type": "content_block_stop", "index": 0 }),
            ),
            event(
                "message_delta",
                json!({ "type": "message_delta", "delta": { "stop_reason": "end_turn", "stop_sequence": null },
                        "usage": { "output_tokens": 15 } }),
            ),
            event("message_stop", json!({ "type": "message_stop" })),
        ]
    },
    error_body: |status, message| {
        let kind = match status {
            400 => "invalid_request_error",
            401 => "authentication_error",
            403 => "permission_error",
            404 => "not_found_error",
            429 => "rate_limit_error",
            529 => "overloaded_error",
            _ => "api_error",
        };
        json!({ "type": "error", "error": { "type": kind, "message": message }, "request_id": "req_fake" })
    },
};

#[tokio::test]
async fn streams_text_and_sends_the_documented_request() {
    let request = streams_text(&ANTHROPIC).await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/messages");
    assert_eq!(request.header("x-api-key"), Some(KEY));
    assert_eq!(request.header("anthropic-version"), Some("2023-06-01"));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("content-type"), Some("application/json"));
    let body = &request.body;
    assert_eq!(body["model"], "claude-haiku-4-5");
    assert_eq!(body["stream"], true);
    assert_eq!(body["max_tokens"], 64);
    assert_eq!(body["temperature"], 0.5);
    assert_eq!(body["system"], "You are Ada, a friendly avatar.");
    assert_eq!(
        body["messages"],
        json!([
            { "role": "user", "content": "Hi" },
            { "role": "assistant", "content": "Hello! How can I help?" },
            { "role": "user", "content": "Tell me a joke." },
        ])
    );
}

#[tokio::test]
async fn max_tokens_defaults_and_same_role_turns_merge() {
    let fake = Fake::start(vec![ANTHROPIC.reply(&["ok"])]).await;
    let provider = ANTHROPIC.provider(ANTHROPIC.config(&fake));
    let req = ChatRequest {
        model: Some("claude-sonnet-4-6".into()),
        messages: vec![Message::user("Hi"), Message::user("Anyone there?")],
        ..Default::default()
    };
    assert_eq!(provider.complete(req).await.unwrap(), "ok");
    let body = fake.requests().remove(0).body;
    assert_eq!(body["model"], "claude-sonnet-4-6");
    assert_eq!(body["max_tokens"], 1024);
    assert!(
        body.get("system").is_none() && body.get("temperature").is_none(),
        "{body}"
    );
    assert_eq!(
        body["messages"],
        json!([{ "role": "user", "content": "Hi\n\nAnyone there?" }])
    );
}

#[tokio::test]
async fn complete_assembles_the_reply() {
    fakes::complete_assembles_the_reply(&ANTHROPIC).await;
}

#[tokio::test]
async fn retries_a_500_then_succeeds() {
    fakes::retries_a_500_then_succeeds(&ANTHROPIC).await;
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    fakes::gives_up_after_max_retries(&ANTHROPIC).await;
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    fakes::unauthorized_is_not_retried(&ANTHROPIC).await;
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    fakes::bad_request_is_not_retried(&ANTHROPIC).await;
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    fakes::rate_limit_honours_retry_after(&ANTHROPIC).await;
}

#[tokio::test]
async fn rate_limit_forever() {
    fakes::rate_limit_forever(&ANTHROPIC).await;
}

#[tokio::test]
async fn overloaded_529_is_retried() {
    let fake = Fake::start(vec![
        ANTHROPIC.error(529, "Overloaded"),
        ANTHROPIC.reply(&["back"]),
    ])
    .await;
    let provider = ANTHROPIC.provider(ANTHROPIC.config(&fake));
    assert_eq!(provider.complete(conversation()).await.unwrap(), "back");
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn stream_without_message_stop_ends_with_an_error() {
    let items = cut_after_two_deltas(&ANTHROPIC, false).await;
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Protocol(m))) if m == "stream ended early"),
        "{items:?}"
    );
}

#[tokio::test]
async fn broken_connection_ends_with_an_error() {
    let items = cut_after_two_deltas(&ANTHROPIC, true).await;
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Network(_)))),
        "{items:?}"
    );
}

#[tokio::test]
async fn error_event_mid_stream_ends_it() {
    let fake = Fake::start(vec![ANTHROPIC.partial(
        &["one"],
        vec![Part::Data(error_event("overloaded_error", "Overloaded"))],
    )])
    .await;
    let provider = ANTHROPIC.provider(ANTHROPIC.config(&fake));
    let items = drain(provider.stream(conversation()).await.unwrap()).await;
    assert_eq!(texts(&items), ["one"]);
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Upstream { status: 529, message })) if message == "Overloaded"),
        "{items:?}"
    );
    assert_eq!(fake.hits(), 1, "a started reply is never retried");
}

#[tokio::test]
async fn error_event_before_any_text_is_retried() {
    let overloaded = ANTHROPIC.partial(
        &[],
        vec![Part::Data(error_event("overloaded_error", "Overloaded"))],
    );
    let fake = Fake::start(vec![overloaded, ANTHROPIC.reply(&["fine"])]).await;
    let provider = ANTHROPIC.provider(ANTHROPIC.config(&fake));
    assert_eq!(provider.complete(conversation()).await.unwrap(), "fine");
    assert_eq!(fake.hits(), 2);
}

#[tokio::test]
async fn thinking_deltas_are_not_spoken() {
    let thinking = event(
        "content_block_delta",
        json!({ "type": "content_block_delta", "index": 0, "delta": { "type": "thinking_delta", "thinking": "hmm" } }),
    );
    let fake = Fake::start(vec![Reply::sse(vec![
        Part::Data(thinking),
        Part::Data(text_delta("Hi")),
        Part::Data(event("message_stop", json!({ "type": "message_stop" }))),
    ])])
    .await;
    let provider = ANTHROPIC.provider(ANTHROPIC.config(&fake));
    assert_eq!(provider.complete(conversation()).await.unwrap(), "Hi");
}

#[tokio::test]
async fn first_token_timeout_on_slow_headers() {
    fakes::first_token_timeout_on_slow_headers(&ANTHROPIC).await;
}

#[tokio::test]
async fn first_token_timeout_on_slow_first_delta() {
    fakes::first_token_timeout_on_slow_first_delta(&ANTHROPIC).await;
}

#[tokio::test]
async fn idle_timeout_mid_stream() {
    fakes::idle_timeout_mid_stream(&ANTHROPIC).await;
}

#[tokio::test]
async fn key_is_redacted() {
    fakes::key_is_redacted(&ANTHROPIC).await;
}

#[tokio::test]
async fn missing_key_fails_without_a_request() {
    let fake = Fake::start(vec![ANTHROPIC.reply(&["x"])]).await;
    let cfg = ANTHROPIC.config(&fake).with_key(None);
    let provider = AnthropicProvider::new(cfg, client());
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    assert!(matches!(err, ProviderError::NotConfigured(_)), "{err:?}");
    assert_eq!(fake.hits(), 0);
}
