//! Groq's OpenAI-compatible transcription endpoint (hosted Whisper).

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::multipart::{Form, Part};
use serde::Deserialize;

use super::{Conn, language_code};
use crate::decode::{mime_for_name, upload_name};
use crate::{SttEngine, SttError, SttRequest, Transcript, Word};

pub const DEFAULT_BASE_URL: &str = "https://api.groq.com/openai/v1";
pub const DEFAULT_MODEL: &str = "whisper-large-v3-turbo";

/// `POST {base}/audio/transcriptions` as multipart, `verbose_json` with word timestamps.
#[derive(Clone)]
pub struct GroqStt {
    conn: Conn,
    model: String,
}

impl fmt::Debug for GroqStt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GroqStt")
            .field("base", &self.conn.base)
            .field("model", &self.model)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl GroqStt {
    pub fn new(api_key: String, base_url: Option<String>, http: reqwest::Client) -> Self {
        Self {
            conn: Conn::new("groq", api_key, base_url, DEFAULT_BASE_URL, http),
            model: DEFAULT_MODEL.to_string(),
        }
    }

    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.conn.timeout = timeout;
        self
    }
}

#[derive(Deserialize)]
struct VerboseJson {
    #[serde(default)]
    text: String,
    #[serde(default)]
    language: Option<String>,
    #[serde(default)]
    duration: Option<f32>,
    #[serde(default)]
    segments: Vec<Segment>,
    #[serde(default)]
    words: Vec<GroqWord>,
}

#[derive(Deserialize)]
struct Segment {
    #[serde(default)]
    start: f32,
    #[serde(default)]
    end: f32,
    #[serde(default)]
    avg_logprob: Option<f32>,
}

#[derive(Deserialize)]
struct GroqWord {
    word: String,
    start: f32,
    end: f32,
}

#[async_trait]
impl SttEngine for GroqStt {
    fn id(&self) -> &str {
        "groq"
    }

    async fn transcribe(&self, req: SttRequest) -> Result<Transcript, SttError> {
        if req.audio.is_empty() {
            return Err(SttError::BadAudio("the audio is empty".into()));
        }
        let name = upload_name(req.filename.as_deref(), req.mime.as_deref(), &req.audio);
        // A malformed client-supplied MIME type should not fail the request; the name decides.
        let mime = req
            .mime
            .clone()
            .filter(|m| Part::bytes(Vec::new()).mime_str(m).is_ok())
            .or_else(|| mime_for_name(&name).map(str::to_string))
            .unwrap_or_else(|| "application/octet-stream".into());
        let file = Part::bytes(req.audio)
            .file_name(name)
            .mime_str(&mime)
            .map_err(|e| SttError::BadAudio(format!("invalid MIME type ({e})")))?;
        let mut form = Form::new()
            .part("file", file)
            .text("model", self.model.clone())
            .text("response_format", "verbose_json")
            .text("temperature", "0")
            // Segments carry avg_logprob, the only confidence signal this API gives.
            .text("timestamp_granularities[]", "segment");
        if req.include_words {
            form = form.text("timestamp_granularities[]", "word");
        }
        if let Some(lang) = crate::primary_language(req.language.as_deref()) {
            form = form.text("language", lang);
        }

        let request = self
            .conn
            .http
            .post(format!("{}/audio/transcriptions", self.conn.base))
            .bearer_auth(&self.conn.key)
            .multipart(form);
        let body = self.conn.send(request).await?;
        let parsed: VerboseJson = self.conn.parse(&body)?;
        Ok(to_transcript(parsed, req.include_words))
    }
}

fn to_transcript(v: VerboseJson, include_words: bool) -> Transcript {
    let seg_conf = |s: &Segment| s.avg_logprob.map(|lp| lp.exp().clamp(0.0, 1.0));
    // Weighted by segment length so a long confident sentence outweighs a short mumble.
    let (mut weighted, mut weight) = (0.0f32, 0.0f32);
    for s in &v.segments {
        if let Some(c) = seg_conf(s) {
            let w = (s.end - s.start).max(0.01);
            weighted += c * w;
            weight += w;
        }
    }
    let confidence = if weight > 0.0 { weighted / weight } else { 0.0 };
    let words = if include_words {
        v.words
            .iter()
            .map(|w| {
                let mid = (w.start + w.end) / 2.0;
                let conf = v
                    .segments
                    .iter()
                    .find(|s| mid >= s.start && mid <= s.end)
                    .and_then(seg_conf)
                    .unwrap_or(confidence);
                Word {
                    word: w.word.trim().to_string(),
                    start: w.start.max(0.0),
                    end: w.end.max(w.start).max(0.0),
                    confidence: conf,
                }
            })
            .collect()
    } else {
        Vec::new()
    };
    let duration_s = v
        .duration
        .or_else(|| v.segments.last().map(|s| s.end))
        .unwrap_or(0.0);
    Transcript {
        text: v.text.trim().to_string(),
        confidence,
        words,
        language: v.language.as_deref().and_then(language_code),
        duration_s,
    }
}
