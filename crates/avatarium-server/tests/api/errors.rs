use reqwest::Method;
use serde_json::json;

use crate::harness::TestServer;

#[tokio::test]
async fn unknown_routes_and_methods_get_the_envelope() {
    let s = TestServer::start().await;
    let r = s.get("/v1/does-not-exist", None).await.expect(404);
    assert_eq!(r.error_code(), "NOT_FOUND");
    let r = s.delete("/v1/avatars", None).await.expect(405);
    assert_eq!(r.error_code(), "BAD_REQUEST");
    assert_eq!(
        r.body["meta"]["requestId"],
        r.header("x-request-id").unwrap()
    );
}

#[tokio::test]
async fn malformed_json_wrong_types_and_missing_fields_are_400() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let raw = s
        .client
        .post(s.url("/v1/consumer-avatars"))
        .bearer_auth(&tok)
        .header("content-type", "application/json")
        .body("{\"slug\": ")
        .send()
        .await
        .unwrap();
    let r = TestServer::read(raw).await.expect(400);
    assert_eq!(r.error_code(), "BAD_REQUEST");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Malformed JSON")
    );

    let r = s
        .post(
            "/v1/consumer-avatars",
            Some(&tok),
            json!({"slug": "x-y", "name": "A", "avatarPreset": "aria-001", "traits": "nope"}),
        )
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("traits"),
        "{}",
        r.body
    );

    let r = s
        .post("/v1/api-keys", Some(&tok), json!({}))
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("name"),
        "{}",
        r.body
    );

    let r = s
        .post("/v1/auth/login", None, json!({"email": 5, "password": "x"}))
        .await
        .expect(400);
    assert_eq!(r.error_code(), "BAD_REQUEST");

    let r = s
        .post("/v1/consumer-avatars", Some(&tok), json!([1, 2]))
        .await
        .expect(400);
    assert_eq!(r.error_code(), "BAD_REQUEST");
}

#[tokio::test]
async fn missing_content_type_is_415_in_the_envelope() {
    let s = TestServer::start().await;
    let raw = s
        .client
        .post(s.url("/v1/auth/login"))
        .body("{\"email\":\"a@b.c\",\"password\":\"x\"}")
        .send()
        .await
        .unwrap();
    let r = TestServer::read(raw).await.expect(415);
    assert_eq!(r.error_code(), "BAD_REQUEST");
}

#[tokio::test]
async fn oversized_bodies_are_413_in_the_envelope_and_change_nothing() {
    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.max_body_bytes = 2048;
    })
    .await;
    let tok = s.owner_token.clone();
    let big = "x".repeat(4096);
    let r = s
        .post(
            "/v1/consumer-avatars",
            Some(&tok),
            json!({"slug": "big", "name": "Big", "avatarPreset": "aria-001", "personality": big}),
        )
        .await
        .expect(413);
    assert_eq!(r.error_code(), "BAD_REQUEST");
    let list = s.get("/v1/consumer-avatars", Some(&tok)).await.expect(200);
    assert_eq!(list.data().as_array().unwrap().len(), 0);
    // A model upload has its own, larger limit.
    let glb = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/avatars/aria-001.glb"
    ))
    .unwrap();
    assert!(glb.len() > 2048);
    let a = s.create_avatar(&tok, "small").await;
    let res = s
        .client
        .request(
            Method::PUT,
            s.url(&format!(
                "/v1/consumer-avatars/{}/model",
                a["id"].as_str().unwrap()
            )),
        )
        .bearer_auth(&tok)
        .header("content-type", "model/gltf-binary")
        .body(glb)
        .send()
        .await
        .unwrap();
    TestServer::read(res).await.expect(200);
}
