//! Deepgram pre-recorded transcription (`/v1/listen`), raw audio in the body.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use reqwest::header::{AUTHORIZATION, CONTENT_TYPE};
use serde::Deserialize;

use super::Conn;
use crate::decode::{mime_for_name, sniff_extension};
use crate::{SttEngine, SttError, SttRequest, Transcript, Word};

pub const DEFAULT_BASE_URL: &str = "https://api.deepgram.com";
pub const DEFAULT_MODEL: &str = "nova-2";

/// Languages Nova-2 transcribes (primary subtags).
pub(crate) const LANGUAGES: &[&str] = &[
    "bg", "ca", "cs", "da", "de", "el", "en", "es", "et", "fi", "fr", "hi", "hu", "id", "it", "ja",
    "ko", "lt", "lv", "ms", "nl", "no", "pl", "pt", "ro", "ru", "sk", "sv", "th", "tr", "uk", "vi",
    "zh",
];

#[derive(Clone)]
pub struct DeepgramStt {
    conn: Conn,
    model: String,
}

impl fmt::Debug for DeepgramStt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("DeepgramStt")
            .field("base", &self.conn.base)
            .field("model", &self.model)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl DeepgramStt {
    pub fn new(api_key: String, base_url: Option<String>, http: reqwest::Client) -> Self {
        Self {
            conn: Conn::new("deepgram", api_key, base_url, DEFAULT_BASE_URL, http),
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
struct Response {
    #[serde(default)]
    metadata: Option<Metadata>,
    results: Results,
}

#[derive(Deserialize)]
struct Metadata {
    #[serde(default)]
    duration: Option<f32>,
}

#[derive(Deserialize)]
struct Results {
    #[serde(default)]
    channels: Vec<Channel>,
}

#[derive(Deserialize)]
struct Channel {
    #[serde(default)]
    detected_language: Option<String>,
    #[serde(default)]
    alternatives: Vec<Alternative>,
}

#[derive(Deserialize)]
struct Alternative {
    #[serde(default)]
    transcript: String,
    #[serde(default)]
    confidence: f32,
    #[serde(default)]
    words: Vec<DgWord>,
}

#[derive(Deserialize)]
struct DgWord {
    word: String,
    #[serde(default)]
    punctuated_word: Option<String>,
    start: f32,
    end: f32,
    #[serde(default)]
    confidence: f32,
}

#[async_trait]
impl SttEngine for DeepgramStt {
    fn id(&self) -> &str {
        "deepgram"
    }

    async fn transcribe(&self, req: SttRequest) -> Result<Transcript, SttError> {
        if req.audio.is_empty() {
            return Err(SttError::BadAudio("the audio is empty".into()));
        }
        let content_type = req
            .mime
            .clone()
            .filter(|m| !m.trim().is_empty())
            .or_else(|| {
                req.filename
                    .as_deref()
                    .and_then(mime_for_name)
                    .map(str::to_string)
            })
            .or_else(|| {
                sniff_extension(&req.audio)
                    .and_then(mime_for_name)
                    .map(str::to_string)
            })
            .unwrap_or_else(|| "application/octet-stream".into());

        let mut query: Vec<(&str, String)> = vec![
            ("model", self.model.clone()),
            ("smart_format", "true".into()),
        ];
        match sanitize_language(req.language.as_deref()) {
            Some(lang) => query.push(("language", lang)),
            None => query.push(("detect_language", "true".into())),
        }
        let request = self
            .conn
            .http
            .post(format!("{}/v1/listen", self.conn.base))
            .query(&query)
            .header(AUTHORIZATION, format!("Token {}", self.conn.key))
            .header(CONTENT_TYPE, content_type)
            .body(req.audio);
        let body = self.conn.send(request).await?;
        let parsed: Response = self.conn.parse(&body)?;
        Ok(to_transcript(parsed, req.include_words))
    }
}

/// Deepgram takes regional tags (`en-US`, `pt-BR`) as they are; anything else is dropped.
fn sanitize_language(lang: Option<&str>) -> Option<String> {
    let lang = lang?.trim();
    let ok = !lang.is_empty()
        && lang.len() <= 16
        && lang.chars().all(|c| c.is_ascii_alphanumeric() || c == '-')
        && !lang.eq_ignore_ascii_case("auto");
    ok.then(|| lang.to_string())
}

fn to_transcript(r: Response, include_words: bool) -> Transcript {
    let channel = r.results.channels.into_iter().next();
    let language = channel
        .as_ref()
        .and_then(|c| c.detected_language.as_deref())
        .and_then(|l| crate::primary_language(Some(l)));
    let alt = channel.and_then(|c| c.alternatives.into_iter().next());
    let duration_s = r.metadata.and_then(|m| m.duration).unwrap_or(0.0);
    let Some(alt) = alt else {
        return Transcript {
            language,
            duration_s,
            ..Transcript::default()
        };
    };
    let words = if include_words {
        alt.words
            .into_iter()
            .map(|w| Word {
                word: w.punctuated_word.unwrap_or(w.word),
                start: w.start.max(0.0),
                end: w.end.max(w.start).max(0.0),
                confidence: w.confidence.clamp(0.0, 1.0),
            })
            .collect()
    } else {
        Vec::new()
    };
    Transcript {
        text: alt.transcript.trim().to_string(),
        confidence: alt.confidence.clamp(0.0, 1.0),
        words,
        language,
        duration_s,
    }
}
