//! Cloud speech-to-text engines (opt-in, each needs the user's API key).
//!
//! API keys never appear in errors, logs or `Debug` output: reqwest errors are stripped of their
//! URL (Google takes the key as a query parameter) and upstream messages are scrubbed of the key.

use std::time::Duration;

use serde::Serialize;

use crate::{SttEngine, SttError};

mod deepgram;
mod google;
mod groq;

pub use deepgram::DeepgramStt;
pub use google::GoogleStt;
pub use groq::GroqStt;

/// Per-request time limit unless an engine is built `with_timeout`.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(90);

/// Builds the cloud engine for `provider` (`"groq"`, `"deepgram"`, `"google"`). `None` for an
/// unknown provider, for `"local"` (which needs a model, see [`crate::whisper::LocalWhisper`]) or
/// for an empty key.
pub fn engine_for(
    provider: &str,
    api_key: String,
    base_url: Option<String>,
    http: reqwest::Client,
) -> Option<Box<dyn SttEngine>> {
    if api_key.trim().is_empty() {
        return None;
    }
    match provider.trim().to_ascii_lowercase().as_str() {
        "groq" => Some(Box::new(GroqStt::new(api_key, base_url, http))),
        "deepgram" => Some(Box::new(DeepgramStt::new(api_key, base_url, http))),
        "google" => Some(Box::new(GoogleStt::new(api_key, base_url, http))),
        _ => None,
    }
}

/// What the settings UI shows about each engine.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ProviderInfo {
    pub id: &'static str,
    pub name: &'static str,
    /// ISO 639-1 codes the engine transcribes.
    pub languages: Vec<&'static str>,
    /// Typical time to a transcript for a short utterance, for ranking in the UI.
    pub latency_estimate_ms: u32,
    pub requires_key: bool,
    pub offline: bool,
    pub word_timestamps: bool,
}

/// Every engine, the offline `"local"` whisper first.
pub fn providers_info() -> Vec<ProviderInfo> {
    let whisper = whisper_languages();
    vec![
        ProviderInfo {
            id: "local",
            name: "Whisper (local, offline)",
            languages: whisper.clone(),
            latency_estimate_ms: 1500,
            requires_key: false,
            offline: true,
            word_timestamps: true,
        },
        ProviderInfo {
            id: "groq",
            name: "Groq Whisper large-v3-turbo",
            languages: whisper,
            latency_estimate_ms: 600,
            requires_key: true,
            offline: false,
            word_timestamps: true,
        },
        ProviderInfo {
            id: "deepgram",
            name: "Deepgram Nova-2",
            languages: deepgram::LANGUAGES.to_vec(),
            latency_estimate_ms: 500,
            requires_key: true,
            offline: false,
            word_timestamps: true,
        },
        ProviderInfo {
            id: "google",
            name: "Google Cloud Speech-to-Text",
            languages: google::LANGUAGES.to_vec(),
            latency_estimate_ms: 1200,
            requires_key: true,
            offline: false,
            word_timestamps: true,
        },
    ]
}

/// The languages whisper knows, straight from whisper.cpp's table.
fn whisper_languages() -> Vec<&'static str> {
    (0..=whisper_rs::get_lang_max_id())
        .filter_map(whisper_rs::get_lang_str)
        .collect()
}

/// Maps a language as cloud whisper reports it (`"English"`) or a code (`"en-US"`) to ISO 639-1.
pub(crate) fn language_code(reported: &str) -> Option<String> {
    let lower = reported.trim().to_ascii_lowercase();
    if lower.is_empty() {
        return None;
    }
    let by_name = (0..=whisper_rs::get_lang_max_id())
        .find(|&id| whisper_rs::get_lang_str_full(id) == Some(lower.as_str()))
        .and_then(whisper_rs::get_lang_str);
    match by_name {
        Some(code) => Some(code.to_string()),
        None => crate::primary_language(Some(&lower)),
    }
}

/// Shared plumbing: the key, base URL, client and timeout every engine carries.
#[derive(Clone)]
pub(crate) struct Conn {
    pub key: String,
    pub base: String,
    pub http: reqwest::Client,
    pub timeout: Duration,
    pub provider: &'static str,
}

impl Conn {
    pub fn new(
        provider: &'static str,
        key: String,
        base_url: Option<String>,
        default_base: &str,
        http: reqwest::Client,
    ) -> Self {
        let base = base_url
            .filter(|b| !b.trim().is_empty())
            .unwrap_or_else(|| default_base.to_string());
        Self {
            key: key.trim().to_string(),
            base: base.trim_end_matches('/').to_string(),
            http,
            timeout: DEFAULT_TIMEOUT,
            provider,
        }
    }

    /// Removes the key from text that may echo it (upstream error bodies).
    pub fn scrub(&self, text: &str) -> String {
        if self.key.len() >= 4 {
            text.replace(&self.key, "[redacted]")
        } else {
            text.to_string()
        }
    }

    pub fn transport_error(&self, e: reqwest::Error) -> SttError {
        if e.is_timeout() {
            return SttError::Timeout;
        }
        let what = if e.is_connect() {
            "cannot connect"
        } else {
            "request failed"
        };
        // `without_url`: Google carries the key in the query string.
        SttError::Upstream(self.scrub(&format!("{}: {what}: {}", self.provider, e.without_url())))
    }

    /// Sends `request` with the engine's timeout and returns the body of a 2xx answer, or the
    /// mapped error.
    pub async fn send(&self, request: reqwest::RequestBuilder) -> Result<Vec<u8>, SttError> {
        let response = request
            .timeout(self.timeout)
            .send()
            .await
            .map_err(|e| self.transport_error(e))?;
        let status = response.status();
        let retry_after = response
            .headers()
            .get(reqwest::header::RETRY_AFTER)
            .and_then(|v| v.to_str().ok())
            .map(str::to_string);
        let body = response
            .bytes()
            .await
            .map_err(|e| self.transport_error(e))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        Err(self.status_error(status.as_u16(), &body, retry_after.as_deref()))
    }

    pub fn status_error(&self, status: u16, body: &[u8], retry_after: Option<&str>) -> SttError {
        let detail = self.scrub(&error_detail(body));
        let msg = if detail.is_empty() {
            format!("{} answered HTTP {status}", self.provider)
        } else {
            format!("{} answered HTTP {status}: {detail}", self.provider)
        };
        let key_rejected = {
            let lower = detail.to_ascii_lowercase();
            lower.contains("api key not valid")
                || lower.contains("api_key_invalid")
                || lower.contains("invalid api key")
                || lower.contains("invalid_api_key")
        };
        match status {
            401 | 403 => SttError::Unauthorized(msg),
            // Google answers 400 for a bad key.
            400 if key_rejected => SttError::Unauthorized(msg),
            429 => SttError::RateLimited(match retry_after {
                Some(after) => format!("{msg} (retry after {after} s)"),
                None => msg,
            }),
            // The request was understood but the audio was not acceptable.
            400 | 413 | 415 | 422 => SttError::BadAudio(msg),
            408 | 504 => SttError::Timeout,
            _ => SttError::Upstream(msg),
        }
    }

    pub fn parse<T: serde::de::DeserializeOwned>(&self, body: &[u8]) -> Result<T, SttError> {
        serde_json::from_slice(body).map_err(|e| {
            SttError::Upstream(format!("{}: unexpected response ({e})", self.provider))
        })
    }
}

/// Pulls a human-readable message out of a JSON error body (`{"error":{"message":…}}`,
/// `{"err_msg":…}`, …), else returns the start of the raw body.
fn error_detail(body: &[u8]) -> String {
    const MAX: usize = 300;
    if let Ok(v) = serde_json::from_slice::<serde_json::Value>(body) {
        let candidates = [
            v.pointer("/error/message"),
            v.pointer("/error"),
            v.pointer("/err_msg"),
            v.pointer("/message"),
            v.pointer("/detail"),
        ];
        if let Some(s) = candidates.into_iter().flatten().find_map(|c| c.as_str()) {
            return truncate(s, MAX);
        }
    }
    truncate(String::from_utf8_lossy(body).trim(), MAX)
}

fn truncate(s: &str, max: usize) -> String {
    if s.len() <= max {
        return s.to_string();
    }
    let mut end = max;
    while !s.is_char_boundary(end) {
        end -= 1;
    }
    format!("{}…", &s[..end])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_names_map_to_codes() {
        assert_eq!(language_code("English").as_deref(), Some("en"));
        assert_eq!(language_code("german").as_deref(), Some("de"));
        assert_eq!(language_code("en-US").as_deref(), Some("en"));
        assert_eq!(language_code(""), None);
    }

    #[test]
    fn error_detail_prefers_json_message() {
        assert_eq!(error_detail(br#"{"error":{"message":"nope"}}"#), "nope");
        assert_eq!(error_detail(br#"{"err_msg":"bad"}"#), "bad");
        assert_eq!(error_detail(b"plain"), "plain");
        assert!(error_detail("é".repeat(400).as_bytes()).ends_with('…'));
    }

    #[test]
    fn providers_include_local() {
        let all = providers_info();
        let local = all.iter().find(|p| p.id == "local").unwrap();
        assert!(local.offline && !local.requires_key);
        assert!(local.languages.contains(&"en"));
        assert!(
            all.iter()
                .filter(|p| p.id != "local")
                .all(|p| p.requires_key)
        );
    }
}
