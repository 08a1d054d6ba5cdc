use async_trait::async_trait;
use serde::Serialize;

use avatarium_lipsync::{Timeline, WordTiming};

#[derive(Clone, Debug, Default)]
pub struct SpeechRequest {
    pub text: String,
    /// Engine-specific voice id; None: the engine's default voice.
    pub voice: Option<String>,
    /// 1.0 is normal; 0.5–2.0 accepted.
    pub speed: Option<f32>,
    /// 1.0 is normal; 0.5–2.0 accepted where the engine supports it.
    pub pitch: Option<f32>,
}

/// Synthesised speech: mono PCM with its visemes and word timings.
#[derive(Clone, Debug)]
pub struct Speech {
    pub samples: Vec<i16>,
    pub sample_rate: u32,
    pub visemes: Timeline,
    pub words: Vec<WordTiming>,
    pub voice_id: String,
    pub provider: String,
    /// How the visemes were obtained: `engine`, `alignment`, `g2p`, `audio`.
    pub viseme_source: &'static str,
}

impl Speech {
    pub fn duration_ms(&self) -> u32 {
        if self.sample_rate == 0 {
            return 0;
        }
        (self.samples.len() as u64 * 1000 / u64::from(self.sample_rate)) as u32
    }
}

#[derive(Clone, Debug, Serialize, PartialEq)]
#[serde(rename_all = "camelCase")]
pub struct Voice {
    pub id: String,
    pub name: String,
    pub language: String,
    pub gender: Option<String>,
    pub provider: String,
    pub offline: bool,
}

#[derive(Debug, Clone, thiserror::Error)]
pub enum TtsError {
    #[error("{0}")]
    BadRequest(String),
    #[error("unknown voice '{0}'")]
    UnknownVoice(String),
    #[error("the speech provider refused the credentials: {0}")]
    Unauthorized(String),
    #[error("the speech provider is rate limiting: {0}")]
    RateLimited(String),
    #[error("the speech provider failed: {0}")]
    Upstream(String),
    #[error("the speech provider did not answer in time")]
    Timeout,
    #[error("the speech provider sent audio that could not be read: {0}")]
    BadAudio(String),
    #[error("{0}")]
    NotConfigured(String),
    #[error("speech synthesis failed: {0}")]
    Engine(String),
}

#[async_trait]
pub trait TtsEngine: Send + Sync {
    /// `local`, `elevenlabs`, `groq`, `deepgram`, `openai`, `google`.
    fn id(&self) -> &str;
    fn default_voice(&self) -> &str;
    async fn voices(&self) -> Vec<Voice>;
    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, TtsError>;
}
