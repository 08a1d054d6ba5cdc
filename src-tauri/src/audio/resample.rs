//! Microphone audio to what speech recognition wants: mono at 16 kHz.
//!
//! Devices deliver interleaved frames at their own rate (44.1/48 kHz
//! usually), in callbacks of arbitrary size. [`Resampler`] works chunk by
//! chunk and keeps its phase across chunks, so there are no clicks at chunk
//! edges. It low-passes with a box filter as wide as the decimation ratio
//! before interpolating: crude next to a polyphase filter, but speech
//! recognition only needs the band under 8 kHz, and it keeps latency at one
//! sample and the maths trivially real-time safe.

/// Averages interleaved frames of `channels` into mono.
pub fn downmix(interleaved: &[f32], channels: usize) -> Vec<f32> {
    match channels {
        0 => Vec::new(),
        1 => interleaved.to_vec(),
        n => interleaved
            .chunks_exact(n)
            .map(|frame| frame.iter().sum::<f32>() / n as f32)
            .collect(),
    }
}

/// A streaming resampler from `from` Hz to `to` Hz (mono).
#[derive(Debug, Clone)]
pub struct Resampler {
    /// Input samples per output sample.
    step: f64,
    /// Position of the next output sample, in input samples relative to
    /// `prev` (0.0 = at `prev`, 1.0 = at the next input sample).
    pos: f64,
    /// The last (filtered) input sample of the previous chunk.
    prev: f32,
    /// Box filter over the last `taps` inputs, when downsampling.
    taps: usize,
    history: Vec<f32>,
    sum: f32,
    head: usize,
    started: bool,
}

impl Resampler {
    pub fn new(from: u32, to: u32) -> Self {
        let step = f64::from(from.max(1)) / f64::from(to.max(1));
        let taps = if step > 1.0 { step.round() as usize } else { 1 };
        Self {
            step,
            pos: 0.0,
            prev: 0.0,
            taps,
            history: vec![0.0; taps],
            sum: 0.0,
            head: 0,
            started: false,
        }
    }

    /// Whether this resampler changes anything.
    pub fn is_identity(&self) -> bool {
        self.step == 1.0
    }

    fn filter(&mut self, x: f32) -> f32 {
        if self.taps == 1 {
            return x;
        }
        self.sum += x - self.history[self.head];
        self.history[self.head] = x;
        self.head = (self.head + 1) % self.taps;
        self.sum / self.taps as f32
    }

    /// Resamples the next chunk; output length follows the ratio over time.
    pub fn process(&mut self, input: &[f32]) -> Vec<f32> {
        if self.is_identity() {
            return input.to_vec();
        }
        let mut out = Vec::with_capacity((input.len() as f64 / self.step).ceil() as usize + 1);
        for &raw in input {
            let x = self.filter(raw);
            if !self.started {
                // The first sample is output as is: time 0 of both streams.
                self.started = true;
                self.prev = x;
                out.push(x);
                self.pos = self.step;
                continue;
            }
            // Outputs between `prev` (at 0) and `x` (at 1).
            while self.pos <= 1.0 {
                let t = self.pos as f32;
                out.push(self.prev + (x - self.prev) * t);
                self.pos += self.step;
            }
            self.pos -= 1.0;
            self.prev = x;
        }
        // Keep the running sum exact over long streams.
        if self.taps > 1 && self.head == 0 {
            self.sum = self.history.iter().sum();
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sine(freq: f32, rate: u32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| (2.0 * std::f32::consts::PI * freq * i as f32 / rate as f32).sin())
            .collect()
    }

    /// Zero crossings per second, a rough frequency.
    fn crossings_per_second(x: &[f32], rate: u32) -> f32 {
        let c = x
            .windows(2)
            .filter(|w| (w[0] < 0.0) != (w[1] < 0.0))
            .count();
        c as f32 / 2.0 / (x.len() as f32 / rate as f32)
    }

    #[test]
    fn downmix_averages_frames() {
        assert_eq!(downmix(&[1.0, 0.0, 0.5, 0.5], 2), vec![0.5, 0.5]);
        assert_eq!(downmix(&[0.3, 0.1], 1), vec![0.3, 0.1]);
        // A partial frame at the end is dropped.
        assert_eq!(downmix(&[1.0, 1.0, 1.0], 2), vec![1.0]);
        assert!(downmix(&[1.0], 0).is_empty());
    }

    #[test]
    fn from_48k_to_16k_keeps_duration_and_pitch_across_chunks() {
        let input = sine(440.0, 48_000, 48_000);
        let mut r = Resampler::new(48_000, 16_000);
        let mut out = Vec::new();
        // Odd chunk sizes, as audio callbacks deliver them.
        for chunk in input.chunks(479) {
            out.extend(r.process(chunk));
        }
        assert!(out.len().abs_diff(16_000) <= 2, "{}", out.len());
        let f = crossings_per_second(&out, 16_000);
        assert!((f - 440.0).abs() < 5.0, "{f} Hz");
        // The box filter barely touches 440 Hz.
        let peak = out[1000..].iter().fold(0f32, |m, s| m.max(s.abs()));
        assert!(peak > 0.9 && peak <= 1.0, "{peak}");
    }

    #[test]
    fn chunking_does_not_change_the_output() {
        let input = sine(300.0, 44_100, 10_000);
        let mut whole = Resampler::new(44_100, 16_000);
        let a = whole.process(&input);
        let mut parts = Resampler::new(44_100, 16_000);
        let b: Vec<f32> = input.chunks(37).flat_map(|c| parts.process(c)).collect();
        assert_eq!(a.len(), b.len());
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-4);
        }
        assert!(a.len().abs_diff(10_000 * 16_000 / 44_100) <= 2);
    }

    #[test]
    fn aliasing_is_damped_when_downsampling() {
        // 15 kHz would fold to 1 kHz at 16 kHz; the filter must damp it.
        let input = sine(15_000.0, 48_000, 48_000);
        let mut r = Resampler::new(48_000, 16_000);
        let out = r.process(&input);
        let rms = (out.iter().map(|s| s * s).sum::<f32>() / out.len() as f32).sqrt();
        assert!(rms < 0.3, "rms {rms}");
    }

    #[test]
    fn upsampling_and_identity() {
        let mut up = Resampler::new(8_000, 16_000);
        let out = up.process(&sine(200.0, 8_000, 8_000));
        assert!(out.len().abs_diff(16_000) <= 2);
        let mut same = Resampler::new(16_000, 16_000);
        assert!(same.is_identity());
        assert_eq!(same.process(&[0.1, 0.2]), vec![0.1, 0.2]);
    }
}
