use serde_json::{Value, json};

use crate::fake_llm::{self, Mode, REPLY};
use crate::harness::TestServer;

async fn with_fake_openai() -> (TestServer, fake_llm::Seen) {
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
    (s, seen)
}

#[tokio::test]
async fn models_list_the_offline_model_in_openais_shape() {
    let s = TestServer::start().await;
    let r = s.get("/v1/models", None).await.expect(200);
    assert_eq!(r.body["object"], "list");
    let ids: Vec<&str> = r.body["data"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| m["id"].as_str().unwrap())
        .collect();
    assert!(ids.contains(&"avatarium-local"), "{ids:?}");
    assert!(
        r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .all(|m| m["object"] == "model")
    );
    // Providers without keys are not offered as models.
    assert!(!ids.iter().any(|i| i.starts_with("openai/")));
}

#[tokio::test]
async fn providers_report_capabilities_and_configuration() {
    let (s, _) = with_fake_openai().await;
    s.get("/v1/ai/providers", None).await.expect(401);
    let r = s.get("/v1/ai/providers", s.owner()).await.expect(200);
    let find = |id: &str| {
        r.data()
            .as_array()
            .unwrap()
            .iter()
            .find(|p| p["id"] == id)
            .cloned()
            .unwrap()
    };
    assert_eq!(find("local")["configured"], true);
    assert_eq!(find("openai")["configured"], true);
    assert_eq!(find("anthropic")["configured"], false);
    assert_eq!(find("local")["offline"], true);
    assert!(!r.body.to_string().contains("sk-server"));
    let models = s.get("/v1/models", None).await.expect(200);
    assert!(models.body.to_string().contains("openai/"));
}

#[tokio::test]
async fn ai_chat_completes_and_streams() {
    let (s, seen) = with_fake_openai().await;
    let r = s
        .post("/v1/ai/chat", s.owner(), json!({"provider": "openai", "messages": [{"role": "user", "content": "Hi"}], "systemPrompt": "Be brief."}))
        .await
        .expect(200);
    assert_eq!(r.data()["content"], REPLY.concat());
    assert_eq!(r.data()["provider"], "openai");
    assert_eq!(seen.calls()[0].1["messages"][0]["content"], "Be brief.");

    let res = s
        .client
        .post(s.url("/v1/ai/chat"))
        .bearer_auth(&s.owner_token)
        .json(&json!({"message": "Hi", "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.headers()["content-type"], "text/event-stream");
    let text = res.text().await.unwrap();
    assert!(text.contains("event: chunk"), "{text}");
    assert!(text.contains("event: done"), "{text}");
    s.post("/v1/ai/chat", s.owner(), json!({"messages": []}))
        .await
        .expect(400);
    s.post(
        "/v1/ai/chat",
        s.owner(),
        json!({"messages": [{"role": "robot", "content": "x"}]}),
    )
    .await
    .expect(400);
    s.post("/v1/ai/chat", None, json!({"message": "hi"}))
        .await
        .expect(401);
}

fn sse_data(text: &str) -> Vec<String> {
    text.lines()
        .filter_map(|l| l.strip_prefix("data: ").map(str::to_owned))
        .collect()
}

#[tokio::test]
async fn openai_compatible_completions_stream_and_not() {
    let (s, _) = with_fake_openai().await;
    let (_, key) = s.create_key(&s.owner_token.clone(), "sdk").await;
    let r = s
        .post(
            "/v1/chat/completions",
            Some(&key),
            json!({"model": "openai/gpt-4o-mini", "messages": [{"role": "user", "content": "Hi"}]}),
        )
        .await
        .expect(200);
    assert_eq!(r.body["object"], "chat.completion");
    assert_eq!(r.body["choices"][0]["message"]["content"], REPLY.concat());
    assert_eq!(r.body["choices"][0]["finish_reason"], "stop");

    let res = s
        .client
        .post(s.url("/v1/chat/completions"))
        .bearer_auth(&key)
        .json(&json!({"model": "avatarium-local", "stream": true, "messages": [{"role": "user", "content": "Hello!"}]}))
        .send()
        .await
        .unwrap();
    let data = sse_data(&res.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let mut content = String::new();
    for d in &data[..data.len() - 1] {
        let v: Value = serde_json::from_str(d).unwrap();
        assert_eq!(v["object"], "chat.completion.chunk");
        if let Some(c) = v["choices"][0]["delta"]["content"].as_str() {
            content.push_str(c);
        }
    }
    assert!(!content.is_empty());
    s.post(
        "/v1/chat/completions",
        None,
        json!({"messages": [{"role": "user", "content": "x"}]}),
    )
    .await
    .expect(401);
    s.post(
        "/v1/chat/completions",
        Some(&key),
        json!({"model": "anthropic/claude", "messages": [{"role": "user", "content": "x"}]}),
    )
    .await
    .expect(400);
}

#[tokio::test]
async fn avatar_chat_completions_speak_003s_sse() {
    let s = TestServer::start().await;
    let res = s
        .client
        .post(s.url("/v1/chat.completions"))
        .json(&json!({"messages": [{"role": "user", "content": "Hello, how are you today?"}], "stream": true}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    let data = sse_data(&res.text().await.unwrap());
    assert_eq!(data.last().unwrap(), "[DONE]");
    let first: Value = serde_json::from_str(&data[1]).unwrap();
    assert!(first["choices"][0]["delta"]["content"].is_string());

    let r = s
        .post("/v1/chat.completions", None, json!({"session_id": "550e8400-e29b-41d4-a716-446655440000", "messages": [{"role": "user", "content": "x"}]}))
        .await
        .expect(404);
    assert_eq!(r.body["error"]["code"], "SESSION_NOT_FOUND");
    assert_eq!(
        r.body["error"]["details"]["session_id"],
        "550e8400-e29b-41d4-a716-446655440000"
    );
}

#[tokio::test]
async fn a_running_local_server_is_offered_and_can_be_the_default() {
    let (fake, _) = fake_llm::start(Mode::Ok).await;
    let s = TestServer::with_config(|c| {
        c.rate_limits = avatarium_core::config::RateLimits::unlimited();
        c.ollama_url = fake.clone();
        c.default_provider = Some("ollama".into());
    })
    .await;
    // Detection runs in the background at start-up.
    let mut ids = Vec::new();
    for _ in 0..50 {
        let r = s.get("/v1/models", None).await.expect(200);
        ids = r.body["data"]
            .as_array()
            .unwrap()
            .iter()
            .map(|m| m["id"].as_str().unwrap().to_string())
            .collect();
        if ids.iter().any(|i| i == "ollama/llama3.2") {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    assert!(ids.contains(&"ollama/llama3.2".to_string()), "{ids:?}");
    let c = s
        .post("/v1/conversations", s.owner(), json!({}))
        .await
        .expect(201);
    assert_eq!(c.data()["provider"], "ollama");
    let r = s
        .post(
            &format!(
                "/v1/conversations/{}/messages",
                c.data()["id"].as_str().unwrap()
            ),
            s.owner(),
            json!({"content": "Hi"}),
        )
        .await
        .expect(200);
    assert_eq!(r.data()["content"], REPLY.concat());
}
