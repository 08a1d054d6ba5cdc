use crate::harness::TestServer;

/// Every endpoint of the five documents this server answers so far, plus the
/// local-only ones. Adding a route without documenting it, or dropping a
/// documented one, fails here.
const EXPECTED: &[(&str, &str)] = &[
    ("get", "/health"),
    ("get", "/v1/health"),
    ("get", "/api/health"),
    ("get", "/metrics"),
    ("post", "/v1/auth/signup"),
    ("post", "/v1/auth/login"),
    ("get", "/v1/auth/me"),
    ("get", "/v1/api-keys"),
    ("post", "/v1/api-keys"),
    ("delete", "/v1/api-keys/{keyId}"),
    ("get", "/v1/avatars"),
    ("get", "/v1/avatars/{id}"),
    ("get", "/v1/avatars/{id}/model"),
    ("get", "/assets/avatars/{file}"),
    ("get", "/v1/personas"),
    ("get", "/v1/personas/{vertical}"),
    ("get", "/v1/personas/id/{id}"),
    ("get", "/v1/consumer-avatars"),
    ("post", "/v1/consumer-avatars"),
    ("get", "/v1/consumer-avatars/{id}"),
    ("patch", "/v1/consumer-avatars/{id}"),
    ("put", "/v1/consumer-avatars/{id}"),
    ("delete", "/v1/consumer-avatars/{id}"),
    ("put", "/v1/consumer-avatars/{id}/model"),
    ("get", "/v1/consumer-avatars/{id}/analytics"),
    ("get", "/v1/public/avatar/{shortId}"),
    ("post", "/v1/public/avatar/{shortId}/session"),
    ("get", "/v1/public/avatar/{shortId}/model"),
    ("get", "/v1/consumer-billing/plans"),
    ("get", "/v1/consumer-billing/subscription"),
    ("post", "/v1/consumer-billing/checkout"),
    ("get", "/v1/consumer-avatars/{id}/knowledge"),
    ("post", "/v1/consumer-avatars/{id}/knowledge"),
    ("delete", "/v1/consumer-avatars/{id}/knowledge/{itemId}"),
    ("post", "/v1/conversations"),
    ("get", "/v1/conversations/{id}"),
    ("post", "/v1/conversations/{id}/messages"),
    ("post", "/v1/conversations/{id}/end"),
    ("get", "/v1/conversations/{id}/ws"),
    ("post", "/v1/public/avatar/{shortId}/chat"),
    (
        "post",
        "/v1/public/avatar/{shortId}/session/{sessionId}/end",
    ),
    ("get", "/v1/public/avatar/{shortId}/ws"),
    ("get", "/v1/models"),
    ("get", "/v1/ai/providers"),
    ("post", "/v1/ai/chat"),
    ("post", "/v1/chat/completions"),
    ("post", "/v1/chat.completions"),
    ("post", "/api/chat"),
    ("post", "/api/get-access-token"),
    ("post", "/v1/streaming.new"),
    ("post", "/v1/streaming.start"),
    ("post", "/v1/streaming.stop"),
    ("get", "/v1/streaming.sessions"),
    ("post", "/v1/avatar.speak"),
    ("get", "/v1/avatar.speak/{task_id}"),
    ("get", "/ws/{session_id}"),
    ("post", "/api/conversations/log"),
    ("post", "/v1/tts"),
    ("get", "/v1/tts/voices"),
    ("post", "/v1/tts/preview"),
    ("post", "/v1/tts/elevenlabs"),
    ("post", "/v1/tts/groq"),
    ("post", "/v1/tts/deepgram"),
    ("post", "/v1/stt/transcribe"),
    ("get", "/v1/stt/providers"),
];

#[tokio::test]
async fn the_served_document_lists_every_route() {
    let s = TestServer::start().await;
    let doc = s
        .client
        .get(s.url("/v1/openapi.json"))
        .send()
        .await
        .unwrap();
    assert_eq!(doc.status(), 200);
    let doc: serde_json::Value = doc.json().await.unwrap();
    assert!(doc["openapi"].as_str().unwrap().starts_with("3.1"));
    let paths = doc["paths"].as_object().unwrap();
    let mut missing = Vec::new();
    for (method, path) in EXPECTED {
        if paths.get(*path).and_then(|p| p.get(*method)).is_none() {
            missing.push(format!("{} {path}", method.to_uppercase()));
        }
    }
    assert!(
        missing.is_empty(),
        "missing from /v1/openapi.json: {missing:?}"
    );

    // And the other way round: nothing documented that is not expected here.
    let mut undocumented = Vec::new();
    for (path, item) in paths {
        for method in item.as_object().unwrap().keys() {
            if !EXPECTED.contains(&(method.as_str(), path.as_str())) {
                undocumented.push(format!("{method} {path}"));
            }
        }
    }
    assert!(undocumented.is_empty(), "add to EXPECTED: {undocumented:?}");
}

#[tokio::test]
async fn every_documented_path_is_routed() {
    let s = TestServer::start().await;
    for (method, path) in EXPECTED {
        let concrete = path
            .replace("{id}", "x")
            .replace("{keyId}", "x")
            .replace("{vertical}", "sales")
            .replace("{file}", "x.glb")
            .replace("{shortId}", "x")
            .replace("{itemId}", "x")
            .replace("{sessionId}", "x")
            .replace("{session_id}", "x")
            .replace("{task_id}", "x");
        let m = reqwest::Method::from_bytes(method.to_uppercase().as_bytes()).unwrap();
        let res = s.client.request(m, s.url(&concrete)).send().await.unwrap();
        let status = res.status().as_u16();
        let body: serde_json::Value = res.json().await.unwrap_or_default();
        let unrouted = status == 405
            || body["error"]["message"]
                .as_str()
                .is_some_and(|m| m.starts_with("No endpoint"));
        assert!(!unrouted, "{method} {concrete} is not routed ({status})");
    }
}

#[test]
fn the_in_process_document_matches() {
    let doc = avatarium_server::openapi();
    assert!(
        doc.paths
            .paths
            .contains_key("/v1/consumer-avatars/{id}/analytics")
    );
}
