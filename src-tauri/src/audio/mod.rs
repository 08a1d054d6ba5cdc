//! Native audio for the dashboard: the microphone (cpal → 16 kHz mono →
//! VAD → utterances as WAV) and speech playback (rodio), so the Playground
//! inside the app does not depend on the WebView's media stack (WebKitGTK's
//! getUserMedia needs GStreamer plugins and a permission prompt that a
//! Tauri window does not show).

pub mod capture;
pub mod playback;
pub mod resample;
pub mod utterance;
pub mod wav;

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use avatarium_stt::models;
use avatarium_stt::vad::VadConfig;

pub use utterance::{Cut, Mode, Utterance};

/// An utterance as the dashboard gets it.
#[derive(Debug, Clone, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct UtterancePayload {
    /// Base64 of a 16 kHz mono 16-bit WAV file.
    pub wav: String,
    pub duration_ms: u32,
    pub start_ms: u32,
    pub sample_rate: u32,
    /// Whether the VAD heard speech in it.
    pub speech: bool,
}

impl From<Utterance> for UtterancePayload {
    fn from(u: Utterance) -> Self {
        Self {
            wav: wav::to_base64(&wav::encode_pcm16(&u.samples, utterance::SAMPLE_RATE)),
            duration_ms: u.duration_ms(),
            start_ms: u.start_ms,
            sample_rate: utterance::SAMPLE_RATE,
            speech: u.speech,
        }
    }
}

/// The app's audio: at most one microphone session, one speaker.
pub struct Audio {
    speech_models_dir: PathBuf,
    listener: Mutex<Option<capture::Listener>>,
    pub speaker: playback::Speaker,
}

impl Audio {
    pub fn new(speech_models_dir: PathBuf) -> Self {
        Self {
            speech_models_dir,
            listener: Mutex::new(None),
            speaker: playback::Speaker::default(),
        }
    }

    /// Starts listening (stopping a session already running).
    pub fn start_listening(&self, mode: Mode, on_cut: capture::OnCut) -> Result<String, String> {
        let mut slot = self.listener.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(old) = slot.take() {
            old.stop();
        }
        let listener = capture::Listener::start(mode, vad_config(&self.speech_models_dir), on_cut)?;
        let device = listener.device().to_string();
        *slot = Some(listener);
        Ok(device)
    }

    /// Stops listening: the push-to-talk recording or the hands-free
    /// utterance in progress, if any.
    pub fn stop_listening(&self) -> Option<Utterance> {
        let listener = self
            .listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .take();
        listener.and_then(capture::Listener::stop)
    }

    pub fn listening(&self) -> Option<Mode> {
        self.listener
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .as_ref()
            .map(capture::Listener::mode)
    }
}

/// Silero when its model is among the speech models (as the server's
/// realtime sessions do), else the energy detector.
pub fn vad_config(speech_models_dir: &Path) -> VadConfig {
    let cfg = VadConfig::default();
    match models::resolve(speech_models_dir, models::VAD_MODEL.name) {
        Ok(path) => cfg.with_model(path),
        Err(_) => cfg,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_utterance_becomes_base64_wav() {
        let u = Utterance {
            samples: vec![0.25; 8_000],
            start_ms: 1_200,
            speech: true,
        };
        let p = UtterancePayload::from(u);
        assert_eq!(
            (p.duration_ms, p.start_ms, p.sample_rate),
            (500, 1_200, 16_000)
        );
        let pcm = wav::decode(&wav::from_base64(&p.wav).unwrap()).unwrap();
        assert_eq!(
            (pcm.channels, pcm.sample_rate, pcm.samples.len()),
            (1, 16_000, 8_000)
        );
        let json = serde_json::to_value(&p).unwrap();
        assert!(json.get("durationMs").is_some() && json.get("wav").is_some());
    }

    #[test]
    fn without_a_silero_model_the_energy_vad_is_used() {
        let dir = tempfile::tempdir().unwrap();
        assert_eq!(vad_config(dir.path()).model, None);
    }

    #[test]
    fn no_session_means_nothing_to_stop() {
        let dir = tempfile::tempdir().unwrap();
        let audio = Audio::new(dir.path().to_path_buf());
        assert_eq!(audio.listening(), None);
        assert!(audio.stop_listening().is_none());
        assert_eq!(audio.speaker.status(), playback::Status::default());
    }
}
