//! 003's realtime avatar sessions: `streaming.new/start/stop/sessions`,
//! `avatar.speak` and the session WebSocket; and 004's
//! `/api/get-access-token`, which opens such a session for a frontend.
//!
//! 003 makes authentication optional for development: without credentials
//! a call acts for the local owner; with a key or JWT, for its account. A
//! session's own access token may stop it and make it speak.

use std::sync::Arc;

use axum::Extension;
use axum::extract::State;
use axum::extract::ws::WebSocketUpgrade;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_core::store::Thread;

use crate::auth::{Auth, Principal, SESSION_TOKEN};
use crate::error::{ApiError, ApiResult, Bare};
use crate::extract::{ApiCaller, ApiJson, ApiPath, ApiQuery, ClientIp};
use crate::realtime::{self, Quality, Session, SessionRequest, SpeakTask, speech};
use crate::state::AppState;

/// Who a 003 call acts for.
enum Caller {
    Account(String),
    /// Holder of one session's access token.
    Session(String),
}

fn bearer(headers: &HeaderMap) -> Option<&str> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

async fn caller(
    state: &AppState,
    auth: Option<Extension<Auth>>,
    headers: &HeaderMap,
) -> ApiResult<Caller> {
    match auth.map(|a| a.0) {
        Some(Auth::Valid(
            Principal::User { account_id } | Principal::ApiKey { account_id, .. },
        )) => Ok(Caller::Account(account_id)),
        Some(Auth::Invalid(message)) => {
            match bearer(headers).and_then(|t| state.tokens.verify(t)) {
                Some(c) if c.typ == SESSION_TOKEN => Ok(Caller::Session(c.sub)),
                _ => Err(ApiError::unauthorized(message)),
            }
        }
        Some(Auth::Missing) | None => Ok(Caller::Account(state.store.owner().await?.id)),
    }
}

/// A live session the caller may act on; 003's SESSION_NOT_FOUND otherwise.
fn session_of(state: &AppState, caller: &Caller, id: &str) -> ApiResult<Arc<Session>> {
    state
        .realtime
        .get(id)
        .filter(|s| match caller {
            Caller::Account(a) => &s.account_id == a,
            Caller::Session(sid) => sid == id,
        })
        .ok_or_else(|| ApiError::SessionNotFound(id.to_string()))
}

fn account_only(caller: Caller) -> ApiResult<String> {
    match caller {
        Caller::Account(a) => Ok(a),
        Caller::Session(_) => Err(ApiError::unauthorized(
            "A session's access token only acts on its own session",
        )),
    }
}

#[derive(Deserialize, ToSchema, Default)]
pub struct NewSessionBody {
    /// low (256×256 at 15 fps), medium (512×512 at 25 fps, the default) or
    /// high (768×768 at 30 fps).
    #[serde(default)]
    quality: Option<Quality>,
    /// A preset id (default `avatar_1`), or one of your avatars (id or
    /// shortId).
    avatar_id: Option<String>,
    /// A voice: a cloud voice id (used when that provider has a key here)
    /// or a local voice id; otherwise the avatar's own voice speaks.
    voice_id: Option<String>,
    /// Speech-to-text for the session's audio: local, groq, deepgram or
    /// google (default: a configured cloud engine, else local).
    stt_provider: Option<String>,
}

/// Create a realtime avatar session.
#[utoipa::path(post, path = "/v1/streaming.new", tag = "streaming", request_body = NewSessionBody,
    responses((status = 200, description = "`{session_id, ice_servers, access_token}`; connect to `/ws/{session_id}?token=access_token`"),
              (status = 400, description = "Bad quality or provider"), (status = 401, description = "Bad credentials"),
              (status = 404, description = "Unknown avatar"), (status = 429, description = "Rate limited"),
              (status = 503, description = "Too many sessions")))]
pub async fn create(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Option<Extension<Auth>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<NewSessionBody>,
) -> ApiResult<Response> {
    let account_id = account_only(caller(&state, auth, &headers).await?)?;
    let rate = state.limiters.session_create.check(&ip)?;
    let session = realtime::create_session(
        &state,
        SessionRequest {
            account_id,
            quality: body.quality.unwrap_or_default(),
            avatar_id: body.avatar_id,
            voice_id: body.voice_id,
            stt_provider: body.stt_provider,
        },
    )
    .await?;
    let token = state.tokens.issue_session(&session.id);
    Ok((
        rate,
        Bare(json!({
            "session_id": session.id,
            "ice_servers": state.config.ice_servers,
            "access_token": token.token,
        })),
    )
        .into_response())
}

#[derive(Deserialize, ToSchema)]
pub struct SessionBody {
    session_id: String,
    /// 003's WebRTC offer (`{type, sdp}`).
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    sdp: Option<Value>,
}

/// Start WebRTC streaming: the client's SDP offer in, the answer out. The
/// avatar then arrives as an H.264 video track and an Opus voice track; the
/// session WebSocket keeps carrying events (`chat`, `status`, `interrupt`,
/// audio input).
#[utoipa::path(post, path = "/v1/streaming.start", tag = "streaming", request_body = SessionBody,
    responses((status = 200, description = "`{status: \"started\", session_id, sdp: {type: \"answer\", sdp}}`"),
              (status = 400, description = "BAD_REQUEST: no offer, not SDP, or no H.264/Opus to receive"),
              (status = 404, description = "SESSION_NOT_FOUND")))]
pub async fn start(
    State(state): State<AppState>,
    auth: Option<Extension<Auth>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SessionBody>,
) -> ApiResult<Bare> {
    let caller = caller(&state, auth, &headers).await?;
    let session = session_of(&state, &caller, &body.session_id)?;
    let offer = offer_of(body.sdp.as_ref())?;
    let answer = realtime::start_media(&state, &session, offer).await?;
    Ok(Bare(json!({
        "status": "started",
        "session_id": session.id,
        "sdp": { "type": "answer", "sdp": answer },
    })))
}

/// The offer's SDP text from 003's `sdp: {type: "offer", sdp}`.
fn offer_of(sdp: Option<&Value>) -> ApiResult<String> {
    let Some(sdp) = sdp else {
        return Err(ApiError::BadRequest(
            "sdp is required: {\"type\": \"offer\", \"sdp\": \"v=0...\"} from RTCPeerConnection.createOffer()"
                .into(),
        ));
    };
    match sdp["type"].as_str() {
        Some("offer") => {}
        Some(other) => {
            return Err(ApiError::BadRequest(format!(
                "sdp.type must be \"offer\" (this server answers), not \"{other}\""
            )));
        }
        None => return Err(ApiError::BadRequest("sdp.type must be \"offer\"".into())),
    }
    match sdp["sdp"].as_str().map(str::trim) {
        Some(text) if !text.is_empty() => Ok(text.to_string()),
        _ => Err(ApiError::BadRequest(
            "sdp.sdp must be the offer's SDP text".into(),
        )),
    }
}

/// Stop a session; its sockets close.
#[utoipa::path(post, path = "/v1/streaming.stop", tag = "streaming", request_body = SessionBody,
    responses((status = 200, description = "`{status: \"stopped\", duration}` (seconds)"),
              (status = 404, description = "SESSION_NOT_FOUND")))]
pub async fn stop(
    State(state): State<AppState>,
    auth: Option<Extension<Auth>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SessionBody>,
) -> ApiResult<Bare> {
    let caller = caller(&state, auth, &headers).await?;
    let session = session_of(&state, &caller, &body.session_id)?;
    let duration = realtime::stop_session(&state, &session.id)
        .await
        .ok_or_else(|| ApiError::SessionNotFound(body.session_id.clone()))?;
    Ok(Bare(json!({
        "status": "stopped",
        "session_id": session.id,
        "duration": duration,
    })))
}

/// List the caller's active sessions.
#[utoipa::path(get, path = "/v1/streaming.sessions", tag = "streaming",
    responses((status = 200, description = "`{sessions: [{session_id, status, created_at, duration}], total}`")))]
pub async fn sessions(
    State(state): State<AppState>,
    auth: Option<Extension<Auth>>,
    headers: HeaderMap,
) -> ApiResult<Bare> {
    let list = match caller(&state, auth, &headers).await? {
        Caller::Account(a) => state.realtime.of_account(&a),
        Caller::Session(id) => state.realtime.get(&id).into_iter().collect(),
    };
    let sessions: Vec<Value> = list
        .iter()
        .map(|s| {
            json!({
                "session_id": s.id,
                "status": "active",
                "created_at": s.created_at,
                "duration": s.duration_secs(),
                "quality": s.quality.as_str(),
                "avatar_id": s.avatar.id(),
                "activity": s.current_status(),
                "connections": s.sockets(),
                // Where its turns are stored.
                "thread": match &s.thread {
                    Thread::Conversation(id) => json!({ "conversation_id": id }),
                    Thread::Session(id) => json!({ "avatar_session_id": id }),
                },
            })
        })
        .collect();
    Ok(Bare(
        json!({ "total": sessions.len(), "sessions": sessions }),
    ))
}

#[derive(Deserialize, ToSchema)]
pub struct SpeakBody {
    session_id: String,
    text: String,
    /// A voice for this text only (as in streaming.new).
    voice_id: Option<String>,
    /// ElevenLabs-style settings; `speed` (0.5–2) is honoured by every
    /// voice, the rest by the engines that have them.
    #[serde(default)]
    #[schema(value_type = Option<Object>)]
    voice_settings: Option<Value>,
}

/// Make the avatar say a text (sentence by sentence, no LLM).
#[utoipa::path(post, path = "/v1/avatar.speak", tag = "streaming", request_body = SpeakBody,
    responses((status = 200, description = "`{task_id, status: \"processing\", duration_estimate}`"),
              (status = 400, description = "Empty or long text, bad speed"), (status = 404, description = "SESSION_NOT_FOUND"),
              (status = 429, description = "Rate limited")))]
pub async fn speak(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    auth: Option<Extension<Auth>>,
    headers: HeaderMap,
    ApiJson(body): ApiJson<SpeakBody>,
) -> ApiResult<Response> {
    let caller = caller(&state, auth, &headers).await?;
    let session = session_of(&state, &caller, &body.session_id)?;
    let rate = state.limiters.avatar_speak.check(&ip)?;
    let text = body.text.trim().to_string();
    if text.is_empty() {
        return Err(ApiError::bad_request("text is required"));
    }
    if text.chars().count() > crate::handlers::tts::MAX_TEXT_CHARS {
        return Err(ApiError::bad_request(format!(
            "text must be at most {} characters",
            crate::handlers::tts::MAX_TEXT_CHARS
        )));
    }
    let speed = match body.voice_settings.as_ref().map(|v| &v["speed"]) {
        None | Some(Value::Null) => None,
        Some(v) => match v.as_f64() {
            Some(x) if (0.5..=2.0).contains(&x) => Some(x as f32),
            _ => {
                return Err(ApiError::bad_request(
                    "voice_settings.speed must be a number between 0.5 and 2.0",
                ));
            }
        },
    };
    let mut voice = match body.voice_id.as_deref().filter(|v| !v.trim().is_empty()) {
        Some(v) => realtime::voice_for(&state, &session.avatar, Some(v)).await,
        None => session.voice.clone(),
    };
    voice.speed = speed.or(voice.speed);
    let estimate = speech::estimate_seconds(&text, voice.speed);
    let task = SpeakTask::new(&session, text.clone(), estimate);
    let task_id = task.id.clone();
    state.realtime.add_task(task);
    tokio::spawn(realtime::run_speak_task(
        state.clone(),
        session.clone(),
        task_id.clone(),
        text,
        voice,
    ));
    session.touch();
    Ok((
        rate,
        Bare(json!({
            "task_id": task_id,
            "status": "processing",
            "duration_estimate": estimate,
        })),
    )
        .into_response())
}

/// A speak task's progress: processing, completed, interrupted or failed.
#[utoipa::path(get, path = "/v1/avatar.speak/{task_id}", tag = "streaming",
    params(("task_id" = String, Path, description = "From POST /v1/avatar.speak")),
    responses((status = 200, description = "`{task_id, status, session_id, duration_estimate, duration?, spoken_text?}`"),
              (status = 404, description = "Unknown task (finished tasks are kept 10 minutes)")))]
pub async fn speak_status(
    State(state): State<AppState>,
    auth: Option<Extension<Auth>>,
    headers: HeaderMap,
    ApiPath(task_id): ApiPath<String>,
) -> ApiResult<Bare> {
    let caller = caller(&state, auth, &headers).await?;
    let task = state
        .realtime
        .task(&task_id)
        .filter(|t| match &caller {
            Caller::Account(a) => &t.account_id == a,
            Caller::Session(sid) => &t.session_id == sid,
        })
        .ok_or_else(|| ApiError::not_found(format!("Speak task '{task_id}' not found")))?;
    Ok(Bare(task.to_json()))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AccessTokenBody {
    /// A preset or one of your avatars (default `avatar_1`).
    avatar_id: Option<String>,
    voice_id: Option<String>,
}

/// 004: open an avatar session and get its short-lived token (server-side:
/// needs your API key).
#[utoipa::path(post, path = "/api/get-access-token", tag = "smarteravatar", security(("bearer" = [])),
    request_body = AccessTokenBody,
    responses((status = 200, description = "`{token, sessionId, expiresAt}`: the token opens `/ws/{sessionId}`"),
              (status = 401, description = "UNAUTHORIZED: no or bad API key"), (status = 404, description = "Unknown avatar"),
              (status = 429, description = "RATE_LIMITED")))]
pub async fn access_token(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    caller: ApiCaller,
    ApiJson(body): ApiJson<AccessTokenBody>,
) -> ApiResult<Response> {
    let rate = state.limiters.api_access_token.check(&ip)?;
    let session = realtime::create_session(
        &state,
        SessionRequest {
            account_id: caller.account_id,
            quality: Quality::Medium,
            avatar_id: body.avatar_id,
            voice_id: body.voice_id,
            stt_provider: None,
        },
    )
    .await?;
    let token = state.tokens.issue_session(&session.id);
    Ok((
        rate,
        Bare(json!({
            "token": token.token,
            "sessionId": session.id,
            "expiresAt": token.expires_at.to_rfc3339_opts(chrono::SecondsFormat::Secs, true),
        })),
    )
        .into_response())
}

#[derive(Deserialize)]
pub struct WsQuery {
    token: Option<String>,
}

/// The session WebSocket: `frame`, `audio`, `chat`, `status` and `error`
/// events out; `audio_buffer_append/commit/clear`, `start_listening`,
/// `stop_listening`, `interrupt` and `chat {content}` in.
#[utoipa::path(get, path = "/ws/{session_id}", tag = "streaming",
    params(("session_id" = String, Path, description = "From streaming.new"),
           ("token" = Option<String>, Query, description = "The session's access_token (or send it as a Bearer header)")),
    responses((status = 101, description = "Switching protocols"),
              (status = 401, description = "No token, or an expired one, or another session's"),
              (status = 404, description = "SESSION_NOT_FOUND: unknown or stopped")))]
pub async fn ws(
    State(state): State<AppState>,
    ApiPath(session_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<WsQuery>,
    headers: HeaderMap,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let token = q
        .token
        .as_deref()
        .or_else(|| bearer(&headers))
        .filter(|t| !t.is_empty())
        .ok_or_else(|| {
            ApiError::unauthorized(
                "Missing the session's access token: add ?token=<access_token> or send it as a Bearer header",
            )
        })?;
    if !state.tokens.verify_session(token, &session_id) {
        return Err(ApiError::unauthorized(
            "The access token is invalid, expired or belongs to another session",
        ));
    }
    let session = state
        .realtime
        .get(&session_id)
        .filter(|s| !s.is_stopped())
        .ok_or_else(|| ApiError::SessionNotFound(session_id.clone()))?;
    Ok(upgrade.on_upgrade(move |socket| realtime::socket::run(state, session, socket)))
}
