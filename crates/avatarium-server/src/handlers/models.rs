//! Models and raw completions: 001's `/models`, `/ai/providers`, `/ai/chat`,
//! 003's `/chat.completions`, and OpenAI's `/chat/completions` so the
//! official SDKs work with `base_url=http://127.0.0.1:PORT/v1`.

use std::convert::Infallible;
use std::time::Instant;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use futures::{Stream, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_llm::{self as llm, ChatRequest, Message, Role, TextStream};

use crate::engine::{self, Byok, Chosen};
use crate::error::{ApiError, ApiResult, Bare, Envelope};
use crate::extract::{ApiCaller, ApiJson};
use crate::state::AppState;

/// Every model a request can name: the offline one, each configured
/// provider's, and those of a detected local server.
fn model_entries(state: &AppState) -> Vec<Value> {
    let created = state_created(state);
    let mut out = Vec::new();
    for p in llm::catalog() {
        if !state.provider_configured(&p.id) {
            continue;
        }
        let models = if p.id == "ollama" {
            state
                .engine
                .local_models
                .read()
                .expect("models lock")
                .clone()
        } else {
            p.models.clone()
        };
        for m in models {
            let id = if p.id == "local" {
                m.clone()
            } else {
                format!("{}/{m}", p.id)
            };
            out.push(json!({
                "id": id,
                "object": "model",
                "created": created,
                "owned_by": p.id,
                "provider": p.id,
                "model": m,
                "offline": p.offline,
                "default": p.id == state.default_provider_id() && m == p.default_model,
            }));
        }
    }
    out
}

fn state_created(state: &AppState) -> u64 {
    let now = chrono::Utc::now().timestamp() as u64;
    now.saturating_sub(state.started.elapsed().as_secs())
}

/// List available AI providers and models (public). OpenAI's list shape, so
/// OpenAI clients can read it too.
#[utoipa::path(get, path = "/v1/models", tag = "models",
    responses((status = 200, description = "`{object: list, data: [{id, object: model, owned_by, …}]}`")))]
pub async fn list_models(State(state): State<AppState>) -> Bare {
    Bare(json!({ "object": "list", "data": model_entries(&state) }))
}

/// AI providers with capabilities, configured or not.
#[utoipa::path(get, path = "/v1/ai/providers", tag = "models", security(("bearer" = [])),
    responses((status = 200, description = "Providers"), (status = 401, description = "No or bad credentials")))]
pub async fn list_providers(
    State(state): State<AppState>,
    _caller: ApiCaller,
) -> Envelope<Vec<Value>> {
    let default = state.default_provider_id();
    Envelope(
        llm::catalog()
            .into_iter()
            .map(|p| {
                let mut v = serde_json::to_value(&p).expect("provider info serializes");
                v["configured"] = json!(state.provider_configured(&p.id));
                v["default"] = json!(p.id == default);
                if p.id == "ollama" {
                    let found = state
                        .engine
                        .local_models
                        .read()
                        .expect("models lock")
                        .clone();
                    v["detected"] = json!(!found.is_empty());
                    if !found.is_empty() {
                        v["models"] = json!(found);
                    }
                }
                v
            })
            .collect(),
    )
}

#[derive(Deserialize, ToSchema)]
pub struct InMessage {
    role: String,
    content: String,
}

fn parse_messages(messages: Vec<InMessage>) -> ApiResult<Vec<Message>> {
    if messages.is_empty() {
        return Err(ApiError::bad_request("messages must not be empty"));
    }
    let mut total = 0;
    let out = messages
        .into_iter()
        .map(|m| {
            total += m.content.len();
            let role = match m.role.as_str() {
                "system" | "developer" => Role::System,
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "unknown message role '{other}'"
                    )));
                }
            };
            Ok(Message {
                role,
                content: m.content,
            })
        })
        .collect::<ApiResult<Vec<_>>>()?;
    if total > 400_000 {
        return Err(ApiError::PayloadTooLarge("messages are too long".into()));
    }
    Ok(out)
}

/// `provider/model`, a bare model of some configured provider, or the
/// offline model.
fn choose_by_model(state: &AppState, model: Option<&str>) -> ApiResult<Chosen> {
    match model.map(str::trim).filter(|m| !m.is_empty()) {
        None => state.choose_provider(None, None, None),
        Some(m) if m.starts_with("avatarium") || m == "local" => {
            state.choose_provider(Some("local"), None, None)
        }
        Some(m) => match m.split_once('/') {
            Some((p, rest)) if llm::catalog().iter().any(|c| c.id == p) => {
                if !state.provider_configured(p) {
                    return Err(ApiError::bad_request(format!(
                        "Provider '{p}' is not configured on this server; see GET /v1/models"
                    )));
                }
                state.choose_provider(Some(p), Some(rest), None)
            }
            _ => {
                let owner = llm::catalog()
                    .into_iter()
                    .find(|c| c.models.iter().any(|x| x == m) && state.provider_configured(&c.id));
                match owner {
                    Some(c) => state.choose_provider(Some(&c.id), Some(m), None),
                    None => state.choose_provider(None, Some(m), None),
                }
            }
        },
    }
}

async fn open_stream(chosen: &Chosen, req: ChatRequest) -> ApiResult<TextStream> {
    chosen
        .provider
        .stream(req)
        .await
        .map_err(|e| engine::provider_error(&chosen.id, &e))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AiChatBody {
    provider: Option<String>,
    model: Option<String>,
    messages: Option<Vec<InMessage>>,
    /// Shorthand for a single user message.
    message: Option<String>,
    system_prompt: Option<String>,
    #[serde(default)]
    stream: bool,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    #[schema(value_type = Option<Object>)]
    byok_a_i: Option<Byok>,
}

/// Raw chat completion against a provider, streamed (SSE `chunk`/`done`
/// events) or not.
#[utoipa::path(post, path = "/v1/ai/chat", tag = "models", security(("bearer" = [])), request_body = AiChatBody,
    responses((status = 200, description = "`{content, provider, model, latencyMs}` or an SSE stream"),
              (status = 400, description = "Bad messages or provider"), (status = 502, description = "The provider failed")))]
pub async fn ai_chat(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiJson(body): ApiJson<AiChatBody>,
) -> ApiResult<Response> {
    let mut messages = match (body.messages, body.message) {
        (Some(m), _) => parse_messages(m)?,
        (None, Some(text)) => vec![Message::user(engine::validate_user_text(&text)?)],
        (None, None) => return Err(ApiError::bad_request("messages (or message) is required")),
    };
    if let Some(sp) = body.system_prompt.filter(|s| !s.trim().is_empty()) {
        messages.insert(0, Message::system(sp));
    }
    let chosen = state.choose_provider(
        body.provider.as_deref(),
        body.model.as_deref(),
        body.byok_a_i.as_ref(),
    )?;
    let req = ChatRequest {
        model: Some(chosen.model.clone()),
        messages,
        temperature: body.temperature,
        max_tokens: body.max_tokens,
        ..Default::default()
    };
    let started = Instant::now();
    let deltas = open_stream(&chosen, req).await?;
    if body.stream {
        let (provider, model) = (chosen.id.clone(), chosen.model.clone());
        let events = async_stream::stream! {
            let mut deltas = deltas;
            let mut full = String::new();
            while let Some(d) = deltas.next().await {
                match d {
                    Ok(d) => {
                        full.push_str(&d);
                        yield Ok::<_, Infallible>(Event::default().event("chunk").data(json!({"content": d}).to_string()));
                    }
                    Err(e) => {
                        yield Ok(Event::default().event("error").data(json!({"code": "PROVIDER_ERROR", "message": e.to_string()}).to_string()));
                        return;
                    }
                }
            }
            yield Ok(Event::default().event("done").data(json!({
                "content": full, "provider": provider, "model": model,
                "latencyMs": started.elapsed().as_millis() as u64,
            }).to_string()));
        };
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let content = collect(deltas, &chosen).await?;
    Ok(Envelope(json!({
        "content": content,
        "provider": chosen.id,
        "model": chosen.model,
        "latencyMs": started.elapsed().as_millis() as u64,
    }))
    .into_response())
}

async fn collect(mut deltas: TextStream, chosen: &Chosen) -> ApiResult<String> {
    let mut out = String::new();
    while let Some(d) = deltas.next().await {
        out.push_str(&d.map_err(|e| engine::provider_error(&chosen.id, &e))?);
    }
    Ok(out)
}

#[derive(Deserialize, ToSchema)]
pub struct CompletionsBody {
    model: Option<String>,
    messages: Vec<InMessage>,
    #[serde(default)]
    stream: bool,
    temperature: Option<f32>,
    max_tokens: Option<u32>,
    /// 003: the streaming session this chat belongs to.
    session_id: Option<String>,
}

fn chunk_json(id: &str, created: i64, model: &str, delta: Value, finish: Option<&str>) -> String {
    json!({
        "id": id,
        "object": "chat.completion.chunk",
        "created": created,
        "model": model,
        "choices": [{ "index": 0, "delta": delta, "finish_reason": finish }],
    })
    .to_string()
}

/// SSE in OpenAI's chunk format (003's examples are a subset of it), ending
/// with `data: [DONE]`.
fn completion_events(
    deltas: TextStream,
    model: String,
) -> impl Stream<Item = Result<Event, Infallible>> {
    let id = format!("chatcmpl-{}", uuid::Uuid::new_v4().simple());
    let created = chrono::Utc::now().timestamp();
    async_stream::stream! {
        let mut deltas = deltas;
        yield Ok(Event::default().data(chunk_json(&id, created, &model, json!({"role": "assistant", "content": ""}), None)));
        while let Some(d) = deltas.next().await {
            match d {
                Ok(d) => yield Ok(Event::default().data(chunk_json(&id, created, &model, json!({"content": d}), None))),
                Err(e) => {
                    yield Ok(Event::default().data(json!({"error": {"message": e.to_string(), "type": "provider_error", "code": "PROVIDER_ERROR"}}).to_string()));
                    return;
                }
            }
        }
        yield Ok(Event::default().data(chunk_json(&id, created, &model, json!({}), Some("stop"))));
        yield Ok(Event::default().data("[DONE]"));
    }
}

async fn completions(state: AppState, body: CompletionsBody) -> ApiResult<Response> {
    let messages = parse_messages(body.messages)?;
    let chosen = choose_by_model(&state, body.model.as_deref())?;
    let model_name = if chosen.id == "local" {
        chosen.model.clone()
    } else {
        format!("{}/{}", chosen.id, chosen.model)
    };
    let req = ChatRequest {
        model: Some(chosen.model.clone()),
        messages,
        temperature: body.temperature,
        max_tokens: body.max_tokens,
        ..Default::default()
    };
    let deltas = open_stream(&chosen, req).await?;
    if body.stream {
        return Ok(Sse::new(completion_events(deltas, model_name)).into_response());
    }
    let content = collect(deltas, &chosen).await?;
    Ok(axum::Json(json!({
        "id": format!("chatcmpl-{}", uuid::Uuid::new_v4().simple()),
        "object": "chat.completion",
        "created": chrono::Utc::now().timestamp(),
        "model": model_name,
        "choices": [{
            "index": 0,
            "message": { "role": "assistant", "content": content },
            "finish_reason": "stop",
        }],
        "usage": { "prompt_tokens": 0, "completion_tokens": 0, "total_tokens": 0 },
    }))
    .into_response())
}

/// OpenAI-compatible chat completions (streaming and not).
#[utoipa::path(post, path = "/v1/chat/completions", tag = "models", security(("bearer" = [])), request_body = CompletionsBody,
    responses((status = 200, description = "`chat.completion` or SSE `chat.completion.chunk`s ending `[DONE]`"),
              (status = 400, description = "Bad messages or model"), (status = 502, description = "The provider failed")))]
pub async fn openai_completions(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiJson(body): ApiJson<CompletionsBody>,
) -> ApiResult<Response> {
    completions(state, body).await
}

/// 003's chat endpoint: the same completions, SSE ending `data: [DONE]`.
#[utoipa::path(post, path = "/v1/chat.completions", tag = "models", request_body = CompletionsBody,
    responses((status = 200, description = "SSE `data: {choices:[{delta:{content}}]}` … `data: [DONE]`, or JSON"),
              (status = 400, description = "Bad messages"), (status = 502, description = "The provider failed")))]
pub async fn avatar_completions(
    State(state): State<AppState>,
    ApiJson(body): ApiJson<CompletionsBody>,
) -> ApiResult<Response> {
    if let Some(sid) = &body.session_id
        && !state.streaming_session_exists(sid)
    {
        return Err(ApiError::SessionNotFound(sid.clone()));
    }
    completions(state, body).await
}
