//! Speech-to-text for Avatarium.
//!
//! * [`decode`] turns whatever a browser or a user uploads (WAV, MP3, OGG/Opus, WebM/Opus,
//!   OGG/Vorbis, FLAC, MP4/AAC) into 16 kHz mono `f32` PCM.
//! * [`whisper`] runs whisper.cpp locally, offline.
//! * [`vad`] finds speech in PCM, offline or as a stream (Silero through whisper.cpp, with an
//!   energy detector when no model is at hand).
//! * [`models`] lists, resolves and downloads whisper models.
//! * [`cloud`] speaks to Groq, Deepgram and Google when the user opts in with a key.
//!
//! Every engine implements [`SttEngine`], so the server can swap them per request.

use std::fmt;

use async_trait::async_trait;
use serde::{Deserialize, Serialize};

pub mod cloud;
pub mod decode;
pub mod models;
pub mod vad;
pub mod whisper;

/// One recognised word. Times are seconds from the start of the audio.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Word {
    pub word: String,
    pub start: f32,
    pub end: f32,
    /// In `[0, 1]`.
    pub confidence: f32,
}

/// The result of a transcription.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct Transcript {
    pub text: String,
    /// In `[0, 1]`; 0 when nothing was recognised.
    pub confidence: f32,
    /// Empty unless the request asked for words (and the engine could time them).
    pub words: Vec<Word>,
    /// ISO 639-1 code (`"en"`) when the engine reports or detected one.
    pub language: Option<String>,
    /// Length of the audio in seconds (serialised as `durationS`).
    pub duration_s: f32,
}

/// A transcription request: encoded audio as uploaded plus what is known about it.
#[derive(Clone, Default)]
pub struct SttRequest {
    pub audio: Vec<u8>,
    /// The upload's file name, used as a format hint and for multipart uploads.
    pub filename: Option<String>,
    /// The upload's MIME type, e.g. `audio/webm;codecs=opus`.
    pub mime: Option<String>,
    /// Language of the speech (`"en"`, `"en-US"`); `None` lets the engine detect it.
    pub language: Option<String>,
    pub include_words: bool,
}

impl SttRequest {
    pub fn new(audio: Vec<u8>) -> Self {
        Self {
            audio,
            ..Self::default()
        }
    }

    /// The best format hint available: the MIME type, else the file name.
    pub fn format_hint(&self) -> Option<&str> {
        self.mime
            .as_deref()
            .filter(|m| !m.trim().is_empty())
            .or(self.filename.as_deref())
    }
}

// Audio can be megabytes; a derived Debug would flood the logs.
impl fmt::Debug for SttRequest {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("SttRequest")
            .field("audio_bytes", &self.audio.len())
            .field("filename", &self.filename)
            .field("mime", &self.mime)
            .field("language", &self.language)
            .field("include_words", &self.include_words)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, thiserror::Error)]
pub enum SttError {
    /// The audio is empty, truncated, undecodable or in an unsupported format.
    #[error("bad audio: {0}")]
    BadAudio(String),
    #[error("audio is too long (the limit is {max_s} s)")]
    TooLong { max_s: f32 },
    /// A model file is not installed; `hint` tells the user how to get it.
    #[error("model `{name}` is not installed: {hint}")]
    ModelMissing { name: String, hint: String },
    /// A model could not be loaded or run, or a model file could not be written.
    #[error("model error: {0}")]
    Model(String),
    /// The cloud provider rejected the API key.
    #[error("unauthorized: {0}")]
    Unauthorized(String),
    #[error("rate limited: {0}")]
    RateLimited(String),
    /// The cloud provider (or a download server) failed or answered something unusable.
    #[error("upstream error: {0}")]
    Upstream(String),
    #[error("timed out")]
    Timeout,
    #[error("not configured: {0}")]
    NotConfigured(String),
}

impl SttError {
    /// A stable, machine-readable name for the error kind (for API error bodies and metrics).
    pub fn code(&self) -> &'static str {
        match self {
            SttError::BadAudio(_) => "bad_audio",
            SttError::TooLong { .. } => "too_long",
            SttError::ModelMissing { .. } => "model_missing",
            SttError::Model(_) => "model_error",
            SttError::Unauthorized(_) => "unauthorized",
            SttError::RateLimited(_) => "rate_limited",
            SttError::Upstream(_) => "upstream_error",
            SttError::Timeout => "timeout",
            SttError::NotConfigured(_) => "not_configured",
        }
    }
}

/// A speech-to-text engine: local whisper or a cloud provider.
#[async_trait]
pub trait SttEngine: Send + Sync {
    /// The provider id, as listed by [`cloud::providers_info`] (`"local"`, `"groq"`, …).
    fn id(&self) -> &str;
    async fn transcribe(&self, req: SttRequest) -> Result<Transcript, SttError>;
}

/// Reduces a BCP-47 tag (`"en-US"`, `"pt_BR"`) to its lowercase primary subtag (`"en"`); `None`
/// for empty input or `"auto"`.
pub(crate) fn primary_language(tag: Option<&str>) -> Option<String> {
    let tag = tag?.trim();
    let primary = tag
        .split(['-', '_'])
        .next()
        .unwrap_or("")
        .to_ascii_lowercase();
    if primary.is_empty() || primary == "auto" {
        None
    } else {
        Some(primary)
    }
}

/// Mean of word confidences, the transcript-level confidence every engine reports.
pub(crate) fn mean_confidence(words: &[Word]) -> f32 {
    if words.is_empty() {
        return 0.0;
    }
    let sum: f32 = words.iter().map(|w| w.confidence).sum();
    (sum / words.len() as f32).clamp(0.0, 1.0)
}
