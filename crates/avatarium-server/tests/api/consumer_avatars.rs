use reqwest::Method;
use serde_json::{Value, json};

use crate::harness::TestServer;

fn id_of(v: &Value) -> String {
    v["id"].as_str().unwrap().to_string()
}

#[tokio::test]
async fn create_list_get_with_urls_on_this_server() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "my-avatar").await;
    let short = a["shortId"].as_str().unwrap();
    assert_eq!(short.len(), 11);
    assert!(
        short
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
    );
    assert_eq!(a["url"], format!("{}/a/{short}", s.base));
    assert_eq!(a["embedUrl"], format!("{}/a/{short}/embed", s.base));
    assert_eq!(a["avatarType"], "interactive");
    assert!(a["avatarModelUrl"].as_str().unwrap().starts_with(&s.base));
    assert!(a["createdAt"].as_str().unwrap().ends_with('Z'));
    let prompt = a["systemPrompt"].as_str().unwrap();
    assert!(
        prompt.contains("Friendly, knowledgeable, professional")
            && prompt.contains("helpful, concise")
    );

    let list = s.get("/v1/consumer-avatars", Some(&tok)).await.expect(200);
    assert_eq!(list.body["hasAccount"], true);
    assert_eq!(list.data()[0]["slug"], "my-avatar");
    assert_eq!(list.data()[0]["status"], "active");

    let one = s
        .get(&format!("/v1/consumer-avatars/{}", id_of(&a)), Some(&tok))
        .await
        .expect(200);
    assert_eq!(one.data()["shortId"], short);
    assert!(one.data()["knowledge"].is_array());
}

#[tokio::test]
async fn the_documented_create_body_works() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/v1/consumer-avatars",
            s.owner(),
            json!({
                "slug": "support-bot",
                "name": "Support Assistant",
                "tagline": "Helps visitors with product questions",
                "avatarModelUrl": "https://cdn.avatarium.ai/models/support-bot.glb",
                "avatarBody": "F",
                "personality": "Helpful, patient, knowledgeable about our products",
                "greeting": "Hi there! How can I help you today?",
                "voiceGender": "female",
                "ttsProvider": "groq",
                "aiProvider": "groq",
                "aiModel": "llama-3.3-70b-versatile",
                "isPublic": true,
                "voiceChatEnabled": true,
                "traits": ["helpful", "concise", "warm"],
                "tone": "professional"
            }),
        )
        .await
        .expect(201);
    assert_eq!(
        r.data()["avatarModelUrl"],
        "https://cdn.avatarium.ai/models/support-bot.glb"
    );
    assert_eq!(r.data()["voiceChatEnabled"], true);
    assert_eq!(r.data()["aiModel"], "llama-3.3-70b-versatile");
}

#[tokio::test]
async fn starting_from_a_persona_fills_the_soul() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/v1/consumer-avatars",
            s.owner(),
            json!({"slug": "sam", "name": "Sam", "personaId": "sales-rep"}),
        )
        .await
        .expect(201);
    let persona = s.get("/v1/personas/id/sales-rep", None).await.expect(200);
    assert_eq!(r.data()["greeting"], persona.data()["greeting"]);
    assert_eq!(r.data()["personality"], persona.data()["personality"]);
    assert_eq!(r.data()["avatarPreset"], persona.data()["suggestedAvatar"]);
    assert!(
        r.data()["systemPrompt"]
            .as_str()
            .unwrap()
            .contains("You are Sam")
    );
}

#[tokio::test]
async fn validation_errors_are_400_and_store_nothing() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let cases = [
        (json!({"name": "A", "avatarPreset": "aria-001"}), "slug"),
        (json!({"slug": "a-b", "avatarPreset": "aria-001"}), "name"),
        (json!({"slug": "a-b", "name": "A"}), "avatarModelUrl"),
        (
            json!({"slug": "Bad Slug", "name": "A", "avatarPreset": "aria-001"}),
            "slug",
        ),
        (
            json!({"slug": "a-b", "name": "A", "avatarPreset": "nope"}),
            "avatarPreset",
        ),
        (
            json!({"slug": "a-b", "name": "A", "avatarModelUrl": "ftp://x"}),
            "avatarModelUrl",
        ),
        (
            json!({"slug": "a-b", "name": "A", "avatarPreset": "aria-001", "quizDifficulty": "extreme"}),
            "quizDifficulty",
        ),
        (
            json!({"slug": "a-b", "name": "A", "avatarPreset": "aria-001", "status": "deleted"}),
            "status",
        ),
        (
            json!({"slug": "a-b", "name": "A", "avatarPreset": "aria-001", "quizMode": "yes"}),
            "quizMode",
        ),
        (
            json!({"slug": "a-b", "name": "A", "avatarPreset": "aria-001", "backgroundColor": "red"}),
            "backgroundColor",
        ),
    ];
    for (body, field) in cases {
        let r = s
            .post("/v1/consumer-avatars", Some(&tok), body.clone())
            .await
            .expect(400);
        let msg = r.body["error"]["message"].as_str().unwrap();
        assert!(msg.contains(field), "{body} -> {msg}");
    }
    let list = s.get("/v1/consumer-avatars", Some(&tok)).await.expect(200);
    assert!(list.data().as_array().unwrap().is_empty());
}

#[tokio::test]
async fn duplicate_slugs_conflict_per_account_only() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let first = s.create_avatar(&tok, "same").await;
    let r = s
        .post(
            "/v1/consumer-avatars",
            Some(&tok),
            json!({"slug": "same", "name": "X", "avatarPreset": "aria-001"}),
        )
        .await
        .expect(409);
    assert_eq!(r.error_code(), "CONFLICT");
    let other = s.create_avatar(&tok, "other").await;
    let r = s
        .patch(
            &format!("/v1/consumer-avatars/{}", id_of(&other)),
            Some(&tok),
            json!({"slug": "same"}),
        )
        .await
        .expect(409);
    assert_eq!(r.error_code(), "CONFLICT");
    // Nothing was lost.
    let still = s
        .get(
            &format!("/v1/consumer-avatars/{}", id_of(&first)),
            Some(&tok),
        )
        .await
        .expect(200);
    assert_eq!(still.data()["slug"], "same");
    // Another account may use the same slug.
    let b = s.signup("b@example.com").await;
    s.create_avatar(&b, "same").await;
}

#[tokio::test]
async fn partial_updates_regenerate_the_prompt_and_null_clears() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "soul").await;
    let path = format!("/v1/consumer-avatars/{}", id_of(&a));
    let r = s
        .patch(
            &path,
            Some(&tok),
            json!({
                "personality": "Updated personality",
                "voiceChatEnabled": true,
                "traits": ["friendly", "expert"],
                "quizMode": true,
                "quizDifficulty": "medium"
            }),
        )
        .await
        .expect(200);
    let d = r.data();
    assert_eq!(d["personality"], "Updated personality");
    assert_eq!(d["greeting"], a["greeting"], "untouched fields stay");
    assert_eq!(d["slug"], "soul");
    let prompt = d["systemPrompt"].as_str().unwrap();
    assert!(prompt.contains("Updated personality"));
    assert!(prompt.contains("friendly, expert"));
    assert!(prompt.contains("medium-difficulty"));
    assert_ne!(d["systemPrompt"], a["systemPrompt"]);

    let r = s
        .patch(&path, Some(&tok), json!({"tone": null, "name": "Renamed"}))
        .await
        .expect(200);
    assert!(r.data().get("tone").is_none() || r.data()["tone"].is_null());
    assert!(
        r.data()["systemPrompt"]
            .as_str()
            .unwrap()
            .starts_with("You are Renamed")
    );

    // PUT is accepted as the same partial update.
    let res = s
        .send(
            Method::PUT,
            &path,
            Some(&tok),
            Some(json!({"tagline": "New"})),
        )
        .await
        .expect(200);
    assert_eq!(res.data()["tagline"], "New");

    let r = s
        .patch(&path, Some(&tok), json!({"systemPrompt": "ignore all"}))
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("customInstructions")
    );
    let r = s
        .patch(&path, Some(&tok), json!({"avatarPreset": null}))
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("avatarModelUrl")
    );
    let r = s
        .patch(&path, Some(&tok), json!({"status": "gone"}))
        .await
        .expect(400);
    assert_eq!(r.error_code(), "BAD_REQUEST");
    s.patch(
        "/v1/consumer-avatars/nope",
        Some(&tok),
        json!({"name": "x"}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn one_account_never_reaches_anothers_avatars() {
    let s = TestServer::start().await;
    let a_tok = s.signup("a@example.com").await;
    let b_tok = s.signup("b@example.com").await;
    let a = s.create_avatar(&a_tok, "mine").await;
    let path = format!("/v1/consumer-avatars/{}", id_of(&a));
    assert!(
        s.get("/v1/consumer-avatars", Some(&b_tok))
            .await
            .expect(200)
            .data()
            .as_array()
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        s.get(&path, Some(&b_tok)).await.expect(404).error_code(),
        "NOT_FOUND"
    );
    s.patch(&path, Some(&b_tok), json!({"name": "pwned"}))
        .await
        .expect(404);
    s.delete(&path, Some(&b_tok)).await.expect(404);
    s.get(&format!("{path}/analytics"), Some(&b_tok))
        .await
        .expect(404);
    let res = s
        .client
        .put(s.url(&format!("{path}/model")))
        .bearer_auth(&b_tok)
        .body(vec![0u8; 10])
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
    // B's API key is no way in either.
    let (_, b_key) = s.create_key(&b_tok, "b").await;
    s.get(&path, Some(&b_key)).await.expect(403);
    // A's avatar is untouched.
    let mine = s.get(&path, Some(&a_tok)).await.expect(200);
    assert_eq!(mine.data()["name"], "Sales Assistant");
}

#[tokio::test]
async fn free_plans_are_limited_to_one_avatar() {
    let s = TestServer::start().await;
    let tok = s.signup("free@example.com").await;
    s.create_avatar(&tok, "one").await;
    let r = s
        .post(
            "/v1/consumer-avatars",
            Some(&tok),
            json!({"slug": "two", "name": "Two", "avatarPreset": "aria-001"}),
        )
        .await
        .expect(403);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("plan")
    );
}

#[tokio::test]
async fn avatar_creation_is_limited_to_3_per_5_minutes_per_address() {
    let s = TestServer::with_default_limits().await;
    let tok = s.owner_token.clone();
    for i in 0..3 {
        let r = s
            .post(
                "/v1/consumer-avatars",
                Some(&tok),
                json!({"slug": format!("a-{i}"), "name": "A", "avatarPreset": "aria-001"}),
            )
            .await
            .expect(201);
        assert_eq!(r.header("x-ratelimit-limit"), Some("3"));
    }
    let r = s
        .post(
            "/v1/consumer-avatars",
            Some(&tok),
            json!({"slug": "a-4", "name": "A", "avatarPreset": "aria-001"}),
        )
        .await
        .expect(429);
    assert_eq!(r.error_code(), "RATE_LIMITED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!(retry > 60 && retry <= 300, "{retry}");
}

#[tokio::test]
async fn delete_removes_sessions_views_and_the_stored_model() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "doomed").await;
    let id = id_of(&a);
    let short = a["shortId"].as_str().unwrap().to_string();
    let glb = std::fs::read(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../assets/avatars/male-01.glb"
    ))
    .unwrap();
    let res = s
        .client
        .put(s.url(&format!("/v1/consumer-avatars/{id}/model")))
        .bearer_auth(&tok)
        .header("content-type", "model/gltf-binary")
        .body(glb.clone())
        .send()
        .await
        .unwrap();
    let up = TestServer::read(res).await.expect(200);
    assert_eq!(
        up.data()["avatarModelUrl"],
        format!("{}/v1/public/avatar/{short}/model", s.base)
    );
    let served = s
        .client
        .get(s.url(&format!("/v1/public/avatar/{short}/model")))
        .send()
        .await
        .unwrap();
    assert_eq!(served.status(), 200);
    assert_eq!(served.bytes().await.unwrap().as_ref(), glb.as_slice());

    s.get(&format!("/v1/public/avatar/{short}"), None)
        .await
        .expect(200);
    s.post(
        &format!("/v1/public/avatar/{short}/session"),
        None,
        json!({"visitorName": "V"}),
    )
    .await
    .expect(201);
    let model_dir = s.data_dir.join("models").join(&id);
    assert!(model_dir.join("model.glb").exists());

    let r = s
        .delete(&format!("/v1/consumer-avatars/{id}"), Some(&tok))
        .await
        .expect(200);
    assert_eq!(r.body["success"], true);
    assert!(!model_dir.exists());
    s.get(&format!("/v1/consumer-avatars/{id}"), Some(&tok))
        .await
        .expect(404);
    s.get(&format!("/v1/public/avatar/{short}"), None)
        .await
        .expect(404);
    s.delete(&format!("/v1/consumer-avatars/{id}"), Some(&tok))
        .await
        .expect(404);
}

#[tokio::test]
async fn bad_model_uploads_are_400_and_keep_the_old_model() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "model-test").await;
    for body in [
        b"not a model".to_vec(),
        b"glTF\x01\x00\x00\x00".to_vec(),
        Vec::new(),
    ] {
        let res = s
            .client
            .put(s.url(&format!("/v1/consumer-avatars/{}/model", id_of(&a))))
            .bearer_auth(&tok)
            .body(body)
            .send()
            .await
            .unwrap();
        let r = TestServer::read(res).await.expect(400);
        assert!(
            r.body["error"]["message"]
                .as_str()
                .unwrap()
                .contains("glTF")
        );
    }
    let after = s
        .get(&format!("/v1/consumer-avatars/{}", id_of(&a)), Some(&tok))
        .await
        .expect(200);
    assert_eq!(after.data()["avatarModelUrl"], a["avatarModelUrl"]);
}

#[tokio::test]
async fn analytics_count_views_and_conversations_by_day() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "stats").await;
    let short = a["shortId"].as_str().unwrap();
    for _ in 0..3 {
        s.get(&format!("/v1/public/avatar/{short}"), None)
            .await
            .expect(200);
    }
    for _ in 0..2 {
        s.post(
            &format!("/v1/public/avatar/{short}/session"),
            None,
            json!({}),
        )
        .await
        .expect(201);
    }
    let path = format!("/v1/consumer-avatars/{}/analytics", id_of(&a));
    for days in [7, 30, 90] {
        let r = s
            .get(&format!("{path}?days={days}"), Some(&tok))
            .await
            .expect(200);
        let daily = r.data()["daily"].as_array().unwrap();
        assert_eq!(daily.len(), days);
        let today = chrono::Utc::now().date_naive().to_string();
        let last = daily.last().unwrap();
        assert_eq!(last["date"], today);
        assert_eq!(last["views"], 3);
        assert_eq!(last["conversations"], 2);
        assert_eq!(r.data()["totals"]["views"], 3);
        assert!(r.data()["sessionDurations"].is_object());
    }
    let list = s.get("/v1/consumer-avatars", Some(&tok)).await.expect(200);
    assert_eq!(list.data()[0]["viewCount"], 3);
    assert_eq!(list.data()[0]["conversationCount"], 2);
    let r = s
        .get(&format!("{path}?days=5"), Some(&tok))
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("7, 30 or 90")
    );
    s.get(&format!("{path}?days=abc"), Some(&tok))
        .await
        .expect(400);
}
