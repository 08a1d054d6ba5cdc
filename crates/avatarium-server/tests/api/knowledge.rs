use serde_json::json;

use crate::harness::{PRICING, TestServer};

#[tokio::test]
async fn the_offline_answer_is_grounded_in_knowledge_and_names_its_source() {
    let s = TestServer::start().await;
    let a = s
        .avatar_with_knowledge("pricing", "Pricing FAQ", PRICING)
        .await;
    let short = a["shortId"].as_str().unwrap();
    let session = s
        .post(
            &format!("/v1/public/avatar/{short}/session"),
            None,
            json!({}),
        )
        .await
        .expect(201);
    let r = s
        .post(
            &format!("/v1/public/avatar/{short}/chat"),
            None,
            json!({"sessionId": session.data()["sessionId"], "message": "What are your pricing plans?", "history": []}),
        )
        .await
        .expect(200);
    let d = r.data();
    let tts = d["ttsText"].as_str().unwrap();
    assert!(
        tts.contains("10 dollars") && tts.contains("30 dollars"),
        "{tts}"
    );
    assert_eq!(d["sources"][0]["title"], "Pricing FAQ");
    let rel = d["sources"][0]["relevance"].as_f64().unwrap();
    assert!(rel > 0.0 && rel <= 1.0, "{rel}");
    assert!(d["latency"]["total"].as_i64().unwrap() >= d["latency"]["llm"].as_i64().unwrap());
    assert!(
        ["neutral", "happy", "sad", "angry", "surprised", "thinking"]
            .contains(&d["emotion"].as_str().unwrap())
    );
}

#[tokio::test]
async fn without_matching_knowledge_the_avatar_says_it_does_not_know() {
    let s = TestServer::start().await;
    let a = s
        .avatar_with_knowledge("honest", "Pricing FAQ", PRICING)
        .await;
    let short = a["shortId"].as_str().unwrap();
    let r = s
        .post(
            &format!("/v1/public/avatar/{short}/chat"),
            None,
            json!({"message": "Do you repair submarines?"}),
        )
        .await
        .expect(200);
    let text = r.data()["ttsText"].as_str().unwrap().to_lowercase();
    assert!(
        text.contains("not sure") || text.contains("don't know") || text.contains("do not know"),
        "{text}"
    );
    assert!(!text.contains("dollars"));
    assert_eq!(r.data()["sources"], json!([]));
    // A session was started on the visitor's behalf.
    assert_eq!(r.data()["sessionId"].as_str().unwrap().len(), 36);
}

#[tokio::test]
async fn items_are_listed_shown_and_deleted() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.avatar_with_knowledge("kb", "Pricing FAQ", PRICING).await;
    let id = a["id"].as_str().unwrap();
    let list = s
        .get(&format!("/v1/consumer-avatars/{id}/knowledge"), Some(&tok))
        .await
        .expect(200);
    let item = list.data()[0].clone();
    assert_eq!(item["title"], "Pricing FAQ");
    assert_eq!(item["type"], "text");
    assert!(item["chunkCount"].as_i64().unwrap() >= 1);
    let full = s
        .get(&format!("/v1/consumer-avatars/{id}"), Some(&tok))
        .await
        .expect(200);
    assert_eq!(full.data()["knowledge"][0]["id"], item["id"]);

    let item_id = item["id"].as_str().unwrap();
    s.delete(
        &format!("/v1/consumer-avatars/{id}/knowledge/{item_id}"),
        Some(&tok),
    )
    .await
    .expect(200);
    s.delete(
        &format!("/v1/consumer-avatars/{id}/knowledge/{item_id}"),
        Some(&tok),
    )
    .await
    .expect(404);
    let short = a["shortId"].as_str().unwrap();
    let r = s
        .post(
            &format!("/v1/public/avatar/{short}/chat"),
            None,
            json!({"message": "What are your pricing plans?"}),
        )
        .await
        .expect(200);
    assert!(!r.data()["ttsText"].as_str().unwrap().contains("10 dollars"));
}

#[tokio::test]
async fn bad_knowledge_is_refused_and_others_cannot_add_any() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "kb2").await;
    let path = format!(
        "/v1/consumer-avatars/{}/knowledge",
        a["id"].as_str().unwrap()
    );
    for body in [
        json!({"type": "text"}),
        json!({"type": "text", "content": "  "}),
        json!({"type": "url"}),
        json!({"type": "video"}),
    ] {
        let r = s.post(&path, Some(&tok), body.clone()).await.expect(400);
        assert_eq!(r.error_code(), "BAD_REQUEST", "{body}");
    }
    // Loopback URLs are refused unless configured.
    let r = s
        .post(
            &path,
            Some(&tok),
            json!({"type": "url", "url": format!("{}/health", s.base)}),
        )
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .to_lowercase()
            .contains("not allowed")
            || r.body["error"]["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("refus")
            || r.body["error"]["message"]
                .as_str()
                .unwrap()
                .to_lowercase()
                .contains("block"),
        "{}",
        r.body
    );
    let other = s.signup("x@example.com").await;
    s.post(
        &path,
        Some(&other),
        json!({"type": "text", "content": "pwned"}),
    )
    .await
    .expect(404);
    s.get(&path, Some(&other)).await.expect(404);
}

#[tokio::test]
async fn urls_and_files_are_ingested() {
    // A page on a "private" address, allowed by configuration for this test.
    let page = axum::Router::new().route(
        "/faq",
        axum::routing::get(|| async {
            axum::response::Html("<html><head><title>Opening hours</title><script>var x=1;</script></head><body><h1>Hours</h1><p>We are open Monday to Friday from 9 to 5.</p></body></html>")
        }),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let page_url = format!("http://{}/faq", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, page).await.unwrap() });

    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.allow_private_urls = true;
    })
    .await;
    let tok = s.owner_token.clone();
    let a = s.create_avatar(&tok, "ingest").await;
    let path = format!(
        "/v1/consumer-avatars/{}/knowledge",
        a["id"].as_str().unwrap()
    );
    let r = s
        .post(&path, Some(&tok), json!({"type": "url", "url": page_url}))
        .await
        .expect(201);
    assert_eq!(r.data()["title"], "Opening hours");
    assert_eq!(r.data()["type"], "url");

    let form = reqwest::multipart::Form::new()
        .text("title", "Returns")
        .part(
            "file",
            reqwest::multipart::Part::bytes(
                b"# Returns\n\nYou can return any item within 30 days for a full refund.".to_vec(),
            )
            .file_name("returns.md")
            .mime_str("text/markdown")
            .unwrap(),
        );
    let res = s
        .client
        .post(s.url(&path))
        .bearer_auth(&tok)
        .multipart(form)
        .send()
        .await
        .unwrap();
    let r = TestServer::read(res).await.expect(201);
    assert_eq!(r.data()["title"], "Returns");
    assert_eq!(r.data()["type"], "file");

    let bad = reqwest::multipart::Form::new().part(
        "file",
        reqwest::multipart::Part::bytes(vec![0u8, 1, 2]).file_name("blob.exe"),
    );
    let res = s
        .client
        .post(s.url(&path))
        .bearer_auth(&tok)
        .multipart(bad)
        .send()
        .await
        .unwrap();
    TestServer::read(res).await.expect(400);

    let short = a["shortId"].as_str().unwrap();
    let r = s
        .post(
            &format!("/v1/public/avatar/{short}/chat"),
            None,
            json!({"message": "When are you open?"}),
        )
        .await
        .expect(200);
    assert!(
        r.data()["ttsText"]
            .as_str()
            .unwrap()
            .contains("Monday to Friday"),
        "{}",
        r.body
    );
    let r = s
        .post(
            &format!("/v1/public/avatar/{short}/chat"),
            None,
            json!({"message": "How do refunds work?"}),
        )
        .await
        .expect(200);
    assert!(
        r.data()["ttsText"].as_str().unwrap().contains("30 days"),
        "{}",
        r.body
    );
    assert_eq!(r.data()["sources"][0]["title"], "Returns");
}

#[tokio::test]
async fn embeddings_find_what_words_do_not() {
    let (fake, seen) = crate::fake_llm::start(crate::fake_llm::Mode::Ok).await;
    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.providers.insert(
            "openai".into(),
            avatarium_core::config::ProviderSettings {
                api_key: Some(avatarium_core::config::Secret("sk-embed".into())),
                base_url: Some(fake.clone()),
                model: None,
            },
        );
        c.embeddings_provider = Some("openai".into());
    })
    .await;
    let a = s
        .avatar_with_knowledge(
            "semantic",
            "Catalogue",
            "Zorblax is our flagship gadget, shipped in blue and red.",
        )
        .await;
    s.avatar_with_knowledge("decoy", "Other", "Unrelated text about gardening.")
        .await;
    let embedded: Vec<_> = seen
        .calls()
        .into_iter()
        .filter(|(k, _)| k == "embeddings")
        .collect();
    assert!(
        embedded[0].1["input"][0]
            .as_str()
            .unwrap()
            .contains("Zorblax")
    );
    let short = a["shortId"].as_str().unwrap();
    // No word in common with the knowledge: only the embedding can match.
    let r = s
        .post(
            &format!("/v1/public/avatar/{short}/chat"),
            None,
            json!({"message": "Tell me about the main product"}),
        )
        .await
        .expect(200);
    assert_eq!(r.data()["sources"][0]["title"], "Catalogue", "{}", r.body);
}
