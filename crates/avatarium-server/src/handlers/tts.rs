//! Text-to-speech (001): audio with viseme and word timings from the offline
//! voice or a cloud engine.

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Instant;

use axum::extract::State;
use axum::response::sse::{Event, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use base64::Engine as _;
use futures::StreamExt;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_tts::{
    Speech, SpeechRequest, TtsEngine, TtsError, cloud, local::LocalTts, sentences, wav,
};

use crate::error::{ApiError, ApiResult, Envelope};
use crate::extract::{ApiCaller, ApiJson};
use crate::state::AppState;

/// Longest text one request may speak.
pub const MAX_TEXT_CHARS: usize = 5000;

#[derive(Deserialize, ToSchema, Default)]
#[serde(rename_all = "camelCase")]
pub struct TtsBody {
    text: Option<String>,
    voice_id: Option<String>,
    /// local (offline, default), elevenlabs, groq, deepgram, openai, google.
    provider: Option<String>,
    /// 0.5–2.0, 1 is normal.
    speed: Option<f32>,
    pitch: Option<f32>,
    /// Use your own key for a cloud provider; never stored or echoed.
    byok_api_key: Option<String>,
    /// Stream one SSE `audio` event per sentence as soon as it is ready.
    #[serde(default)]
    stream: bool,
}

pub(crate) fn tts_error(e: TtsError) -> ApiError {
    match e {
        TtsError::BadRequest(_) | TtsError::UnknownVoice(_) | TtsError::NotConfigured(_) => {
            ApiError::bad_request(e.to_string())
        }
        TtsError::Engine(m) => ApiError::Internal(anyhow::anyhow!("speech engine: {m}")),
        other => ApiError::Provider(other.to_string()),
    }
}

impl AppState {
    /// The engine for a provider id: the offline voice, or a cloud engine
    /// with the caller's key or this server's.
    pub fn tts_engine(
        &self,
        provider: &str,
        byok: Option<String>,
    ) -> ApiResult<Arc<dyn TtsEngine>> {
        if provider == "local" {
            // Every LocalTts shares the one espeak-ng worker.
            return Ok(Arc::new(LocalTts::shared().clone()));
        }
        if !cloud::CLOUD_PROVIDERS.contains(&provider) {
            return Err(ApiError::bad_request(format!(
                "Unknown speech provider '{provider}'; one of: local, {}",
                cloud::CLOUD_PROVIDERS.join(", ")
            )));
        }
        let (key, base) = self.provider_key(provider, byok).ok_or_else(|| {
            ApiError::bad_request(format!(
                "No key for {provider}: configure one on the server (e.g. {}_API_KEY) or send byokApiKey",
                provider.to_ascii_uppercase()
            ))
        })?;
        cloud::engine_for(provider, key, base, self.http.clone())
            .map(Arc::from)
            .ok_or_else(|| ApiError::bad_request(format!("Unknown speech provider '{provider}'")))
    }

    pub fn tts_configured(&self, provider: &str) -> bool {
        provider == "local"
            || self
                .config
                .providers
                .get(provider)
                .is_some_and(|s| s.api_key.is_some())
    }
}

pub(crate) fn speech_json(s: &Speech, latency_ms: u64) -> Value {
    json!({
        "audio": base64::engine::general_purpose::STANDARD.encode(wav::encode_wav(&s.samples, s.sample_rate)),
        "format": "wav",
        "sampleRate": s.sample_rate,
        "durationMs": s.duration_ms(),
        "visemes": s.visemes,
        "words": s.words,
        "provider": s.provider,
        "voiceId": s.voice_id,
        "visemeSource": s.viseme_source,
        "latencyMs": latency_ms,
    })
}

fn request_of(body: &TtsBody) -> ApiResult<SpeechRequest> {
    let text = body.text.as_deref().map(str::trim).unwrap_or_default();
    if text.is_empty() {
        return Err(ApiError::bad_request("text is required"));
    }
    if text.chars().count() > MAX_TEXT_CHARS {
        return Err(ApiError::bad_request(format!(
            "text must be at most {MAX_TEXT_CHARS} characters"
        )));
    }
    for (name, v) in [("speed", body.speed), ("pitch", body.pitch)] {
        if let Some(x) = v
            && !(0.5..=2.0).contains(&x)
        {
            return Err(ApiError::bad_request(format!(
                "{name} must be between 0.5 and 2.0"
            )));
        }
    }
    Ok(SpeechRequest {
        text: text.to_string(),
        voice: body.voice_id.clone().filter(|v| !v.trim().is_empty()),
        speed: body.speed,
        pitch: body.pitch,
    })
}

/// Synthesises sentence by sentence: streamed as SSE when asked, else joined.
async fn speak(state: &AppState, provider: &str, body: TtsBody) -> ApiResult<Response> {
    let req = request_of(&body)?;
    let engine = state.tts_engine(provider, body.byok_api_key.clone())?;
    let started = Instant::now();
    if body.stream {
        let events = async_stream::stream! {
            let mut parts = std::pin::pin!(sentences::synthesize_stream(engine.as_ref(), req));
            let (mut offset, mut index) = (0u32, 0usize);
            while let Some(part) = parts.next().await {
                match part {
                    Ok(s) => {
                        let mut v = speech_json(&s, started.elapsed().as_millis() as u64);
                        v["index"] = json!(index);
                        v["offsetMs"] = json!(offset);
                        offset += s.duration_ms();
                        index += 1;
                        yield Ok::<_, Infallible>(Event::default().event("audio").data(v.to_string()));
                    }
                    Err(e) => {
                        let err = tts_error(e);
                        yield Ok(Event::default().event("error").data(json!({"code": err.code(), "message": err.to_string()}).to_string()));
                        return;
                    }
                }
            }
            yield Ok(Event::default().event("done").data(json!({"sentences": index, "durationMs": offset, "latencyMs": started.elapsed().as_millis() as u64}).to_string()));
        };
        return Ok(Sse::new(events)
            .keep_alive(KeepAlive::default())
            .into_response());
    }
    let speech = sentences::synthesize_joined(engine.as_ref(), req)
        .await
        .map_err(tts_error)?;
    Ok(Envelope(speech_json(&speech, started.elapsed().as_millis() as u64)).into_response())
}

fn provider_of(body: &TtsBody, state: &AppState) -> String {
    body.provider
        .clone()
        .filter(|p| !p.trim().is_empty())
        .unwrap_or_else(|| {
            // A voice id of a configured cloud engine picks that engine;
            // otherwise the offline voice speaks.
            body.voice_id
                .as_deref()
                .and_then(|v| {
                    cloud::CLOUD_PROVIDERS.iter().find(|p| {
                        state.tts_configured(p) && cloud::static_voices(p).iter().any(|x| x.id == v)
                    })
                })
                .map(|p| p.to_string())
                .unwrap_or_else(|| "local".into())
        })
}

/// Synthesize speech with visemes and word timings.
#[utoipa::path(post, path = "/v1/tts", tag = "tts", security(("bearer" = [])), request_body = TtsBody,
    responses((status = 200, description = "`{audio (base64 WAV), sampleRate, durationMs, visemes, words, provider, voiceId, latencyMs}`, or SSE per sentence"),
              (status = 400, description = "Empty/long text, bad speed, unknown voice or provider"),
              (status = 502, description = "The cloud engine failed")))]
pub async fn synthesize(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiJson(body): ApiJson<TtsBody>,
) -> ApiResult<Response> {
    let provider = provider_of(&body, &state);
    speak(&state, &provider, body).await
}

/// Synthesize via ElevenLabs (engine alignment for the visemes).
#[utoipa::path(post, path = "/v1/tts/elevenlabs", tag = "tts", security(("bearer" = [])), request_body = TtsBody,
    responses((status = 200, description = "As /v1/tts"), (status = 400, description = "No key or bad input"), (status = 502, description = "ElevenLabs failed")))]
pub async fn elevenlabs(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiJson(body): ApiJson<TtsBody>,
) -> ApiResult<Response> {
    speak(&state, "elevenlabs", body).await
}

/// Synthesize via Groq TTS.
#[utoipa::path(post, path = "/v1/tts/groq", tag = "tts", security(("bearer" = [])), request_body = TtsBody,
    responses((status = 200, description = "As /v1/tts"), (status = 400, description = "No key or bad input"), (status = 502, description = "Groq failed")))]
pub async fn groq(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiJson(body): ApiJson<TtsBody>,
) -> ApiResult<Response> {
    speak(&state, "groq", body).await
}

/// Synthesize via Deepgram Aura.
#[utoipa::path(post, path = "/v1/tts/deepgram", tag = "tts", security(("bearer" = [])), request_body = TtsBody,
    responses((status = 200, description = "As /v1/tts"), (status = 400, description = "No key or bad input"), (status = 502, description = "Deepgram failed")))]
pub async fn deepgram(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiJson(body): ApiJson<TtsBody>,
) -> ApiResult<Response> {
    speak(&state, "deepgram", body).await
}

/// Preview a voice with a short sample (or the given text).
#[utoipa::path(post, path = "/v1/tts/preview", tag = "tts", security(("bearer" = [])), request_body = TtsBody,
    responses((status = 200, description = "As /v1/tts"), (status = 400, description = "Unknown voice or provider")))]
pub async fn preview(
    State(state): State<AppState>,
    _caller: ApiCaller,
    ApiJson(mut body): ApiJson<TtsBody>,
) -> ApiResult<Response> {
    if body.text.as_deref().is_none_or(|t| t.trim().is_empty()) {
        body.text = Some("Hi there! This is how I sound. I can't wait to talk with you.".into());
    }
    body.stream = false;
    let provider = provider_of(&body, &state);
    speak(&state, &provider, body).await
}

/// Every voice of every provider; offline ones are marked.
#[utoipa::path(get, path = "/v1/tts/voices", tag = "tts",
    responses((status = 200, description = "Voices with provider, language, gender, offline and configured flags")))]
pub async fn voices(State(state): State<AppState>) -> Envelope<Vec<Value>> {
    let mut out = Vec::new();
    for v in LocalTts::shared().voices().await {
        let mut j = serde_json::to_value(&v).expect("voices serialize");
        j["configured"] = json!(true);
        out.push(j);
    }
    for p in cloud::CLOUD_PROVIDERS {
        for v in cloud::static_voices(p) {
            let mut j = serde_json::to_value(&v).expect("voices serialize");
            j["configured"] = json!(state.tts_configured(p));
            out.push(j);
        }
    }
    Envelope(out)
}
