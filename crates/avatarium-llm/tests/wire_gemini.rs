//! The Gemini client against a fake that speaks `streamGenerateContent?alt=sse`
//! (one `GenerateContentResponse` per event, CRLF framing, no terminator).

mod fakes;

use avatarium_llm::{ProviderError, ProviderKind};
use fakes::*;
use serde_json::{Value, json};

fn chunk(parts: Value, finish: Option<&str>) -> String {
    let mut candidate = json!({ "content": { "parts": parts, "role": "model" }, "index": 0 });
    if let Some(reason) = finish {
        candidate["finishReason"] = json!(reason);
    }
    let response = json!({
        "candidates": [candidate],
        "usageMetadata": { "promptTokenCount": 12, "candidatesTokenCount": 3, "totalTokenCount": 15 },
        "modelVersion": "gemini-test",
        "responseId": "fake",
    });
    format!("data: {response}\r\n\r\n")
}

const GEMINI: Dialect = Dialect {
    id: "gemini",
    kind: ProviderKind::Gemini,
    model: "gemini-test",
    base_suffix: "",
    preamble: Vec::new,
    delta: |text| chunk(json!([{ "text": text }]), None),
    finish: || vec![chunk(json!([{ "text": "" }]), Some("STOP"))],
    error_body: |status, message| {
        let state = match status {
            400 => "INVALID_ARGUMENT",
            401 => "UNAUTHENTICATED",
            403 => "PERMISSION_DENIED",
            404 => "NOT_FOUND",
            429 => "RESOURCE_EXHAUSTED",
            503 => "UNAVAILABLE",
            _ => "INTERNAL",
        };
        json!({ "error": { "code": status, "message": message, "status": state } })
    },
};

#[tokio::test]
async fn streams_text_and_sends_the_documented_request() {
    let request = streams_text(&GEMINI).await;
    assert_eq!(request.method, "POST");
    assert_eq!(
        request.path,
        "/v1beta/models/gemini-test:streamGenerateContent"
    );
    assert_eq!(request.query.as_deref(), Some("alt=sse"));
    assert_eq!(request.header("x-goog-api-key"), Some(KEY));
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(
        request.body,
        json!({
            "contents": [
                { "role": "user", "parts": [{ "text": "Hi" }] },
                { "role": "model", "parts": [{ "text": "Hello! How can I help?" }] },
                { "role": "user", "parts": [{ "text": "Tell me a joke." }] },
            ],
            "systemInstruction": { "parts": [{ "text": "You are Ada, a friendly avatar." }] },
            "generationConfig": { "temperature": 0.5, "maxOutputTokens": 64 },
        })
    );
}

#[tokio::test]
async fn complete_assembles_the_reply() {
    fakes::complete_assembles_the_reply(&GEMINI).await;
}

#[tokio::test]
async fn retries_a_500_then_succeeds() {
    fakes::retries_a_500_then_succeeds(&GEMINI).await;
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    fakes::gives_up_after_max_retries(&GEMINI).await;
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    fakes::unauthorized_is_not_retried(&GEMINI).await;
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    fakes::bad_request_is_not_retried(&GEMINI).await;
}

#[tokio::test]
async fn invalid_key_400_is_unauthorized() {
    let body = json!({ "error": {
        "code": 400,
        "message": "API key not valid. Please pass a valid API key.",
        "status": "INVALID_ARGUMENT",
        "details": [{ "@type": "type.googleapis.com/google.rpc.ErrorInfo", "reason": "API_KEY_INVALID",
                      "domain": "googleapis.com" }],
    } });
    let fake = Fake::start(vec![Reply::json(400, &body)]).await;
    let provider = GEMINI.provider(GEMINI.config(&fake));
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.starts_with("API key not valid")),
        "{err:?}"
    );
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    fakes::rate_limit_honours_retry_after(&GEMINI).await;
}

#[tokio::test]
async fn rate_limit_forever() {
    fakes::rate_limit_forever(&GEMINI).await;
}

#[tokio::test]
async fn clean_end_without_finish_is_fine() {
    let items = cut_after_two_deltas(&GEMINI, false).await;
    assert!(
        items.iter().all(Result::is_ok),
        "Gemini has no terminator: {items:?}"
    );
}

#[tokio::test]
async fn broken_connection_ends_with_an_error() {
    let items = cut_after_two_deltas(&GEMINI, true).await;
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Network(_)))),
        "{items:?}"
    );
}

#[tokio::test]
async fn error_inside_the_stream_ends_it() {
    let error = format!(
        "data: {}\r\n\r\n",
        json!({ "error": { "code": 503, "message": "overloaded", "status": "UNAVAILABLE" } })
    );
    let fake = Fake::start(vec![GEMINI.partial(&["one"], vec![Part::Data(error)])]).await;
    let provider = GEMINI.provider(GEMINI.config(&fake));
    let items = drain(provider.stream(conversation()).await.unwrap()).await;
    assert_eq!(texts(&items), ["one"]);
    assert!(
        matches!(
            items.last(),
            Some(Err(ProviderError::Upstream { status: 503, .. }))
        ),
        "{items:?}"
    );
}

#[tokio::test]
async fn thoughts_are_skipped_and_parts_joined() {
    let parts =
        json!([{ "text": "Let me think", "thought": true }, { "text": "Hel" }, { "text": "lo" }]);
    let fake = Fake::start(vec![Reply::sse(vec![Part::Data(chunk(
        parts,
        Some("STOP"),
    ))])])
    .await;
    let provider = GEMINI.provider(GEMINI.config(&fake));
    assert_eq!(provider.complete(conversation()).await.unwrap(), "Hello");
}

#[tokio::test]
async fn blocked_prompt_is_a_bad_request() {
    let blocked = json!({ "promptFeedback": { "blockReason": "SAFETY" }, "usageMetadata": { "promptTokenCount": 5 } });
    let fake = Fake::start(vec![Reply::sse(vec![Part::Data(format!(
        "data: {blocked}\r\n\r\n"
    ))])])
    .await;
    let provider = GEMINI.provider(GEMINI.config(&fake));
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    assert!(
        matches!(&err, ProviderError::BadRequest(m) if m.contains("SAFETY")),
        "{err:?}"
    );
    assert_eq!(fake.hits(), 1);
}

#[tokio::test]
async fn first_token_timeout_on_slow_headers() {
    fakes::first_token_timeout_on_slow_headers(&GEMINI).await;
}

#[tokio::test]
async fn first_token_timeout_on_slow_first_delta() {
    fakes::first_token_timeout_on_slow_first_delta(&GEMINI).await;
}

#[tokio::test]
async fn idle_timeout_mid_stream() {
    fakes::idle_timeout_mid_stream(&GEMINI).await;
}

#[tokio::test]
async fn key_is_redacted() {
    fakes::key_is_redacted(&GEMINI).await;
}

#[tokio::test]
async fn embeddings_use_batch_embed_contents() {
    let reply = json!({ "embeddings": [{ "values": [0.5, -0.5] }, { "values": [1.0, 0.0] }] });
    let fake = Fake::start(vec![Reply::json(200, &reply)]).await;
    let provider = GEMINI.provider(GEMINI.config(&fake));
    let vectors = provider.embed(&["a".into(), "b".into()]).await.unwrap();
    assert_eq!(vectors, vec![vec![0.5, -0.5], vec![1.0, 0.0]]);
    let request = fake.requests().remove(0);
    assert_eq!(
        request.path,
        "/v1beta/models/gemini-embedding-001:batchEmbedContents"
    );
    assert_eq!(request.header("x-goog-api-key"), Some(KEY));
    assert_eq!(
        request.body,
        json!({ "requests": [
            { "model": "models/gemini-embedding-001", "content": { "parts": [{ "text": "a" }] } },
            { "model": "models/gemini-embedding-001", "content": { "parts": [{ "text": "b" }] } },
        ] })
    );
}
