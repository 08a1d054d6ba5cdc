//! Groq: Canopy Labs' Orpheus models behind an OpenAI-compatible
//! `POST /audio/speech`. (Groq retired its PlayAI voices for these.)

use async_trait::async_trait;

use super::{Api, VoiceInfo};
use crate::align::Timing;
use crate::{Speech, SpeechRequest, TtsEngine, TtsError, Voice};

const DEFAULT_BASE: &str = "https://api.groq.com/openai/v1";
pub const ENGLISH_MODEL: &str = "canopylabs/orpheus-v1-english";
pub const ARABIC_MODEL: &str = "canopylabs/orpheus-arabic-saudi";
const DEFAULT_VOICE: &str = "autumn";
/// Orpheus on Groq refuses longer input; longer text goes in several
/// requests, split between sentences.
const MAX_INPUT_CHARS: usize = 200;
/// What `SpeechRequest` accepts; Groq documents no narrower range.
const SPEED_RANGE: (f32, f32) = (0.5, 2.0);

/// Orpheus' voices on Groq: six English ones for [`ENGLISH_MODEL`], six
/// Saudi Arabic ones for [`ARABIC_MODEL`].
pub(crate) const VOICES: &[VoiceInfo] = &[
    v("autumn", "Autumn", "en", "female"),
    v("diana", "Diana", "en", "female"),
    v("hannah", "Hannah", "en", "female"),
    v("austin", "Austin", "en", "male"),
    v("daniel", "Daniel", "en", "male"),
    v("troy", "Troy", "en", "male"),
    v("abdullah", "Abdullah", "ar-SA", "male"),
    v("fahad", "Fahad", "ar-SA", "male"),
    v("sultan", "Sultan", "ar-SA", "male"),
    v("lulwa", "Lulwa", "ar-SA", "female"),
    v("noura", "Noura", "ar-SA", "female"),
    v("aisha", "Aisha", "ar-SA", "female"),
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

/// Groq text-to-speech (Orpheus).
#[derive(Clone, Debug)]
pub struct GroqTts {
    api: Api,
    /// `None`: the model that has the requested voice.
    model: Option<String>,
}

impl GroqTts {
    /// `base_url` defaults to `https://api.groq.com/openai/v1`.
    pub fn new(api_key: String, base_url: Option<String>, http: reqwest::Client) -> Self {
        Self {
            api: Api::new("Groq", api_key, base_url, DEFAULT_BASE, http),
            model: None,
        }
    }

    /// One model for every voice, instead of the one each voice belongs to.
    pub fn with_model(mut self, model: impl Into<String>) -> Self {
        self.model = Some(model.into());
        self
    }

    /// The per-request limit (default [`super::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.api.timeout = timeout;
        self
    }

    fn model_for(&self, voice: &str) -> &str {
        if let Some(model) = &self.model {
            return model;
        }
        let arabic = VOICES
            .iter()
            .any(|v| v.id == voice && v.language.starts_with("ar"));
        if arabic { ARABIC_MODEL } else { ENGLISH_MODEL }
    }
}

#[async_trait]
impl TtsEngine for GroqTts {
    fn id(&self) -> &str {
        "groq"
    }

    fn default_voice(&self) -> &str {
        DEFAULT_VOICE
    }

    async fn voices(&self) -> Vec<Voice> {
        super::static_voices("groq")
    }

    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, TtsError> {
        let voice = req.voice.as_deref().unwrap_or(DEFAULT_VOICE);
        let speed = super::adjust(req.speed, SPEED_RANGE.0, SPEED_RANGE.1);
        let model = self.model_for(voice);
        let (text, audio) =
            super::openai::speak(&self.api, model, voice, &req.text, speed, MAX_INPUT_CHARS)
                .await?;
        let language = super::listed_language(VOICES, voice);
        super::finish(
            "groq",
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
