//! The user's audio: chunks as sent (raw PCM16 or WAV), the buffer an
//! explicit commit transcribes, and the voice activity detector that cuts
//! utterances while listening.

use std::path::Path;

use avatarium_stt::decode::{self, SAMPLE_RATE};
use avatarium_stt::models;
use avatarium_stt::vad::{StreamingVad, VadConfig, VadEvent};

/// The most audio one buffer holds before a commit (two minutes).
pub const MAX_BUFFER_SECONDS: usize = 120;

#[derive(Default)]
pub struct AudioInput {
    /// 16 kHz mono, appended while not listening.
    buffer: Vec<f32>,
    /// Present while listening.
    vad: Option<Box<StreamingVad>>,
}

/// What an append found, for the socket to act on.
#[derive(Debug, Default)]
pub struct Appended {
    /// The user started speaking (while listening).
    pub speech_started: bool,
    /// Utterances the VAD closed: each is a turn.
    pub utterances: Vec<Vec<f32>>,
}

/// Decodes one `audio_buffer_append` payload: a WAV file (RIFF) in any
/// format the decoder reads, resampled to 16 kHz mono; otherwise raw PCM16
/// little-endian, 16 kHz mono.
pub fn decode_chunk(bytes: &[u8]) -> Result<Vec<f32>, String> {
    if bytes.starts_with(b"RIFF") {
        return decode::decode_to_mono_16k(bytes, Some("audio/wav")).map_err(|e| e.to_string());
    }
    if !bytes.len().is_multiple_of(2) {
        return Err("raw audio must be 16-bit PCM: an even number of bytes".into());
    }
    Ok(bytes
        .chunks_exact(2)
        .map(|b| f32::from(i16::from_le_bytes([b[0], b[1]])) / 32768.0)
        .collect())
}

/// A VAD for a session: Silero when its model is installed among the
/// speech models, else the energy detector.
pub fn new_vad(speech_models_dir: &Path) -> Result<StreamingVad, String> {
    let cfg = VadConfig::default();
    let cfg = match models::resolve(speech_models_dir, models::VAD_MODEL.name) {
        Ok(path) => cfg.with_model(path),
        Err(_) => cfg,
    };
    StreamingVad::new(cfg).map_err(|e| e.to_string())
}

impl AudioInput {
    pub fn is_listening(&self) -> bool {
        self.vad.is_some()
    }

    pub fn start_listening(&mut self, vad: StreamingVad) {
        self.buffer.clear();
        self.vad = Some(Box::new(vad));
    }

    pub fn stop_listening(&mut self) {
        self.vad = None;
    }

    pub fn buffered_seconds(&self) -> f32 {
        self.buffer.len() as f32 / SAMPLE_RATE as f32
    }

    /// Adds decoded audio: to the VAD while listening, else to the buffer.
    pub fn append(&mut self, pcm: &[f32]) -> Result<Appended, String> {
        let mut out = Appended::default();
        match &mut self.vad {
            Some(vad) => {
                for ev in vad.push(pcm) {
                    match ev {
                        VadEvent::SpeechStart { .. } => out.speech_started = true,
                        VadEvent::SpeechEnd { utterance, .. } => out.utterances.push(utterance),
                    }
                }
            }
            None => {
                if self.buffer.len() + pcm.len() > MAX_BUFFER_SECONDS * SAMPLE_RATE as usize {
                    return Err(format!(
                        "The audio buffer holds at most {MAX_BUFFER_SECONDS} s: commit or clear it"
                    ));
                }
                self.buffer.extend_from_slice(pcm);
            }
        }
        Ok(out)
    }

    /// Everything to transcribe now: the utterance in progress while
    /// listening, else the buffer. Empty when there is nothing.
    pub fn commit(&mut self) -> Vec<f32> {
        match &mut self.vad {
            Some(vad) => {
                let mut audio = Vec::new();
                for ev in vad.finish() {
                    if let VadEvent::SpeechEnd { utterance, .. } = ev {
                        audio.extend(utterance);
                    }
                }
                audio
            }
            None => std::mem::take(&mut self.buffer),
        }
    }

    pub fn clear(&mut self) {
        self.buffer.clear();
        if let Some(vad) = &mut self.vad {
            vad.reset();
        }
    }
}

/// 16 kHz mono samples as a WAV file, for the speech-to-text engines.
pub fn to_wav(pcm: &[f32]) -> Vec<u8> {
    let samples: Vec<i16> = pcm
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect();
    avatarium_tts::wav::encode_wav(&samples, SAMPLE_RATE)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn raw_pcm_and_wav_decode_alike() {
        let samples: Vec<i16> = (0..1600).map(|i| ((i % 50) * 300) as i16).collect();
        let raw: Vec<u8> = samples.iter().flat_map(|s| s.to_le_bytes()).collect();
        let a = decode_chunk(&raw).unwrap();
        let b = decode_chunk(&avatarium_tts::wav::encode_wav(&samples, 16_000)).unwrap();
        assert_eq!(a.len(), 1600);
        assert_eq!(a.len(), b.len());
        assert!(a.iter().zip(&b).all(|(x, y)| (x - y).abs() < 1e-3));
        assert!(decode_chunk(&[1, 2, 3]).is_err());
    }

    #[test]
    fn the_buffer_is_bounded_and_commit_empties_it() {
        let mut input = AudioInput::default();
        input.append(&vec![0.1; 16_000]).unwrap();
        assert!((input.buffered_seconds() - 1.0).abs() < 1e-6);
        assert!(
            input
                .append(&vec![0.0; MAX_BUFFER_SECONDS * 16_000])
                .is_err()
        );
        assert_eq!(input.commit().len(), 16_000);
        assert!(input.commit().is_empty());
    }
}
