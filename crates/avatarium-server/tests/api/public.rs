use serde_json::json;

use crate::harness::TestServer;

#[tokio::test]
async fn public_details_show_only_public_fields() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "pub").await;
    let short = a["shortId"].as_str().unwrap();
    let r = s
        .get(&format!("/v1/public/avatar/{short}"), None)
        .await
        .expect(200);
    let d = r.data();
    assert_eq!(d["shortId"], short);
    assert_eq!(d["name"], "Sales Assistant");
    assert_eq!(d["greeting"], "Hi! How can I help you today?");
    assert_eq!(d["allowEmbedding"], true);
    assert!(d["avatarModelUrl"].as_str().unwrap().ends_with(".glb"));
    assert!(d["backgroundColor"].as_str().unwrap().starts_with('#'));
    for hidden in [
        "id",
        "systemPrompt",
        "accountId",
        "viewCount",
        "personality",
    ] {
        assert!(d.get(hidden).is_none(), "{hidden} leaked: {d}");
    }
}

#[tokio::test]
async fn paused_private_and_unknown_avatars_are_404() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "hide").await;
    let short = a["shortId"].as_str().unwrap();
    let path = format!("/v1/consumer-avatars/{}", a["id"].as_str().unwrap());
    s.patch(&path, Some(&tok), json!({"status": "paused"}))
        .await
        .expect(200);
    assert_eq!(
        s.get(&format!("/v1/public/avatar/{short}"), None)
            .await
            .expect(404)
            .error_code(),
        "NOT_FOUND"
    );
    s.post(
        &format!("/v1/public/avatar/{short}/session"),
        None,
        json!({}),
    )
    .await
    .expect(404);
    // The owner still gets the model of a paused avatar; visitors do not.
    let owner_model = s
        .client
        .get(s.url(&format!("/v1/public/avatar/{short}/model")))
        .bearer_auth(&tok)
        .send()
        .await
        .unwrap();
    assert_eq!(owner_model.status(), 307);
    s.get(&format!("/v1/public/avatar/{short}/model"), None)
        .await
        .expect(404);
    s.patch(
        &path,
        Some(&tok),
        json!({"status": "active", "isPublic": false}),
    )
    .await
    .expect(200);
    s.get(&format!("/v1/public/avatar/{short}"), None)
        .await
        .expect(404);
    s.patch(&path, Some(&tok), json!({"isPublic": true}))
        .await
        .expect(200);
    s.get(&format!("/v1/public/avatar/{short}"), None)
        .await
        .expect(200);
    s.get("/v1/public/avatar/AAAAAAAAAAA", None)
        .await
        .expect(404);
}

#[tokio::test]
async fn sessions_start_with_the_greeting_and_validate_visitors() {
    let s = TestServer::start().await;
    let a = s.create_avatar(&s.owner_token.clone(), "chat").await;
    let short = a["shortId"].as_str().unwrap();
    let path = format!("/v1/public/avatar/{short}/session");
    let r = s
        .post(
            &path,
            None,
            json!({"visitorName": "John", "visitorEmail": "john@example.com", "source": "embed"}),
        )
        .await
        .expect(201);
    assert_eq!(r.data()["greeting"], "Hi! How can I help you today?");
    assert_eq!(r.data()["sessionId"].as_str().unwrap().len(), 36);
    // No body at all is an anonymous visitor.
    let res = s.client.post(s.url(&path)).send().await.unwrap();
    assert_eq!(res.status(), 201);
    let r = s
        .post(&path, None, json!({"visitorEmail": "nope"}))
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email")
    );
    s.post(&path, None, json!({"visitorName": 42}))
        .await
        .expect(400);
}

#[tokio::test]
async fn session_creation_is_limited_to_10_per_minute_per_address() {
    let s = TestServer::with_default_limits().await;
    let a = s.create_avatar(&s.owner_token.clone(), "busy").await;
    let path = format!(
        "/v1/public/avatar/{}/session",
        a["shortId"].as_str().unwrap()
    );
    for _ in 0..10 {
        s.post(&path, None, json!({})).await.expect(201);
    }
    let r = s.post(&path, None, json!({})).await.expect(429);
    assert_eq!(r.error_code(), "RATE_LIMITED");
    assert!(r.header("retry-after").is_some());
}

#[tokio::test]
async fn the_owners_monthly_session_quota_is_enforced() {
    let s = TestServer::start().await;
    let tok = s.signup("free@example.com").await;
    let a = s.create_avatar(&tok, "quota").await;
    let path = format!(
        "/v1/public/avatar/{}/session",
        a["shortId"].as_str().unwrap()
    );
    for _ in 0..100 {
        s.post(&path, None, json!({})).await.expect(201);
    }
    let r = s.post(&path, None, json!({})).await.expect(403);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("quota")
    );
    let sub = s
        .get("/v1/consumer-billing/subscription", Some(&tok))
        .await
        .expect(200);
    assert_eq!(sub.data()["usage"]["sessionsThisMonth"], 100);
    assert_eq!(sub.data()["usage"]["sessionQuota"], 100);
}
