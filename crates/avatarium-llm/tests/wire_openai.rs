//! The OpenAI-compatible client against a fake that speaks Chat Completions
//! streaming (`data: {chunk}` lines closed by `data: [DONE]`).

mod fakes;

use avatarium_llm::openai::OpenAiProvider;
use avatarium_llm::{ProviderError, ProviderKind, catalog};
use fakes::*;
use serde_json::{Value, json};

fn chunk(delta: Value, finish: Option<&str>) -> String {
    let chunk = json!({
        "id": "chatcmpl-fake",
        "object": "chat.completion.chunk",
        "created": 1_700_000_000,
        "model": "gpt-4o-mini",
        "system_fingerprint": "fp_fake",
        "choices": [{ "index": 0, "delta": delta, "logprobs": null, "finish_reason": finish }],
    });
    format!("data: {chunk}\n\n")
}

const OPENAI: Dialect = Dialect {
    id: "openai",
    kind: ProviderKind::OpenAiCompatible,
    model: "gpt-4o-mini",
    base_suffix: "/v1",
    preamble: || vec![chunk(json!({ "role": "assistant", "content": "" }), None)],
    delta: |text| chunk(json!({ "content": text }), None),
    finish: || vec![chunk(json!({}), Some("stop")), "data: [DONE]\n\n".into()],
    error_body: |status, message| {
        let kind = if status >= 500 {
            "server_error"
        } else {
            "invalid_request_error"
        };
        json!({ "error": { "message": message, "type": kind, "param": null, "code": null } })
    },
};

#[tokio::test]
async fn streams_text_and_sends_the_documented_request() {
    let request = streams_text(&OPENAI).await;
    assert_eq!(request.method, "POST");
    assert_eq!(request.path, "/v1/chat/completions");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(request.header("content-type"), Some("application/json"));
    assert_eq!(request.header("accept"), Some("text/event-stream"));
    let body = &request.body;
    assert_eq!(body["model"], "gpt-4o-mini");
    assert_eq!(body["stream"], true);
    assert_eq!(body["temperature"], 0.5);
    // OpenAI itself gets the field its newer models require.
    assert_eq!(body["max_completion_tokens"], 64);
    assert_eq!(
        body["messages"],
        json!([
            { "role": "system", "content": "You are Ada, a friendly avatar." },
            { "role": "user", "content": "Hi" },
            { "role": "assistant", "content": "Hello! How can I help?" },
            { "role": "user", "content": "Tell me a joke." },
        ])
    );
}

#[tokio::test]
async fn ollama_gets_no_key_and_plain_max_tokens() {
    let fake = Fake::start(vec![OPENAI.reply(&["hi"])]).await;
    let cfg = catalog::config_for("ollama", None, Some(format!("{}/v1", fake.addr)), None).unwrap();
    let provider = avatarium_llm::build(cfg, client());
    assert_eq!(provider.complete(conversation()).await.unwrap(), "hi");
    let request = fake.requests().remove(0);
    assert_eq!(request.header("authorization"), None);
    assert_eq!(request.body["model"], "llama3.2");
    assert_eq!(request.body["max_tokens"], 64);
    assert!(request.body.get("max_completion_tokens").is_none());
}

#[tokio::test]
async fn complete_assembles_the_reply() {
    fakes::complete_assembles_the_reply(&OPENAI).await;
}

#[tokio::test]
async fn retries_a_500_then_succeeds() {
    fakes::retries_a_500_then_succeeds(&OPENAI).await;
}

#[tokio::test]
async fn gives_up_after_max_retries() {
    fakes::gives_up_after_max_retries(&OPENAI).await;
}

#[tokio::test]
async fn unauthorized_is_not_retried() {
    fakes::unauthorized_is_not_retried(&OPENAI).await;
}

#[tokio::test]
async fn bad_request_is_not_retried() {
    fakes::bad_request_is_not_retried(&OPENAI).await;
}

#[tokio::test]
async fn rate_limit_honours_retry_after() {
    fakes::rate_limit_honours_retry_after(&OPENAI).await;
}

#[tokio::test]
async fn rate_limit_forever() {
    fakes::rate_limit_forever(&OPENAI).await;
}

#[tokio::test]
async fn stream_without_done_ends_with_an_error() {
    let items = cut_after_two_deltas(&OPENAI, false).await;
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Protocol(m))) if m == "stream ended early"),
        "{items:?}"
    );
}

#[tokio::test]
async fn broken_connection_ends_with_an_error() {
    let items = cut_after_two_deltas(&OPENAI, true).await;
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Network(_)))),
        "{items:?}"
    );
}

#[tokio::test]
async fn first_token_timeout_on_slow_headers() {
    fakes::first_token_timeout_on_slow_headers(&OPENAI).await;
}

#[tokio::test]
async fn first_token_timeout_on_slow_first_delta() {
    fakes::first_token_timeout_on_slow_first_delta(&OPENAI).await;
}

#[tokio::test]
async fn idle_timeout_mid_stream() {
    fakes::idle_timeout_mid_stream(&OPENAI).await;
}

#[tokio::test]
async fn key_is_redacted() {
    fakes::key_is_redacted(&OPENAI).await;
}

#[tokio::test]
async fn provider_debug_hides_the_key() {
    let fake = Fake::start(vec![OPENAI.reply(&["x"])]).await;
    let provider = OpenAiProvider::new(OPENAI.config(&fake), client());
    let shown = format!("{provider:?}");
    assert!(
        shown.contains("OpenAiProvider") && !shown.contains(KEY),
        "{shown}"
    );
}

#[tokio::test]
async fn error_inside_the_stream_ends_it() {
    let error = format!(
        "data: {}\n\n",
        json!({ "error": { "message": "model crashed", "type": "server_error" } })
    );
    let fake = Fake::start(vec![OPENAI.partial(&["one"], vec![Part::Data(error)])]).await;
    let provider = OPENAI.provider(OPENAI.config(&fake));
    let items = drain(provider.stream(conversation()).await.unwrap()).await;
    assert_eq!(texts(&items), ["one"]);
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Upstream { message, .. })) if message == "model crashed"),
        "{items:?}"
    );
}

#[tokio::test]
async fn embeddings_come_back_in_input_order() {
    let reply = json!({
        "object": "list",
        "data": [
            { "object": "embedding", "index": 1, "embedding": [0.0, 1.0] },
            { "object": "embedding", "index": 0, "embedding": [1.0, 0.5] },
        ],
        "model": "text-embedding-3-small",
        "usage": { "prompt_tokens": 4, "total_tokens": 4 },
    });
    let fake = Fake::start(vec![Reply::json(200, &reply)]).await;
    let provider = OPENAI.provider(OPENAI.config(&fake));
    let vectors = provider
        .embed(&["first".into(), "second".into()])
        .await
        .unwrap();
    assert_eq!(vectors, vec![vec![1.0, 0.5], vec![0.0, 1.0]]);
    let request = fake.requests().remove(0);
    assert_eq!(request.path, "/v1/embeddings");
    assert_eq!(
        request.header("authorization"),
        Some(format!("Bearer {KEY}").as_str())
    );
    assert_eq!(
        request.body,
        json!({ "model": "text-embedding-3-small", "input": ["first", "second"] })
    );
}

#[tokio::test]
async fn embeddings_elsewhere_use_the_configured_model_and_retry() {
    let reply = json!({ "object": "list", "data": [{ "object": "embedding", "index": 0, "embedding": [0.25] }] });
    let fake = Fake::start(vec![OPENAI.error(503, "loading"), Reply::json(200, &reply)]).await;
    let mut cfg = catalog::config_for(
        "ollama",
        None,
        Some(format!("{}/v1", fake.addr)),
        Some("nomic-embed-text".into()),
    )
    .unwrap();
    cfg.retry_base_delay = std::time::Duration::from_millis(10);
    let provider = avatarium_llm::build(cfg, client());
    assert_eq!(
        provider.embed(&["x".into()]).await.unwrap(),
        vec![vec![0.25]]
    );
    assert_eq!(fake.hits(), 2);
    assert_eq!(fake.requests()[1].body["model"], "nomic-embed-text");
}
