//! Google Cloud Text-to-Speech: `POST /v1/text:synthesize`, answering
//! `{"audioContent": base64}`; LINEAR16 comes as a WAV file.

use async_trait::async_trait;
use base64::Engine as _;
use serde::Deserialize;
use serde_json::{Map, Value, json};

use super::{Api, Class, ErrorFormat, VoiceInfo};
use crate::align::Timing;
use crate::{Speech, SpeechRequest, TtsEngine, TtsError, Voice};

const DEFAULT_BASE: &str = "https://texttospeech.googleapis.com";
const DEFAULT_VOICE: &str = "en-US-Neural2-F";
const SAMPLE_RATE: u32 = 24_000;
/// Google limits input to 5,000 bytes; 1,600 characters stay under it even
/// in scripts of three bytes a character.
const MAX_INPUT_CHARS: usize = 1600;
const SPEAKING_RATE_RANGE: (f32, f32) = (0.25, 4.0);
/// Google's pitch is in semitones, ±20.
const MAX_SEMITONES: f32 = 20.0;

/// Neural2 voices: natural, cheap, and they honour both rate and pitch.
pub(crate) const VOICES: &[VoiceInfo] = &[
    v("en-US-Neural2-F", "US English F", "en-US", "female"),
    v("en-US-Neural2-C", "US English C", "en-US", "female"),
    v("en-US-Neural2-H", "US English H", "en-US", "female"),
    v("en-US-Neural2-D", "US English D", "en-US", "male"),
    v("en-US-Neural2-J", "US English J", "en-US", "male"),
    v("en-GB-Neural2-A", "British English A", "en-GB", "female"),
    v("en-GB-Neural2-B", "British English B", "en-GB", "male"),
    v("de-DE-Neural2-A", "German A", "de-DE", "female"),
    v("de-DE-Neural2-B", "German B", "de-DE", "male"),
    v("fr-FR-Neural2-A", "French A", "fr-FR", "female"),
    v("fr-FR-Neural2-B", "French B", "fr-FR", "male"),
    v("es-ES-Neural2-A", "Spanish A", "es-ES", "female"),
    v("es-ES-Neural2-B", "Spanish B", "es-ES", "male"),
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

/// Google Cloud Text-to-Speech.
#[derive(Clone, Debug)]
pub struct GoogleTts {
    api: Api,
}

impl GoogleTts {
    /// `base_url` defaults to `https://texttospeech.googleapis.com` (no `/v1`).
    pub fn new(api_key: String, base_url: Option<String>, http: reqwest::Client) -> Self {
        Self {
            api: Api::new("Google Cloud TTS", api_key, base_url, DEFAULT_BASE, http),
        }
    }

    /// The per-request limit (default [`super::DEFAULT_TIMEOUT`]).
    pub fn with_timeout(mut self, timeout: std::time::Duration) -> Self {
        self.api.timeout = timeout;
        self
    }
}

#[async_trait]
impl TtsEngine for GoogleTts {
    fn id(&self) -> &str {
        "google"
    }

    fn default_voice(&self) -> &str {
        DEFAULT_VOICE
    }

    async fn voices(&self) -> Vec<Voice> {
        super::static_voices("google")
    }

    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, TtsError> {
        let text = super::require_text(&req.text)?;
        let voice = req.voice.as_deref().unwrap_or(DEFAULT_VOICE);
        super::check_voice_id(voice)?;
        let language_code = language_code(voice);
        let config = audio_config(voice, req);
        // The key goes in a header rather than `?key=`: URLs end up in
        // reqwest's error text, proxies' logs and traces.
        let auth = self.api.auth(None)?;
        let (mut samples, mut rate) = (Vec::new(), 0);
        for piece in super::split_text(text, MAX_INPUT_CHARS) {
            let body = json!({
                "input": { "text": piece },
                "voice": { "languageCode": language_code, "name": voice },
                "audioConfig": config,
            });
            let request = self
                .api
                .post("/v1/text:synthesize")
                .header("x-goog-api-key", auth.clone())
                .json(&body);
            let reply = self.api.send(request, &ERRORS, voice).await?;
            let reply: Reply = serde_json::from_slice(&reply).map_err(|e| {
                TtsError::BadAudio(format!(
                    "{} sent a reply that could not be read: {e}",
                    self.api.name
                ))
            })?;
            let wav = base64::engine::general_purpose::STANDARD
                .decode(reply.audio_content.trim())
                .map_err(|e| {
                    TtsError::BadAudio(format!(
                        "{} sent audio that is not base64: {e}",
                        self.api.name
                    ))
                })?;
            let (part, part_rate) = super::decode_wav(self.api.name, &wav)?;
            super::append_audio(self.api.name, &mut samples, &mut rate, part, part_rate)?;
        }
        super::finish(
            "google",
            self.api.name,
            voice.to_owned(),
            (samples, rate),
            text,
            Timing::None,
            Some(&language_code),
        )
        .await
    }
}

/// `en-US-Neural2-F` → `en-US`: Google names voices after their language and
/// wants both, consistent, in the request.
fn language_code(voice: &str) -> String {
    let mut parts = voice.splitn(3, '-');
    match (parts.next(), parts.next()) {
        (Some(lang), Some(region))
            if (2..=3).contains(&lang.len()) && lang.chars().all(|c| c.is_ascii_lowercase()) =>
        {
            format!("{lang}-{region}")
        }
        _ => "en-US".to_owned(),
    }
}

fn audio_config(voice: &str, req: &SpeechRequest) -> Value {
    let mut config = Map::new();
    config.insert("audioEncoding".into(), json!("LINEAR16"));
    config.insert("sampleRateHertz".into(), json!(SAMPLE_RATE));
    if let Some(rate) = super::adjust(req.speed, SPEAKING_RATE_RANGE.0, SPEAKING_RATE_RANGE.1) {
        config.insert("speakingRate".into(), json!(super::decimal(rate)));
    }
    // Chirp and Journey voices reject any pitch at all.
    let takes_pitch = !(voice.contains("Chirp") || voice.contains("Journey"));
    if let Some(pitch) = super::adjust(req.pitch, 0.25, 4.0).filter(|_| takes_pitch) {
        // A frequency ratio, in semitones: 2.0 is an octave up.
        let semitones = (12.0 * pitch.log2()).clamp(-MAX_SEMITONES, MAX_SEMITONES);
        config.insert("pitch".into(), json!(super::decimal(semitones)));
    }
    Value::Object(config)
}

#[derive(Deserialize)]
#[serde(rename_all = "camelCase")]
struct Reply {
    audio_content: String,
}

/// `{"error": {"code": 400, "message": "…", "status": "INVALID_ARGUMENT",
/// "details": [{"reason": "API_KEY_INVALID", …}]}}`.
const ERRORS: ErrorFormat = ErrorFormat {
    message: super::error_message_field,
    reclassify,
};

fn reclassify(_: u16, body: &Value) -> Option<Class> {
    let error = body.get("error")?;
    let key_invalid = error
        .get("details")
        .and_then(Value::as_array)
        .is_some_and(|details| {
            details
                .iter()
                .any(|d| d.get("reason").and_then(Value::as_str) == Some("API_KEY_INVALID"))
        });
    // An invalid key is a 400 INVALID_ARGUMENT to Google; the user needs to
    // hear it is the key.
    match error.get("status").and_then(Value::as_str) {
        _ if key_invalid => Some(Class::Unauthorized),
        Some("UNAUTHENTICATED" | "PERMISSION_DENIED") => Some(Class::Unauthorized),
        Some("RESOURCE_EXHAUSTED") => Some(Class::RateLimited),
        _ => None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn language_code_comes_from_the_voice_name() {
        assert_eq!(language_code("en-US-Neural2-F"), "en-US");
        assert_eq!(language_code("cmn-CN-Wavenet-A"), "cmn-CN");
        assert_eq!(language_code("weird"), "en-US");
    }

    #[test]
    fn pitch_is_sent_in_semitones() {
        let req = SpeechRequest {
            pitch: Some(2.0),
            speed: Some(1.5),
            ..Default::default()
        };
        let config = audio_config("en-US-Neural2-F", &req);
        assert_eq!(config["pitch"], json!(12.0));
        assert_eq!(config["speakingRate"], json!(1.5));
        assert!(
            audio_config("en-US-Chirp3-HD-Charon", &req)
                .get("pitch")
                .is_none()
        );
        let normal = audio_config("en-US-Neural2-F", &SpeechRequest::default());
        assert!(normal.get("pitch").is_none() && normal.get("speakingRate").is_none());
    }
}
