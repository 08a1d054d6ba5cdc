//! ElevenLabs: `POST /v1/text-to-speech/{voice_id}/with-timestamps`, which
//! returns the audio together with the start and end time of every
//! character, so the mouth follows the voice's own timing.

use async_trait::async_trait;
use base64::Engine as _;
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value, json};

use super::{Api, Class, ErrorFormat, VoiceInfo};
use crate::align::{CharTiming, Timing};
use crate::{Speech, SpeechRequest, TtsEngine, TtsError, Voice};

const DEFAULT_BASE: &str = "https://api.elevenlabs.io";
/// The most natural model that returns character timestamps.
pub const MULTILINGUAL_MODEL: &str = "eleven_multilingual_v2";
/// Lower latency at some cost in expressiveness; timestamps too.
pub const FLASH_MODEL: &str = "eleven_flash_v2_5";
/// Raw PCM needs no decoder, and 22.05 kHz is offered on every plan (44.1 kHz
/// PCM is not).
const OUTPUT_FORMAT: &str = "pcm_22050";
const SAMPLE_RATE: u32 = 22_050;
/// Sarah: the premade voice ElevenLabs itself uses as an example.
const DEFAULT_VOICE: &str = "EXAVITQu4vr4xnSDxMaL";
/// ElevenLabs accepts `voice_settings.speed` only in this range.
const SPEED_RANGE: (f32, f32) = (0.7, 1.2);

/// Premade voices from ElevenLabs' voice library, available to every account.
/// They speak any language `eleven_multilingual_v2` knows; the language here
/// is the one they were recorded in.
pub(crate) const VOICES: &[VoiceInfo] = &[
    v("EXAVITQu4vr4xnSDxMaL", "Sarah", "en-US", "female"),
    v("FGY2WhTYpPnrIDTdsKH5", "Laura", "en-US", "female"),
    v("cgSgspJ2msm6clMCkdW9", "Jessica", "en-US", "female"),
    v("XrExE9yKIg1WjnnlVkGX", "Matilda", "en-US", "female"),
    v("Xb7hH8MSUJpSbSDYk0k2", "Alice", "en-GB", "female"),
    v("pFZP5JQG7iQjIQuC4Bku", "Lily", "en-GB", "female"),
    v("SAz9YHcvj6GT2YYXdXww", "River", "en-US", "neutral"),
    v("TX3LPaxmHKxFdv7VOQHJ", "Liam", "en-US", "male"),
    v("cjVigY5qzO86Huf0OWal", "Eric", "en-US", "male"),
    v("nPczCjzI2devNBz1zQrb", "Brian", "en-US", "male"),
    v("iP95p4xoKVk53GoZ742B", "Chris", "en-US", "male"),
    v("bIHbv24MWmeRgasZH58o", "Will", "en-US", "male"),
    v("CwhRBWXzGAHq8TQ4Fs17", "Roger", "en-US", "male"),
    v("JBFqnCBsd6RMkjVDRZzb", "George", "en-GB", "male"),
    v("onwK4e9ZLuTAKqWW03F9", "Daniel", "en-GB", "male"),
    v("IKne3meq5aSn9XLyUdCD", "Charlie", "en-AU", "male"),
];

const fn v(
    id: &'static str,
    name: &'static str,
    language: &'static str,
    gender: &'static str,
) -> VoiceInfo {
    VoiceInfo {
        id,
        name,
        language,
        gender: Some(gender),
    }
}

/// ElevenLabs' `voice_settings`: how a voice performs. Unset fields are left
/// out of the request. Deserialises from the JSON the API itself uses, so a
/// stored `{"stability": 0.5, "similarity_boost": 0.75}` (003's per-avatar
/// `voice_settings`) becomes one with
/// `serde_json::from_value::<VoiceSettings>(stored)`, then
/// [`ElevenLabsTts::with_voice_settings`]; unknown fields are ignored.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct VoiceSettings {
    /// 0–1: lower is more expressive, higher more even.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub stability: Option<f64>,
    /// 0–1: how closely to stick to the original voice.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub similarity_boost: Option<f64>,
    /// 0–1: style exaggeration.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub style: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub use_speaker_boost: Option<bool>,
    /// 0.7–1.2. A request's own `speed` takes precedence.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub speed: Option<f64>,
}

/// ElevenLabs text-to-speech with character timestamps.
#[derive(Clone, Debug)]
pub struct ElevenLabsTts {
    api: Api,
    model: String,
    voice_settings: Option<VoiceSettings>,
}

impl ElevenLabsTts {
    /// `base_url` defaults to `https://api.elevenlabs.io` (no `/v1`).
    pub fn new(api_key: String, base_url: Option<String>, http: reqwest::Client) -> Self {
        Self {
            api: Api::new("ElevenLabs", api_key, base_url, DEFAULT_BASE, http),
            model: MULTILINGUAL_MODEL.to_owned(),
            voice_settings: None,
        }
    }

    /// Another model id, e.g. [`FLASH_MODEL`]; it must support timestamps.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// Sent as `voice_settings` with every request.
    pub fn with_voice_settings(mut self, settings: VoiceSettings) -> Self {
        self.voice_settings = Some(settings);
        self
    }

    /// The per-request limit (default [`super::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.api.timeout = timeout;
        self
    }

    fn body(&self, text: &str, speed: Option<f32>) -> Value {
        let mut body = Map::new();
        body.insert("text".into(), json!(text));
        body.insert("model_id".into(), json!(self.model));
        let mut settings = self.voice_settings.clone().unwrap_or_default();
        if let Some(speed) = super::adjust(speed, SPEED_RANGE.0, SPEED_RANGE.1) {
            settings.speed = Some(super::decimal(speed));
        }
        if settings != VoiceSettings::default() {
            body.insert("voice_settings".into(), json!(settings));
        }
        Value::Object(body)
    }
}

#[async_trait]
impl TtsEngine for ElevenLabsTts {
    fn id(&self) -> &str {
        "elevenlabs"
    }

    fn default_voice(&self) -> &str {
        DEFAULT_VOICE
    }

    async fn voices(&self) -> Vec<Voice> {
        super::static_voices("elevenlabs")
    }

    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, TtsError> {
        let text = super::require_text(&req.text)?;
        let voice = req.voice.as_deref().unwrap_or(DEFAULT_VOICE);
        super::check_voice_id(voice)?;
        let request = self
            .api
            .post(&format!("/v1/text-to-speech/{voice}/with-timestamps"))
            .query(&[("output_format", OUTPUT_FORMAT)])
            .header("xi-api-key", self.api.auth(None)?)
            .json(&self.body(text, req.speed));
        let body = self.api.send(request, &ERRORS, voice).await?;
        let reply: Reply = serde_json::from_slice(&body).map_err(|e| {
            TtsError::BadAudio(format!(
                "ElevenLabs sent a reply that could not be read: {e}"
            ))
        })?;
        let pcm = base64::engine::general_purpose::STANDARD
            .decode(reply.audio_base64.trim())
            .map_err(|e| {
                TtsError::BadAudio(format!("ElevenLabs sent audio that is not base64: {e}"))
            })?;
        let samples = super::pcm16le(&pcm);
        // The normalised alignment spells numbers and symbols out as spoken
        // ("3" → "three"), which is what the mouth does.
        let (timing, spoken) = [reply.normalized_alignment, reply.alignment]
            .into_iter()
            .flatten()
            .find_map(|a| a.into_chars())
            .map(|chars| {
                let spoken: String = chars.iter().map(|c| c.ch).collect();
                (Timing::Chars(chars), spoken)
            })
            .unwrap_or_else(|| (Timing::None, text.to_owned()));
        let language = super::listed_language(VOICES, voice);
        super::finish(
            "elevenlabs",
            self.api.name,
            voice.to_owned(),
            (samples, SAMPLE_RATE),
            &spoken,
            timing,
            language,
        )
        .await
    }
}

#[derive(Deserialize)]
struct Reply {
    audio_base64: String,
    #[serde(default)]
    alignment: Option<Alignment>,
    #[serde(default)]
    normalized_alignment: Option<Alignment>,
}

#[derive(Deserialize)]
struct Alignment {
    characters: Vec<String>,
    character_start_times_seconds: Vec<f64>,
    character_end_times_seconds: Vec<f64>,
}

impl Alignment {
    /// `None` when the three arrays disagree or are empty: no timing beats
    /// wrong timing, since the aligner can still fit the text to the audio.
    fn into_chars(self) -> Option<Vec<CharTiming>> {
        let n = self.characters.len();
        if n == 0
            || self.character_start_times_seconds.len() != n
            || self.character_end_times_seconds.len() != n
        {
            return None;
        }
        let ms = |s: f64| (s.max(0.0) * 1000.0).round() as u32;
        let mut out = Vec::with_capacity(n);
        for ((text, start), end) in self
            .characters
            .iter()
            .zip(self.character_start_times_seconds)
            .zip(self.character_end_times_seconds)
        {
            let (start_ms, end_ms) = (ms(start), ms(end));
            for ch in text.chars() {
                out.push(CharTiming {
                    ch,
                    start_ms,
                    end_ms: end_ms.max(start_ms),
                });
            }
        }
        (!out.is_empty()).then_some(out)
    }
}

/// ElevenLabs errors: `{"detail": {"status": "invalid_api_key", "message":
/// "…"}}`, or FastAPI's `{"detail": [{"loc": […], "msg": "…"}]}` for a 422.
const ERRORS: ErrorFormat = ErrorFormat {
    message: error_message,
    reclassify,
};

fn error_message(body: &Value) -> Option<String> {
    let detail = body.get("detail")?;
    if let Some(text) = detail.as_str() {
        return Some(text.to_owned());
    }
    if let Some(message) = detail.get("message").and_then(Value::as_str) {
        return Some(message.to_owned());
    }
    let problems: Vec<String> = detail
        .as_array()?
        .iter()
        .filter_map(|p| {
            let msg = p.get("msg").and_then(Value::as_str)?;
            let field = p
                .get("loc")
                .and_then(Value::as_array)
                .and_then(|loc| loc.last())
                .map(|f| f.as_str().map_or_else(|| f.to_string(), str::to_owned));
            Some(match field {
                Some(field) => format!("{field}: {msg}"),
                None => msg.to_owned(),
            })
        })
        .collect();
    (!problems.is_empty()).then(|| problems.join("; "))
}

fn reclassify(_: u16, body: &Value) -> Option<Class> {
    match body.pointer("/detail/status").and_then(Value::as_str)? {
        // Sent as a 401, but the key is fine: the plan's characters are used up.
        "quota_exceeded" => Some(Class::RateLimited),
        "voice_not_found" => Some(Class::UnknownVoice),
        _ => None,
    }
}
