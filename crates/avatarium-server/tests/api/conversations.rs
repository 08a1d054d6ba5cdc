use serde_json::{Value, json};

use crate::fake_llm::{self, Mode, REPLY};
use crate::harness::{TestServer, ws_connect, ws_next, ws_refused, ws_send};

async fn create(s: &TestServer, body: Value) -> Value {
    s.post("/v1/conversations", s.owner(), body)
        .await
        .expect(201)
        .data()
        .clone()
}

#[tokio::test]
async fn offline_conversation_over_rest() {
    let s = TestServer::start().await;
    let (_, key) = s.create_key(&s.owner_token.clone(), "app").await;
    let c = s
        .post("/v1/conversations", Some(&key), json!({"avatarId": "aria-001", "provider": "groq", "systemPrompt": "You are a helpful assistant named Aria."}))
        .await
        .expect(201);
    let c = c.data();
    // No Groq key on this server: the offline provider answers instead.
    assert_eq!(c["provider"], "local");
    assert_eq!(c["byokEnabled"], false);
    assert_eq!(c["avatarId"], "aria-001");
    let id = c["id"].as_str().unwrap();
    let ws_url = c["wsUrl"].as_str().unwrap();
    assert!(
        ws_url.starts_with(&format!(
            "ws://127.0.0.1:{}/v1/conversations/{id}/ws?token=",
            s.port
        )),
        "{ws_url}"
    );

    let r = s
        .post(
            &format!("/v1/conversations/{id}/messages"),
            Some(&key),
            json!({"content": "Hello!"}),
        )
        .await
        .expect(200);
    assert_eq!(r.data()["role"], "assistant");
    assert!(!r.data()["content"].as_str().unwrap().is_empty());
    assert_eq!(r.data()["userMessage"]["content"], "Hello!");

    let got = s
        .get(&format!("/v1/conversations/{id}"), Some(&key))
        .await
        .expect(200);
    let msgs = got.data()["messages"].as_array().unwrap();
    assert_eq!(msgs.len(), 2);
    assert_eq!(msgs[0]["role"], "user");
    assert!(msgs[0]["id"].as_str().unwrap().starts_with("msg_"));
    assert_eq!(msgs[1]["role"], "assistant");
}

#[tokio::test]
async fn the_websocket_flow_works_from_the_url_as_given() {
    let s = TestServer::start().await;
    let c = create(&s, json!({"avatarId": "aria-001"})).await;
    let mut ws = ws_connect(c["wsUrl"].as_str().unwrap()).await;
    ws_send(&mut ws, json!({"type": "ping"})).await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["type"], "pong");

    ws_send(
        &mut ws,
        json!({"type": "message", "content": "Hello, how are you?"}),
    )
    .await;
    let echoed = ws_next(&mut ws).await.unwrap();
    assert_eq!(echoed["type"], "message");
    assert_eq!(echoed["data"]["role"], "user");
    assert_eq!(echoed["data"]["content"], "Hello, how are you?");
    assert_eq!(ws_next(&mut ws).await.unwrap()["type"], "stream_start");
    let mut chunks = String::new();
    let end = loop {
        let e = ws_next(&mut ws).await.unwrap();
        match e["type"].as_str().unwrap() {
            "stream_chunk" => chunks.push_str(e["data"].as_str().unwrap()),
            "stream_end" => break e,
            other => panic!("unexpected {other}: {e}"),
        }
    };
    assert!(!chunks.is_empty());
    assert_eq!(end["data"]["content"], chunks.trim());
    assert_eq!(end["data"]["role"], "assistant");

    // Both messages were stored before being acknowledged.
    let got = s
        .get(
            &format!("/v1/conversations/{}", c["id"].as_str().unwrap()),
            s.owner(),
        )
        .await
        .expect(200);
    assert_eq!(got.data()["messages"].as_array().unwrap().len(), 2);

    ws_send(&mut ws, json!({"type": "message", "content": "   "})).await;
    let e = ws_next(&mut ws).await.unwrap();
    assert_eq!(e["type"], "error");
    assert_eq!(e["code"], "BAD_REQUEST");
    ws_send(&mut ws, json!({"type": "dance"})).await;
    assert_eq!(ws_next(&mut ws).await.unwrap()["type"], "error");
}

#[tokio::test]
async fn ending_closes_every_socket_and_refuses_later_messages() {
    let s = TestServer::start().await;
    let c = create(&s, json!({"avatarId": "aria-001"})).await;
    let id = c["id"].as_str().unwrap();
    let url = c["wsUrl"].as_str().unwrap();
    let mut a = ws_connect(url).await;
    let mut b = ws_connect(url).await;
    ws_send(&mut a, json!({"type": "ping"})).await;
    ws_next(&mut a).await.unwrap();
    ws_send(&mut b, json!({"type": "ping"})).await;
    ws_next(&mut b).await.unwrap();

    let r = s
        .post(&format!("/v1/conversations/{id}/end"), s.owner(), json!({}))
        .await
        .expect(200);
    assert_eq!(r.data()["success"], true);
    for ws in [&mut a, &mut b] {
        let ended = ws_next(ws).await.unwrap();
        assert_eq!(ended["type"], "ended");
        assert!(ws_next(ws).await.is_none(), "socket should close");
    }
    let r = s
        .post(
            &format!("/v1/conversations/{id}/messages"),
            s.owner(),
            json!({"content": "hi"}),
        )
        .await
        .expect(409);
    assert_eq!(r.error_code(), "CONFLICT");
    assert_eq!(ws_refused(url).await, 409);
}

#[tokio::test]
async fn websocket_tokens_are_checked() {
    let s = TestServer::start().await;
    let c = create(&s, json!({})).await;
    let id = c["id"].as_str().unwrap();
    let base = format!("ws://127.0.0.1:{}/v1/conversations/{id}/ws", s.port);
    assert_eq!(ws_refused(&base).await, 401);
    assert_eq!(ws_refused(&format!("{base}?token=garbage")).await, 401);
    // A token for another conversation does not open this one.
    let other = create(&s, json!({})).await;
    let other_token = other["wsUrl"]
        .as_str()
        .unwrap()
        .split("token=")
        .nth(1)
        .unwrap()
        .to_string();
    assert_eq!(
        ws_refused(&format!("{base}?token={other_token}")).await,
        401
    );
    // A user token is not a WebSocket token.
    assert_eq!(
        ws_refused(&format!("{base}?token={}", s.owner_token)).await,
        401
    );
}

#[tokio::test]
async fn byok_uses_the_callers_key_and_never_shows_it() {
    let (fake, seen) = fake_llm::start(Mode::Ok).await;
    let s = TestServer::start().await;
    let body = json!({"avatarId": "aria-001", "byokAI": {"provider": "openai", "apiKey": "sk-test-secret", "model": "gpt-4o-mini", "baseUrl": fake}});
    let res = s
        .post("/v1/conversations", s.owner(), body)
        .await
        .expect(201);
    assert!(!res.body.to_string().contains("sk-test-secret"));
    let c = res.data();
    assert_eq!(c["byokEnabled"], true);
    let id = c["id"].as_str().unwrap();

    let r = s
        .post(
            &format!("/v1/conversations/{id}/messages"),
            s.owner(),
            json!({"content": "Hi"}),
        )
        .await
        .expect(200);
    assert_eq!(r.data()["content"], REPLY.concat());
    let calls = seen.calls();
    assert_eq!(calls[0].0, "Bearer sk-test-secret");
    assert_eq!(calls[0].1["model"], "gpt-4o-mini");
    assert_eq!(calls[0].1["messages"][0]["role"], "system");

    // Streamed over the socket too.
    let mut ws = ws_connect(c["wsUrl"].as_str().unwrap()).await;
    ws_send(&mut ws, json!({"type": "message", "content": "Again"})).await;
    let mut chunks = Vec::new();
    loop {
        let e = ws_next(&mut ws).await.unwrap();
        match e["type"].as_str().unwrap() {
            "stream_chunk" => chunks.push(e["data"].as_str().unwrap().to_string()),
            "stream_end" => break,
            _ => {}
        }
    }
    assert_eq!(chunks, REPLY);
    let got = s
        .get(&format!("/v1/conversations/{id}"), s.owner())
        .await
        .expect(200);
    assert!(!got.body.to_string().contains("sk-test-secret"));
    assert_eq!(got.data()["byokEnabled"], true);
}

#[tokio::test]
async fn bad_byok_is_400() {
    let s = TestServer::start().await;
    for byok in [
        json!({"provider": "openai", "apiKey": ""}),
        json!({"provider": "mystery", "apiKey": "k"}),
        json!({"provider": "openai"}),
    ] {
        let r = s
            .post("/v1/conversations", s.owner(), json!({"byokAI": byok}))
            .await
            .expect(400);
        assert_eq!(r.error_code(), "BAD_REQUEST");
    }
    s.post(
        "/v1/conversations",
        s.owner(),
        json!({"avatarId": "no-such-avatar"}),
    )
    .await
    .expect(404);
}

#[tokio::test]
async fn upstream_failures_leave_no_half_written_reply() {
    for mode in [Mode::Fail, Mode::Cut] {
        let (fake, _) = fake_llm::start(mode).await;
        let s = TestServer::start().await;
        let c = create(
            &s,
            json!({"byokAI": {"provider": "openai", "apiKey": "sk-x", "baseUrl": fake}}),
        )
        .await;
        let id = c["id"].as_str().unwrap();
        let r = s
            .post(
                &format!("/v1/conversations/{id}/messages"),
                s.owner(),
                json!({"content": "Hi"}),
            )
            .await
            .expect(502);
        assert_eq!(r.error_code(), "PROVIDER_ERROR");
        assert!(!r.body.to_string().contains("sk-x"));

        let mut ws = ws_connect(c["wsUrl"].as_str().unwrap()).await;
        ws_send(&mut ws, json!({"type": "message", "content": "Hi again"})).await;
        let err = loop {
            let e = ws_next(&mut ws).await.unwrap();
            assert_ne!(e["type"], "stream_end");
            if e["type"] == "error" {
                break e;
            }
        };
        assert_eq!(err["code"], "PROVIDER_ERROR");
        let got = s
            .get(&format!("/v1/conversations/{id}"), s.owner())
            .await
            .expect(200);
        let roles: Vec<&str> = got.data()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["role"].as_str().unwrap())
            .collect();
        assert_eq!(
            roles,
            ["user", "user"],
            "no assistant message may be stored"
        );
    }
}

#[tokio::test]
async fn server_configured_providers_are_used_when_named() {
    let (fake, seen) = fake_llm::start(Mode::Ok).await;
    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.providers.insert(
            "openai".into(),
            avatarium_core::config::ProviderSettings {
                api_key: Some(avatarium_core::config::Secret("sk-server".into())),
                base_url: Some(fake.clone()),
                model: None,
            },
        );
    })
    .await;
    let c = create(&s, json!({"provider": "openai"})).await;
    assert_eq!(c["provider"], "openai");
    assert_eq!(c["byokEnabled"], false);
    let r = s
        .post(
            &format!("/v1/conversations/{}/messages", c["id"].as_str().unwrap()),
            s.owner(),
            json!({"content": "Hi"}),
        )
        .await
        .expect(200);
    assert_eq!(r.data()["content"], REPLY.concat());
    assert_eq!(seen.calls()[0].0, "Bearer sk-server");
}

#[tokio::test]
async fn conversations_are_private_to_their_account() {
    let s = TestServer::start().await;
    let c = create(&s, json!({})).await;
    let id = c["id"].as_str().unwrap();
    let other = s.signup("other@example.com").await;
    s.get(&format!("/v1/conversations/{id}"), Some(&other))
        .await
        .expect(404);
    s.post(
        &format!("/v1/conversations/{id}/messages"),
        Some(&other),
        json!({"content": "x"}),
    )
    .await
    .expect(404);
    s.post(
        &format!("/v1/conversations/{id}/end"),
        Some(&other),
        json!({}),
    )
    .await
    .expect(404);
    s.post("/v1/conversations", None, json!({}))
        .await
        .expect(401);
    // And a conversation can speak as the caller's own consumer avatar.
    let a = s.create_avatar(&other, "mine").await;
    let mine = s
        .post(
            "/v1/conversations",
            Some(&other),
            json!({"avatarId": a["shortId"]}),
        )
        .await
        .expect(201);
    assert_eq!(mine.data()["avatarId"], a["shortId"]);
    s.post("/v1/conversations", s.owner(), json!({"avatarId": a["id"]}))
        .await
        .expect(404);
}

/// Many conversations taking turns at once share commits: every turn must
/// still store its user message and reply, in order, and build its prompt
/// from everything its conversation stored before.
#[tokio::test]
async fn concurrent_turns_each_store_their_messages_in_order() {
    let (fake, seen) = fake_llm::start(Mode::Ok).await;
    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.providers.insert(
            "openai".into(),
            avatarium_core::config::ProviderSettings {
                api_key: Some(avatarium_core::config::Secret("sk-server".into())),
                base_url: Some(fake.clone()),
                model: None,
            },
        );
    })
    .await;
    let s = std::sync::Arc::new(s);
    const CONVERSATIONS: usize = 12;
    const TURNS: usize = 3;
    let mut ids = Vec::new();
    for _ in 0..CONVERSATIONS {
        let c = create(&s, json!({"provider": "openai"})).await;
        ids.push(c["id"].as_str().unwrap().to_string());
    }
    let tasks: Vec<_> = ids
        .iter()
        .cloned()
        .map(|id| {
            let s = s.clone();
            tokio::spawn(async move {
                for turn in 0..TURNS {
                    let r = s
                        .post(
                            &format!("/v1/conversations/{id}/messages"),
                            s.owner(),
                            json!({"content": format!("{id} turn {turn}")}),
                        )
                        .await
                        .expect(200);
                    assert_eq!(r.data()["content"], REPLY.concat());
                    assert_eq!(
                        r.data()["userMessage"]["content"],
                        format!("{id} turn {turn}")
                    );
                }
            })
        })
        .collect();
    for t in tasks {
        t.await.unwrap();
    }
    for id in &ids {
        let got = s
            .get(&format!("/v1/conversations/{id}"), s.owner())
            .await
            .expect(200);
        let stored: Vec<(String, String)> = got.data()["messages"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| {
                (
                    m["role"].as_str().unwrap().to_string(),
                    m["content"].as_str().unwrap().to_string(),
                )
            })
            .collect();
        let want: Vec<(String, String)> = (0..TURNS)
            .flat_map(|turn| {
                [
                    ("user".to_string(), format!("{id} turn {turn}")),
                    ("assistant".to_string(), REPLY.concat()),
                ]
            })
            .collect();
        assert_eq!(stored, want);
    }
    // The last turn of each conversation was prompted with its whole
    // history and nothing of any other conversation's.
    for id in &ids {
        let last = format!("{id} turn {}", TURNS - 1);
        let calls = seen.calls();
        let (_, body) = calls
            .iter()
            .find(|(_, b)| b["messages"].as_array().unwrap().last().unwrap()["content"] == last)
            .expect("the last turn reached the provider");
        let contents: Vec<&str> = body["messages"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|m| m["role"] != "system")
            .map(|m| m["content"].as_str().unwrap())
            .collect();
        let reply = REPLY.concat();
        let mut want = Vec::new();
        let turns: Vec<String> = (0..TURNS).map(|t| format!("{id} turn {t}")).collect();
        for t in &turns[..TURNS - 1] {
            want.push(t.as_str());
            want.push(reply.as_str());
        }
        want.push(&turns[TURNS - 1]);
        assert_eq!(contents, want);
    }
}
