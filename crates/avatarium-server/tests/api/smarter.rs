use std::sync::{Arc, Mutex};

use axum::routing::post;
use serde_json::{Value, json};

use crate::harness::{PRICING, TestServer};

#[tokio::test]
async fn api_chat_answers_as_the_owners_avatar_with_sources() {
    let s = TestServer::start().await;
    s.avatar_with_knowledge("api-avatar", "Product Catalog", PRICING)
        .await;
    let r = s
        .post(
            "/api/chat",
            None,
            json!({"message": "What are your pricing plans?", "history": []}),
        )
        .await
        .expect(200);
    assert!(
        r.body["response"].as_str().unwrap().contains("10 dollars"),
        "{}",
        r.body
    );
    assert_eq!(r.body["sources"][0]["title"], "Product Catalog");
    let sid = r.body["sessionId"].as_str().unwrap().to_string();
    let again = s
        .post(
            "/api/chat",
            None,
            json!({"message": "Thanks!", "sessionId": sid}),
        )
        .await
        .expect(200);
    assert_eq!(again.body["sessionId"], sid.as_str());
}

#[tokio::test]
async fn api_errors_use_004s_codes() {
    let s = TestServer::start().await;
    let r = s
        .post("/api/chat", None, json!({"sessionId": "x"}))
        .await
        .expect(400);
    assert_eq!(r.error_code(), "INVALID_REQUEST");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("message")
    );
    let raw = s
        .client
        .post(s.url("/api/chat"))
        .header("content-type", "application/json")
        .body("{")
        .send()
        .await
        .unwrap();
    assert_eq!(
        TestServer::read(raw).await.expect(400).error_code(),
        "INVALID_REQUEST"
    );
    let r = s
        .post(
            "/api/conversations/log",
            None,
            json!({"messages": [{"role": "user"}]}),
        )
        .await
        .expect(400);
    assert_eq!(r.error_code(), "INVALID_REQUEST");
}

#[tokio::test]
async fn api_chat_is_limited_to_60_per_minute() {
    let s = TestServer::with_config(|c| {
        c.rate_limits.api_chat = avatarium_core::config::Limit::per_minute(2)
    })
    .await;
    s.post("/api/chat", None, json!({"message": "hi"}))
        .await
        .expect(200);
    s.post("/api/chat", None, json!({"message": "hi"}))
        .await
        .expect(200);
    assert_eq!(
        s.post("/api/chat", None, json!({"message": "hi"}))
            .await
            .expect(429)
            .error_code(),
        "RATE_LIMITED"
    );
}

type Seen = Arc<Mutex<Vec<Value>>>;

async fn backend(ok: bool) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let s2 = seen.clone();
    let app = axum::Router::new().route(
        "/your-api/chat",
        post(move |body: axum::Json<Value>| async move {
            s2.lock().unwrap().push(body.0.clone());
            if ok {
                (axum::http::StatusCode::OK, axum::Json(json!({"response": "From your backend", "sources": [{"title": "CRM", "url": "https://crm.example"}]})))
            } else {
                (axum::http::StatusCode::INTERNAL_SERVER_ERROR, axum::Json(json!({"oops": true})))
            }
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let url = format!("http://{}/your-api/chat", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (url, seen)
}

#[tokio::test]
async fn hybrid_mode_forwards_to_the_users_backend() {
    let (url, seen) = backend(true).await;
    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.chat_backend_url = Some(url.clone());
    })
    .await;
    let r = s
        .post(
            "/api/chat",
            None,
            json!({"message": "User question", "sessionId": "session-id"}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["response"], "From your backend");
    assert_eq!(r.body["sources"][0]["title"], "CRM");
    assert_eq!(r.body["sessionId"], "session-id");
    let got = seen.lock().unwrap()[0].clone();
    assert_eq!(got["message"], "User question");
    assert_eq!(got["sessionId"], "session-id");
    assert!(got["context"].is_object());

    let (bad, _) = backend(false).await;
    let s = TestServer::with_config(|c| c.chat_backend_url = Some(bad.clone())).await;
    let r = s
        .post("/api/chat", None, json!({"message": "hi"}))
        .await
        .expect(502);
    assert_eq!(r.error_code(), "PROVIDER_ERROR");
}

#[tokio::test]
async fn conversations_can_be_logged() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/api/conversations/log",
            None,
            json!({"sessionId": "session-123", "messages": [{"role": "user", "content": "Hello"}, {"role": "assistant", "content": "Hi there!"}], "metadata": {"duration": 180, "source": "web"}}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["success"], true);
    let id = r.body["conversationId"].as_str().unwrap();
    let conv = s
        .get(&format!("/v1/conversations/{id}"), s.owner())
        .await
        .expect(200);
    assert_eq!(conv.data()["messages"].as_array().unwrap().len(), 2);
}
