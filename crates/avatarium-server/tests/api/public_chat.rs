use serde_json::json;

use crate::harness::{PRICING, TestServer, ws_connect, ws_next, ws_send};

#[tokio::test]
async fn a_session_ends_with_a_summary_topics_and_latency_stats() {
    let s = TestServer::start().await;
    let a = s
        .avatar_with_knowledge("ends", "Pricing FAQ", PRICING)
        .await;
    let short = a["shortId"].as_str().unwrap();
    let sid = s
        .post(
            &format!("/v1/public/avatar/{short}/session"),
            None,
            json!({"visitorName": "John"}),
        )
        .await
        .expect(201)
        .data()["sessionId"]
        .as_str()
        .unwrap()
        .to_string();
    for q in ["What are your pricing plans?", "Thanks, that's great!"] {
        s.post(
            &format!("/v1/public/avatar/{short}/chat"),
            None,
            json!({"sessionId": sid, "message": q}),
        )
        .await
        .expect(200);
    }
    let end = s
        .post(
            &format!("/v1/public/avatar/{short}/session/{sid}/end"),
            None,
            json!({}),
        )
        .await
        .expect(200);
    let d = end.data();
    assert_eq!(d["sessionId"], sid.as_str());
    assert!(!d["summary"].as_str().unwrap().is_empty());
    assert!(
        d["topics"]
            .as_array()
            .unwrap()
            .iter()
            .any(|t| t == "pricing"),
        "{d}"
    );
    assert_eq!(d["sentiment"], "positive");
    assert_eq!(d["questionCount"], 1);
    for k in ["p50", "p95", "avg"] {
        assert!(d["latency"][k].is_i64(), "{k}: {d}");
    }
    assert!(d["latency"]["p95"].as_i64() >= d["latency"]["p50"].as_i64());
    assert!(d["durationSec"].as_f64().unwrap() >= 0.0);

    // Ending twice answers the same; chatting after the end is refused.
    let again = s
        .post(
            &format!("/v1/public/avatar/{short}/session/{sid}/end"),
            None,
            json!({}),
        )
        .await
        .expect(200);
    assert_eq!(again.data()["summary"], d["summary"]);
    s.post(
        &format!("/v1/public/avatar/{short}/chat"),
        None,
        json!({"sessionId": sid, "message": "hi"}),
    )
    .await
    .expect(409);
    s.post(
        &format!("/v1/public/avatar/{short}/session/nope/end"),
        None,
        json!({}),
    )
    .await
    .expect(404);

    // The turns and the ended session feed the analytics.
    let an = s
        .get(
            &format!(
                "/v1/consumer-avatars/{}/analytics?days=7",
                a["id"].as_str().unwrap()
            ),
            s.owner(),
        )
        .await
        .expect(200);
    assert_eq!(an.data()["totals"]["messages"], 4);
    assert_eq!(an.data()["sessionDurations"]["count"], 1);
    assert!(an.data()["latency"]["p50"].is_number(), "{}", an.body);
}

#[tokio::test]
async fn chat_validates_its_input() {
    let s = TestServer::start().await;
    let a = s.create_avatar(&s.owner_token.clone(), "val").await;
    let path = format!("/v1/public/avatar/{}/chat", a["shortId"].as_str().unwrap());
    s.post(&path, None, json!({"message": ""}))
        .await
        .expect(400);
    s.post(&path, None, json!({"message": "x".repeat(9000)}))
        .await
        .expect(400);
    s.post(
        &path,
        None,
        json!({"message": "hi", "history": [{"role": "wizard", "content": "x"}]}),
    )
    .await
    .expect(400);
    s.post(
        &path,
        None,
        json!({"sessionId": "00000000-0000-0000-0000-000000000000", "message": "hi"}),
    )
    .await
    .expect(404);
    s.post(
        "/v1/public/avatar/AAAAAAAAAAA/chat",
        None,
        json!({"message": "hi"}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn the_public_websocket_streams_chunks_then_done() {
    let s = TestServer::start().await;
    let a = s.avatar_with_knowledge("wsa", "Pricing FAQ", PRICING).await;
    let url = format!(
        "ws://127.0.0.1:{}/v1/public/avatar/{}/ws",
        s.port,
        a["shortId"].as_str().unwrap()
    );
    let mut ws = ws_connect(&url).await;
    let hello = ws_next(&mut ws).await.unwrap();
    assert_eq!(hello["type"], "session");
    assert_eq!(hello["greeting"], "Hi! How can I help you today?");
    ws_send(
        &mut ws,
        json!({"type": "message", "content": "Hello! Tell me about your pricing."}),
    )
    .await;
    let mut text = String::new();
    let done = loop {
        let e = ws_next(&mut ws).await.unwrap();
        match e["type"].as_str().unwrap() {
            "chunk" => text.push_str(e["content"].as_str().unwrap()),
            "done" => break e,
            other => panic!("{other}: {e}"),
        }
    };
    assert_eq!(done["fullText"], text.trim());
    assert!(text.contains("10 dollars"), "{text}");
    assert_eq!(done["sources"][0]["title"], "Pricing FAQ");
}
