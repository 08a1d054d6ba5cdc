//! Cloud speech engines: ElevenLabs, Groq, Deepgram Aura, OpenAI and Google
//! Cloud Text-to-Speech, all used only with a key the user brings.
//!
//! Every engine hands back mono PCM with a viseme timeline. ElevenLabs sends a
//! character alignment with the audio, so its visemes follow the real timing
//! (`viseme_source` "alignment"); the others send bare audio, and the text's
//! phonemes are fitted to it (`viseme_source` "g2p", see [`crate::align`]).
//!
//! API keys never leave an engine except in the provider's auth header: Debug
//! output shows `<redacted>`, and error text from the provider is scrubbed of
//! the key (and of masked echoes of it) before it reaches a [`TtsError`].

pub mod deepgram;
pub mod elevenlabs;
pub mod google;
pub mod groq;
pub mod openai;

use std::borrow::Cow;
use std::fmt;
use std::time::Duration;

use reqwest::header::HeaderValue;
use serde_json::Value;

use crate::align::{Timing, visemes_for};
use crate::{Speech, TtsEngine, TtsError, Voice};

pub use deepgram::DeepgramTts;
pub use elevenlabs::{ElevenLabsTts, VoiceSettings};
pub use google::GoogleTts;
pub use groq::GroqTts;
pub use openai::OpenAiTts;

/// The cloud engines [`engine_for`] knows, by [`TtsEngine::id`].
pub const CLOUD_PROVIDERS: &[&str] = &["elevenlabs", "groq", "deepgram", "openai", "google"];

/// How long one request to a provider may take, body included. Long replies
/// take a few seconds to synthesise; a minute only trips on a stuck upstream.
pub const DEFAULT_TIMEOUT: Duration = Duration::from_secs(60);

/// The engine for a cloud provider id (one of [`CLOUD_PROVIDERS`]), talking to
/// `base_url` when given (a proxy, or a fake in tests) instead of the
/// provider's own host. `None` for an unknown id.
///
/// Engines are cheap: `http` is shared, so building one per request (for
/// per-avatar settings such as ElevenLabs' [`VoiceSettings`]) costs nothing.
pub fn engine_for(
    provider: &str,
    api_key: String,
    base_url: Option<String>,
    http: reqwest::Client,
) -> Option<Box<dyn TtsEngine>> {
    Some(match provider {
        "elevenlabs" => Box::new(ElevenLabsTts::new(api_key, base_url, http)),
        "groq" => Box::new(GroqTts::new(api_key, base_url, http)),
        "deepgram" => Box::new(DeepgramTts::new(api_key, base_url, http)),
        "openai" => Box::new(OpenAiTts::new(api_key, base_url, http)),
        "google" => Box::new(GoogleTts::new(api_key, base_url, http)),
        _ => return None,
    })
}

/// The well-known voices of a cloud provider, without asking it (so without a
/// key): what `GET /v1/tts/voices` lists. Empty for an unknown id.
pub fn static_voices(provider: &str) -> Vec<Voice> {
    let (id, table) = match provider {
        "elevenlabs" => ("elevenlabs", elevenlabs::VOICES),
        "groq" => ("groq", groq::VOICES),
        "deepgram" => ("deepgram", deepgram::VOICES),
        "openai" => ("openai", openai::VOICES),
        "google" => ("google", google::VOICES),
        _ => return Vec::new(),
    };
    table.iter().map(|v| v.to_voice(id)).collect()
}

/// One row of a provider's voice list.
pub(crate) struct VoiceInfo {
    pub id: &'static str,
    pub name: &'static str,
    /// BCP 47, e.g. `en-US`, or just the language where the voice has no
    /// fixed region.
    pub language: &'static str,
    pub gender: Option<&'static str>,
}

impl VoiceInfo {
    fn to_voice(&self, provider: &str) -> Voice {
        Voice {
            id: self.id.to_owned(),
            name: self.name.to_owned(),
            language: self.language.to_owned(),
            gender: self.gender.map(str::to_owned),
            provider: provider.to_owned(),
            offline: false,
        }
    }
}

/// The language of a listed voice, for the aligner's text→phoneme rules:
/// the whole tag, since the accent matters too (`en-GB` is not `en-US`).
pub(crate) fn listed_language(table: &[VoiceInfo], voice: &str) -> Option<&'static str> {
    table.iter().find(|v| v.id == voice).map(|v| v.language)
}

/// An API key that cannot be printed by accident.
#[derive(Clone)]
pub(crate) struct ApiKey(String);

impl ApiKey {
    /// The key as an HTTP header value, marked sensitive so that reqwest and
    /// hyper leave it out of their own Debug output.
    fn header(&self, scheme: Option<&str>) -> Result<HeaderValue, TtsError> {
        let text = match scheme {
            Some(scheme) => format!("{scheme} {}", self.0),
            None => self.0.clone(),
        };
        let mut value = HeaderValue::from_str(&text).map_err(|_| {
            TtsError::Unauthorized("the API key has characters that cannot be sent".into())
        })?;
        value.set_sensitive(true);
        Ok(value)
    }

    /// `text` without the key. Some providers echo it back in "invalid key"
    /// messages, in full or masked (`sk-abc…****wxyz`); a masked echo still
    /// gives away part of it, so any word carrying a long enough piece of the
    /// key, or a run of mask stars, goes too.
    pub(crate) fn redact(&self, text: &str) -> String {
        let key = self.0.trim();
        if key.is_empty() {
            return text.to_owned();
        }
        let text = text.replace(key, "[redacted]");
        let chars: Vec<char> = key.chars().collect();
        let head: String = chars.iter().take(8).collect();
        let tail: String = chars[chars.len().saturating_sub(6)..].iter().collect();
        let long_key = chars.len() >= 12;
        let leaks = |word: &str| {
            let word = word.trim_matches(|c: char| !c.is_alphanumeric() && c != '*');
            word.len() >= 8
                && (word.contains("****")
                    || (long_key && (word.contains(&head) || word.contains(&tail))))
        };
        if !text.split_whitespace().any(leaks) {
            return text;
        }
        let mut out = String::with_capacity(text.len());
        let mut rest = text.as_str();
        while let Some(start) = rest.find(|c: char| !c.is_whitespace()) {
            out.push_str(&rest[..start]);
            rest = &rest[start..];
            let end = rest.find(char::is_whitespace).unwrap_or(rest.len());
            let word = &rest[..end];
            if leaks(word) {
                out.push_str("[redacted]");
            } else {
                out.push_str(word);
            }
            rest = &rest[end..];
        }
        out.push_str(rest);
        out
    }
}

impl fmt::Debug for ApiKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("<redacted>")
    }
}

/// What an engine needs to reach its provider.
#[derive(Clone)]
pub(crate) struct Api {
    /// For error messages: `ElevenLabs`, `Deepgram`…
    pub name: &'static str,
    pub base: String,
    pub key: ApiKey,
    pub http: reqwest::Client,
    pub timeout: Duration,
}

impl Api {
    pub(crate) fn new(
        name: &'static str,
        api_key: String,
        base_url: Option<String>,
        default_base: &str,
        http: reqwest::Client,
    ) -> Self {
        let base = base_url
            .map(|b| b.trim().trim_end_matches('/').to_owned())
            .filter(|b| !b.is_empty())
            .unwrap_or_else(|| default_base.to_owned());
        Self {
            name,
            base,
            key: ApiKey(api_key.trim().to_owned()),
            http,
            timeout: DEFAULT_TIMEOUT,
        }
    }

    /// A POST to `{base}{path}`, with the request timeout set.
    pub(crate) fn post(&self, path: &str) -> reqwest::RequestBuilder {
        self.http
            .post(format!("{}{path}", self.base))
            .timeout(self.timeout)
    }

    /// The key as a header value, `{scheme} {key}` when a scheme is given.
    pub(crate) fn auth(&self, scheme: Option<&str>) -> Result<HeaderValue, TtsError> {
        self.key.header(scheme)
    }

    /// Sends `request` and returns the body of a 2xx reply; anything else
    /// becomes the matching [`TtsError`], in words the provider chose where
    /// `errors` can find them.
    pub(crate) async fn send(
        &self,
        request: reqwest::RequestBuilder,
        errors: &ErrorFormat,
        voice: &str,
    ) -> Result<Vec<u8>, TtsError> {
        let reply = request.send().await.map_err(|e| self.transport_error(&e))?;
        let status = reply.status();
        let body = reply.bytes().await.map_err(|e| self.transport_error(&e))?;
        if status.is_success() {
            return Ok(body.to_vec());
        }
        let error = self.status_error(status.as_u16(), &body, errors, voice);
        tracing::debug!(provider = self.name, status = status.as_u16(), %error, "speech request failed");
        Err(error)
    }

    fn status_error(
        &self,
        status: u16,
        body: &[u8],
        errors: &ErrorFormat,
        voice: &str,
    ) -> TtsError {
        let json: Value = serde_json::from_slice(body).unwrap_or(Value::Null);
        let said = (errors.message)(&json)
            .or_else(|| {
                // Gateways in front of the API answer in plain text or HTML;
                // a short plain line is still worth showing.
                let text = String::from_utf8_lossy(body);
                let text = text.trim();
                (!text.is_empty() && !text.starts_with('<') && !text.starts_with('{'))
                    .then(|| text.to_owned())
            })
            .map(|m| truncate(m.trim(), 300));
        let message = match said {
            Some(said) => format!("{} (HTTP {status}): {said}", self.name),
            None => format!("{} answered HTTP {status}", self.name),
        };
        let message = self.key.redact(&message);
        let class = (errors.reclassify)(status, &json).unwrap_or(match status {
            401 | 403 => Class::Unauthorized,
            429 => Class::RateLimited,
            400..=499 => Class::BadRequest,
            _ => Class::Upstream,
        });
        match class {
            Class::Unauthorized => TtsError::Unauthorized(message),
            Class::RateLimited => TtsError::RateLimited(message),
            Class::BadRequest => TtsError::BadRequest(message),
            Class::UnknownVoice => TtsError::UnknownVoice(voice.to_owned()),
            Class::Upstream => TtsError::Upstream(message),
        }
    }

    fn transport_error(&self, e: &reqwest::Error) -> TtsError {
        if e.is_timeout() {
            return TtsError::Timeout;
        }
        // reqwest's own line ("error sending request") hides the useful part,
        // e.g. "Connection refused", in its source chain.
        let mut message = format!("{}: {e}", self.name);
        let mut source = std::error::Error::source(e);
        while let Some(cause) = source {
            let text = cause.to_string();
            if !message.contains(&text) {
                message.push_str(": ");
                message.push_str(&text);
            }
            source = cause.source();
        }
        TtsError::Upstream(self.key.redact(&message))
    }
}

impl fmt::Debug for Api {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Api")
            .field("base", &self.base)
            .field("key", &self.key)
            .field("timeout", &self.timeout)
            .finish_non_exhaustive()
    }
}

/// How a provider words its errors.
pub(crate) struct ErrorFormat {
    /// The human-readable message in an error body.
    pub message: fn(&Value) -> Option<String>,
    /// Errors whose HTTP status misleads (Google's invalid key is a 400).
    pub reclassify: fn(u16, &Value) -> Option<Class>,
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Class {
    Unauthorized,
    RateLimited,
    BadRequest,
    UnknownVoice,
    Upstream,
}

/// `{"error": {"message": …}}`, the shape OpenAI, Groq and Google share.
pub(crate) fn error_message_field(body: &Value) -> Option<String> {
    body.pointer("/error/message")
        .or_else(|| body.get("error").filter(|e| e.is_string()))
        .or_else(|| body.get("message"))
        .and_then(Value::as_str)
        .map(str::to_owned)
}

pub(crate) fn no_reclassify(_: u16, _: &Value) -> Option<Class> {
    None
}

fn truncate(text: &str, max_chars: usize) -> String {
    match text.char_indices().nth(max_chars) {
        Some((cut, _)) => format!("{}…", &text[..cut]),
        None => text.to_owned(),
    }
}

/// Refuses text with nothing to say before it costs a request.
pub(crate) fn require_text(text: &str) -> Result<&str, TtsError> {
    let text = text.trim();
    if text.is_empty() {
        return Err(TtsError::BadRequest("there is no text to speak".into()));
    }
    Ok(text)
}

/// Reads a WAV reply; anything unreadable is the provider's fault.
pub(crate) fn decode_wav(name: &str, bytes: &[u8]) -> Result<(Vec<i16>, u32), TtsError> {
    match crate::wav::decode_wav(&with_real_lengths(bytes)) {
        Ok(audio) => Ok(audio),
        Err(TtsError::BadAudio(m)) => Err(TtsError::BadAudio(format!("{name}: {m}"))),
        Err(e) => Err(TtsError::BadAudio(format!("{name}: {e}"))),
    }
}

/// A streamed WAV file with its real lengths. OpenAI (and servers copying
/// it) send the header before the audio exists, with 0xFFFFFFFF for the
/// RIFF and `data` sizes; strict readers then look for gigabytes of samples
/// and fail. A `data` chunk claiming more than arrived is cut to what
/// arrived, in whole frames. Well-formed files pass through untouched.
pub(crate) fn with_real_lengths(bytes: &[u8]) -> Cow<'_, [u8]> {
    if bytes.len() < 12 || &bytes[0..4] != b"RIFF" || &bytes[8..12] != b"WAVE" {
        return Cow::Borrowed(bytes);
    }
    let u32_at =
        |at: usize| u32::from_le_bytes([bytes[at], bytes[at + 1], bytes[at + 2], bytes[at + 3]]);
    let mut frame = 1;
    let mut pos = 12;
    while pos + 8 <= bytes.len() {
        let len = u32_at(pos + 4) as usize;
        let body = pos + 8;
        match &bytes[pos..pos + 4] {
            b"fmt " if body + 14 <= bytes.len() => {
                frame =
                    usize::from(u16::from_le_bytes([bytes[body + 12], bytes[body + 13]])).max(1);
            }
            b"data" => {
                let arrived = bytes.len() - body;
                if len <= arrived {
                    return Cow::Borrowed(bytes);
                }
                let real = arrived - arrived % frame;
                let mut fixed = bytes[..body + real].to_vec();
                fixed[pos + 4..body].copy_from_slice(&(real as u32).to_le_bytes());
                let riff = (fixed.len() - 8) as u32;
                fixed[4..8].copy_from_slice(&riff.to_le_bytes());
                return Cow::Owned(fixed);
            }
            _ => {}
        }
        // Chunks are padded to an even length.
        pos = body.saturating_add(len).saturating_add(len & 1);
    }
    Cow::Borrowed(bytes)
}

/// Raw little-endian 16-bit PCM. A dangling odd byte is dropped rather than
/// failing the whole reply.
pub(crate) fn pcm16le(bytes: &[u8]) -> Vec<i16> {
    bytes
        .chunks_exact(2)
        .map(|b| i16::from_le_bytes([b[0], b[1]]))
        .collect()
}

/// Splits text for providers that cap the input length: at sentence ends
/// where possible, else at clause breaks, else between words, so that each
/// piece still sounds like speech. Pieces are at most `max_chars` characters.
pub(crate) fn split_text(text: &str, max_chars: usize) -> Vec<&str> {
    let max_chars = max_chars.max(1);
    let mut pieces = Vec::new();
    let mut rest = text.trim();
    while !rest.is_empty() {
        let Some((limit, _)) = rest.char_indices().nth(max_chars) else {
            pieces.push(rest);
            break;
        };
        let window = &rest[..limit];
        let after = |i: usize, c: char| i + c.len_utf8();
        let sentence = window
            .char_indices()
            .rev()
            .find(|&(i, c)| {
                matches!(c, '.' | '!' | '?' | '…' | '\n')
                    && rest[after(i, c)..].starts_with(char::is_whitespace)
                    || matches!(c, '。' | '！' | '？')
            })
            .map(|(i, c)| after(i, c));
        let clause = || {
            window
                .char_indices()
                .rev()
                .find(|&(i, c)| {
                    matches!(c, ',' | ';' | ':' | '—' | '，' | '、')
                        && (rest[after(i, c)..].starts_with(char::is_whitespace) || !c.is_ascii())
                })
                .map(|(i, c)| after(i, c))
        };
        let word = || window.rfind(char::is_whitespace);
        let cut = sentence
            .or_else(clause)
            .or_else(word)
            .filter(|&cut| cut > 0)
            .unwrap_or(limit);
        let piece = rest[..cut].trim();
        if !piece.is_empty() {
            pieces.push(piece);
        }
        rest = rest[cut..].trim_start();
    }
    pieces
}

/// Joins the audio of several requests; they must agree on the sample rate.
pub(crate) fn append_audio(
    name: &str,
    all: &mut Vec<i16>,
    rate: &mut u32,
    samples: Vec<i16>,
    sample_rate: u32,
) -> Result<(), TtsError> {
    if *rate != 0 && *rate != sample_rate {
        return Err(TtsError::BadAudio(format!(
            "{name} changed sample rate between parts of one reply ({} Hz, then {sample_rate} Hz)",
            *rate
        )));
    }
    *rate = sample_rate;
    all.extend(samples);
    Ok(())
}

/// What every engine ends with: the visemes for the audio, and the [`Speech`].
pub(crate) async fn finish(
    provider: &str,
    name: &str,
    voice_id: String,
    (samples, sample_rate): (Vec<i16>, u32),
    text: &str,
    timing: Timing,
    language: Option<&str>,
) -> Result<Speech, TtsError> {
    if sample_rate == 0 {
        return Err(TtsError::BadAudio(format!(
            "{name} sent audio with no sample rate"
        )));
    }
    if samples.is_empty() {
        return Err(TtsError::BadAudio(format!("{name} sent no audio")));
    }
    let (visemes, words, viseme_source) =
        visemes_for(&samples, sample_rate, Some(text), timing, language).await;
    Ok(Speech {
        samples,
        sample_rate,
        visemes,
        words,
        voice_id,
        provider: provider.to_owned(),
        viseme_source,
    })
}

/// Clamps an optional multiplier to a provider's range; `None` when it is
/// absent or normal, so requests only carry settings someone asked for.
pub(crate) fn adjust(value: Option<f32>, min: f32, max: f32) -> Option<f32> {
    value
        .filter(|v| v.is_finite() && (v - 1.0).abs() > 1e-3)
        .map(|v| v.clamp(min, max))
}

/// An `f32` setting as the decimal it was written as: widening 1.1f32 to
/// f64 would send 1.100000023841858.
pub(crate) fn decimal(value: f32) -> f64 {
    value.to_string().parse().unwrap_or(f64::from(value))
}

/// Voice ids become URL path segments or query values; anything outside
/// this set is certainly not a voice id, and could change the URL.
pub(crate) fn check_voice_id(voice: &str) -> Result<(), TtsError> {
    let ok = !voice.is_empty()
        && voice.len() <= 128
        && voice
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'));
    if ok {
        Ok(())
    } else {
        Err(TtsError::UnknownVoice(voice.to_owned()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_removes_full_and_masked_keys() {
        let key = ApiKey("sk-proj-abcdefghijklmnopqrstuvwxyz0123".into());
        let said = "Incorrect API key provided: sk-proj-****************************0123. \
                    You can find your API key at https://platform.openai.com/account/api-keys.";
        let clean = key.redact(said);
        assert!(!clean.contains("0123"), "{clean}");
        assert!(clean.contains("[redacted]"));
        assert!(clean.contains("https://platform.openai.com/account/api-keys."));
        let clean = key.redact("bad key sk-proj-abcdefghijklmnopqrstuvwxyz0123!");
        assert_eq!(clean, "bad key [redacted]!");
        let clean = key.redact("prefix sk-proj-abcdefgh… only");
        assert_eq!(clean, "prefix [redacted] only");
        assert_eq!(key.redact("nothing here"), "nothing here");
        assert_eq!(format!("{key:?}"), "<redacted>");
    }

    #[test]
    fn split_prefers_sentences_then_clauses_then_words() {
        let text = "One two three. Four five six, seven eight nine ten eleven.";
        assert_eq!(
            split_text(text, 20),
            [
                "One two three.",
                "Four five six,",
                "seven eight nine",
                "ten eleven."
            ]
        );
        assert_eq!(split_text("  short  ", 200), ["short"]);
        assert_eq!(split_text("abcdefghij", 4), ["abcd", "efgh", "ij"]);
        let long = "word ".repeat(100);
        assert!(
            split_text(&long, 200)
                .iter()
                .all(|p| p.chars().count() <= 200)
        );
        assert!(split_text("", 10).is_empty());
        assert_eq!(
            split_text("日本語の文。次の文。", 7),
            ["日本語の文。", "次の文。"]
        );
    }

    #[test]
    fn streamed_wav_lengths_are_repaired() {
        let mut wav = b"RIFF\xff\xff\xff\xffWAVEfmt \x10\0\0\0\x01\0\x01\0\xc0\x5d\0\0\x80\xbb\0\0\x02\0\x10\0data\xff\xff\xff\xff".to_vec();
        wav.extend_from_slice(&[1, 0, 2, 0, 3]);
        let fixed = with_real_lengths(&wav);
        assert_eq!(fixed.len(), 48, "the dangling half sample goes");
        assert_eq!(&fixed[40..44], &4u32.to_le_bytes());
        assert_eq!(&fixed[4..8], &40u32.to_le_bytes());
        assert_eq!(
            crate::wav::decode_wav(&fixed).unwrap(),
            (vec![1, 2], 24_000)
        );
        let good = fixed.into_owned();
        assert!(matches!(with_real_lengths(&good), Cow::Borrowed(_)));
        assert!(matches!(with_real_lengths(b"not a wav"), Cow::Borrowed(_)));
        assert!(matches!(
            with_real_lengths(b"RIFF\0\0\0\0WAVEfmt \xff\xff\xff\xff"),
            Cow::Borrowed(_)
        ));
    }

    #[test]
    fn adjust_skips_normal_and_clamps() {
        assert_eq!(adjust(None, 0.7, 1.2), None);
        assert_eq!(adjust(Some(1.0), 0.7, 1.2), None);
        assert_eq!(adjust(Some(2.0), 0.7, 1.2), Some(1.2));
        assert_eq!(adjust(Some(f32::NAN), 0.7, 1.2), None);
    }

    #[test]
    fn voice_ids_cannot_change_the_url() {
        assert!(check_voice_id("EXAVITQu4vr4xnSDxMaL").is_ok());
        assert!(check_voice_id("aura-2-thalia-en").is_ok());
        assert!(check_voice_id("../v1/user").is_err());
        assert!(check_voice_id("a?b").is_err());
        assert!(check_voice_id("").is_err());
    }
}
