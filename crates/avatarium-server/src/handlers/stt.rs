//! Speech-to-text (002): local whisper by default, cloud engines with keys.

use std::sync::{Arc, Mutex};
use std::time::Instant;

use axum::extract::{Multipart, State};
use serde_json::{Value, json};

use avatarium_stt::whisper::LocalWhisper;
use avatarium_stt::{SttEngine, SttError, SttRequest, cloud, models};

use crate::error::{ApiError, ApiResult, Envelope};
use crate::state::AppState;

/// Largest upload accepted for transcription.
pub const MAX_AUDIO_BYTES: usize = 25 * 1024 * 1024;

/// The loaded whisper model, kept between requests (loading takes longer
/// than transcribing a short utterance).
#[derive(Default)]
pub struct WhisperCache(Mutex<Option<LocalWhisper>>);

pub(crate) fn stt_error(e: SttError) -> ApiError {
    match e {
        SttError::BadAudio(_) => ApiError::bad_request(e.to_string()),
        SttError::TooLong { .. } => ApiError::PayloadTooLarge(e.to_string()),
        // The server lacks a model: say which, and the command that gets it.
        SttError::ModelMissing { .. } | SttError::NotConfigured(_) => {
            ApiError::Unavailable(e.to_string())
        }
        SttError::Model(m) => ApiError::Internal(anyhow::anyhow!("whisper: {m}")),
        other => ApiError::Provider(other.to_string()),
    }
}

impl AppState {
    /// The whisper model to use: the configured one, else the smallest
    /// installed.
    pub fn whisper_model_path(&self) -> Result<std::path::PathBuf, SttError> {
        let dir = self.config.speech_models_dir();
        let wanted = match &self.config.whisper_model {
            Some(m) => m.clone(),
            None => models::installed(&dir)
                .into_iter()
                .min_by_key(|m| m.size_bytes)
                .map(|m| m.path.to_string_lossy().into_owned())
                .unwrap_or_default(),
        };
        models::resolve(&dir, &wanted)
    }

    /// The local whisper engine, loaded once (off the async workers: loading
    /// reads the whole model).
    pub async fn local_whisper(&self) -> Result<LocalWhisper, SttError> {
        let path = self.whisper_model_path()?;
        if let Some(w) = self
            .whisper
            .0
            .lock()
            .expect("whisper lock")
            .as_ref()
            .filter(|w| w.model_path() == path)
        {
            return Ok(w.clone());
        }
        let w = tokio::task::spawn_blocking(move || LocalWhisper::load(&path))
            .await
            .map_err(|e| SttError::Model(e.to_string()))??;
        *self.whisper.0.lock().expect("whisper lock") = Some(w.clone());
        Ok(w)
    }

    async fn stt_engine(
        &self,
        provider: &str,
        byok: Option<String>,
    ) -> ApiResult<(String, Arc<dyn SttEngine>)> {
        if provider == "local" {
            return Ok((
                "local".into(),
                Arc::new(self.local_whisper().await.map_err(stt_error)?),
            ));
        }
        match self.provider_key(provider, byok) {
            Some((k, base)) => cloud::engine_for(provider, k, base, self.http.clone())
                .map(|e| (provider.to_string(), Arc::from(e)))
                .ok_or_else(|| {
                    ApiError::bad_request(format!("Unknown speech-to-text provider '{provider}'"))
                }),
            None => Err(ApiError::bad_request(format!(
                "No key for {provider}: configure one on the server or send byokApiKey (or use provider=local)"
            ))),
        }
    }

    /// An STT engine's availability without a caller's key.
    fn stt_available(&self, provider: &str) -> bool {
        match provider {
            "local" => self.whisper_model_path().is_ok(),
            p => self
                .config
                .providers
                .get(p)
                .is_some_and(|s| s.api_key.is_some()),
        }
    }
}

/// Transcribe uploaded audio (multipart: `audio`, optional `provider`,
/// `byokApiKey`, `includeWords`, `language`).
#[utoipa::path(post, path = "/v1/stt/transcribe", tag = "stt",
    request_body(content_type = "multipart/form-data", description = "audio file (WAV, WebM/Opus, OGG, MP3), provider, byokApiKey, includeWords, language"),
    responses((status = 200, description = "`{transcript, confidence, words, provider, latencyMs}`"),
              (status = 400, description = "Missing, empty, truncated or unsupported audio"),
              (status = 413, description = "Too large or too long"),
              (status = 502, description = "The cloud engine failed"),
              (status = 503, description = "No local model installed (the message names the command that gets one)")))]
pub async fn transcribe(
    State(state): State<AppState>,
    mut form: Multipart,
) -> ApiResult<Envelope<Value>> {
    let started = Instant::now();
    let mut req = SttRequest::default();
    let mut provider: Option<String> = None;
    let mut byok = None;
    let mut got_audio = false;
    while let Some(field) = form
        .next_field()
        .await
        .map_err(|e| ApiError::bad_request(e.body_text()))?
    {
        let name = field.name().unwrap_or_default().to_string();
        match name.as_str() {
            "audio" | "file" => {
                req.filename = field.file_name().map(str::to_owned);
                req.mime = field.content_type().map(str::to_owned);
                req.audio = field
                    .bytes()
                    .await
                    .map_err(|e| ApiError::bad_request(e.body_text()))?
                    .to_vec();
                got_audio = true;
            }
            _ => {
                let value = field
                    .text()
                    .await
                    .map_err(|e| ApiError::bad_request(e.body_text()))?;
                match name.as_str() {
                    "provider" => provider = Some(value.trim().to_ascii_lowercase()),
                    "byokApiKey" => byok = Some(value),
                    "includeWords" => {
                        req.include_words = matches!(value.trim(), "true" | "1" | "yes")
                    }
                    "language" => {
                        req.language = Some(value.trim().to_string()).filter(|l| !l.is_empty())
                    }
                    _ => {}
                }
            }
        }
    }
    if !got_audio {
        return Err(ApiError::bad_request("multipart field `audio` is required"));
    }
    if req.audio.is_empty() {
        return Err(ApiError::bad_request("The audio file is empty"));
    }
    // The documents' default is Groq; offline, and without a Groq key, the
    // local model answers instead.
    let provider = match provider.filter(|p| !p.is_empty()) {
        Some(p) => p,
        None if byok.is_some() || state.stt_available("groq") => "groq".into(),
        None => "local".into(),
    };
    let (provider, engine) = state.stt_engine(&provider, byok).await?;
    let include_words = req.include_words;
    let t = engine.transcribe(req).await.map_err(stt_error)?;
    Ok(Envelope(json!({
        "transcript": t.text,
        "confidence": t.confidence,
        "words": if include_words { json!(t.words) } else { json!([]) },
        "language": t.language,
        "durationS": t.duration_s,
        "provider": provider,
        "latencyMs": started.elapsed().as_millis() as u64,
    })))
}

/// STT providers with languages, latency estimates and availability.
#[utoipa::path(get, path = "/v1/stt/providers", tag = "stt",
    responses((status = 200, description = "Providers")))]
pub async fn providers(State(state): State<AppState>) -> Envelope<Vec<Value>> {
    let installed = models::installed(&state.config.speech_models_dir());
    Envelope(
        cloud::providers_info()
            .into_iter()
            .map(|p| {
                let mut v = serde_json::to_value(&p).expect("provider info serializes");
                if p.id == "local" {
                    v["available"] = json!(state.stt_available("local"));
                    v["models"] = json!(installed.iter().map(|m| &m.name).collect::<Vec<_>>());
                } else {
                    v["available"] = json!(state.stt_available(p.id));
                }
                v
            })
            .collect(),
    )
}
