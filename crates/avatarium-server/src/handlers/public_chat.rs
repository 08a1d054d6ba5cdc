//! Public avatar conversations (002): chat with sources and latency, the
//! streaming WebSocket, and the end-of-session analysis.

use std::net::IpAddr;
use std::ops::ControlFlow;
use std::time::Instant;

use axum::extract::State;
use axum::extract::ws::{Message as WsMessage, WebSocket, WebSocketUpgrade};
use axum::response::{IntoResponse, Response};
use futures::{SinkExt, StreamExt};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_core::model::{AvatarRecord, SessionRecord};
use avatarium_core::store::{NewMessage, NewSession, Thread};
use avatarium_llm::{ChatRequest, Message, Role, analysis, speakable};

use crate::engine::{self, Chosen};
use crate::error::{ApiError, ApiResult, Envelope};
use crate::extract::{ApiJson, ApiPath, ApiQuery, ClientIp};
use crate::handlers::consumer_avatars::percentile;
use crate::handlers::conversations::{SocketGuard, send_json, ws_error};
use crate::handlers::public::{enforce_session_quota, visible};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct HistoryItem {
    role: String,
    content: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ChatBody {
    /// From `POST …/session`; a new session is started when absent.
    session_id: Option<String>,
    message: String,
    #[serde(default)]
    history: Option<Vec<HistoryItem>>,
}

/// The session a visitor talks in: theirs if given, else a new one.
async fn session_for(
    state: &AppState,
    avatar: &AvatarRecord,
    session_id: Option<&str>,
    ip: IpAddr,
) -> ApiResult<SessionRecord> {
    if let Some(id) = session_id.filter(|s| !s.is_empty()) {
        let s = state
            .store
            .session(&avatar.id, id)
            .await?
            .ok_or_else(|| ApiError::not_found("Session not found for this avatar"))?;
        if s.ended_at.is_some() {
            return Err(ApiError::Conflict(
                "This session has ended; start a new one".into(),
            ));
        }
        return Ok(s);
    }
    state.limiters.session_create.check(&ip)?;
    enforce_session_quota(state, &avatar.account_id).await?;
    Ok(state
        .store
        .create_session(NewSession {
            avatar_id: avatar.id.clone(),
            account_id: avatar.account_id.clone(),
            visitor_name: None,
            visitor_email: None,
            source: Some("chat".into()),
        })
        .await?)
}

fn to_messages(history: Vec<HistoryItem>) -> ApiResult<Vec<Message>> {
    history
        .into_iter()
        .map(|h| {
            let role = match h.role.as_str() {
                "user" => Role::User,
                "assistant" => Role::Assistant,
                other => {
                    return Err(ApiError::bad_request(format!(
                        "history roles must be user or assistant, not '{other}'"
                    )));
                }
            };
            Ok(Message {
                role,
                content: h.content.chars().take(engine::MAX_MESSAGE_CHARS).collect(),
            })
        })
        .collect()
}

/// Provider, request and sources for one visitor turn.
async fn prepare(
    state: &AppState,
    avatar: &AvatarRecord,
    history: Vec<Message>,
    text: &str,
) -> ApiResult<(Chosen, ChatRequest, Value)> {
    let s = &avatar.settings;
    let chosen = state.choose_provider(s.ai_provider.as_deref(), s.ai_model.as_deref(), None)?;
    let knowledge = state.retrieve(&avatar.id, text).await?;
    let sources = engine::sources_json(&engine::cited(&knowledge));
    let req = engine::build_request(
        &avatar.system_prompt,
        knowledge,
        history,
        text,
        Some(engine::persona_of(avatar)),
        Some(chosen.model.clone()),
    );
    Ok((chosen, req, sources))
}

/// Stores the reply and shapes 002's answer.
async fn finish(
    state: &AppState,
    session: &SessionRecord,
    reply: &str,
    sources: Value,
    total_ms: i64,
    llm_ms: i64,
) -> ApiResult<Value> {
    let display = speakable::display_text(reply);
    let tts = speakable::speakable(reply);
    let emotion = speakable::detect_emotion(reply);
    let msg = state
        .store
        .add_message(
            &Thread::Session(session.id.clone()),
            NewMessage {
                role: "assistant".into(),
                content: display.clone(),
                emotion: Some(emotion.into()),
                sources: Some(sources.to_string()),
                latency_ms: Some(total_ms),
                llm_ms: Some(llm_ms),
            },
        )
        .await?;
    Ok(json!({
        "ttsText": tts,
        "displayText": display,
        "emotion": emotion,
        "sources": sources,
        "latency": { "total": total_ms, "llm": llm_ms },
        "sessionId": session.id,
        "messageId": msg.id,
    }))
}

/// Send a message and get the avatar's answer.
#[utoipa::path(post, path = "/v1/public/avatar/{shortId}/chat", tag = "public",
    params(("shortId" = String, Path, description = "Avatar short id")), request_body = ChatBody,
    responses((status = 200, description = "`{ttsText, displayText, emotion, sources, latency}`"),
              (status = 400, description = "Empty or oversized message, bad history"),
              (status = 404, description = "Unknown avatar or session"), (status = 409, description = "Session ended"),
              (status = 502, description = "The provider failed")))]
pub async fn chat(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(short_id): ApiPath<String>,
    ApiJson(body): ApiJson<ChatBody>,
) -> ApiResult<Envelope<Value>> {
    let started = Instant::now();
    let text = engine::validate_user_text(&body.message)?.to_string();
    let avatar = visible(&state, &short_id).await?;
    let session = session_for(&state, &avatar, body.session_id.as_deref(), ip).await?;
    let history = match body.history {
        Some(h) if !h.is_empty() => to_messages(h)?,
        _ => state.history(&Thread::Session(session.id.clone())).await?,
    };
    let (chosen, req, sources) = prepare(&state, &avatar, history, &text).await?;
    let llm_started = Instant::now();
    let thread = Thread::Session(session.id.clone());
    let (_, reply) = state
        .store_user_while(&thread, text, &chosen.id, chosen.provider.complete(req))
        .await?;
    let llm_ms = llm_started.elapsed().as_millis() as i64;
    let total = started.elapsed().as_millis() as i64;
    Ok(Envelope(
        finish(&state, &session, &reply, sources, total, llm_ms).await?,
    ))
}

/// End a session: summary, topics, sentiment and latency stats.
#[utoipa::path(post, path = "/v1/public/avatar/{shortId}/session/{sessionId}/end", tag = "public",
    params(("shortId" = String, Path, description = "Avatar short id"), ("sessionId" = String, Path, description = "Session id")),
    responses((status = 200, description = "`{sessionId, summary, topics, sentiment, questionCount, latency}`"),
              (status = 404, description = "Unknown avatar or session")))]
pub async fn end_session(
    State(state): State<AppState>,
    ApiPath((short_id, session_id)): ApiPath<(String, String)>,
) -> ApiResult<Envelope<Value>> {
    let avatar = state
        .store
        .avatar_by_short_id(&short_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Avatar not found"))?;
    let session = state
        .store
        .session(&avatar.id, &session_id)
        .await?
        .ok_or_else(|| ApiError::not_found("Session not found for this avatar"))?;
    if let Some(done) = session
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str::<Value>(s).ok())
    {
        return Ok(Envelope(with_duration(done, &session)));
    }
    let records = state
        .store
        .messages(&Thread::Session(session.id.clone()))
        .await?;
    let turns = engine::turns(&records);
    let mut latencies: Vec<i64> = records.iter().filter_map(|m| m.latency_ms).collect();
    latencies.sort_unstable();
    let avg = if latencies.is_empty() {
        0
    } else {
        latencies.iter().sum::<i64>() / latencies.len() as i64
    };

    let extractive = analysis::analyse(&turns);
    let (mut summary, mut topics, mut sentiment, mut method) = (
        extractive.summary.clone(),
        extractive.topics.clone(),
        extractive.sentiment.clone(),
        "extractive",
    );
    // A real model writes better summaries; use one when this avatar has it.
    let s = &avatar.settings;
    if !turns.is_empty()
        && let Ok(chosen) =
            state.choose_provider(s.ai_provider.as_deref(), s.ai_model.as_deref(), None)
        && chosen.id != "local"
    {
        let req = ChatRequest {
            model: Some(chosen.model.clone()),
            messages: analysis::analysis_prompt(&turns),
            ..Default::default()
        };
        match chosen.provider.complete(req).await {
            Ok(text) => {
                if let Some((sm, tp, se)) = analysis::parse_llm_analysis(&text) {
                    (summary, topics, sentiment, method) = (sm, tp, se, "llm");
                }
            }
            Err(e) => {
                tracing::warn!(provider = %chosen.id, error = %e, "session summary fell back to extractive")
            }
        }
    }
    let body = json!({
        "sessionId": session.id,
        "summary": summary,
        "topics": topics,
        "sentiment": sentiment,
        "questionCount": extractive.question_count,
        "messageCount": records.len(),
        "latency": {
            "p50": percentile(&latencies, 50.0).unwrap_or(0),
            "p95": percentile(&latencies, 95.0).unwrap_or(0),
            "avg": avg,
        },
        "method": method,
    });
    let ended = state
        .store
        .end_session(&session.id, &body.to_string())
        .await?
        .ok_or_else(|| ApiError::not_found("Session not found"))?;
    // Another request may have ended it first; answer with what is stored.
    let stored = ended
        .summary
        .as_deref()
        .and_then(|s| serde_json::from_str(s).ok())
        .unwrap_or(body);
    Ok(Envelope(with_duration(stored, &ended)))
}

fn with_duration(mut v: Value, s: &SessionRecord) -> Value {
    v["durationSec"] = json!(s.duration_ms.map(|ms| ms as f64 / 1000.0));
    v["endedAt"] = json!(s.ended_at);
    v
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct PublicWsQuery {
    session_id: Option<String>,
}

/// Real-time chat: send `{type: "message", content}`, receive `chunk
/// {content}` events and a final `done {fullText}`.
#[utoipa::path(get, path = "/v1/public/avatar/{shortId}/ws", tag = "public",
    params(("shortId" = String, Path, description = "Avatar short id"), ("sessionId" = Option<String>, Query, description = "Continue a session")),
    responses((status = 101, description = "Switching protocols; first event is `session {sessionId, greeting}`"),
              (status = 404, description = "Unknown, paused or private avatar")))]
pub async fn ws(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(short_id): ApiPath<String>,
    ApiQuery(q): ApiQuery<PublicWsQuery>,
    upgrade: WebSocketUpgrade,
) -> ApiResult<Response> {
    let avatar = visible(&state, &short_id).await?;
    let session = session_for(&state, &avatar, q.session_id.as_deref(), ip).await?;
    Ok(upgrade
        .read_buffer_size(crate::handlers::conversations::WS_READ_BUFFER)
        .on_upgrade(move |socket| public_socket(state, avatar, session, socket))
        .into_response())
}

async fn public_socket(
    state: AppState,
    avatar: AvatarRecord,
    session: SessionRecord,
    socket: WebSocket,
) {
    let _guard = SocketGuard::new(&state);
    let (mut sink, mut stream) = socket.split();
    let hello =
        json!({"type": "session", "sessionId": session.id, "greeting": avatar.settings.greeting});
    if !send_json(&mut sink, hello).await {
        return;
    }
    while let Some(Ok(frame)) = stream.next().await {
        let raw = match frame {
            WsMessage::Text(t) => t,
            WsMessage::Close(_) => break,
            _ => continue,
        };
        let flow = match serde_json::from_str::<Value>(&raw) {
            Err(e) => {
                send_json(
                    &mut sink,
                    ws_error("BAD_REQUEST", &format!("Invalid event: {e}")),
                )
                .await
            }
            Ok(ev) => match ev["type"].as_str() {
                Some("ping") => send_json(&mut sink, json!({"type": "pong"})).await,
                Some("message") => {
                    let content = ev["content"].as_str().unwrap_or_default().to_string();
                    match public_turn(&state, &avatar, &session, content, &mut sink).await {
                        Ok(ControlFlow::Continue(())) => true,
                        Ok(ControlFlow::Break(())) => false,
                        Err(e) => send_json(&mut sink, ws_error(e.code(), &e.to_string())).await,
                    }
                }
                _ => send_json(&mut sink, ws_error("BAD_REQUEST", "Unknown event type")).await,
            },
        };
        if !flow {
            break;
        }
    }
    let _ = sink.close().await;
}

async fn public_turn(
    state: &AppState,
    avatar: &AvatarRecord,
    session: &SessionRecord,
    content: String,
    sink: &mut futures::stream::SplitSink<WebSocket, WsMessage>,
) -> ApiResult<ControlFlow<()>> {
    let started = Instant::now();
    let text = engine::validate_user_text(&content)?.to_string();
    let history = state.history(&Thread::Session(session.id.clone())).await?;
    let (chosen, req, sources) = prepare(state, avatar, history, &text).await?;
    let llm_started = Instant::now();
    let thread = Thread::Session(session.id.clone());
    let (_, mut deltas) = state
        .store_user_while(&thread, text, &chosen.id, chosen.provider.stream(req))
        .await?;
    let mut full = String::new();
    while let Some(d) = deltas.next().await {
        let d = d.map_err(|e| engine::provider_error(&chosen.id, &e))?;
        full.push_str(&d);
        if !send_json(sink, json!({"type": "chunk", "content": d})).await {
            return Ok(ControlFlow::Break(()));
        }
    }
    let llm_ms = llm_started.elapsed().as_millis() as i64;
    let total = started.elapsed().as_millis() as i64;
    let mut done = finish(state, session, &full, sources, total, llm_ms).await?;
    done["type"] = json!("done");
    done["fullText"] = json!(full.trim());
    Ok(if send_json(sink, done).await {
        ControlFlow::Continue(())
    } else {
        ControlFlow::Break(())
    })
}
