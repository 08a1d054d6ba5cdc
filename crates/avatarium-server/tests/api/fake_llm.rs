//! A loopback server speaking OpenAI's Chat Completions streaming format,
//! standing in for any OpenAI-compatible provider.

use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use serde_json::{Value, json};

#[derive(Clone, Copy, PartialEq)]
pub enum Mode {
    Ok,
    Fail,
    /// Two chunks, then the connection ends without `[DONE]`.
    Cut,
}

#[derive(Clone, Default)]
pub struct Seen(pub Arc<Mutex<Vec<(String, Value)>>>);

impl Seen {
    pub fn calls(&self) -> Vec<(String, Value)> {
        self.0.lock().unwrap().clone()
    }
}

pub const REPLY: [&str; 3] = ["Hello", " from the", " fake model."];

pub async fn start(mode: Mode) -> (String, Seen) {
    let seen = Seen::default();
    let app = axum::Router::new()
        .route(
            "/v1/chat/completions",
            post(move |State(seen): State<Seen>, headers: HeaderMap, body: axum::Json<Value>| async move {
                let auth = headers.get("authorization").map(|v| v.to_str().unwrap().to_string()).unwrap_or_default();
                seen.0.lock().unwrap().push((auth, body.0.clone()));
                respond(mode, body.0["stream"].as_bool().unwrap_or(false))
            }),
        )
        .route(
            "/v1/embeddings",
            post(|State(seen): State<Seen>, body: axum::Json<Value>| async move {
                seen.0.lock().unwrap().push(("embeddings".into(), body.0.clone()));
                let data: Vec<Value> = body.0["input"]
                    .as_array()
                    .unwrap()
                    .iter()
                    .enumerate()
                    .map(|(i, t)| json!({"object": "embedding", "index": i, "embedding": embed(t.as_str().unwrap())}))
                    .collect();
                axum::Json(json!({"object": "list", "data": data, "model": "fake-embed"}))
            }),
        )
        .route(
            "/v1/models",
            axum::routing::get(|| async {
                axum::Json(json!({"object": "list", "data": [{"id": "llama3.2", "object": "model"}, {"id": "qwen2.5", "object": "model"}]}))
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}/v1", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

fn respond(mode: Mode, stream: bool) -> Response {
    if mode == Mode::Fail {
        return (
            StatusCode::INTERNAL_SERVER_ERROR,
            axum::Json(
                json!({"error": {"message": "the fake model is down", "type": "server_error"}}),
            ),
        )
            .into_response();
    }
    if !stream {
        return axum::Json(json!({
            "id": "x", "object": "chat.completion", "created": 0, "model": "fake",
            "choices": [{"index": 0, "message": {"role": "assistant", "content": REPLY.concat()}, "finish_reason": "stop"}]
        }))
        .into_response();
    }
    let chunks = if mode == Mode::Cut {
        &REPLY[..2]
    } else {
        &REPLY[..]
    };
    let mut body = String::new();
    for c in chunks {
        let chunk = json!({"id": "x", "object": "chat.completion.chunk", "created": 0, "model": "fake",
            "choices": [{"index": 0, "delta": {"content": c}, "finish_reason": null}]});
        body.push_str(&format!("data: {chunk}\n\n"));
    }
    if mode == Mode::Ok {
        body.push_str("data: [DONE]\n\n");
    }
    ([("content-type", "text/event-stream")], body).into_response()
}

/// A toy semantic space: texts about the flagship product point one way,
/// everything else another, whatever words they use.
fn embed(text: &str) -> Vec<f32> {
    let t = text.to_lowercase();
    if t.contains("zorblax") || t.contains("main product") {
        vec![1.0, 0.0, 0.1]
    } else {
        vec![0.0, 1.0, 0.1]
    }
}
