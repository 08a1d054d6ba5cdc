//! The provider catalog, `config_for`, and detection of local
//! OpenAI-compatible servers.

mod fakes;

use std::time::{Duration, Instant};

use avatarium_llm::ProviderKind;
use avatarium_llm::catalog::{self, config_for, probe_openai_compatible};
use fakes::*;
use serde_json::json;

#[test]
fn catalog_lists_the_built_in_providers() {
    let ids: Vec<String> = catalog::catalog().into_iter().map(|p| p.id).collect();
    assert_eq!(
        ids,
        ["local", "groq", "openai", "anthropic", "gemini", "ollama"]
    );
    for info in catalog::catalog() {
        assert_eq!(
            info.models.first(),
            Some(&info.default_model),
            "{}: the default is listed first",
            info.id
        );
        assert!(info.capabilities.streaming);
        assert_eq!(info.requires_key, info.capabilities.byok, "{}", info.id);
        if info.kind != ProviderKind::Local {
            assert!(info.base_url.starts_with("http"), "{}", info.id);
        }
    }
    let local = catalog::find("local").unwrap();
    assert!(local.offline && !local.requires_key);
    assert_eq!(local.default_model, "avatarium-local");
    let ollama = catalog::find("ollama").unwrap();
    assert!(ollama.offline && !ollama.requires_key);
    assert_eq!(
        (
            ollama.kind,
            ollama.base_url.as_str(),
            ollama.default_model.as_str()
        ),
        (
            ProviderKind::OpenAiCompatible,
            "http://127.0.0.1:11434/v1",
            "llama3.2"
        )
    );
    assert_eq!(
        catalog::find("groq").unwrap().base_url,
        "https://api.groq.com/openai/v1"
    );
    assert_eq!(
        catalog::find("openai").unwrap().default_model,
        "gpt-4o-mini"
    );
    assert_eq!(
        catalog::find("anthropic").unwrap().kind,
        ProviderKind::Anthropic
    );
    assert_eq!(
        catalog::find("gemini").unwrap().base_url,
        "https://generativelanguage.googleapis.com"
    );
}

#[test]
fn catalog_serializes_in_camel_case() {
    let value = serde_json::to_value(catalog::find("ollama").unwrap()).unwrap();
    assert_eq!(value["baseUrl"], "http://127.0.0.1:11434/v1");
    assert_eq!(value["defaultModel"], "llama3.2");
    assert_eq!(value["requiresKey"], false);
    assert_eq!(value["offline"], true);
    assert_eq!(value["kind"], "openai-compatible");
    assert_eq!(
        value["capabilities"],
        json!({ "streaming": true, "byok": false, "embeddings": true, "vision": false })
    );
}

#[test]
fn config_for_fills_in_catalog_defaults() {
    let cfg = config_for("groq", Some("gsk_x".into()), None, None).unwrap();
    assert_eq!(
        (cfg.kind, cfg.base_url.as_str()),
        (
            ProviderKind::OpenAiCompatible,
            "https://api.groq.com/openai/v1"
        )
    );
    assert_eq!(cfg.default_model, "llama-3.3-70b-versatile");
    assert_eq!(cfg.api_key.as_deref(), Some("gsk_x"));
    assert!(!format!("{cfg:?}").contains("gsk_x"));

    let cfg = config_for(
        "anthropic",
        Some(String::new()),
        Some("http://proxy:8080".into()),
        Some("claude-x".into()),
    )
    .unwrap();
    assert_eq!(
        (cfg.base_url.as_str(), cfg.default_model.as_str()),
        ("http://proxy:8080", "claude-x")
    );
    assert_eq!(cfg.api_key, None, "an empty key is no key");

    let local = config_for("local", None, None, None).unwrap();
    assert_eq!(
        (local.kind, local.default_model.as_str()),
        (ProviderKind::Local, "avatarium-local")
    );

    // Cold model loads take long on a laptop.
    assert!(
        config_for("ollama", None, None, None)
            .unwrap()
            .first_token_timeout
            >= Duration::from_secs(60)
    );
}

#[test]
fn unknown_ids_need_a_base_url_and_are_openai_compatible() {
    assert!(config_for("nonexistent", Some("k".into()), None, None).is_none());
    let cfg = config_for(
        "lmstudio",
        None,
        Some("http://127.0.0.1:1234/v1".into()),
        None,
    )
    .unwrap();
    assert_eq!(cfg.kind, ProviderKind::OpenAiCompatible);
    assert_eq!(cfg.id, "lmstudio");
    assert_eq!(cfg.default_model, "");
}

#[tokio::test]
async fn probe_lists_the_models_of_a_running_server() {
    let models = json!({ "object": "list", "data": [
        { "id": "llama3.2:latest", "object": "model", "created": 1, "owned_by": "library" },
        { "id": "qwen2.5:7b", "object": "model", "created": 1, "owned_by": "library" },
    ] });
    let fake = Fake::start(vec![Reply::json(200, &models)]).await;
    let found = probe_openai_compatible(
        &client(),
        &format!("{}/v1/", fake.addr),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(
        found,
        Some(vec!["llama3.2:latest".to_owned(), "qwen2.5:7b".to_owned()])
    );
    let request = fake.requests().remove(0);
    assert_eq!(
        (request.method.as_str(), request.path.as_str()),
        ("GET", "/v1/models")
    );
}

#[tokio::test]
async fn probe_of_a_closed_port_returns_none_fast() {
    let port = {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        listener.local_addr().unwrap().port()
    };
    let started = Instant::now();
    let found = probe_openai_compatible(
        &client(),
        &format!("http://127.0.0.1:{port}/v1"),
        Duration::from_secs(2),
    )
    .await;
    assert_eq!(found, None);
    assert!(
        started.elapsed() < Duration::from_millis(500),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn probe_gives_up_on_a_silent_server() {
    let fake = Fake::start(vec![
        Reply::json(200, &json!({ "data": [] })).delayed(Duration::from_secs(5)),
    ])
    .await;
    let started = Instant::now();
    let found = probe_openai_compatible(
        &client(),
        &format!("{}/v1", fake.addr),
        Duration::from_millis(200),
    )
    .await;
    assert_eq!(found, None);
    assert!(
        started.elapsed() < Duration::from_millis(800),
        "took {:?}",
        started.elapsed()
    );
}

#[tokio::test]
async fn probe_rejects_what_is_not_an_openai_server() {
    let fake = Fake::start(vec![Reply::json(404, &json!({ "error": "not found" }))]).await;
    assert_eq!(
        probe_openai_compatible(&client(), &fake.addr, Duration::from_secs(2)).await,
        None
    );
    let fake = Fake::start(vec![Reply::json(200, &json!({ "models": [] }))]).await;
    assert_eq!(
        probe_openai_compatible(&client(), &fake.addr, Duration::from_secs(2)).await,
        None
    );
}
