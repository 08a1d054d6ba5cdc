//! Voice activity detection: where the speech is, offline or while the user talks.
//!
//! With a model ([`VadConfig::with_model`]) the Silero VAD built into whisper.cpp scores each
//! 32 ms window; without one an adaptive energy detector stands in (fine in a quiet room, fooled
//! by steady noise). Both feed the same segmenter, so offline [`segments`] and [`StreamingVad`]
//! agree on where an utterance starts and ends.
//!
//! Every utterance is padded with `pre_roll_ms` of audio before the detected onset: detectors
//! fire a little after the first phoneme (plosives and fricatives are quiet), and cutting it off
//! costs whisper the first word.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

use whisper_rs::{WhisperVadContext, WhisperVadContextParams};

use crate::SttError;
use crate::decode::{MAX_SECONDS, SAMPLE_RATE};

const SAMPLES_PER_MS: usize = SAMPLE_RATE as usize / 1000;
/// Silero's window at 16 kHz.
const SILERO_FRAME: usize = 512;
/// Streaming Silero scores this many new windows per call (128 ms of latency)…
const SILERO_HOP_FRAMES: usize = 4;
/// …after re-running this many earlier windows, because whisper.cpp resets the LSTM state on
/// every call and Silero needs some history to settle.
const SILERO_CONTEXT_FRAMES: usize = 16;
const ENERGY_FRAME: usize = 320;
/// Audio kept after the end of speech, so trailing consonants survive.
const MAX_TAIL_MS: u32 = 200;

#[derive(Debug, Clone, PartialEq)]
pub struct VadConfig {
    /// Speech probability (0–1) above which a frame counts as speech.
    pub threshold: f32,
    /// Shorter bursts (coughs, clicks) are ignored.
    pub min_speech_ms: u32,
    /// A pause this long ends an utterance.
    pub min_silence_ms: u32,
    /// Audio kept before the detected onset.
    pub pre_roll_ms: u32,
    /// A Silero VAD model in ggml format (`ggml-silero-v6.2.0.bin`); `None` uses the energy
    /// detector.
    pub model: Option<PathBuf>,
}

impl Default for VadConfig {
    fn default() -> Self {
        Self {
            threshold: 0.5,
            min_speech_ms: 250,
            min_silence_ms: 500,
            pre_roll_ms: 300,
            model: None,
        }
    }
}

impl VadConfig {
    /// Uses the Silero model at `path`.
    pub fn with_model(mut self, path: impl Into<PathBuf>) -> Self {
        self.model = Some(path.into());
        self
    }

    fn validate(&self) -> Result<(), SttError> {
        if !(self.threshold > 0.0 && self.threshold < 1.0) {
            return Err(SttError::NotConfigured(format!(
                "VAD threshold must be between 0 and 1, not {}",
                self.threshold
            )));
        }
        Ok(())
    }
}

/// Speech segments in `pcm16k` as `(start_ms, end_ms)`, the start already moved back by the
/// pre-roll (never into the previous segment) and the end including a short tail.
pub fn segments(pcm16k: &[f32], cfg: &VadConfig) -> Result<Vec<(u32, u32)>, SttError> {
    cfg.validate()?;
    let mut scorer = Scorer::new(cfg)?;
    let probs = scorer.score_all(pcm16k)?;
    let mut seg = Segmenter::new(cfg, scorer.frame_len());
    let mut out = Vec::new();
    let mut collect = |ev: SegEvent| {
        if let SegEvent::End { from, to } = ev {
            out.push((to_ms(from), to_ms(to)));
        }
    };
    for p in probs {
        seg.feed(p).into_iter().for_each(&mut collect);
    }
    seg.finish(pcm16k.len()).into_iter().for_each(&mut collect);
    Ok(out)
}

/// Which detector a VAD runs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum VadBackend {
    Silero,
    Energy,
}

#[derive(Debug, Clone, PartialEq)]
pub enum VadEvent {
    /// Speech has lasted `min_speech_ms`; `at_ms` is when it began (without the pre-roll).
    SpeechStart { at_ms: u32 },
    /// The utterance is over. `utterance` is the audio from `start_ms` (the onset minus the
    /// pre-roll) to `end_ms` (the end of speech plus a short tail), ready to transcribe.
    SpeechEnd {
        utterance: Vec<f32>,
        start_ms: u32,
        end_ms: u32,
    },
}

/// Incremental VAD for live microphone audio: push 16 kHz mono chunks of any size, get events.
///
/// Latency: Silero decides every 128 ms, the energy detector every 20 ms; an utterance ends
/// `min_silence_ms` after the speaker stops. Utterances are cut at [`MAX_SECONDS`].
pub struct StreamingVad {
    scorer: Scorer,
    seg: Segmenter,
    /// Audio from absolute sample `buf_start` on.
    buf: Vec<f32>,
    buf_start: usize,
    total: usize,
    scored: usize,
    pre_roll: usize,
}

impl std::fmt::Debug for StreamingVad {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("StreamingVad")
            .field("backend", &self.backend())
            .field("total_samples", &self.total)
            .field("buffered_samples", &self.buf.len())
            .finish()
    }
}

impl StreamingVad {
    pub fn new(cfg: VadConfig) -> Result<Self, SttError> {
        cfg.validate()?;
        let scorer = Scorer::new(&cfg)?;
        let seg = Segmenter::new(&cfg, scorer.frame_len());
        Ok(Self {
            scorer,
            seg,
            buf: Vec::new(),
            buf_start: 0,
            total: 0,
            scored: 0,
            pre_roll: ms_to_samples(cfg.pre_roll_ms),
        })
    }

    /// Shorthand for `StreamingVad::new(cfg.with_model(path))`.
    pub fn with_model(path: impl Into<PathBuf>, cfg: VadConfig) -> Result<Self, SttError> {
        Self::new(cfg.with_model(path))
    }

    pub fn backend(&self) -> VadBackend {
        match self.scorer {
            Scorer::Silero(_) => VadBackend::Silero,
            Scorer::Energy(_) => VadBackend::Energy,
        }
    }

    /// Whether an utterance is in progress (confirmed speech that has not ended yet).
    pub fn in_speech(&self) -> bool {
        self.seg.confirmed()
    }

    /// Feeds the next chunk of 16 kHz mono audio.
    pub fn push(&mut self, pcm16k: &[f32]) -> Vec<VadEvent> {
        self.buf.extend_from_slice(pcm16k);
        self.total += pcm16k.len();
        let mut events = Vec::new();
        let hop_frames = self.scorer.hop_frames();
        while self.total - self.scored >= hop_frames * self.scorer.frame_len() {
            self.score_next(hop_frames, &mut events);
        }
        self.trim();
        events
    }

    /// Ends the stream: the audio not yet scored is scored, and an utterance still in progress
    /// is closed and returned.
    pub fn finish(&mut self) -> Vec<VadEvent> {
        let mut events = Vec::new();
        let frame = self.scorer.frame_len();
        let rest = self.total - self.scored;
        if rest > 0 {
            let frames = rest.div_ceil(frame);
            self.buf.resize(self.buf.len() + frames * frame - rest, 0.0);
            self.score_next(frames, &mut events);
        }
        for ev in self.seg.finish(self.total) {
            events.push(self.to_event(ev));
        }
        self.reset();
        events
    }

    /// Scores the next `frames` frames after `scored`, with the scorer's context before them.
    fn score_next(&mut self, frames: usize, events: &mut Vec<VadEvent>) {
        let frame = self.scorer.frame_len();
        let ctx_start = self
            .scored
            .saturating_sub(self.scorer.context_frames() * frame)
            .max(self.buf_start);
        let end = self.scored + frames * frame;
        let window = &self.buf[ctx_start - self.buf_start..end - self.buf_start];
        let probs = self.scorer.score_tail(window, frames);
        self.scored = end;
        for p in probs {
            for ev in self.seg.feed(p) {
                events.push(self.to_event(ev));
            }
        }
    }

    /// Forgets all audio and state, e.g. when the microphone is muted.
    pub fn reset(&mut self) {
        self.seg.reset();
        self.scorer.reset();
        self.buf.clear();
        self.buf_start = 0;
        self.total = 0;
        self.scored = 0;
    }

    fn to_event(&self, ev: SegEvent) -> VadEvent {
        match ev {
            SegEvent::Start { onset } => VadEvent::SpeechStart {
                at_ms: to_ms(onset),
            },
            SegEvent::End { from, to } => {
                let lo = from.max(self.buf_start) - self.buf_start;
                let hi = (to.max(self.buf_start) - self.buf_start).min(self.buf.len());
                VadEvent::SpeechEnd {
                    utterance: self.buf[lo.min(hi)..hi].to_vec(),
                    start_ms: to_ms(from.max(self.buf_start)),
                    end_ms: to_ms(to),
                }
            }
        }
    }

    /// Drops audio that can no longer be part of an utterance or of the scoring context.
    fn trim(&mut self) {
        let frame = self.scorer.frame_len();
        let keep_ctx = self
            .scored
            .saturating_sub(self.scorer.context_frames() * frame);
        let keep_seg = self
            .seg
            .utterance_floor()
            .unwrap_or_else(|| self.scored.saturating_sub(self.pre_roll));
        let keep_from = keep_ctx.min(keep_seg);
        // Drain in bulk rather than on every 20 ms push.
        if keep_from > self.buf_start + SAMPLE_RATE as usize {
            self.buf.drain(..keep_from - self.buf_start);
            self.buf_start = keep_from;
        }
    }
}

fn ms_to_samples(ms: u32) -> usize {
    ms as usize * SAMPLES_PER_MS
}

fn to_ms(samples: usize) -> u32 {
    (samples / SAMPLES_PER_MS) as u32
}

// ---------------------------------------------------------------------------------------------
// Segmenter: frame probabilities → utterances, with hysteresis like Silero's reference code.

#[derive(Debug)]
enum SegEvent {
    Start {
        onset: usize,
    },
    End {
        /// Utterance start, pre-roll included.
        from: usize,
        /// Utterance end, tail included.
        to: usize,
    },
}

#[derive(Debug, Clone, Copy)]
enum SegState {
    Silence,
    Speech {
        onset: usize,
        confirmed: bool,
        silence_from: Option<usize>,
    },
}

#[derive(Debug)]
struct Segmenter {
    frame: usize,
    threshold: f32,
    /// Speech only ends below this, so a wavering probability does not chop words.
    neg_threshold: f32,
    min_speech: usize,
    min_silence: usize,
    pre_roll: usize,
    tail: usize,
    max_len: usize,
    pos: usize,
    last_end: usize,
    state: SegState,
}

impl Segmenter {
    fn new(cfg: &VadConfig, frame: usize) -> Self {
        Self {
            frame,
            threshold: cfg.threshold,
            neg_threshold: (cfg.threshold - 0.15).max(0.01),
            min_speech: ms_to_samples(cfg.min_speech_ms),
            min_silence: ms_to_samples(cfg.min_silence_ms),
            pre_roll: ms_to_samples(cfg.pre_roll_ms),
            tail: ms_to_samples(cfg.min_silence_ms.min(MAX_TAIL_MS)),
            max_len: (MAX_SECONDS as usize) * SAMPLE_RATE as usize,
            pos: 0,
            last_end: 0,
            state: SegState::Silence,
        }
    }

    fn reset(&mut self) {
        self.pos = 0;
        self.last_end = 0;
        self.state = SegState::Silence;
    }

    fn confirmed(&self) -> bool {
        matches!(
            self.state,
            SegState::Speech {
                confirmed: true,
                ..
            }
        )
    }

    fn utterance_start(&self, onset: usize) -> usize {
        onset.saturating_sub(self.pre_roll).max(self.last_end)
    }

    /// The earliest sample a current or imminent utterance may still need.
    fn utterance_floor(&self) -> Option<usize> {
        match self.state {
            SegState::Speech { onset, .. } => Some(self.utterance_start(onset)),
            SegState::Silence => None,
        }
    }

    fn feed(&mut self, prob: f32) -> Vec<SegEvent> {
        let (start, end) = (self.pos, self.pos + self.frame);
        self.pos = end;
        let speech = prob >= self.threshold;
        let (onset, mut confirmed, mut silence_from) = match self.state {
            SegState::Silence if !speech => return Vec::new(),
            SegState::Silence => (start, false, None),
            SegState::Speech {
                onset,
                confirmed,
                silence_from,
            } => (onset, confirmed, silence_from),
        };
        if speech {
            silence_from = None;
        } else if prob < self.neg_threshold {
            silence_from.get_or_insert(start);
        }

        let mut events = Vec::new();
        if !confirmed && silence_from.is_none() && end - onset >= self.min_speech {
            confirmed = true;
            events.push(SegEvent::Start { onset });
        }
        self.state = SegState::Speech {
            onset,
            confirmed,
            silence_from,
        };
        if let Some(quiet_from) = silence_from
            && end - quiet_from >= self.min_silence
        {
            // Unconfirmed speech this short was a click or a cough.
            if confirmed {
                events.push(self.close(onset, (quiet_from + self.tail).min(end)));
            }
            self.state = SegState::Silence;
        } else if confirmed && end - self.utterance_start(onset) >= self.max_len {
            events.push(self.close(onset, end));
            self.state = SegState::Silence;
        }
        events
    }

    fn close(&mut self, onset: usize, to: usize) -> SegEvent {
        let from = self.utterance_start(onset);
        self.last_end = to;
        SegEvent::End { from, to }
    }

    /// Closes an utterance still open at the end of the audio (`total` samples).
    fn finish(&mut self, total: usize) -> Vec<SegEvent> {
        let mut events = Vec::new();
        if let SegState::Speech {
            onset,
            confirmed,
            silence_from,
        } = self.state
        {
            let speech_end = silence_from.unwrap_or(self.pos).min(total);
            if confirmed || speech_end.saturating_sub(onset) >= self.min_speech {
                if !confirmed {
                    events.push(SegEvent::Start { onset });
                }
                let to = (speech_end + self.tail).min(total.max(speech_end));
                events.push(self.close(onset, to));
            }
        }
        self.state = SegState::Silence;
        events
    }
}

// ---------------------------------------------------------------------------------------------
// Scorers: audio → per-frame speech probability.

enum Scorer {
    Silero(SileroScorer),
    Energy(EnergyScorer),
}

impl Scorer {
    fn new(cfg: &VadConfig) -> Result<Self, SttError> {
        Ok(match &cfg.model {
            Some(path) => Scorer::Silero(SileroScorer::load(path)?),
            None => Scorer::Energy(EnergyScorer::default()),
        })
    }

    fn frame_len(&self) -> usize {
        match self {
            Scorer::Silero(_) => SILERO_FRAME,
            Scorer::Energy(_) => ENERGY_FRAME,
        }
    }

    fn hop_frames(&self) -> usize {
        match self {
            Scorer::Silero(_) => SILERO_HOP_FRAMES,
            Scorer::Energy(_) => 1,
        }
    }

    fn context_frames(&self) -> usize {
        match self {
            Scorer::Silero(_) => SILERO_CONTEXT_FRAMES,
            Scorer::Energy(_) => 0,
        }
    }

    fn reset(&mut self) {
        if let Scorer::Energy(e) = self {
            *e = EnergyScorer::default();
        }
    }

    /// One probability per frame of `pcm` (the last frame zero-padded).
    fn score_all(&mut self, pcm: &[f32]) -> Result<Vec<f32>, SttError> {
        match self {
            Scorer::Silero(s) => s.score(pcm),
            Scorer::Energy(e) => Ok(pcm.chunks(ENERGY_FRAME).map(|f| e.score(f)).collect()),
        }
    }

    /// Probabilities for the last `n` frames of `window`, earlier frames serving as context.
    fn score_tail(&mut self, window: &[f32], n: usize) -> Vec<f32> {
        match self {
            Scorer::Silero(s) => match s.score(window) {
                Ok(probs) => probs[probs.len().saturating_sub(n)..].to_vec(),
                Err(e) => {
                    tracing::warn!(error = %e, "VAD scoring failed; treating the audio as silence");
                    vec![0.0; n]
                }
            },
            Scorer::Energy(e) => {
                let from = window.len() - n * ENERGY_FRAME;
                window[from..]
                    .chunks(ENERGY_FRAME)
                    .map(|f| e.score(f))
                    .collect()
            }
        }
    }
}

/// Silero through whisper.cpp. Loaded contexts are pooled per model path: loading is cheap, but
/// whisper-rs leaks the path string on every load.
struct SileroScorer {
    ctx: Option<WhisperVadContext>,
    path: PathBuf,
}

fn silero_pool() -> &'static Mutex<Vec<(PathBuf, WhisperVadContext)>> {
    static POOL: Mutex<Vec<(PathBuf, WhisperVadContext)>> = Mutex::new(Vec::new());
    &POOL
}

const SILERO_POOL_MAX: usize = 8;

impl SileroScorer {
    fn load(path: &Path) -> Result<Self, SttError> {
        whisper_rs::install_logging_hooks();
        {
            let mut pool = silero_pool().lock().unwrap_or_else(|p| p.into_inner());
            if let Some(i) = pool.iter().position(|(p, _)| p == path) {
                let (path, ctx) = pool.swap_remove(i);
                return Ok(Self {
                    ctx: Some(ctx),
                    path,
                });
            }
        }
        if !path.exists() {
            return Err(SttError::ModelMissing {
                name: crate::models::VAD_MODEL.name.to_string(),
                hint: format!(
                    "no VAD model at {}; run `avatarium models download {}`",
                    path.display(),
                    crate::models::VAD_MODEL.name
                ),
            });
        }
        let path_str = path
            .to_str()
            .filter(|s| !s.contains('\0'))
            .ok_or_else(|| SttError::Model(format!("unusable model path {}", path.display())))?;
        check_ggml_magic(path)?;
        let mut params = WhisperVadContextParams::default();
        // The network is tiny; thread start-up would cost more than it saves.
        params.set_n_threads(1);
        params.set_use_gpu(false);
        let ctx = WhisperVadContext::new(path_str, params).map_err(|e| {
            SttError::Model(format!("cannot load VAD model {}: {e}", path.display()))
        })?;
        Ok(Self {
            ctx: Some(ctx),
            path: path.to_path_buf(),
        })
    }

    fn score(&mut self, pcm: &[f32]) -> Result<Vec<f32>, SttError> {
        if pcm.is_empty() {
            return Ok(Vec::new());
        }
        let ctx = self
            .ctx
            .as_mut()
            .ok_or_else(|| SttError::Model("VAD model not loaded".into()))?;
        ctx.detect_speech(pcm)
            .map_err(|e| SttError::Model(format!("VAD inference failed: {e}")))?;
        Ok(ctx.probabilities().to_vec())
    }
}

impl Drop for SileroScorer {
    fn drop(&mut self) {
        if let Some(ctx) = self.ctx.take() {
            let mut pool = silero_pool().lock().unwrap_or_else(|p| p.into_inner());
            if pool.len() < SILERO_POOL_MAX {
                pool.push((std::mem::take(&mut self.path), ctx));
            }
        }
    }
}

fn check_ggml_magic(path: &Path) -> Result<(), SttError> {
    use std::io::Read;
    let mut magic = [0u8; 4];
    std::fs::File::open(path)
        .and_then(|mut f| f.read_exact(&mut magic))
        .map_err(|e| SttError::Model(format!("cannot read VAD model {}: {e}", path.display())))?;
    if magic != 0x6767_6d6c_u32.to_le_bytes() {
        return Err(SttError::Model(format!(
            "{} is not a ggml VAD model (bad magic)",
            path.display()
        )));
    }
    Ok(())
}

/// Frame energy against a tracked noise floor, squashed into a pseudo-probability so the same
/// `threshold` works for both detectors.
struct EnergyScorer {
    noise_db: f32,
}

impl Default for EnergyScorer {
    fn default() -> Self {
        Self { noise_db: -60.0 }
    }
}

impl EnergyScorer {
    /// Frames quieter than this are silence whatever the noise floor.
    const GATE_DB: f32 = -50.0;
    /// How far above the noise floor speech sits.
    const MARGIN_DB: f32 = 12.0;

    fn score(&mut self, frame: &[f32]) -> f32 {
        if frame.is_empty() {
            return 0.0;
        }
        let mean_sq = frame.iter().map(|s| s * s).sum::<f32>() / frame.len() as f32;
        let db = 10.0 * mean_sq.max(1e-12).log10();
        // Fall quickly to a new quiet level, rise slowly (about 1 dB/s), so speech does not
        // drag the floor up with it.
        if db < self.noise_db {
            self.noise_db = 0.7 * self.noise_db + 0.3 * db;
        } else {
            self.noise_db += 0.02;
        }
        self.noise_db = self.noise_db.clamp(-90.0, -20.0);
        if db < Self::GATE_DB {
            return 0.0;
        }
        let x = (db - (self.noise_db + Self::MARGIN_DB)) / 2.0;
        1.0 / (1.0 + (-x).exp())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tone(ms: usize, amp: f32) -> Vec<f32> {
        (0..ms * SAMPLES_PER_MS)
            .map(|i| amp * (i as f32 * 0.07).sin())
            .collect()
    }

    #[test]
    fn energy_segments_find_a_burst_with_pre_roll() {
        let mut pcm = vec![0.0; 16_000];
        pcm.extend(tone(1000, 0.3));
        pcm.extend(vec![0.0; 16_000]);
        let segs = segments(&pcm, &VadConfig::default()).unwrap();
        assert_eq!(segs.len(), 1, "{segs:?}");
        let (s, e) = segs[0];
        assert!((650..=720).contains(&s), "start {s}");
        assert!((2000..=2250).contains(&e), "end {e}");
    }

    #[test]
    fn short_bursts_are_ignored() {
        let mut pcm = vec![0.0; 16_000];
        pcm.extend(tone(100, 0.3));
        pcm.extend(vec![0.0; 16_000]);
        assert!(segments(&pcm, &VadConfig::default()).unwrap().is_empty());
    }

    #[test]
    fn silence_has_no_segments() {
        assert!(
            segments(&vec![0.0; 48_000], &VadConfig::default())
                .unwrap()
                .is_empty()
        );
        assert!(segments(&[], &VadConfig::default()).unwrap().is_empty());
    }

    #[test]
    fn bad_threshold_is_rejected() {
        let cfg = VadConfig {
            threshold: 1.5,
            ..VadConfig::default()
        };
        assert!(matches!(
            segments(&[0.0; 10], &cfg),
            Err(SttError::NotConfigured(_))
        ));
    }

    #[test]
    fn streaming_energy_matches_offline() {
        let mut pcm = vec![0.0; 16_000];
        pcm.extend(tone(800, 0.3));
        pcm.extend(vec![0.0; 16_000]);
        let mut vad = StreamingVad::new(VadConfig::default()).unwrap();
        let mut events = Vec::new();
        for chunk in pcm.chunks(320) {
            events.extend(vad.push(chunk));
        }
        events.extend(vad.finish());
        assert!(
            matches!(events[0], VadEvent::SpeechStart { at_ms } if (990..=1010).contains(&at_ms))
        );
        match &events[1] {
            VadEvent::SpeechEnd {
                utterance,
                start_ms,
                end_ms,
            } => {
                assert_eq!(*start_ms, 700);
                assert!(*end_ms >= 1800);
                let expected = (*end_ms - *start_ms) as usize * SAMPLES_PER_MS;
                assert!(utterance.len().abs_diff(expected) <= SAMPLES_PER_MS);
                // The pre-roll is the silence before the tone.
                assert!(utterance[..300 * SAMPLES_PER_MS].iter().all(|&s| s == 0.0));
            }
            other => panic!("{other:?}"),
        }
        assert_eq!(events.len(), 2);
    }
}
