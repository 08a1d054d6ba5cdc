use serde_json::json;

use crate::harness::TestServer;

#[tokio::test]
async fn the_full_key_is_shown_once_and_works_until_revoked() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let created = s
        .post("/v1/api-keys", Some(&tok), json!({"name": "website"}))
        .await
        .expect(201);
    let key = created.data()["key"].as_str().unwrap().to_string();
    let id = created.data()["id"].as_str().unwrap().to_string();
    assert!(key.starts_with("av_live_") && key.len() == 40, "{key}");
    assert!(key.starts_with(created.data()["prefix"].as_str().unwrap()));

    let list = s.get("/v1/api-keys", Some(&tok)).await.expect(200);
    let text = list.body.to_string();
    assert!(!text.contains(&key), "the full key leaked into the list");
    let entry = &list.data()[0];
    assert_eq!(entry["id"], id.as_str());
    assert_eq!(entry["status"], "active");
    assert!(entry.get("key").is_none());

    let me = s.get("/v1/auth/me", Some(&key)).await.expect(200);
    assert_eq!(me.data()["authenticatedWith"], "apiKey");
    assert_eq!(me.data()["keyId"], id.as_str());
    assert!(me.header("x-ratelimit-limit").is_some());
    assert!(me.header("x-ratelimit-remaining").is_some());
    assert!(
        me.header("x-ratelimit-reset")
            .unwrap()
            .parse::<u64>()
            .unwrap()
            > 1_700_000_000
    );

    s.delete(&format!("/v1/api-keys/{id}"), Some(&tok))
        .await
        .expect(200);
    let r = s.get("/v1/auth/me", Some(&key)).await.expect(401);
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    let r = s
        .delete(&format!("/v1/api-keys/{id}"), Some(&tok))
        .await
        .expect(404);
    assert_eq!(r.error_code(), "NOT_FOUND");
    let list = s.get("/v1/api-keys", Some(&tok)).await.expect(200);
    assert_eq!(list.data()[0]["status"], "revoked");
}

#[tokio::test]
async fn keys_cannot_manage_keys_and_malformed_keys_fail() {
    let s = TestServer::start().await;
    let (_, key) = s.create_key(&s.owner_token.clone(), "app").await;
    let r = s.get("/v1/api-keys", Some(&key)).await.expect(403);
    assert_eq!(r.error_code(), "FORBIDDEN");
    s.get("/v1/auth/me", Some("av_live_short"))
        .await
        .expect(401);
    s.get(
        "/v1/auth/me",
        Some("av_live_AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA"),
    )
    .await
    .expect(401);
}

#[tokio::test]
async fn accounts_cannot_see_or_revoke_each_others_keys() {
    let s = TestServer::start().await;
    let a = s.signup("a@example.com").await;
    let b = s.signup("b@example.com").await;
    let (a_key_id, a_key) = s.create_key(&a, "a-app").await;
    let b_list = s.get("/v1/api-keys", Some(&b)).await.expect(200);
    assert_eq!(b_list.data().as_array().unwrap().len(), 0);
    s.delete(&format!("/v1/api-keys/{a_key_id}"), Some(&b))
        .await
        .expect(404);
    // Still works for A.
    let me = s.get("/v1/auth/me", Some(&a_key)).await.expect(200);
    assert_eq!(me.data()["email"], "a@example.com");
}

#[tokio::test]
async fn key_tiers_limit_requests_per_minute() {
    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.rate_limits.default_key_tier = avatarium_core::config::KeyTier::Free;
    })
    .await;
    let (_, key) = s.create_key(&s.owner_token.clone(), "free").await;
    for i in 0..10u32 {
        let r = s.get("/v1/auth/me", Some(&key)).await.expect(200);
        assert_eq!(r.header("x-ratelimit-limit"), Some("10"));
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            Some((9 - i).to_string().as_str())
        );
    }
    let r = s.get("/v1/auth/me", Some(&key)).await.expect(429);
    assert_eq!(r.error_code(), "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());
    // The owner's JWT is not charged to the key.
    s.get("/v1/auth/me", s.owner()).await.expect(200);
}

#[tokio::test]
async fn blank_names_are_rejected() {
    let s = TestServer::start().await;
    let r = s
        .post("/v1/api-keys", s.owner(), json!({"name": "  "}))
        .await
        .expect(400);
    assert_eq!(r.error_code(), "BAD_REQUEST");
}
