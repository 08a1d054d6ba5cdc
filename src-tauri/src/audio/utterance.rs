//! Microphone audio (16 kHz mono) into utterances, in the two ways the
//! Playground listens:
//!
//! - push-to-talk: everything between start and stop is the utterance; the
//!   VAD only says whether it held any speech (so an accidental click sends
//!   nothing to transcription);
//! - hands-free: the VAD cuts utterances at pauses (`StreamingVad`, Silero
//!   when its model is installed, else the energy detector), each one handed
//!   on as soon as the speaker stops.

use avatarium_stt::vad::{StreamingVad, VadConfig, VadEvent};

pub const SAMPLE_RATE: u32 = avatarium_stt::decode::SAMPLE_RATE;
/// A push-to-talk recording stops growing after this long.
pub const MAX_PUSH_TO_TALK_SECS: u32 = 120;

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum Mode {
    PushToTalk,
    HandsFree,
}

impl Mode {
    pub fn parse(s: &str) -> Option<Self> {
        match s {
            "push-to-talk" | "ptt" => Some(Self::PushToTalk),
            "hands-free" | "vad" => Some(Self::HandsFree),
            _ => None,
        }
    }
}

/// One utterance, 16 kHz mono.
#[derive(Debug, Clone, PartialEq)]
pub struct Utterance {
    pub samples: Vec<f32>,
    /// Where it starts in the stream since listening began.
    pub start_ms: u32,
    /// Whether the VAD heard speech in it (always true in hands-free mode).
    pub speech: bool,
}

impl Utterance {
    pub fn duration_ms(&self) -> u32 {
        (self.samples.len() as u64 * 1000 / u64::from(SAMPLE_RATE)) as u32
    }
}

#[derive(Debug, Clone, PartialEq)]
pub enum Cut {
    /// Speech has begun (hands-free): the UI can show that it hears you.
    SpeechStarted {
        at_ms: u32,
    },
    Utterance(Utterance),
}

pub struct Cutter {
    mode: Mode,
    vad: StreamingVad,
    /// Push-to-talk: the whole recording.
    recording: Vec<f32>,
    heard_speech: bool,
}

impl Cutter {
    pub fn new(mode: Mode, vad: VadConfig) -> Result<Self, String> {
        Ok(Self {
            mode,
            vad: StreamingVad::new(vad).map_err(|e| format!("cannot start the VAD: {e}"))?,
            recording: Vec::new(),
            heard_speech: false,
        })
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    /// Feeds the next chunk of 16 kHz mono audio.
    pub fn push(&mut self, pcm16k: &[f32]) -> Vec<Cut> {
        if self.mode == Mode::PushToTalk {
            let room = (MAX_PUSH_TO_TALK_SECS * SAMPLE_RATE) as usize - self.recording.len();
            let take = &pcm16k[..pcm16k.len().min(room)];
            self.recording.extend_from_slice(take);
            if !self.vad.push(take).is_empty() {
                self.heard_speech = true;
            }
            return Vec::new();
        }
        self.vad
            .push(pcm16k)
            .into_iter()
            .map(Self::cut_of)
            .collect()
    }

    /// Ends listening: push-to-talk's recording (if any audio came), or the
    /// hands-free utterance still in progress (if speech was under way).
    pub fn finish(mut self) -> Option<Utterance> {
        let events = self.vad.finish();
        match self.mode {
            Mode::PushToTalk => {
                if !events.is_empty() {
                    self.heard_speech = true;
                }
                (!self.recording.is_empty()).then(|| Utterance {
                    samples: std::mem::take(&mut self.recording),
                    start_ms: 0,
                    speech: self.heard_speech,
                })
            }
            Mode::HandsFree => events
                .into_iter()
                .rev()
                .find_map(|e| match Self::cut_of(e) {
                    Cut::Utterance(u) => Some(u),
                    Cut::SpeechStarted { .. } => None,
                }),
        }
    }

    fn cut_of(event: VadEvent) -> Cut {
        match event {
            VadEvent::SpeechStart { at_ms } => Cut::SpeechStarted { at_ms },
            VadEvent::SpeechEnd {
                utterance,
                start_ms,
                ..
            } => Cut::Utterance(Utterance {
                samples: utterance,
                start_ms,
                speech: true,
            }),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PER_MS: usize = SAMPLE_RATE as usize / 1000;

    fn silence(ms: usize) -> Vec<f32> {
        vec![0.0; ms * PER_MS]
    }

    /// A vowel-like tone: a 150 Hz fundamental with two formants.
    fn voice(ms: usize) -> Vec<f32> {
        (0..ms * PER_MS)
            .map(|i| {
                let t = i as f32 / SAMPLE_RATE as f32;
                let w = |f: f32| (2.0 * std::f32::consts::PI * f * t).sin();
                0.2 * w(150.0) + 0.1 * w(700.0) + 0.05 * w(1200.0)
            })
            .collect()
    }

    fn feed(cutter: &mut Cutter, audio: &[f32]) -> Vec<Cut> {
        // 10 ms chunks, like a device callback after resampling.
        audio.chunks(160).flat_map(|c| cutter.push(c)).collect()
    }

    fn utterances(cuts: &[Cut]) -> Vec<&Utterance> {
        cuts.iter()
            .filter_map(|c| match c {
                Cut::Utterance(u) => Some(u),
                _ => None,
            })
            .collect()
    }

    #[test]
    fn hands_free_cuts_two_utterances_at_the_pause() {
        let mut audio = silence(800);
        audio.extend(voice(900));
        audio.extend(silence(1200));
        audio.extend(voice(600));
        audio.extend(silence(1200));
        let mut c = Cutter::new(Mode::HandsFree, VadConfig::default()).unwrap();
        let cuts = feed(&mut c, &audio);
        let starts = cuts
            .iter()
            .filter(|c| matches!(c, Cut::SpeechStarted { .. }))
            .count();
        assert_eq!(starts, 2, "{cuts:?}");
        let us = utterances(&cuts);
        assert_eq!(us.len(), 2);
        // Each holds its speech, the pre-roll before it and a short tail.
        let (a, b) = (us[0], us[1]);
        assert!(
            (450..=550).contains(&a.start_ms),
            "first starts at {}",
            a.start_ms
        );
        assert!(
            (900..=1500).contains(&a.duration_ms()),
            "first lasts {}",
            a.duration_ms()
        );
        assert!(
            (2600..=2750).contains(&b.start_ms),
            "second starts at {}",
            b.start_ms
        );
        assert!(
            (600..=1200).contains(&b.duration_ms()),
            "second lasts {}",
            b.duration_ms()
        );
        assert!(a.speech && b.speech);
        assert!(c.finish().is_none(), "nothing left in progress");
    }

    #[test]
    fn hands_free_hands_over_speech_cut_off_by_stop() {
        let mut audio = silence(500);
        audio.extend(voice(700));
        let mut c = Cutter::new(Mode::HandsFree, VadConfig::default()).unwrap();
        assert!(utterances(&feed(&mut c, &audio)).is_empty());
        let u = c.finish().expect("the utterance in progress");
        assert!(u.duration_ms() >= 700, "{}", u.duration_ms());
    }

    #[test]
    fn hands_free_ignores_silence_and_clicks() {
        let mut audio = silence(1000);
        audio.extend(voice(60));
        audio.extend(silence(1000));
        let mut c = Cutter::new(Mode::HandsFree, VadConfig::default()).unwrap();
        assert!(feed(&mut c, &audio).is_empty());
        assert!(c.finish().is_none());
    }

    #[test]
    fn push_to_talk_returns_the_whole_recording() {
        let mut audio = silence(300);
        audio.extend(voice(800));
        audio.extend(silence(300));
        let mut c = Cutter::new(Mode::PushToTalk, VadConfig::default()).unwrap();
        assert!(feed(&mut c, &audio).is_empty(), "nothing before stop");
        let u = c.finish().unwrap();
        assert_eq!(u.samples, audio);
        assert_eq!(u.duration_ms(), 1400);
        assert!(u.speech);

        let mut quiet = Cutter::new(Mode::PushToTalk, VadConfig::default()).unwrap();
        feed(&mut quiet, &silence(500));
        let u = quiet.finish().unwrap();
        assert!(!u.speech, "silence is recorded but flagged");
        assert!(
            Cutter::new(Mode::PushToTalk, VadConfig::default())
                .unwrap()
                .finish()
                .is_none()
        );
    }

    #[test]
    fn push_to_talk_is_capped() {
        let mut c = Cutter::new(Mode::PushToTalk, VadConfig::default()).unwrap();
        let second = silence(1000);
        for _ in 0..MAX_PUSH_TO_TALK_SECS + 3 {
            c.push(&second);
        }
        let u = c.finish().unwrap();
        assert_eq!(u.duration_ms(), MAX_PUSH_TO_TALK_SECS * 1000);
    }

    #[test]
    fn modes_parse() {
        assert_eq!(Mode::parse("push-to-talk"), Some(Mode::PushToTalk));
        assert_eq!(Mode::parse("hands-free"), Some(Mode::HandsFree));
        assert_eq!(Mode::parse("loud"), None);
        assert_eq!(
            serde_json::to_string(&Mode::HandsFree).unwrap(),
            "\"hands-free\""
        );
    }
}
