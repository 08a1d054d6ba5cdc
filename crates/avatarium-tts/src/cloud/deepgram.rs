//! Deepgram Aura: `POST /v1/speak?model=…`, where the model names the voice.

use async_trait::async_trait;
use serde_json::{Value, json};

use super::{Api, ErrorFormat, VoiceInfo};
use crate::align::Timing;
use crate::{Speech, SpeechRequest, TtsEngine, TtsError, Voice};

const DEFAULT_BASE: &str = "https://api.deepgram.com";
const DEFAULT_VOICE: &str = "aura-2-thalia-en";
/// Aura's native rate; asking for it avoids a resampling step upstream.
const SAMPLE_RATE: &str = "24000";
/// Deepgram's documented input limit for one request.
const MAX_INPUT_CHARS: usize = 2000;
/// Aura-2's `speed` control; Aura-1 models have none.
const SPEED_RANGE: (f32, f32) = (0.7, 1.5);

/// Aura-2 voices: the model id is `aura-2-{name}-{language}`.
pub(crate) const VOICES: &[VoiceInfo] = &[
    v("aura-2-thalia-en", "Thalia", "en-US", "female"),
    v("aura-2-andromeda-en", "Andromeda", "en-US", "female"),
    v("aura-2-helena-en", "Helena", "en-US", "female"),
    v("aura-2-asteria-en", "Asteria", "en-US", "female"),
    v("aura-2-athena-en", "Athena", "en-US", "female"),
    v("aura-2-luna-en", "Luna", "en-US", "female"),
    v("aura-2-hera-en", "Hera", "en-US", "female"),
    v("aura-2-apollo-en", "Apollo", "en-US", "male"),
    v("aura-2-arcas-en", "Arcas", "en-US", "male"),
    v("aura-2-aries-en", "Aries", "en-US", "male"),
    v("aura-2-orion-en", "Orion", "en-US", "male"),
    v("aura-2-orpheus-en", "Orpheus", "en-US", "male"),
    v("aura-2-zeus-en", "Zeus", "en-US", "male"),
    v("aura-2-hermes-en", "Hermes", "en-US", "male"),
    v("aura-2-celeste-es", "Celeste", "es", "female"),
    v("aura-2-nestor-es", "Néstor", "es", "male"),
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

/// Deepgram Aura text-to-speech.
#[derive(Clone, Debug)]
pub struct DeepgramTts {
    api: Api,
}

impl DeepgramTts {
    /// `base_url` defaults to `https://api.deepgram.com` (no `/v1`).
    pub fn new(api_key: String, base_url: Option<String>, http: reqwest::Client) -> Self {
        Self {
            api: Api::new("Deepgram", api_key, base_url, DEFAULT_BASE, http),
        }
    }

    /// The per-request limit (default [`super::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.api.timeout = timeout;
        self
    }
}

#[async_trait]
impl TtsEngine for DeepgramTts {
    fn id(&self) -> &str {
        "deepgram"
    }

    fn default_voice(&self) -> &str {
        DEFAULT_VOICE
    }

    async fn voices(&self) -> Vec<Voice> {
        super::static_voices("deepgram")
    }

    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, TtsError> {
        let text = super::require_text(&req.text)?;
        let voice = req.voice.as_deref().unwrap_or(DEFAULT_VOICE);
        super::check_voice_id(voice)?;
        let speed = super::adjust(req.speed, SPEED_RANGE.0, SPEED_RANGE.1)
            .filter(|_| voice.starts_with("aura-2-"));
        let auth = self.api.auth(Some("Token"))?;
        let (mut samples, mut rate) = (Vec::new(), 0);
        for piece in super::split_text(text, MAX_INPUT_CHARS) {
            let mut query = vec![
                ("model", voice.to_owned()),
                ("encoding", "linear16".to_owned()),
                ("sample_rate", SAMPLE_RATE.to_owned()),
                ("container", "wav".to_owned()),
            ];
            if let Some(speed) = speed {
                query.push(("speed", format!("{speed}")));
            }
            let request = self
                .api
                .post("/v1/speak")
                .query(&query)
                .header(reqwest::header::AUTHORIZATION, auth.clone())
                .json(&json!({ "text": piece }));
            let wav = self.api.send(request, &ERRORS, voice).await?;
            let (part, part_rate) = super::decode_wav(self.api.name, &wav)?;
            super::append_audio(self.api.name, &mut samples, &mut rate, part, part_rate)?;
        }
        super::finish(
            "deepgram",
            self.api.name,
            voice.to_owned(),
            (samples, rate),
            text,
            Timing::None,
            Some(super::listed_language(VOICES, voice).unwrap_or_else(|| language_of(voice))),
        )
        .await
    }
}

/// `aura-2-thalia-en` → `en`: every Aura model id ends in its language.
fn language_of(model: &str) -> &str {
    match model.rsplit('-').next() {
        Some(lang) if (2..=3).contains(&lang.len()) => lang,
        _ => "en",
    }
}

/// Deepgram answers errors in one of two shapes: `{"err_code", "err_msg",
/// "request_id"}` or `{"category", "message", "details", "request_id"}`.
const ERRORS: ErrorFormat = ErrorFormat {
    message: error_message,
    reclassify: super::no_reclassify,
};

fn error_message(body: &Value) -> Option<String> {
    let text = |k: &str| {
        body.get(k)
            .and_then(Value::as_str)
            .filter(|s| !s.is_empty())
    };
    if let Some(msg) = text("err_msg") {
        return Some(msg.to_owned());
    }
    match (text("message"), text("details")) {
        (Some(message), Some(details)) => Some(format!("{message} {details}")),
        (Some(message), None) => Some(message.to_owned()),
        (None, details) => details.map(str::to_owned),
    }
}
