//! OpenAI: `POST /audio/speech`, the request Groq's speech endpoint copies.
//! The reply is bare audio, so the visemes come from fitting the text's
//! phonemes to it.

use async_trait::async_trait;
use serde_json::{Map, Value, json};

use super::{Api, ErrorFormat, VoiceInfo};
use crate::align::Timing;
use crate::{Speech, SpeechRequest, TtsEngine, TtsError, Voice};

const DEFAULT_BASE: &str = "https://api.openai.com/v1";
/// Steerable, cheaper than `tts-1-hd`, and it knows every listed voice.
pub const DEFAULT_MODEL: &str = "gpt-4o-mini-tts";
const DEFAULT_VOICE: &str = "alloy";
/// OpenAI's documented input limit.
const MAX_INPUT_CHARS: usize = 4096;
const SPEED_RANGE: (f32, f32) = (0.25, 4.0);

/// OpenAI's built-in voices. They speak whatever language the text is in;
/// OpenAI gives no gender for them. `ballad`, `verse`, `marin` and `cedar`
/// need `gpt-4o-mini-tts` (the default model), not `tts-1`.
pub(crate) const VOICES: &[VoiceInfo] = &[
    v("alloy", "Alloy"),
    v("ash", "Ash"),
    v("ballad", "Ballad"),
    v("coral", "Coral"),
    v("echo", "Echo"),
    v("fable", "Fable"),
    v("nova", "Nova"),
    v("onyx", "Onyx"),
    v("sage", "Sage"),
    v("shimmer", "Shimmer"),
    v("verse", "Verse"),
    v("marin", "Marin"),
    v("cedar", "Cedar"),
];

const fn v(id: &'static str, name: &'static str) -> VoiceInfo {
    VoiceInfo {
        id,
        name,
        language: "en",
        gender: None,
    }
}

/// OpenAI text-to-speech.
#[derive(Clone, Debug)]
pub struct OpenAiTts {
    api: Api,
    model: String,
}

impl OpenAiTts {
    /// `base_url` defaults to `https://api.openai.com/v1`.
    pub fn new(api_key: String, base_url: Option<String>, http: reqwest::Client) -> Self {
        Self {
            api: Api::new("OpenAI", api_key, base_url, DEFAULT_BASE, http),
            model: DEFAULT_MODEL.to_owned(),
        }
    }

    /// Another model: `tts-1`, `tts-1-hd`…
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = model.into();
        self
    }

    /// The per-request limit (default [`super::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.api.timeout = timeout;
        self
    }
}

#[async_trait]
impl TtsEngine for OpenAiTts {
    fn id(&self) -> &str {
        "openai"
    }

    fn default_voice(&self) -> &str {
        DEFAULT_VOICE
    }

    async fn voices(&self) -> Vec<Voice> {
        super::static_voices("openai")
    }

    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, TtsError> {
        let voice = req.voice.as_deref().unwrap_or(DEFAULT_VOICE);
        let speed = super::adjust(req.speed, SPEED_RANGE.0, SPEED_RANGE.1);
        let (text, audio) = speak(
            &self.api,
            &self.model,
            voice,
            &req.text,
            speed,
            MAX_INPUT_CHARS,
        )
        .await?;
        let language = super::listed_language(VOICES, voice);
        super::finish(
            "openai",
            self.api.name,
            voice.to_owned(),
            audio,
            text,
            Timing::None,
            language,
        )
        .await
    }
}

/// `POST {base}/audio/speech` for OpenAI and the servers that copy it, one
/// request per piece of text the server's input limit allows, the WAV
/// replies joined. Returns the trimmed text and the audio.
pub(crate) async fn speak<'t>(
    api: &Api,
    model: &str,
    voice: &str,
    text: &'t str,
    speed: Option<f32>,
    max_input_chars: usize,
) -> Result<(&'t str, (Vec<i16>, u32)), TtsError> {
    let text = super::require_text(text)?;
    if voice.trim().is_empty() {
        return Err(TtsError::UnknownVoice(voice.to_owned()));
    }
    let auth = api.auth(Some("Bearer"))?;
    let (mut samples, mut rate) = (Vec::new(), 0);
    for piece in super::split_text(text, max_input_chars) {
        let mut body = Map::new();
        body.insert("model".into(), json!(model));
        body.insert("input".into(), json!(piece));
        body.insert("voice".into(), json!(voice));
        body.insert("response_format".into(), json!("wav"));
        if let Some(speed) = speed {
            body.insert("speed".into(), json!(super::decimal(speed)));
        }
        let request = api
            .post("/audio/speech")
            .header(reqwest::header::AUTHORIZATION, auth.clone())
            .json(&Value::Object(body));
        let wav = api.send(request, &ERRORS, voice).await?;
        let (part, part_rate) = super::decode_wav(api.name, &wav)?;
        super::append_audio(api.name, &mut samples, &mut rate, part, part_rate)?;
    }
    Ok((text, (samples, rate)))
}

/// `{"error": {"message": "…", "type": "…", "code": "…"}}`.
const ERRORS: ErrorFormat = ErrorFormat {
    message: super::error_message_field,
    reclassify: super::no_reclassify,
};
