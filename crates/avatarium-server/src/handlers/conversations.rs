//! Conversations (000): create, read, REST turns, end, and the WebSocket.

use std::ops::ControlFlow;
use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::Response;
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio::sync::watch;
use utoipa::ToSchema;

use avatarium_core::model::{ConversationRecord, MessageRecord};
use avatarium_core::store::{NewConversation, NewMessage, Thread};

use crate::auth::{Auth, Principal};
use crate::engine::{self, Byok, Chosen};
use crate::error::{ApiError, ApiResult, Created, Envelope};
use crate::extract::{ApiCaller, ApiJson, ApiPath, ApiQuery, BaseUrl};
use crate::state::AppState;

const WS_TOKEN_TTL: Duration = Duration::from_secs(15 * 60);
pub(crate) const WS_READ_BUFFER: usize = 4 * 1024;

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CreateConversation {
    /// A preset id (`aria-001`) or one of your avatars (id or shortId).
    avatar_id: Option<String>,
    /// groq, openai, gemini, anthropic, ollama or local.
    provider: Option<String>,
    model: Option<String>,
    system_prompt: Option<String>,
    #[schema(value_type = Option<Object>)]
    byok_a_i: Option<Byok>,
}

pub(crate) fn message_json(m: &MessageRecord) -> Value {
    let mut v = json!({
        "id": m.id,
        "role": m.role,
        "content": m.content,
        "createdAt": m.created_at,
    });
    if let Some(e) = &m.emotion {
        v["emotion"] = json!(e);
    }
    if let Some(s) = m
        .sources
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        v["sources"] = s;
    }
    if let Some(l) = m.latency_ms {
        v["latencyMs"] = json!(l);
    }
    v
}

fn ws_url(base: &str, state: &AppState, conv: &ConversationRecord) -> String {
    let token = state
        .tokens
        .issue(&conv.account_id, "ws", Some(conv.id.clone()), WS_TOKEN_TTL)
        .token;
    let ws_base = base.replacen("http://", "ws://", 1);
    format!("{ws_base}/v1/conversations/{}/ws?token={token}", conv.id)
}

/// Resolves `avatarId` to a system prompt, persona and the consumer avatar id.
async fn resolve_avatar(
    state: &AppState,
    account_id: &str,
    avatar_id: Option<&str>,
) -> ApiResult<(Option<String>, String, Option<avatarium_llm::Persona>)> {
    let Some(id) = avatar_id.map(str::trim).filter(|s| !s.is_empty()) else {
        return Ok((None, String::new(), None));
    };
    if let Some((persona, prompt)) = engine::preset_persona(id) {
        return Ok((None, prompt, Some(persona)));
    }
    let avatar = match state.store.avatar(account_id, id).await? {
        Some(a) => Some(a),
        None => state
            .store
            .avatar_by_short_id(id)
            .await?
            .filter(|a| a.account_id == account_id),
    };
    let a = avatar.ok_or_else(|| {
        ApiError::not_found(format!(
            "avatarId '{id}' is neither a preset nor one of your avatars"
        ))
    })?;
    Ok((
        Some(a.id.clone()),
        a.system_prompt.clone(),
        Some(engine::persona_of(&a)),
    ))
}

/// Create a conversation; returns a WebSocket URL usable as given.
#[utoipa::path(post, path = "/v1/conversations", tag = "conversations", security(("bearer" = [])),
    request_body = CreateConversation,
    responses((status = 201, description = "`{id, avatarId, wsUrl, createdAt, byokEnabled}`"),
              (status = 400, description = "Bad provider or BYOK"), (status = 404, description = "Unknown avatar")))]
pub async fn create(
    State(state): State<AppState>,
    caller: ApiCaller,
    BaseUrl(base): BaseUrl,
    ApiJson(req): ApiJson<CreateConversation>,
) -> ApiResult<Created<Value>> {
    let (consumer_id, avatar_prompt, _) =
        resolve_avatar(&state, &caller.account_id, req.avatar_id.as_deref()).await?;
    let chosen = state.choose_provider(
        req.provider.as_deref(),
        req.model.as_deref(),
        req.byok_a_i.as_ref(),
    )?;
    let system_prompt = match req
        .system_prompt
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
    {
        Some(p) if p.chars().count() > 16_000 => {
            return Err(ApiError::bad_request(
                "systemPrompt must be at most 16000 characters",
            ));
        }
        Some(p) => p,
        None => avatar_prompt,
    };
    let conv = state
        .store
        .create_conversation(NewConversation {
            account_id: caller.account_id.clone(),
            avatar_id: req.avatar_id.clone(),
            consumer_avatar_id: consumer_id,
            provider: chosen.id.clone(),
            model: chosen.model.clone(),
            system_prompt,
            byok: chosen.byok,
            source: "api".into(),
            metadata: None,
        })
        .await?;
    if let Some(b) = req.byok_a_i {
        state.engine.remember_byok(&conv.id, b);
    }
    Ok(Created(json!({
        "id": conv.id,
        "avatarId": conv.avatar_id,
        "wsUrl": ws_url(&base, &state, &conv),
        "createdAt": conv.created_at,
        "byokEnabled": conv.byok,
        "provider": conv.provider,
        "model": conv.model,
        "status": conv.status,
    })))
}

async fn owned(state: &AppState, account_id: &str, id: &str) -> ApiResult<ConversationRecord> {
    state
        .store
        .conversation(account_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation not found"))
}

/// Get a conversation and its messages.
#[utoipa::path(get, path = "/v1/conversations/{id}", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, description = "The conversation with messages"), (status = 404, description = "Not found")))]
pub async fn get(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Envelope<Value>> {
    let conv = owned(&state, &caller.account_id, &id).await?;
    let messages = state
        .store
        .messages(&Thread::Conversation(conv.id.clone()))
        .await?;
    Ok(Envelope(json!({
        "id": conv.id,
        "avatarId": conv.avatar_id,
        "status": conv.status,
        "provider": conv.provider,
        "model": conv.model,
        "byokEnabled": conv.byok,
        "createdAt": conv.created_at,
        "endedAt": conv.ended_at,
        "messages": messages.iter().map(message_json).collect::<Vec<_>>(),
    })))
}

/// The provider and prompt for the next turn of a conversation, given its
/// recent history.
async fn prepare_turn(
    state: &AppState,
    conv: &ConversationRecord,
    history: Vec<avatarium_llm::Message>,
    user_text: &str,
) -> ApiResult<(Chosen, avatarium_llm::ChatRequest)> {
    let byok = state.engine.byok_for(&conv.id);
    if conv.byok && byok.is_none() {
        return Err(ApiError::Conflict(
            "This conversation's own provider key is no longer held by the server (it is kept in memory only); start a new conversation".into(),
        ));
    }
    let chosen = state.choose_provider(Some(&conv.provider), Some(&conv.model), byok.as_ref())?;
    let knowledge = match &conv.consumer_avatar_id {
        Some(avatar_id) => state.retrieve(avatar_id, user_text).await?,
        None => Vec::new(),
    };
    let persona = match &conv.consumer_avatar_id {
        Some(a) => state
            .store
            .avatar(&conv.account_id, a)
            .await?
            .map(|a| engine::persona_of(&a)),
        None => conv
            .avatar_id
            .as_deref()
            .and_then(engine::preset_persona)
            .map(|(p, _)| p),
    };
    let req = engine::build_request(
        &conv.system_prompt,
        knowledge,
        history,
        user_text,
        persona,
        Some(chosen.model.clone()),
    );
    Ok((chosen, req))
}

#[derive(Deserialize, ToSchema)]
pub struct SendMessage {
    /// The user's message (`message` is accepted too).
    #[serde(alias = "message")]
    content: String,
}

/// Send a message and get the assistant's reply (a REST turn).
#[utoipa::path(post, path = "/v1/conversations/{id}/messages", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")), request_body = SendMessage,
    responses((status = 200, description = "The stored assistant message, with the stored user message"),
              (status = 404, description = "Not found"), (status = 409, description = "Conversation ended"),
              (status = 502, description = "The provider failed; no reply was stored")))]
pub async fn create_message(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<String>,
    ApiJson(req): ApiJson<SendMessage>,
) -> ApiResult<Envelope<Value>> {
    let text = engine::validate_user_text(&req.content)?.to_string();
    let started = Instant::now();
    // The conversation and its history in one read.
    let (conv, recent) = state
        .store
        .conversation_with_recent(&caller.account_id, &id, engine::MAX_HISTORY as u32)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation not found"))?;
    if conv.status != "active" {
        return Err(ApiError::Conflict("This conversation has ended".into()));
    }
    let (chosen, llm_req) = prepare_turn(&state, &conv, engine::turns(&recent), &text).await?;
    let sources = engine::sources_json(&engine::cited(&llm_req.knowledge));
    let thread = Thread::Conversation(conv.id.clone());
    let (user, reply) = state
        .store_user_while(&thread, text, &chosen.id, chosen.provider.complete(llm_req))
        .await?;
    let latency = started.elapsed().as_millis() as i64;
    let assistant = state
        .store
        .add_message(
            &thread,
            NewMessage {
                role: "assistant".into(),
                content: reply.trim().to_string(),
                sources: Some(sources.to_string()),
                latency_ms: Some(latency),
                llm_ms: Some(latency),
                ..Default::default()
            },
        )
        .await?;
    let mut body = message_json(&assistant);
    body["userMessage"] = message_json(&user);
    Ok(Envelope(body))
}

/// End a conversation: every socket of it is closed; later messages get 409.
#[utoipa::path(post, path = "/v1/conversations/{id}/end", tag = "conversations", security(("bearer" = [])),
    params(("id" = String, Path, description = "Conversation id")),
    responses((status = 200, description = "`{success: true}`"), (status = 404, description = "Not found")))]
pub async fn end(
    State(state): State<AppState>,
    caller: ApiCaller,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Envelope<Value>> {
    let conv = state
        .store
        .end_conversation(&caller.account_id, &id)
        .await?
        .ok_or_else(|| ApiError::not_found("Conversation not found"))?;
    state.engine.end(&conv.id);
    Ok(Envelope(
        json!({ "success": true, "endedAt": conv.ended_at }),
    ))
}

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// Upgrade to the conversation's WebSocket. Browsers use the `wsUrl` as
/// given (its short-lived token is in the query); other clients may send
/// `Authorization` instead.
#[utoipa::path(get, path = "/v1/conversations/{id}/ws", tag = "conversations",
    params(("id" = String, Path, description = "Conversation id"), ("token" = Option<String>, Query, description = "The token in wsUrl")),
    responses((status = 101, description = "Switching protocols"), (status = 401, description = "No or bad token"),
              (status = 404, description = "Not found"), (status = 409, description = "Conversation ended")))]
pub async fn ws(
    State(state): State<AppState>,
    ApiPath(id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WsQuery>,
    auth: Option<Extension<Auth>>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let account_id = match q.token.as_deref() {
        Some(t) => match state.tokens.verify(t) {
            Some(c) if c.typ == "ws" && c.sid.as_deref() == Some(id.as_str()) => c.sub,
            _ => {
                return Err(ApiError::unauthorized(
                    "The WebSocket token is invalid or expired",
                ));
            }
        },
        None => match auth.map(|a| a.0) {
            Some(Auth::Valid(
                Principal::User { account_id } | Principal::ApiKey { account_id, .. },
            )) => account_id,
            Some(Auth::Invalid(m)) => return Err(ApiError::unauthorized(m)),
            _ => {
                return Err(ApiError::unauthorized(
                    "Missing credentials: use the wsUrl token or an Authorization header",
                ));
            }
        },
    };
    let conv = owned(&state, &account_id, &id).await?;
    if conv.status != "active" {
        return Err(ApiError::Conflict("This conversation has ended".into()));
    }
    Ok(upgrade
        // Events are small JSON; tungstenite's default 128 KiB read buffer
        // would cost that much per idle socket.
        .read_buffer_size(WS_READ_BUFFER)
        .on_upgrade(move |socket| conversation_socket(state, conv, socket)))
}

/// Counts an open socket for `/metrics` for as long as it lives.
pub(crate) struct SocketGuard(AppState);

impl SocketGuard {
    pub(crate) fn new(state: &AppState) -> Self {
        state
            .metrics
            .websocket_connections
            .fetch_add(1, Ordering::Relaxed);
        Self(state.clone())
    }
}

impl Drop for SocketGuard {
    fn drop(&mut self) {
        self.0
            .metrics
            .websocket_connections
            .fetch_sub(1, Ordering::Relaxed);
    }
}

type Sink = futures::stream::SplitSink<WebSocket, WsMessage>;

pub(crate) async fn send_json(sink: &mut Sink, v: Value) -> bool {
    sink.send(WsMessage::Text(v.to_string().into()))
        .await
        .is_ok()
}

pub(crate) fn ws_error(code: &str, message: &str) -> Value {
    json!({ "type": "error", "code": code, "message": message, "data": { "code": code, "message": message } })
}

async fn conversation_socket(state: AppState, conv: ConversationRecord, socket: WebSocket) {
    let _guard = SocketGuard::new(&state);
    let mut ended = state.engine.subscribe(&conv.id);
    let (mut sink, mut stream) = socket.split();
    loop {
        tokio::select! {
            _ = ended.changed() => {
                let _ = send_json(&mut sink, json!({"type": "ended", "data": {"conversationId": conv.id}})).await;
                let _ = sink.send(WsMessage::Close(Some(CloseFrame { code: 1000, reason: "conversation ended".into() }))).await;
                break;
            }
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(WsMessage::Text(t))) => t,
                    Some(Ok(WsMessage::Binary(_))) => {
                        if !send_json(&mut sink, ws_error("BAD_REQUEST", "Send JSON text frames")).await { break; }
                        continue;
                    }
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if handle_event(&state, &conv, &text, &mut sink, &mut ended).await.is_break() {
                    break;
                }
            }
        }
    }
}

#[derive(Deserialize)]
struct ClientEvent {
    #[serde(rename = "type")]
    kind: String,
    #[serde(default)]
    content: Option<String>,
}

async fn handle_event(
    state: &AppState,
    conv: &ConversationRecord,
    raw: &str,
    sink: &mut Sink,
    ended: &mut watch::Receiver<bool>,
) -> ControlFlow<()> {
    let ok = |sent: bool| {
        if sent {
            ControlFlow::Continue(())
        } else {
            ControlFlow::Break(())
        }
    };
    let event: ClientEvent = match serde_json::from_str(raw) {
        Ok(e) => e,
        Err(e) => {
            return ok(send_json(
                sink,
                ws_error("BAD_REQUEST", &format!("Invalid event: {e}")),
            )
            .await);
        }
    };
    match event.kind.as_str() {
        "ping" => ok(send_json(sink, json!({"type": "pong"})).await),
        "message" => {
            let text = match engine::validate_user_text(event.content.as_deref().unwrap_or("")) {
                Ok(t) => t.to_string(),
                Err(e) => return ok(send_json(sink, ws_error(e.code(), &e.to_string())).await),
            };
            if *ended.borrow() {
                return ok(
                    send_json(sink, ws_error("CONFLICT", "This conversation has ended")).await,
                );
            }
            match stream_turn(state, conv, text, sink, ended).await {
                Ok(flow) => flow,
                Err(e) => ok(send_json(sink, ws_error(e.code(), &e.to_string())).await),
            }
        }
        other => ok(send_json(
            sink,
            ws_error("BAD_REQUEST", &format!("Unknown event type '{other}'")),
        )
        .await),
    }
}

/// One streamed turn. The user message is stored before it is echoed; the
/// reply is stored only once complete, so a failure leaves nothing behind.
async fn stream_turn(
    state: &AppState,
    conv: &ConversationRecord,
    text: String,
    sink: &mut Sink,
    ended: &mut watch::Receiver<bool>,
) -> ApiResult<ControlFlow<()>> {
    let started = Instant::now();
    let thread = Thread::Conversation(conv.id.clone());
    let history = state.history(&thread).await?;
    let (chosen, req) = prepare_turn(state, conv, history, &text).await?;
    let sources = engine::sources_json(&engine::cited(&req.knowledge));
    // The provider starts on the answer while the message is stored; the
    // echo goes out as soon as the message is committed, whichever is first.
    let mut store = std::pin::pin!(state.store.add_message(
        &thread,
        NewMessage {
            role: "user".into(),
            content: text,
            ..Default::default()
        },
    ));
    let mut answer = std::pin::pin!(chosen.provider.stream(req));
    let mut answered = None;
    let user = loop {
        tokio::select! {
            stored = &mut store => break stored?,
            a = &mut answer, if answered.is_none() => answered = Some(a),
        }
    };
    if !send_json(
        sink,
        json!({"type": "message", "data": message_json(&user)}),
    )
    .await
    {
        return Ok(ControlFlow::Break(()));
    }
    let mut deltas = match answered {
        Some(a) => a,
        None => answer.await,
    }
    .map_err(|e| engine::provider_error(&chosen.id, &e))?;
    if !send_json(
        sink,
        json!({"type": "stream_start", "data": {"conversationId": conv.id}}),
    )
    .await
    {
        return Ok(ControlFlow::Break(()));
    }
    let mut full = String::new();
    loop {
        tokio::select! {
            _ = ended.changed() => return Ok(ControlFlow::Continue(())),
            next = deltas.next() => match next {
                Some(Ok(d)) => {
                    full.push_str(&d);
                    if !send_json(sink, json!({"type": "stream_chunk", "data": d})).await {
                        return Ok(ControlFlow::Break(()));
                    }
                }
                Some(Err(e)) => return Err(engine::provider_error(&chosen.id, &e)),
                None => break,
            }
        }
    }
    let latency = started.elapsed().as_millis() as i64;
    let assistant = state
        .store
        .add_message(
            &thread,
            NewMessage {
                role: "assistant".into(),
                content: full.trim().to_string(),
                sources: Some(sources.to_string()),
                latency_ms: Some(latency),
                llm_ms: Some(latency),
                ..Default::default()
            },
        )
        .await?;
    let sent = send_json(
        sink,
        json!({"type": "stream_end", "data": message_json(&assistant)}),
    )
    .await;
    Ok(if sent {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    })
}
