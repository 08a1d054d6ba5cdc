//! A session's WebSocket: client events in (audio, listening, interrupts,
//! text), the session's events and latest frames out.

use std::sync::Arc;
use std::time::Instant;

use axum::extract::ws::{CloseFrame, Message as WsMessage, WebSocket};
use base64::Engine as _;
use futures::{SinkExt, StreamExt};
use serde_json::{Value, json};
use tokio::sync::broadcast::error::RecvError;

use super::input::{self, Appended};
use super::session::Session;
use super::turn;
use crate::handlers::conversations::{SocketGuard, ws_error};
use crate::state::AppState;

/// Counts the socket on its session for as long as it lives.
struct Attached(Arc<Session>);

impl Attached {
    fn new(state: &AppState, session: &Arc<Session>) -> Self {
        session.attach();
        state.realtime.wake_pump();
        Self(session.clone())
    }
}

impl Drop for Attached {
    fn drop(&mut self) {
        self.0.detach();
    }
}

type Sink = futures::stream::SplitSink<WebSocket, WsMessage>;

async fn send_text(sink: &mut Sink, text: &str) -> bool {
    sink.send(WsMessage::Text(text.into())).await.is_ok()
}

async fn send_json(sink: &mut Sink, v: &Value) -> bool {
    send_text(sink, &v.to_string()).await
}

pub async fn run(state: AppState, session: Arc<Session>, socket: WebSocket) {
    let _guard = SocketGuard::new(&state);
    // Subscribe before anything can happen, then count the socket.
    let mut events = session.subscribe_events();
    let mut frames = session.frames.subscribe();
    frames.mark_unchanged();
    let mut stopped = session.subscribe_stopped();
    let _attached = Attached::new(&state, &session);
    let (mut sink, mut stream) = socket.split();

    let hello = json!({
        "type": "status",
        "status": session.current_status(),
        "message": "Connected to avatar stream",
        "session_id": session.id,
    });
    if !send_json(&mut sink, &hello).await {
        return;
    }
    if let Some(m) = session.render_error() {
        let v = ws_error(
            "RENDERER_UNAVAILABLE",
            &format!("No video for this session: {m}. Audio and chat still work."),
        );
        if !send_json(&mut sink, &v).await {
            return;
        }
    }
    loop {
        tokio::select! {
            biased;
            stop = async { stopped.wait_for(|s| *s).await.is_ok() } => {
                if stop {
                    let _ = send_json(&mut sink, &ws_error("SESSION_STOPPED", "The session has been stopped")).await;
                }
                let _ = sink.send(WsMessage::Close(Some(CloseFrame { code: 1000, reason: "session stopped".into() }))).await;
                break;
            }
            ev = events.recv() => match ev {
                Ok(text) => if !send_text(&mut sink, &text).await { break },
                Err(RecvError::Lagged(n)) => tracing::warn!(session = %session.id, missed = n, "a slow socket missed events"),
                Err(RecvError::Closed) => break,
            },
            incoming = stream.next() => {
                let text = match incoming {
                    Some(Ok(WsMessage::Text(t))) => t,
                    Some(Ok(WsMessage::Binary(b))) => {
                        // Binary frames are raw audio, a shorthand for append.
                        let reply = append(&state, &session, &b).await;
                        if let Some(v) = reply && !send_json(&mut sink, &v).await { break }
                        continue;
                    }
                    Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => break,
                    Some(Ok(_)) => continue,
                };
                if session.is_stopped() {
                    let _ = send_json(&mut sink, &ws_error("SESSION_STOPPED", "The session has been stopped")).await;
                    continue;
                }
                session.touch();
                if let Some(reply) = handle(&state, &session, &text).await
                    && !send_json(&mut sink, &reply).await
                {
                    break;
                }
            }
            changed = frames.changed() => {
                if changed.is_err() { break }
                let frame = frames.borrow_and_update().clone();
                if let Some(f) = frame && !send_text(&mut sink, &f).await { break }
            }
        }
    }
    let _ = sink.close().await;
}

/// Handles one client event; returns a reply for this socket only (errors).
async fn handle(state: &AppState, session: &Arc<Session>, raw: &str) -> Option<Value> {
    let ev: Value = match serde_json::from_str(raw) {
        Ok(v) => v,
        Err(e) => return Some(ws_error("INVALID_EVENT", &format!("Invalid event: {e}"))),
    };
    let kind = ev["type"].as_str().unwrap_or_default();
    match kind {
        "audio_buffer_append" => {
            let audio = ev["data"]["audio"]
                .as_str()
                .or_else(|| ev["audio"].as_str())
                .or_else(|| ev["data"].as_str());
            let Some(b64) = audio else {
                return Some(ws_error(
                    "INVALID_EVENT",
                    "audio_buffer_append needs data.audio (base64 PCM16 16 kHz mono, or a WAV file)",
                ));
            };
            match base64::engine::general_purpose::STANDARD.decode(b64.trim()) {
                Ok(bytes) => append(state, session, &bytes).await,
                Err(e) => Some(ws_error(
                    "AUDIO_PROCESSING_ERROR",
                    &format!("data.audio is not base64: {e}"),
                )),
            }
        }
        "audio_buffer_commit" => {
            let pcm = session.input.lock().await.commit();
            if pcm.is_empty() {
                return Some(ws_error(
                    "AUDIO_PROCESSING_ERROR",
                    "The audio buffer is empty: send audio_buffer_append first",
                ));
            }
            start_audio_turn(state, session, pcm);
            None
        }
        "audio_buffer_clear" => {
            session.input.lock().await.clear();
            None
        }
        "start_listening" => {
            let mut input = session.input.lock().await;
            if !input.is_listening() {
                let dir = state.config.speech_models_dir();
                let vad = match tokio::task::spawn_blocking(move || input::new_vad(&dir)).await {
                    Ok(Ok(v)) => v,
                    Ok(Err(e)) => return Some(ws_error("AUDIO_PROCESSING_ERROR", &e)),
                    Err(e) => return Some(ws_error("AUDIO_PROCESSING_ERROR", &e.to_string())),
                };
                input.start_listening(vad);
            }
            session.set_listening(true);
            session.emit_status(session.current_status());
            None
        }
        "stop_listening" => {
            session.input.lock().await.stop_listening();
            session.set_listening(false);
            session.emit_status(session.current_status());
            None
        }
        "interrupt" => {
            session.interrupt();
            session.emit_status(session.resting_status());
            None
        }
        "chat" | "text" | "message" => {
            let content = ev["content"]
                .as_str()
                .or_else(|| ev["text"].as_str())
                .or_else(|| ev["data"]["content"].as_str())
                .or_else(|| ev["data"]["text"].as_str())
                .unwrap_or_default()
                .to_string();
            if content.trim().is_empty() {
                return Some(ws_error("INVALID_EVENT", "A chat event needs content"));
            }
            let ended = Instant::now();
            let generation = barge_in(session);
            tokio::spawn(turn::text_turn(
                state.clone(),
                session.clone(),
                content,
                generation,
                ended,
            ));
            None
        }
        "ping" => Some(json!({ "type": "pong" })),
        "" => Some(ws_error("INVALID_EVENT", "An event needs a type")),
        other => Some(ws_error(
            "INVALID_EVENT",
            &format!(
                "Unknown event type '{other}': use audio_buffer_append, audio_buffer_commit, \
                 audio_buffer_clear, start_listening, stop_listening, interrupt or chat"
            ),
        )),
    }
}

/// Stops whatever the avatar was saying for a new user turn; the turn runs
/// in the returned generation.
fn barge_in(session: &Session) -> u64 {
    if session.interrupt() {
        session.emit_status(session.resting_status());
    }
    session.generation()
}

fn start_audio_turn(state: &AppState, session: &Arc<Session>, pcm: Vec<f32>) {
    let ended = Instant::now();
    let generation = barge_in(session);
    tokio::spawn(turn::audio_turn(
        state.clone(),
        session.clone(),
        pcm,
        generation,
        ended,
    ));
}

async fn append(state: &AppState, session: &Arc<Session>, bytes: &[u8]) -> Option<Value> {
    let pcm = match input::decode_chunk(bytes) {
        Ok(p) => p,
        Err(e) => {
            return Some(ws_error(
                "AUDIO_PROCESSING_ERROR",
                &format!("Failed to process audio input: {e}"),
            ));
        }
    };
    let mut input = session.input.lock().await;
    let listening = input.is_listening();
    // The VAD (Silero runs a model) works off the async threads.
    let (back, res) = if listening {
        let mut taken = std::mem::take(&mut *input);
        let (back, res) = tokio::task::spawn_blocking(move || {
            let res = taken.append(&pcm);
            (taken, res)
        })
        .await
        .expect("the VAD does not panic");
        (Some(back), res)
    } else {
        (None, input.append(&pcm))
    };
    if let Some(back) = back {
        *input = back;
    }
    drop(input);
    match res {
        Err(e) => Some(ws_error("AUDIO_PROCESSING_ERROR", &e)),
        Ok(Appended {
            speech_started,
            utterances,
        }) => {
            // The user talking over the avatar stops it at once.
            if speech_started && session.is_speaking() {
                session.interrupt();
                session.emit_status(session.resting_status());
            }
            for u in utterances {
                start_audio_turn(state, session, u);
            }
            None
        }
    }
}
