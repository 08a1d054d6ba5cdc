//! A conversational turn of a session: the user's words (typed, or speech
//! transcribed), the avatar's answer streamed from the LLM, cut into
//! sentences and spoken as each completes, then stored as far as it was
//! heard.

use std::sync::Arc;
use std::time::Instant;

use futures::StreamExt;
use serde_json::{Value, json};
use tokio::sync::mpsc;

use avatarium_core::store::NewMessage;
use avatarium_llm::{ChatRequest, speakable};
use avatarium_stt::{SttEngine, SttRequest, cloud};

use super::input;
use super::session::{Session, SessionAvatar};
use super::speech::{self, SentenceSplitter, SpeakJob};
use crate::engine::{self, Chosen};
use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// The provider, request and citable sources for a turn, like the other
/// chat paths build them.
async fn prepare(
    state: &AppState,
    session: &Session,
    text: &str,
) -> ApiResult<(Chosen, ChatRequest, Value)> {
    let history = state.history(&session.thread).await?;
    match &session.avatar {
        SessionAvatar::Consumer(a) => {
            let s = &a.settings;
            let chosen =
                state.choose_provider(s.ai_provider.as_deref(), s.ai_model.as_deref(), None)?;
            let knowledge = state.retrieve(&a.id, text).await?;
            let sources = engine::sources_json(&engine::cited(&knowledge));
            let req = engine::build_request(
                &a.system_prompt,
                knowledge,
                history,
                text,
                Some(engine::persona_of(a)),
                Some(chosen.model.clone()),
            );
            Ok((chosen, req, sources))
        }
        SessionAvatar::Preset(p) => {
            let chosen = state.choose_provider(None, None, None)?;
            let (persona, prompt) = engine::preset_persona(&p.id).expect("a preset has a persona");
            let req = engine::build_request(
                &prompt,
                Vec::new(),
                history,
                text,
                Some(persona),
                Some(chosen.model.clone()),
            );
            Ok((chosen, req, json!([])))
        }
    }
}

/// The user said `text` (typed, or transcribed): answer it aloud. The
/// caller has already interrupted whatever was playing; `generation` is
/// the session's generation after that interrupt. `input_ended` is when
/// the user's input was complete (turn latency runs from there to the
/// first audio).
pub async fn text_turn(
    state: AppState,
    session: Arc<Session>,
    text: String,
    generation: u64,
    input_ended: Instant,
) {
    let text = match engine::validate_user_text(&session.with_carried(text)) {
        Ok(t) => t.to_string(),
        Err(e) => return session.emit_error("INVALID_EVENT", &e.to_string()),
    };
    session.emit(json!({ "type": "chat", "role": "user", "content": text }));
    if let Err(e) = answer(&state, &session, text, input_ended, generation).await {
        let code = match &e {
            ApiError::Provider(_) => "PROVIDER_ERROR",
            ApiError::BadRequest(_) => "INVALID_EVENT",
            _ => "INTERNAL_ERROR",
        };
        let message = match &e {
            ApiError::Internal(err) => {
                tracing::error!(session = %session.id, error = ?err, "realtime turn failed");
                "The answer failed; see the server log".to_string()
            }
            other => other.to_string(),
        };
        if !session.is_cancelled(generation) {
            session.emit_error(code, &message);
        }
    }
}

async fn answer(
    state: &AppState,
    session: &Arc<Session>,
    text: String,
    input_ended: Instant,
    generation: u64,
) -> ApiResult<()> {
    // One answer speaks at a time; a newer turn has interrupted this one's
    // predecessor, so the floor comes free at once.
    let _floor = tokio::select! {
        biased;
        _ = session.cancelled(generation) => {
            // Not stored yet: the next turn says it.
            session.carry(text);
            return Ok(());
        }
        floor = session.floor.lock() => floor,
    };
    let (chosen, req, sources) = prepare(state, session, &text).await?;
    let llm_started = Instant::now();
    let (_, deltas) = state
        .store_user_while(
            &session.thread,
            text,
            &chosen.id,
            chosen.provider.stream(req),
        )
        .await?;
    if session.is_cancelled(generation) {
        return Ok(());
    }
    let (tx, rx) = mpsc::channel::<String>(32);
    let provider = chosen.id.clone();
    let produce = async move {
        let mut deltas = deltas;
        let mut splitter = SentenceSplitter::default();
        let mut full = String::new();
        let mut failure = None;
        loop {
            let next = tokio::select! {
                biased;
                _ = session.cancelled(generation) => break,
                d = deltas.next() => d,
            };
            match next {
                None => {
                    for s in splitter.finish() {
                        let _ = tx.send(s).await;
                    }
                    break;
                }
                Some(Ok(d)) => {
                    full.push_str(&d);
                    for s in splitter.push(&d) {
                        if tx.send(s).await.is_err() {
                            break;
                        }
                    }
                }
                Some(Err(e)) => {
                    failure = Some(engine::provider_error(&provider, &e));
                    // Say what came before the failure.
                    for s in splitter.finish() {
                        let _ = tx.send(s).await;
                    }
                    break;
                }
            }
        }
        (full, failure, llm_started.elapsed())
    };
    let job = SpeakJob {
        state,
        session,
        voice: session.voice.clone(),
        generation,
        latency_from: Some(input_ended),
        task_id: None,
    };
    let ((full, failure, llm_time), spoken) = tokio::join!(produce, speech::speak(job, rx));
    if let Some(e) = &failure {
        session.emit_error("PROVIDER_ERROR", &e.to_string());
    }
    let content = if spoken.interrupted {
        spoken.heard.clone()
    } else {
        speakable::display_text(&full)
    };
    let content = content.trim().to_string();
    if !content.is_empty() {
        let latency = spoken
            .first_audio
            .map(|t| t.duration_since(input_ended).as_millis() as i64);
        state
            .store
            .add_message(
                &session.thread,
                NewMessage {
                    role: "assistant".into(),
                    content: content.clone(),
                    emotion: Some(speakable::detect_emotion(&content).into()),
                    sources: Some(sources.to_string()),
                    latency_ms: latency,
                    llm_ms: Some(llm_time.as_millis() as i64),
                },
            )
            .await?;
    }
    session.emit(json!({
        "type": "chat",
        "role": "agent",
        "content": content,
        "interrupted": spoken.interrupted,
    }));
    Ok(())
}

/// The speech-to-text engine a session's audio turns use.
async fn stt_engine(state: &AppState, provider: &str) -> Result<Arc<dyn SttEngine>, String> {
    if provider == "local" {
        return state
            .local_whisper()
            .await
            .map(|w| Arc::new(w) as Arc<dyn SttEngine>)
            .map_err(|e| e.to_string());
    }
    let (key, base) = state
        .provider_key(provider, None)
        .ok_or_else(|| format!("No key for the speech-to-text provider '{provider}'"))?;
    cloud::engine_for(provider, key, base, state.http.clone())
        .map(Arc::from)
        .ok_or_else(|| format!("Unknown speech-to-text provider '{provider}'"))
}

/// The default speech-to-text provider for new sessions: the documents'
/// Groq, or another cloud engine, when a key is configured; else the local
/// whisper model.
pub fn default_stt_provider(state: &AppState) -> String {
    ["groq", "deepgram", "google"]
        .into_iter()
        .find(|p| {
            state
                .config
                .providers
                .get(*p)
                .is_some_and(|s| s.api_key.is_some())
        })
        .unwrap_or("local")
        .to_string()
}

/// The user spoke `pcm` (16 kHz mono): transcribe it, then answer. The
/// caller has already interrupted whatever was playing (`generation` as
/// for [`text_turn`]).
pub async fn audio_turn(
    state: AppState,
    session: Arc<Session>,
    pcm: Vec<f32>,
    generation: u64,
    input_ended: Instant,
) {
    let engine = match stt_engine(&state, &session.stt_provider).await {
        Ok(e) => e,
        Err(m) => return session.emit_error("AUDIO_PROCESSING_ERROR", &m),
    };
    let req = SttRequest {
        audio: input::to_wav(&pcm),
        filename: Some("utterance.wav".into()),
        mime: Some("audio/wav".into()),
        ..SttRequest::default()
    };
    let transcript = {
        let _in_order = session.stt_order.lock().await;
        match engine.transcribe(req).await {
            Ok(t) => t,
            Err(e) => {
                return session.emit_error(
                    "AUDIO_PROCESSING_ERROR",
                    &format!("Failed to process audio input: {e}"),
                );
            }
        }
    };
    let text = transcript.text.trim().to_string();
    if session.is_cancelled(generation) {
        // A newer utterance (the user paused mid-sentence) or an interrupt
        // came first: its turn begins with these words.
        if !text.is_empty() {
            session.carry(text);
        }
        return;
    }
    if text.is_empty() {
        session.emit_error("AUDIO_PROCESSING_ERROR", "No speech was recognised");
        session.emit_status(session.current_status());
        return;
    }
    text_turn(state, session, text, generation, input_ended).await;
}
