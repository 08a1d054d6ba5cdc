//! Visemes from audio alone, for speech that comes with neither text nor
//! timings: MFCC features, a small frame classifier trained on audio whose
//! true timeline is known (a TTS engine's own timings), and Viterbi
//! smoothing of its per-frame guesses into cues.
//!
//! Everything is hand-written, single-threaded and seeded, so training the
//! same examples with the same options gives the same model, bit for bit.

use serde::{Deserialize, Serialize};

use crate::{Cue, Timeline, Viseme, Weights};

/// Features are computed at this rate; other rates are resampled first, so
/// one model serves every engine.
pub const SAMPLE_RATE: u32 = 16_000;
/// Frame hop: one feature vector, and one label, per 10 ms.
pub const HOP_MS: u32 = 10;
/// Analysis window.
pub const WIN_MS: u32 = 25;
/// Mel bands between [`MEL_LOW_HZ`] and [`MEL_HIGH_HZ`].
pub const N_MELS: usize = 26;
/// Cepstra kept, c0 … c12.
pub const N_CEPS: usize = 13;
/// Values per [`mfcc`] frame: the cepstra, then the log energy.
pub const N_MFCC: usize = N_CEPS + 1;
pub const MEL_LOW_HZ: f32 = 20.0;
pub const MEL_HIGH_HZ: f32 = 8_000.0;

const HOP: usize = (SAMPLE_RATE * HOP_MS / 1000) as usize;
const WIN: usize = (SAMPLE_RATE * WIN_MS / 1000) as usize;
const NFFT: usize = 512;
const PRE_EMPHASIS: f32 = 0.97;
const LOG_FLOOR: f32 = 1e-10;

/// SplitMix64: tiny, seedable, and the same everywhere.
#[derive(Clone, Debug)]
pub(crate) struct Rng(u64);

impl Rng {
    pub(crate) fn new(seed: u64) -> Self {
        Self(seed)
    }

    pub(crate) fn next_u64(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    /// Uniform in `0..n` (0 when `n` is 0).
    pub(crate) fn below(&mut self, n: usize) -> usize {
        if n == 0 {
            0
        } else {
            (self.next_u64() % n as u64) as usize
        }
    }

    /// Uniform in [0, 1).
    pub(crate) fn unit(&mut self) -> f32 {
        (self.next_u64() >> 40) as f32 / (1u64 << 24) as f32
    }
}

/// Windowed-sinc resampling (Hann window, 8 zero crossings, cut-off just
/// below the lower Nyquist frequency), so downsampling 22.05 or 44.1 kHz
/// speech does not fold its fricative noise into the mel bands. The kernel
/// is tabulated (linear interpolation between 256 points per input sample),
/// which keeps trigonometry out of the inner loop.
fn resample(x: &[f32], from: u32, to: u32) -> Vec<f32> {
    use std::f64::consts::PI;
    if from == to || x.is_empty() {
        return x.to_vec();
    }
    const STEPS: f64 = 256.0;
    let ratio = f64::from(to) / f64::from(from);
    let out_len = (x.len() as f64 * ratio).round() as usize;
    let fc = 0.5 * ratio.min(1.0) * 0.95;
    let half_width = 8.0 / (2.0 * fc);
    let table: Vec<f32> = (0..=(half_width * STEPS).ceil() as usize + 1)
        .map(|i| {
            let d = i as f64 / STEPS;
            if d > half_width {
                return 0.0;
            }
            let u = 2.0 * fc * d;
            let sinc = if u < 1e-9 {
                1.0
            } else {
                (PI * u).sin() / (PI * u)
            };
            (2.0 * fc * sinc * 0.5 * (1.0 + (PI * d / half_width).cos())) as f32
        })
        .collect();
    let kernel = |d: f64| -> f32 {
        let p = d.abs() * STEPS;
        let i = p as usize;
        if i + 1 >= table.len() {
            return 0.0;
        }
        let f = (p - i as f64) as f32;
        table[i] + (table[i + 1] - table[i]) * f
    };
    let last = x.len() as f64 - 1.0;
    (0..out_len)
        .map(|n| {
            let t = n as f64 / ratio;
            let lo = (t - half_width).ceil().max(0.0) as usize;
            let hi = (t + half_width).floor().min(last) as usize;
            let mut acc = 0.0f32;
            for (k, &xk) in x.iter().enumerate().take(hi + 1).skip(lo) {
                acc += xk * kernel(k as f64 - t);
            }
            acc
        })
        .collect()
}

/// A dot product with eight running sums, which the compiler can keep in
/// one SIMD register (a single running sum must be added in order, so it is
/// not vectorised). The order is fixed, so results stay reproducible.
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0.0f32; 8];
    let (ca, cb) = (a.chunks_exact(8), b.chunks_exact(8));
    let tail: f32 = ca
        .remainder()
        .iter()
        .zip(cb.remainder())
        .map(|(x, y)| x * y)
        .sum();
    for (x, y) in ca.zip(cb) {
        for k in 0..8 {
            acc[k] += x[k] * y[k];
        }
    }
    acc.iter().sum::<f32>() + tail
}

/// Iterative radix-2 FFT, for the one size MFCC needs.
struct Fft {
    cos: Vec<f32>,
    sin: Vec<f32>,
    rev: Vec<usize>,
}

impl Fft {
    fn new(n: usize) -> Self {
        debug_assert!(n.is_power_of_two());
        let bits = n.trailing_zeros();
        let angle = |k: usize| 2.0 * std::f64::consts::PI * k as f64 / n as f64;
        Self {
            cos: (0..n / 2).map(|k| angle(k).cos() as f32).collect(),
            sin: (0..n / 2).map(|k| angle(k).sin() as f32).collect(),
            rev: (0..n)
                .map(|i| {
                    if bits == 0 {
                        0
                    } else {
                        i.reverse_bits() >> (usize::BITS - bits)
                    }
                })
                .collect(),
        }
    }

    fn transform(&self, re: &mut [f32], im: &mut [f32]) {
        let n = re.len();
        for i in 0..n {
            let j = self.rev[i];
            if i < j {
                re.swap(i, j);
                im.swap(i, j);
            }
        }
        let mut len = 2;
        while len <= n {
            let half = len / 2;
            let step = n / len;
            for start in (0..n).step_by(len) {
                for k in 0..half {
                    let (wr, wi) = (self.cos[k * step], -self.sin[k * step]);
                    let (a, b) = (start + k, start + k + half);
                    let tr = re[b] * wr - im[b] * wi;
                    let ti = re[b] * wi + im[b] * wr;
                    re[b] = re[a] - tr;
                    im[b] = im[a] - ti;
                    re[a] += tr;
                    im[a] += ti;
                }
            }
            len *= 2;
        }
    }
}

fn hz_to_mel(f: f32) -> f32 {
    2595.0 * (1.0 + f / 700.0).log10()
}

fn mel_to_hz(m: f32) -> f32 {
    700.0 * (10f32.powf(m / 2595.0) - 1.0)
}

/// Triangular HTK-style mel filters over the power spectrum, as
/// (first bin, weights).
fn mel_filters() -> Vec<(usize, Vec<f32>)> {
    let (lo, hi) = (hz_to_mel(MEL_LOW_HZ), hz_to_mel(MEL_HIGH_HZ));
    let edges: Vec<f32> = (0..N_MELS + 2)
        .map(|i| mel_to_hz(lo + (hi - lo) * i as f32 / (N_MELS + 1) as f32))
        .collect();
    let bin_hz = SAMPLE_RATE as f32 / NFFT as f32;
    (0..N_MELS)
        .map(|m| {
            let (l, c, r) = (edges[m], edges[m + 1], edges[m + 2]);
            let first = (l / bin_hz).ceil() as usize;
            let last = ((r / bin_hz).floor() as usize).min(NFFT / 2);
            let weights = (first..=last)
                .map(|k| {
                    let f = k as f32 * bin_hz;
                    if f <= c {
                        ((f - l) / (c - l)).max(0.0)
                    } else {
                        ((r - f) / (r - c)).max(0.0)
                    }
                })
                .collect();
            (first, weights)
        })
        .collect()
}

/// MFCCs of mono samples in [-1, 1]: one frame per 10 ms (frame `i` is
/// centred at `i * 10 + 5` ms, so it describes the 10 ms labelled `i` by
/// [`frame_labels`]), `ceil(duration / 10 ms)` frames. Each frame holds
/// [`N_CEPS`] cepstra (c0 … c12, orthonormal DCT-II of the log energies of
/// [`N_MELS`] mel bands, 20 Hz – 8 kHz) and then the log energy of the
/// frame. 25 ms Hamming window, pre-emphasis 0.97, audio resampled to
/// [`SAMPLE_RATE`] first. Deterministic.
pub fn mfcc(samples: &[f32], sample_rate: u32) -> Vec<Vec<f32>> {
    if samples.is_empty() || sample_rate == 0 {
        return Vec::new();
    }
    let x = resample(samples, sample_rate, SAMPLE_RATE);
    let mut y = Vec::with_capacity(x.len());
    let mut prev = 0.0;
    for &s in &x {
        let s = if s.is_finite() { s } else { 0.0 };
        y.push(s - PRE_EMPHASIS * prev);
        prev = s;
    }
    let frames = y.len().div_ceil(HOP);
    let fft = Fft::new(NFFT);
    let filters = mel_filters();
    let window: Vec<f32> = (0..WIN)
        .map(|n| 0.54 - 0.46 * (2.0 * std::f32::consts::PI * n as f32 / (WIN - 1) as f32).cos())
        .collect();
    let dct: Vec<Vec<f32>> = (0..N_CEPS)
        .map(|k| {
            let scale = if k == 0 {
                (1.0 / N_MELS as f32).sqrt()
            } else {
                (2.0 / N_MELS as f32).sqrt()
            };
            (0..N_MELS)
                .map(|m| {
                    scale
                        * (std::f32::consts::PI * k as f32 * (m as f32 + 0.5) / N_MELS as f32).cos()
                })
                .collect()
        })
        .collect();
    let mut re = vec![0.0f32; NFFT];
    let mut im = vec![0.0f32; NFFT];
    let mut power = vec![0.0f32; NFFT / 2 + 1];
    let mut log_mel = [0.0f32; N_MELS];
    let offset = HOP as isize / 2 - WIN as isize / 2;
    (0..frames)
        .map(|i| {
            let start = i as isize * HOP as isize + offset;
            re.fill(0.0);
            im.fill(0.0);
            let mut energy = 0.0f32;
            for n in 0..WIN {
                let idx = start + n as isize;
                let s = if idx >= 0 && (idx as usize) < y.len() {
                    y[idx as usize]
                } else {
                    0.0
                };
                energy += s * s;
                re[n] = s * window[n];
            }
            fft.transform(&mut re, &mut im);
            for (k, p) in power.iter_mut().enumerate() {
                *p = re[k] * re[k] + im[k] * im[k];
            }
            for (m, (first, weights)) in filters.iter().enumerate() {
                let e: f32 = weights
                    .iter()
                    .zip(&power[*first..])
                    .map(|(w, p)| w * p)
                    .sum();
                log_mel[m] = e.max(LOG_FLOOR).ln();
            }
            let mut out: Vec<f32> = dct
                .iter()
                .map(|row| row.iter().zip(&log_mel).map(|(a, b)| a * b).sum())
                .collect();
            out.push(energy.max(LOG_FLOOR).ln());
            out
        })
        .collect()
}

/// Per-frame inputs of the classifier before stacking: c1 … c12 and the log
/// energy relative to the loud part of the utterance (c0 and the absolute
/// energy would make the model depend on the recording level), then their
/// deltas.
const N_BASE: usize = 2 * (N_CEPS - 1 + 1);

/// The quietest level treated as "speech" when normalising energy: a silent
/// file must not be rescaled to look loud (about -50 dBFS RMS).
fn min_reference_energy() -> f32 {
    (WIN as f32 * 0.003f32 * 0.003).ln()
}

/// The classifier's per-frame features, and each frame's relative energy.
fn base_features(frames: &[Vec<f32>]) -> (Vec<[f32; N_BASE]>, Vec<f32>) {
    let n = frames.len();
    if n == 0 {
        return (Vec::new(), Vec::new());
    }
    let mut energies: Vec<f32> = frames.iter().map(|f| f[N_CEPS]).collect();
    let mut sorted = energies.clone();
    sorted.sort_by(f32::total_cmp);
    let reference = sorted[((n - 1) as f32 * 0.99) as usize].max(min_reference_energy());
    for e in &mut energies {
        *e -= reference;
    }
    const S: usize = N_BASE / 2;
    let statics: Vec<[f32; S]> = frames
        .iter()
        .zip(&energies)
        .map(|(f, e)| {
            let mut s = [0.0; S];
            s[..N_CEPS - 1].copy_from_slice(&f[1..N_CEPS]);
            s[S - 1] = *e;
            s
        })
        .collect();
    let at = |i: isize| statics[i.clamp(0, n as isize - 1) as usize];
    let feats = (0..n as isize)
        .map(|i| {
            let mut out = [0.0; N_BASE];
            let (p1, m1, p2, m2) = (at(i + 1), at(i - 1), at(i + 2), at(i - 2));
            for j in 0..S {
                out[j] = statics[i as usize][j];
                // Regression over ±2 frames, as in HTK.
                out[S + j] = ((p1[j] - m1[j]) + 2.0 * (p2[j] - m2[j])) / 10.0;
            }
            out
        })
        .collect();
    (feats, energies)
}

/// How a [`Model`] is trained.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct TrainOptions {
    /// Hidden units (ReLU) of the one-hidden-layer network.
    pub hidden: usize,
    /// Frames of context each side of the classified frame …
    pub context: usize,
    /// … taken every `stride` frames (context 5, stride 2 sees ±100 ms).
    pub stride: usize,
    pub epochs: usize,
    pub batch_size: usize,
    /// Adam step size at the start; it decays linearly to a tenth.
    pub learning_rate: f32,
    /// Decoupled weight decay per step (AdamW), on weights, not biases.
    pub weight_decay: f32,
    pub seed: u64,
    /// Log-probability cost of starting a new cue, in decoding.
    pub switch_penalty: f32,
    /// Shortest cue decoding produces.
    pub min_cue_ms: u32,
}

impl Default for TrainOptions {
    fn default() -> Self {
        Self {
            hidden: 64,
            context: 5,
            stride: 2,
            epochs: 10,
            batch_size: 32,
            learning_rate: 2e-3,
            weight_decay: 1e-4,
            seed: 0x5EED,
            switch_penalty: 2.0,
            min_cue_ms: 40,
        }
    }
}

/// A trained audio-to-viseme classifier: feature standardisation, a
/// one-hidden-layer network over stacked context frames, an energy gate for
/// silence, and the decoding settings. Serialisable (JSON is a few hundred
/// kB at the default size).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct Model {
    pub context: usize,
    pub stride: usize,
    pub hidden: usize,
    /// Per base feature (before stacking).
    mean: Vec<f32>,
    std: Vec<f32>,
    /// hidden × input, row-major.
    w1: Vec<f32>,
    b1: Vec<f32>,
    /// 15 × hidden, row-major.
    w2: Vec<f32>,
    b2: Vec<f32>,
    /// Frames whose energy, relative to the loud part of the utterance
    /// (natural log), is below this are silence whatever the network says.
    pub silence_threshold: f32,
    /// See [`TrainOptions::switch_penalty`].
    pub switch_penalty: f32,
    /// Shortest cue, in frames.
    pub min_cue_frames: usize,
}

const N_OUT: usize = 15;

/// A silence threshold that never triggers; finite, so it survives JSON.
const NO_GATE: f32 = -1e30;

impl Model {
    fn offsets(&self) -> Vec<isize> {
        let (c, s) = (self.context as isize, self.stride.max(1) as isize);
        (-c..=c).map(|k| k * s).collect()
    }

    fn inputs(&self) -> usize {
        (2 * self.context + 1) * N_BASE
    }

    /// Stacks the standardised frames around `i` into `x`.
    fn stack(&self, feats: &[[f32; N_BASE]], i: usize, offsets: &[isize], x: &mut [f32]) {
        let n = feats.len() as isize;
        for (o, chunk) in offsets.iter().zip(x.chunks_exact_mut(N_BASE)) {
            let j = (i as isize + o).clamp(0, n - 1) as usize;
            chunk.copy_from_slice(&feats[j]);
        }
    }

    fn standardise(&self, feats: &mut [[f32; N_BASE]]) {
        for f in feats {
            for ((v, m), s) in f.iter_mut().zip(&self.mean).zip(&self.std) {
                *v = (*v - m) / s;
            }
        }
    }

    /// Hidden activations and output logits.
    fn forward(&self, x: &[f32], h: &mut [f32], z: &mut [f32; N_OUT]) {
        let d = x.len();
        for (j, hj) in h.iter_mut().enumerate() {
            let row = &self.w1[j * d..(j + 1) * d];
            let a = self.b1[j] + dot(row, x);
            *hj = a.max(0.0);
        }
        for (k, zk) in z.iter_mut().enumerate() {
            let row = &self.w2[k * self.hidden..(k + 1) * self.hidden];
            *zk = self.b2[k] + dot(row, h);
        }
    }

    /// Log-probabilities of the visemes for every frame, and each frame's
    /// relative energy.
    fn log_probs(&self, samples: &[f32], sample_rate: u32) -> (Vec<[f32; N_OUT]>, Vec<f32>) {
        let (mut feats, energy) = base_features(&mfcc(samples, sample_rate));
        self.standardise(&mut feats);
        let offsets = self.offsets();
        let mut x = vec![0.0; self.inputs()];
        let mut h = vec![0.0; self.hidden];
        let mut z = [0.0; N_OUT];
        let lp = (0..feats.len())
            .map(|i| {
                self.stack(&feats, i, &offsets, &mut x);
                self.forward(&x, &mut h, &mut z);
                log_softmax(&z)
            })
            .collect();
        (lp, energy)
    }
}

fn log_softmax(z: &[f32; N_OUT]) -> [f32; N_OUT] {
    let max = z.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    let lse = max + z.iter().map(|v| (v - max).exp()).sum::<f32>().ln();
    z.map(|v| v - lse)
}

/// The viseme of each `hop_ms` frame: frame `i` takes the cue at its middle,
/// `i * hop_ms + hop_ms / 2`; `sil` where no cue covers it.
pub fn frame_labels(timeline: &Timeline, hop_ms: u32, frames: usize) -> Vec<Viseme> {
    let cues = &timeline.cues;
    (0..frames)
        .map(|i| {
            let t = i as u64 * u64::from(hop_ms) + u64::from(hop_ms / 2);
            let k = cues.partition_point(|c| u64::from(c.end) <= t);
            match cues.get(k) {
                Some(c) if u64::from(c.start) <= t => c.viseme,
                _ => Viseme::Sil,
            }
        })
        .collect()
}

/// Trains a [`Model`] on (mono samples in [-1, 1], sample rate, true
/// timeline) examples, labelling each 10 ms frame from the timeline.
/// Mini-batch gradient descent (Adam) on cross-entropy, single-threaded,
/// with a seeded initialisation and shuffle: the same inputs give the same
/// model.
pub fn train(examples: &[(&[f32], u32, &Timeline)], opts: &TrainOptions) -> Model {
    let mut rng = Rng::new(opts.seed);
    let mut feats: Vec<[f32; N_BASE]> = Vec::new();
    let mut energy: Vec<f32> = Vec::new();
    let mut labels: Vec<usize> = Vec::new();
    // (first frame, frame count) of each example, for context at the edges.
    let mut spans: Vec<(usize, usize)> = Vec::new();
    for (samples, rate, timeline) in examples {
        let (f, e) = base_features(&mfcc(samples, *rate));
        spans.push((feats.len(), f.len()));
        labels.extend(
            frame_labels(timeline, HOP_MS, f.len())
                .iter()
                .map(|v| v.index()),
        );
        feats.extend(f);
        energy.extend(e);
    }
    let n = feats.len();

    let mut mean = vec![0.0f32; N_BASE];
    let mut std = vec![1.0f32; N_BASE];
    if n > 0 {
        for j in 0..N_BASE {
            let m = feats.iter().map(|f| f64::from(f[j])).sum::<f64>() / n as f64;
            let v = feats
                .iter()
                .map(|f| (f64::from(f[j]) - m).powi(2))
                .sum::<f64>()
                / n as f64;
            mean[j] = m as f32;
            std[j] = (v.sqrt() as f32).max(1e-4);
        }
    }

    let hidden = opts.hidden.max(1);
    let mut model = Model {
        context: opts.context,
        stride: opts.stride.max(1),
        hidden,
        mean,
        std,
        w1: Vec::new(),
        b1: vec![0.0; hidden],
        w2: Vec::new(),
        b2: vec![0.0; N_OUT],
        silence_threshold: NO_GATE,
        switch_penalty: opts.switch_penalty,
        min_cue_frames: (opts.min_cue_ms.div_ceil(HOP_MS) as usize).max(1),
    };
    let d = model.inputs();
    // He initialisation for the ReLU layer, Glorot for the output.
    let (a1, a2) = (
        (6.0 / d as f32).sqrt(),
        (6.0 / (hidden + N_OUT) as f32).sqrt(),
    );
    model.w1 = (0..hidden * d)
        .map(|_| (rng.unit() * 2.0 - 1.0) * a1)
        .collect();
    model.w2 = (0..N_OUT * hidden)
        .map(|_| (rng.unit() * 2.0 - 1.0) * a2)
        .collect();
    model.silence_threshold = silence_threshold(&energy, &labels);
    if n == 0 {
        return model;
    }
    model.standardise(&mut feats);

    // Which example each frame belongs to, for stacking within it.
    let mut owner = vec![0usize; n];
    for (e, &(start, len)) in spans.iter().enumerate() {
        owner[start..start + len].fill(e);
    }

    let offsets = model.offsets();
    let (n1, n2) = (model.w1.len(), model.w2.len());
    let total = n1 + hidden + n2 + N_OUT;
    let mut grad = vec![0.0f32; total];
    let mut m1 = vec![0.0f32; total];
    let mut m2 = vec![0.0f32; total];
    let (beta1, beta2, eps) = (0.9f32, 0.999f32, 1e-8f32);
    let mut step = 0i32;
    let mut order: Vec<usize> = (0..n).collect();
    let mut x = vec![0.0f32; d];
    let mut h = vec![0.0f32; hidden];
    let mut dh = vec![0.0f32; hidden];
    let mut z = [0.0f32; N_OUT];
    let batch = opts.batch_size.max(1);
    let epochs = opts.epochs.max(1);
    let steps_total = (epochs * n.div_ceil(batch)) as f32;

    for _ in 0..epochs {
        for i in (1..n).rev() {
            order.swap(i, rng.below(i + 1));
        }
        for chunk in order.chunks(batch) {
            grad.fill(0.0);
            for &i in chunk {
                let (start, len) = spans[owner[i]];
                model.stack(&feats[start..start + len], i - start, &offsets, &mut x);
                model.forward(&x, &mut h, &mut z);
                let lp = log_softmax(&z);
                let mut dz = lp.map(f32::exp);
                dz[labels[i]] -= 1.0;
                let (g1, rest) = grad.split_at_mut(n1);
                let (gb1, rest) = rest.split_at_mut(hidden);
                let (g2, gb2) = rest.split_at_mut(n2);
                for k in 0..N_OUT {
                    gb2[k] += dz[k];
                    let row = &mut g2[k * hidden..(k + 1) * hidden];
                    for (g, hv) in row.iter_mut().zip(&h) {
                        *g += dz[k] * hv;
                    }
                }
                for j in 0..hidden {
                    dh[j] = if h[j] > 0.0 {
                        (0..N_OUT).map(|k| model.w2[k * hidden + j] * dz[k]).sum()
                    } else {
                        0.0
                    };
                }
                for j in 0..hidden {
                    if dh[j] == 0.0 {
                        continue;
                    }
                    gb1[j] += dh[j];
                    let row = &mut g1[j * d..(j + 1) * d];
                    for (g, xv) in row.iter_mut().zip(&x) {
                        *g += dh[j] * xv;
                    }
                }
            }
            step += 1;
            let lr = opts.learning_rate * (1.0 - 0.9 * (step - 1) as f32 / steps_total);
            let scale = 1.0 / chunk.len() as f32;
            let (c1, c2) = (1.0 - beta1.powi(step), 1.0 - beta2.powi(step));
            let mut k = 0;
            for (params, decay) in [
                (&mut model.w1, true),
                (&mut model.b1, false),
                (&mut model.w2, true),
                (&mut model.b2, false),
            ] {
                for p in params.iter_mut() {
                    let g = grad[k] * scale;
                    m1[k] = beta1 * m1[k] + (1.0 - beta1) * g;
                    m2[k] = beta2 * m2[k] + (1.0 - beta2) * g * g;
                    let update = (m1[k] / c1) / ((m2[k] / c2).sqrt() + eps);
                    if decay {
                        *p -= lr * opts.weight_decay * *p;
                    }
                    *p -= lr * update;
                    k += 1;
                }
            }
        }
    }
    model
}

/// The energy below which (almost) only silence is found in training: just
/// under the quietest 0.5% of speech frames. Speech that goes fully silent
/// (stop closures in synthetic speech) pushes it to the floor, which turns
/// the gate off, leaving silence to the network.
fn silence_threshold(energy: &[f32], labels: &[usize]) -> f32 {
    let mut speech: Vec<f32> = energy
        .iter()
        .zip(labels)
        .filter(|(_, l)| **l != Viseme::Sil.index())
        .map(|(e, _)| *e)
        .collect();
    if speech.is_empty() {
        return NO_GATE;
    }
    speech.sort_by(f32::total_cmp);
    (speech[(speech.len() - 1) * 5 / 1000] - 1.0).max(NO_GATE)
}

/// Per-frame viseme probabilities (one [`Weights`] per 10 ms, summing to 1),
/// with the silence gate applied but no smoothing: for live use through a
/// [`crate::blend::Smoother`].
pub fn posteriors(model: &Model, samples: &[f32], sample_rate: u32) -> Vec<Weights> {
    let (lp, energy) = model.log_probs(samples, sample_rate);
    lp.iter()
        .zip(&energy)
        .map(|(l, e)| {
            if *e < model.silence_threshold {
                let mut w = [0.0; N_OUT];
                w[Viseme::Sil.index()] = 1.0;
                w
            } else {
                l.map(f32::exp)
            }
        })
        .collect()
}

/// Viterbi over visemes with a cost for every change and a minimum run of
/// `min_frames`: each viseme is a chain of `min_frames` states that must be
/// walked through before another viseme can start.
fn decode(lp: &[[f32; N_OUT]], min_frames: usize, penalty: f32) -> Vec<usize> {
    let t_len = lp.len();
    if t_len == 0 {
        return Vec::new();
    }
    let m = min_frames.clamp(1, 1000);
    let states = N_OUT * m;
    let idx = |v: usize, k: usize| v * m + k;
    let mut score = vec![f32::NEG_INFINITY; states];
    for v in 0..N_OUT {
        score[idx(v, 0)] = lp[0][v];
    }
    let mut back = vec![0u16; t_len * states];
    let mut next = vec![f32::NEG_INFINITY; states];
    for t in 1..t_len {
        // The two best finished runs, to enter a new viseme from the best
        // other one.
        let (mut b1, mut b2) = ((f32::NEG_INFINITY, 0usize), (f32::NEG_INFINITY, 0usize));
        for v in 0..N_OUT {
            let s = score[idx(v, m - 1)];
            if s > b1.0 {
                b2 = b1;
                b1 = (s, v);
            } else if s > b2.0 {
                b2 = (s, v);
            }
        }
        let row = &mut back[t * states..(t + 1) * states];
        for v in 0..N_OUT {
            let emit = lp[t][v];
            let from = if b1.1 == v { b2 } else { b1 };
            let (s, p) = (from.0 - penalty, idx(from.1, m - 1));
            next[idx(v, 0)] = s + emit;
            row[idx(v, 0)] = p as u16;
            if m == 1 {
                let stay = score[idx(v, 0)];
                if stay >= s {
                    next[idx(v, 0)] = stay + emit;
                    row[idx(v, 0)] = idx(v, 0) as u16;
                }
                continue;
            }
            for k in 1..m {
                let mut best = (score[idx(v, k - 1)], idx(v, k - 1));
                if k == m - 1 && score[idx(v, k)] > best.0 {
                    best = (score[idx(v, k)], idx(v, k));
                }
                next[idx(v, k)] = best.0 + emit;
                row[idx(v, k)] = best.1 as u16;
            }
        }
        std::mem::swap(&mut score, &mut next);
    }
    let mut state = (0..states)
        .max_by(|&a, &b| score[a].total_cmp(&score[b]).then(b.cmp(&a)))
        .unwrap_or(0);
    let mut path = vec![0usize; t_len];
    for t in (0..t_len).rev() {
        path[t] = state / m;
        state = back[t * states + state] as usize;
    }
    path
}

/// The viseme timeline of mono speech samples: the model's per-frame
/// probabilities, silence where the energy gate says so, decoded with a
/// change penalty and a minimum cue length, then merged into cues covering
/// `[0, duration]`.
pub fn predict(model: &Model, samples: &[f32], sample_rate: u32) -> Timeline {
    if sample_rate == 0 {
        return Timeline::default();
    }
    let duration = (samples.len() as u64 * 1000 / u64::from(sample_rate)) as u32;
    let (mut lp, energy) = model.log_probs(samples, sample_rate);
    if duration == 0 || lp.is_empty() {
        return Timeline::default();
    }
    for (l, e) in lp.iter_mut().zip(&energy) {
        if *e < model.silence_threshold {
            *l = [-1e4; N_OUT];
            l[Viseme::Sil.index()] = 0.0;
        }
    }
    let path = decode(&lp, model.min_cue_frames, model.switch_penalty);
    let mut cues: Vec<Cue> = Vec::new();
    for (i, &v) in path.iter().enumerate() {
        let start = (i as u32 * HOP_MS).min(duration);
        let end = ((i as u32 + 1) * HOP_MS).min(duration);
        if start >= end {
            break;
        }
        let viseme = Viseme::ALL[v];
        match cues.last_mut() {
            Some(c) if c.viseme == viseme => c.end = end,
            _ => cues.push(Cue { viseme, start, end }),
        }
    }
    if let Some(last) = cues.last_mut() {
        last.end = duration;
    }
    Timeline { cues }
}

/// The fraction of `hop_ms` frames (over the truth's length) where the two
/// timelines agree, frames labelled as in [`frame_labels`]. 1 when the truth
/// is empty and so is the prediction.
pub fn frame_accuracy(pred: &Timeline, truth: &Timeline, hop_ms: u32) -> f32 {
    let hop = hop_ms.max(1);
    let end = truth.cues.iter().map(|c| c.end).max().unwrap_or(0);
    let frames = end.div_ceil(hop) as usize;
    if frames == 0 {
        return if pred.cues.is_empty() { 1.0 } else { 0.0 };
    }
    let (p, t) = (
        frame_labels(pred, hop, frames),
        frame_labels(truth, hop, frames),
    );
    p.iter().zip(&t).filter(|(a, b)| a == b).count() as f32 / frames as f32
}

/// For each onset in the truth (a cue start after 0), the distance in ms to
/// the nearest predicted onset of the same viseme; `f32::INFINITY` when the
/// prediction never starts that viseme, so a median counts it as a miss.
pub fn onset_errors_ms(pred: &Timeline, truth: &Timeline) -> Vec<f32> {
    truth
        .cues
        .iter()
        .filter(|c| c.start > 0)
        .map(|c| {
            pred.cues
                .iter()
                .filter(|p| p.viseme == c.viseme && p.start > 0)
                .map(|p| (p.start as f32 - c.start as f32).abs())
                .fold(f32::INFINITY, f32::min)
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cue(viseme: Viseme, start: u32, end: u32) -> Cue {
        Cue { viseme, start, end }
    }

    /// A vowel-like sound: harmonics of `f0` shaped by formant resonances.
    fn vowel(out: &mut Vec<f32>, n: usize, rate: f32, f0: f32, formants: &[(f32, f32)], amp: f32) {
        let harmonics: Vec<(f32, f32)> = (1..)
            .map(|h| h as f32 * f0)
            .take_while(|f| *f < 4000.0f32.min(rate / 2.0))
            .map(|f| {
                let g: f32 = formants
                    .iter()
                    .map(|(fc, bw)| 1.0 / (1.0 + ((f - fc) / bw).powi(2)))
                    .sum();
                (f, g)
            })
            .collect();
        let norm: f32 = harmonics.iter().map(|(_, g)| g).sum();
        let t0 = out.len();
        for i in 0..n {
            let t = (t0 + i) as f32 / rate;
            let s: f32 = harmonics
                .iter()
                .map(|(f, g)| g * (2.0 * std::f32::consts::PI * f * t).sin())
                .sum();
            out.push(amp * s / norm);
        }
    }

    /// One synthetic utterance of silences, hiss (SS) and three vowels.
    fn utterance(rng: &mut Rng, rate: u32, ms: u32) -> (Vec<f32>, Timeline) {
        let classes = [Viseme::Sil, Viseme::SS, Viseme::Aa, Viseme::Ih, Viseme::Ou];
        let f0 = 100.0 + rng.unit() * 80.0;
        let mut samples = Vec::new();
        let mut cues: Vec<Cue> = Vec::new();
        let mut t = 0;
        let mut prev = Viseme::Ou;
        while t < ms {
            let mut v = classes[rng.below(classes.len())];
            while v == prev {
                v = classes[rng.below(classes.len())];
            }
            prev = v;
            let len = (60 + rng.below(190) as u32).min(ms - t);
            let n = (len as usize * rate as usize) / 1000;
            let amp = 0.1 + rng.unit() * 0.4;
            let r = rate as f32;
            match v {
                Viseme::Sil => samples.extend((0..n).map(|_| (rng.unit() - 0.5) * 2e-4)),
                Viseme::SS => {
                    let mut last = 0.0;
                    for _ in 0..n {
                        let w = rng.unit() - 0.5;
                        samples.push(amp * (w - last));
                        last = w;
                    }
                }
                Viseme::Aa => vowel(
                    &mut samples,
                    n,
                    r,
                    f0,
                    &[(750.0, 90.0), (1200.0, 110.0)],
                    amp,
                ),
                Viseme::Ih => vowel(
                    &mut samples,
                    n,
                    r,
                    f0,
                    &[(300.0, 60.0), (2300.0, 150.0)],
                    amp,
                ),
                _ => vowel(&mut samples, n, r, f0, &[(320.0, 60.0), (800.0, 90.0)], amp),
            }
            cues.push(cue(v, t, t + len));
            t += len;
        }
        let duration = (samples.len() * 1000 / rate as usize) as u32;
        cues.last_mut().unwrap().end = duration;
        (samples, Timeline { cues })
    }

    fn quick() -> TrainOptions {
        TrainOptions {
            hidden: 16,
            context: 2,
            stride: 2,
            epochs: 6,
            ..TrainOptions::default()
        }
    }

    #[test]
    fn fft_matches_a_plain_dft() {
        let n = 64;
        let mut rng = Rng::new(1);
        let x: Vec<f32> = (0..n).map(|_| rng.unit() - 0.5).collect();
        let (mut re, mut im) = (x.clone(), vec![0.0; n]);
        Fft::new(n).transform(&mut re, &mut im);
        for k in 0..n {
            let (mut r, mut i) = (0.0f64, 0.0f64);
            for (t, v) in x.iter().enumerate() {
                let a = -2.0 * std::f64::consts::PI * (k * t) as f64 / n as f64;
                r += f64::from(*v) * a.cos();
                i += f64::from(*v) * a.sin();
            }
            assert!((re[k] as f64 - r).abs() < 1e-4 && (im[k] as f64 - i).abs() < 1e-4);
        }
    }

    #[test]
    fn resampling_keeps_a_tone_and_drops_what_cannot_fit() {
        let tone = |f: f32, rate: u32| -> Vec<f32> {
            (0..rate / 10)
                .map(|i| (2.0 * std::f32::consts::PI * f * i as f32 / rate as f32).sin())
                .collect()
        };
        let rms = |x: &[f32]| {
            (x[200..x.len() - 200].iter().map(|v| v * v).sum::<f32>() / (x.len() - 400) as f32)
                .sqrt()
        };
        let y = resample(&tone(1000.0, 44_100), 44_100, 16_000);
        assert_eq!(y.len(), 1600);
        assert!(
            (rms(&y) - std::f32::consts::FRAC_1_SQRT_2).abs() < 0.02,
            "{}",
            rms(&y)
        );
        // 10 kHz cannot exist at 16 kHz: filtered out, not folded to 6 kHz.
        let y = resample(&tone(10_000.0, 44_100), 44_100, 16_000);
        assert!(rms(&y) < 0.02, "{}", rms(&y));
    }

    #[test]
    fn mfcc_shape_and_determinism() {
        let mut rng = Rng::new(5);
        let (samples, _) = utterance(&mut rng, 16_000, 1000);
        let a = mfcc(&samples, 16_000);
        assert_eq!(a.len(), samples.len().div_ceil(160));
        assert!(
            a.iter()
                .all(|f| f.len() == N_MFCC && f.iter().all(|v| v.is_finite()))
        );
        assert_eq!(a, mfcc(&samples, 16_000));
        // 1 s at 22.05 kHz is still 100 frames.
        let (s22, _) = utterance(&mut Rng::new(6), 22_050, 1000);
        assert_eq!(mfcc(&s22, 22_050).len(), 100);
        assert!(mfcc(&[], 16_000).is_empty());
        assert!(mfcc(&samples, 0).is_empty());
        // Louder is more energy; silence is the floor.
        let quiet: Vec<f32> = samples.iter().map(|v| v * 0.1).collect();
        let q = mfcc(&quiet, 16_000);
        assert!(q[50][N_CEPS] < a[50][N_CEPS]);
        let silent = mfcc(&vec![0.0; 1600], 16_000);
        assert!(silent.iter().all(|f| f[N_CEPS] == LOG_FLOOR.ln()));
    }

    #[test]
    fn frame_labels_and_metrics() {
        let truth = Timeline {
            cues: vec![
                cue(Viseme::Sil, 0, 100),
                cue(Viseme::Aa, 100, 300),
                cue(Viseme::Sil, 300, 400),
            ],
        };
        let labels = frame_labels(&truth, 10, 42);
        assert_eq!(labels[9], Viseme::Sil);
        assert_eq!(labels[10], Viseme::Aa);
        assert_eq!(labels[29], Viseme::Aa);
        assert_eq!(labels[30], Viseme::Sil);
        assert_eq!(labels[41], Viseme::Sil);
        assert_eq!(frame_accuracy(&truth, &truth, 10), 1.0);
        let late = Timeline {
            cues: vec![
                cue(Viseme::Sil, 0, 120),
                cue(Viseme::Aa, 120, 300),
                cue(Viseme::Sil, 300, 400),
            ],
        };
        assert!((frame_accuracy(&late, &truth, 10) - 0.95).abs() < 1e-6);
        assert_eq!(onset_errors_ms(&late, &truth), vec![20.0, 0.0]);
        let never = Timeline {
            cues: vec![cue(Viseme::Sil, 0, 400)],
        };
        assert_eq!(onset_errors_ms(&never, &truth)[0], f32::INFINITY);
    }

    #[test]
    fn decoding_enforces_minimum_runs() {
        // Frame-wise best: a a b a a a c c c c c c, with b a single frame.
        let mut lp = vec![[-5.0f32; N_OUT]; 12];
        for (t, v) in [0, 0, 1, 0, 0, 0, 2, 2, 2, 2, 2, 2].iter().enumerate() {
            lp[t][*v] = 0.0;
        }
        let path = decode(&lp, 3, 1.0);
        assert_eq!(path, vec![0, 0, 0, 0, 0, 0, 2, 2, 2, 2, 2, 2]);
        assert_eq!(
            decode(&lp, 1, 0.0),
            vec![0, 0, 1, 0, 0, 0, 2, 2, 2, 2, 2, 2]
        );
        assert!(decode(&[], 4, 1.0).is_empty());
    }

    #[test]
    fn learns_synthetic_visemes() {
        let mut rng = Rng::new(42);
        let data: Vec<(Vec<f32>, Timeline)> =
            (0..6).map(|_| utterance(&mut rng, 16_000, 3000)).collect();
        let examples: Vec<(&[f32], u32, &Timeline)> = data
            .iter()
            .map(|(s, t)| (s.as_slice(), 16_000, t))
            .collect();
        let model = train(&examples, &quick());
        // Held out, and at another sample rate.
        let mut accs = Vec::new();
        let mut onsets = Vec::new();
        for (k, rate) in [(0, 16_000), (1, 22_050), (2, 16_000)] {
            let (samples, truth) = utterance(&mut Rng::new(100 + k), rate, 3000);
            let pred = predict(&model, &samples, rate);
            assert_eq!(pred.cues.first().unwrap().start, 0);
            assert_eq!(
                pred.cues.last().unwrap().end,
                truth.cues.last().unwrap().end
            );
            assert!(
                pred.cues
                    .windows(2)
                    .all(|w| w[0].end == w[1].start && w[0].viseme != w[1].viseme)
            );
            accs.push(frame_accuracy(&pred, &truth, 10));
            onsets.extend(onset_errors_ms(&pred, &truth));
        }
        onsets.sort_by(f32::total_cmp);
        let median = onsets[onsets.len() / 2];
        assert!(accs.iter().all(|a| *a >= 0.9), "{accs:?}");
        assert!(median <= 20.0, "{median}");
        // The recording level does not matter.
        let (samples, truth) = utterance(&mut Rng::new(103), 16_000, 3000);
        let quiet: Vec<f32> = samples.iter().map(|v| v * 0.2).collect();
        assert!(frame_accuracy(&predict(&model, &quiet, 16_000), &truth, 10) >= 0.9);
        // Posteriors are distributions.
        let (samples, _) = utterance(&mut Rng::new(7), 16_000, 500);
        for p in posteriors(&model, &samples, 16_000) {
            assert!((p.iter().sum::<f32>() - 1.0).abs() < 1e-3);
        }
    }

    #[test]
    fn training_is_deterministic_and_serialisable() {
        let mut rng = Rng::new(9);
        let data: Vec<(Vec<f32>, Timeline)> =
            (0..2).map(|_| utterance(&mut rng, 16_000, 1500)).collect();
        let examples: Vec<(&[f32], u32, &Timeline)> = data
            .iter()
            .map(|(s, t)| (s.as_slice(), 16_000, t))
            .collect();
        let opts = TrainOptions {
            epochs: 2,
            ..quick()
        };
        let a = train(&examples, &opts);
        let b = train(&examples, &opts);
        assert_eq!(a, b);
        let json = serde_json::to_string(&a).unwrap();
        let back: Model = serde_json::from_str(&json).unwrap();
        assert_eq!(back, a);
        assert_eq!(
            predict(&back, &data[0].0, 16_000),
            predict(&a, &data[0].0, 16_000)
        );
        // Degenerate inputs do not panic.
        let empty = train(&[], &opts);
        assert!(predict(&empty, &[], 16_000).cues.is_empty());
        let silent = vec![0.0f32; 8000];
        let t = predict(&a, &silent, 16_000);
        assert_eq!(t.cues, vec![cue(Viseme::Sil, 0, 500)]);
    }
}
