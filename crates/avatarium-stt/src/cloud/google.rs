//! Google Cloud Speech-to-Text v1 synchronous recognition (`speech:recognize`).
//!
//! Google's LINEAR16 path is the one that accepts everything, so the audio is decoded here and
//! sent as 16 kHz 16-bit PCM, base64-encoded in the JSON body.

use std::fmt;
use std::time::Duration;

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::json;

use super::Conn;
use crate::decode::{self, SAMPLE_RATE};
use crate::{SttEngine, SttError, SttRequest, Transcript, Word};

pub const DEFAULT_BASE_URL: &str = "https://speech.googleapis.com";

/// Synchronous recognition refuses audio longer than a minute.
pub const MAX_SECONDS: f32 = 60.0;

pub(crate) const LANGUAGES: &[&str] = &[
    "af", "ar", "bg", "bn", "ca", "cs", "da", "de", "el", "en", "es", "et", "fa", "fi", "fr", "gu",
    "he", "hi", "hr", "hu", "id", "is", "it", "ja", "kn", "ko", "lt", "lv", "ml", "mr", "ms", "nl",
    "no", "pa", "pl", "pt", "ro", "ru", "sk", "sl", "sr", "sv", "sw", "ta", "te", "th", "tr", "uk",
    "ur", "vi", "zh", "zu",
];

#[derive(Clone)]
pub struct GoogleStt {
    conn: Conn,
}

impl fmt::Debug for GoogleStt {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("GoogleStt")
            .field("base", &self.conn.base)
            .field("api_key", &"[redacted]")
            .finish()
    }
}

impl GoogleStt {
    pub fn new(api_key: String, base_url: Option<String>, http: reqwest::Client) -> Self {
        Self {
            conn: Conn::new("google", api_key, base_url, DEFAULT_BASE_URL, http),
        }
    }

    pub fn with_timeout(mut self, timeout: Duration) -> Self {
        self.conn.timeout = timeout;
        self
    }
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Response {
    #[serde(default)]
    results: Vec<SpeechResult>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct SpeechResult {
    #[serde(default)]
    alternatives: Vec<Alternative>,
    #[serde(default)]
    language_code: Option<String>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Alternative {
    #[serde(default)]
    transcript: String,
    #[serde(default)]
    confidence: Option<f32>,
    #[serde(default)]
    words: Vec<WordInfo>,
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct WordInfo {
    word: String,
    #[serde(default)]
    start_time: Option<String>,
    #[serde(default)]
    end_time: Option<String>,
    #[serde(default)]
    confidence: Option<f32>,
}

#[async_trait]
impl SttEngine for GoogleStt {
    fn id(&self) -> &str {
        "google"
    }

    async fn transcribe(&self, req: SttRequest) -> Result<Transcript, SttError> {
        let audio = req.audio;
        let hint = req.mime.clone().or(req.filename.clone());
        let pcm = tokio::task::spawn_blocking(move || {
            decode::decode_to_mono_16k(&audio, hint.as_deref())
        })
        .await
        .map_err(|e| SttError::BadAudio(format!("decoding failed: {e}")))??;
        let duration_s = pcm.len() as f32 / SAMPLE_RATE as f32;
        if duration_s > MAX_SECONDS {
            return Err(SttError::TooLong { max_s: MAX_SECONDS });
        }
        let content = base64::engine::general_purpose::STANDARD.encode(decode::pcm_to_s16le(&pcm));
        let body = json!({
            "config": {
                "encoding": "LINEAR16",
                "sampleRateHertz": SAMPLE_RATE,
                "audioChannelCount": 1,
                "languageCode": google_language(req.language.as_deref()),
                "enableWordTimeOffsets": req.include_words,
                "enableWordConfidence": req.include_words,
                "enableAutomaticPunctuation": true,
            },
            "audio": { "content": content },
        });
        let request = self
            .conn
            .http
            .post(format!("{}/v1/speech:recognize", self.conn.base))
            .query(&[("key", &self.conn.key)])
            .json(&body);
        let body = self.conn.send(request).await?;
        let parsed: Response = self.conn.parse(&body)?;
        Ok(to_transcript(parsed, req.include_words, duration_s))
    }
}

/// Google wants a BCP-47 tag with a region; bare languages get their most common one.
fn google_language(lang: Option<&str>) -> String {
    let lang = lang.map(str::trim).filter(|l| {
        !l.is_empty()
            && l.len() <= 16
            && l.chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '-' || c == '_')
            && !l.eq_ignore_ascii_case("auto")
    });
    let Some(lang) = lang else {
        return "en-US".into();
    };
    let lang = lang.replace('_', "-");
    if lang.contains('-') {
        return lang;
    }
    match lang.to_ascii_lowercase().as_str() {
        "en" => "en-US",
        "de" => "de-DE",
        "fr" => "fr-FR",
        "es" => "es-ES",
        "it" => "it-IT",
        "pt" => "pt-BR",
        "nl" => "nl-NL",
        "ru" => "ru-RU",
        "pl" => "pl-PL",
        "ja" => "ja-JP",
        "ko" => "ko-KR",
        "zh" => "cmn-Hans-CN",
        "hi" => "hi-IN",
        "tr" => "tr-TR",
        "uk" => "uk-UA",
        "sv" => "sv-SE",
        other => return other.to_string(),
    }
    .to_string()
}

/// Parses protobuf-JSON durations such as `"1.300s"`.
fn seconds(d: Option<&str>) -> f32 {
    d.and_then(|s| s.trim().trim_end_matches('s').parse::<f32>().ok())
        .unwrap_or(0.0)
        .max(0.0)
}

fn to_transcript(r: Response, include_words: bool, duration_s: f32) -> Transcript {
    let mut texts = Vec::new();
    let mut words = Vec::new();
    let (mut conf_sum, mut conf_n) = (0.0f32, 0usize);
    let mut language = None;
    // Each result covers a consecutive stretch of the audio; its first alternative is the best.
    for result in r.results {
        if language.is_none() {
            language = result
                .language_code
                .as_deref()
                .and_then(|l| crate::primary_language(Some(l)));
        }
        let Some(alt) = result.alternatives.into_iter().next() else {
            continue;
        };
        if alt.transcript.trim().is_empty() {
            continue;
        }
        texts.push(alt.transcript.trim().to_string());
        let alt_conf = alt.confidence.map(|c| c.clamp(0.0, 1.0));
        if let Some(c) = alt_conf {
            conf_sum += c;
            conf_n += 1;
        }
        if include_words {
            words.extend(alt.words.into_iter().map(|w| {
                let start = seconds(w.start_time.as_deref());
                Word {
                    word: w.word,
                    start,
                    end: seconds(w.end_time.as_deref()).max(start),
                    confidence: w.confidence.or(alt_conf).unwrap_or(0.0).clamp(0.0, 1.0),
                }
            }));
        }
    }
    Transcript {
        text: texts.join(" "),
        confidence: if conf_n > 0 {
            conf_sum / conf_n as f32
        } else {
            0.0
        },
        words,
        language,
        duration_s,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn languages_get_regions() {
        assert_eq!(google_language(None), "en-US");
        assert_eq!(google_language(Some("de")), "de-DE");
        assert_eq!(google_language(Some("en_GB")), "en-GB");
        assert_eq!(google_language(Some("bad lang!")), "en-US");
    }

    #[test]
    fn durations_parse() {
        assert_eq!(seconds(Some("1.300s")), 1.3);
        assert_eq!(seconds(Some("2s")), 2.0);
        assert_eq!(seconds(None), 0.0);
    }
}
