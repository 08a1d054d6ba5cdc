//! TTS audio at its own rate to the 48 kHz Opus clock.

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};

use crate::OPUS_RATE;

/// The FFT resampler works in blocks of `rate / gcd(rate, 48000)` input samples: fine
/// for every real audio rate (22050 → 147), absurd for a rate such as 4294967295.
/// Past this block size the fallback interpolates linearly instead.
const MAX_FFT_BLOCK: u64 = 1 << 18;

/// Mono i16 PCM at `rate` Hz to mono f32 at 48 kHz with a real (FFT, band-limited)
/// resampler, output length = round(len * 48000 / rate).
///
/// The resampler's delay is trimmed and the tail padded or cut, so the output is
/// time-aligned with the input: sample k of the output is at time k/48000 of the
/// input. `rate == 48000` just converts; `rate == 0` gives an empty Vec.
pub fn resample_to_48k(samples: &[i16], rate: u32) -> Vec<f32> {
    let pcm: Vec<f32> = samples.iter().map(|&s| f32::from(s) / 32768.0).collect();
    if rate == OPUS_RATE || pcm.is_empty() {
        return pcm;
    }
    if rate == 0 {
        return Vec::new();
    }
    let target = output_len(pcm.len(), rate);
    let mut out = fft_resample(&pcm, rate).unwrap_or_else(|| linear_resample(&pcm, rate, target));
    // rubato yields ceil(len * ratio) samples; round, as promised.
    out.resize(target, 0.0);
    out
}

/// round(len * 48000 / rate), in integers.
fn output_len(len: usize, rate: u32) -> usize {
    let (len, rate) = (len as u128, u128::from(rate));
    ((len * u128::from(OPUS_RATE) + rate / 2) / rate) as usize
}

/// The whole clip through rubato's FFT resampler, its start-up delay trimmed off.
/// `None` where that resampler is not usable for `rate`.
fn fft_resample(pcm: &[f32], rate: u32) -> Option<Vec<f32>> {
    let block = u64::from(rate) / gcd(u64::from(rate), u64::from(OPUS_RATE));
    if block > MAX_FFT_BLOCK {
        return None;
    }
    // The FFT length is a whole number of blocks, about 1024 samples. Keep that number
    // even: the filter's delay is half the FFT length, and rubato trims
    // `fft_size_out / 2` output samples, which is exact only for an even length (for
    // 22050 Hz, 7 blocks of 147 would leave the output 1.09 samples early).
    let block = block as usize;
    let chunk = 1024usize.div_ceil(2 * block) * 2 * block;
    let mut resampler =
        Fft::<f32>::new(rate as usize, OPUS_RATE as usize, chunk, 1, FixedSync::Both).ok()?;
    let input = InterleavedSlice::new(pcm, 1, pcm.len()).ok()?;
    let out = resampler.process_all(&input, pcm.len(), None).ok()?;
    Some(out.take_data())
}

/// Linear interpolation, for rates the FFT resampler cannot take.
fn linear_resample(pcm: &[f32], rate: u32, target: usize) -> Vec<f32> {
    let step = f64::from(rate) / f64::from(OPUS_RATE);
    (0..target)
        .map(|k| {
            let pos = k as f64 * step;
            let i = pos.floor() as usize;
            let frac = (pos - i as f64) as f32;
            match (pcm.get(i), pcm.get(i + 1)) {
                (Some(&a), Some(&b)) => a + (b - a) * frac,
                (Some(&a), None) => a,
                _ => 0.0,
            }
        })
        .collect()
}

fn gcd(mut a: u64, mut b: u64) -> u64 {
    while b != 0 {
        (a, b) = (b, a % b);
    }
    a
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f64::consts::TAU;

    fn sine_i16(freq: f64, rate: u32, n: usize, amp: f64) -> Vec<i16> {
        (0..n)
            .map(|i| {
                (amp * 32767.0 * (TAU * freq * i as f64 / f64::from(rate)).sin()).round() as i16
            })
            .collect()
    }

    /// Upward zero crossings in `x`.
    fn rising_crossings(x: &[f32]) -> usize {
        x.windows(2).filter(|w| w[0] < 0.0 && w[1] >= 0.0).count()
    }

    /// Phase of `x` at 1 kHz relative to sin(2π·1000·k/48000), in samples at 48 kHz,
    /// by projecting on sin and cos (exact for a pure tone over whole periods).
    fn lag_samples_1k(x: &[f32], range: std::ops::Range<usize>) -> f64 {
        let (mut s, mut c) = (0.0, 0.0);
        for k in range {
            let t = TAU * 1000.0 * k as f64 / 48000.0;
            s += f64::from(x[k]) * t.sin();
            c += f64::from(x[k]) * t.cos();
        }
        // x ≈ A·sin(t − φ) = A(sin t cos φ − cos t sin φ)  ⇒  φ = atan2(−c, s)
        let phase = (-c).atan2(s);
        phase / TAU * 48.0 // one period of 1 kHz is 48 samples
    }

    #[test]
    fn sine_22050_to_48k_keeps_length_frequency_and_timing() {
        let n = 22050; // 1 s
        let input = sine_i16(1000.0, 22050, n, 0.5);
        let out = resample_to_48k(&input, 22050);
        assert_eq!(out.len(), 48000);

        // Dominant frequency: 1000 rising zero crossings in 1 s (±1 at the edges).
        let crossings = rising_crossings(&out);
        assert!((999..=1001).contains(&crossings), "{crossings} crossings");

        // Matches the ideal 48 kHz sine in amplitude and phase away from the edges.
        let ideal: Vec<f32> = (0..48000)
            .map(|k| (0.5 * (TAU * 1000.0 * k as f64 / 48000.0).sin()) as f32)
            .collect();
        let mid = 2400..45600;
        let max_err = mid
            .clone()
            .map(|k| (out[k] - ideal[k]).abs())
            .fold(0.0f32, f32::max);
        let lag = lag_samples_1k(&out, mid);
        eprintln!("22050 -> 48k: max error {max_err:.5}, phase lag {lag:.4} samples");
        assert!(lag.abs() <= 0.05, "phase lag {lag:.4} samples");
        assert!(max_err < 0.005, "max error {max_err}");
    }

    /// Sub-sample timing at the rates TTS voices use.
    #[test]
    fn common_rates_are_phase_aligned() {
        for rate in [
            8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 96_000,
        ] {
            let input = sine_i16(1000.0, rate, rate as usize, 0.5); // 1 s
            let out = resample_to_48k(&input, rate);
            assert_eq!(out.len(), 48_000);
            let lag = lag_samples_1k(&out, 2400..45600);
            eprintln!("{rate} Hz: phase lag {lag:.4} samples at 48 kHz");
            assert!(lag.abs() <= 0.05, "{rate} Hz: phase lag {lag:.4} samples");
        }
    }

    /// A pure tone only pins the timing modulo its period (1 ms); a short Gaussian burst
    /// has one correlation peak, so this catches whole-period shifts too.
    #[test]
    fn burst_is_not_shifted() {
        let burst = |t: f64| {
            let d = t - 0.05; // centred at 50 ms, σ = 1 ms
            0.8 * (-(d * d) / (2.0 * 0.001f64.powi(2))).exp() * (TAU * 1000.0 * d).sin()
        };
        for rate in [16_000, 22_050, 24_000, 44_100] {
            let n = rate as usize / 10; // 100 ms
            let input: Vec<i16> = (0..n)
                .map(|i| (32767.0 * burst(i as f64 / f64::from(rate))).round() as i16)
                .collect();
            let out = resample_to_48k(&input, rate);
            assert_eq!(out.len(), output_len(n, rate));
            let ideal: Vec<f64> = (0..out.len()).map(|k| burst(k as f64 / 48000.0)).collect();
            // Cross-correlate over ±5 ms.
            let (lag, _) = (-240i64..=240)
                .map(|lag| {
                    let c: f64 = (240..out.len() - 240)
                        .map(|k| f64::from(out[(k as i64 + lag) as usize]) * ideal[k])
                        .sum();
                    (lag, c)
                })
                .max_by(|a, b| a.1.total_cmp(&b.1))
                .unwrap();
            eprintln!("{rate} Hz burst: lag {lag} samples at 48 kHz");
            assert_eq!(lag, 0, "{rate} Hz: shifted by {lag} samples");
        }
    }

    #[test]
    fn lengths_are_exact() {
        for rate in [
            8_000, 11_025, 16_000, 22_050, 24_000, 32_000, 44_100, 96_000,
        ] {
            for len in [1, 2, 7, 100, 1023, 1024, 1025, 4410, 22_051] {
                let out = resample_to_48k(&vec![1000; len], rate);
                let want = (len as f64 * 48000.0 / f64::from(rate)).round() as usize;
                assert_eq!(out.len(), want, "{len} samples at {rate} Hz");
            }
        }
    }

    #[test]
    fn passthrough_empty_and_degenerate_rates() {
        assert_eq!(
            resample_to_48k(&[0, 16384, -32768, 32767], 48_000),
            vec![0.0, 0.5, -1.0, 32767.0 / 32768.0]
        );
        assert!(resample_to_48k(&[], 22_050).is_empty());
        assert!(resample_to_48k(&[1, 2, 3], 0).is_empty());
        // A rate the FFT resampler cannot take still gives the promised length.
        let out = resample_to_48k(&vec![1000; 100_000], u32::MAX);
        assert_eq!(out.len(), 1);
        let rate = 1_000_003; // prime: a 1 000 003-sample FFT block, so the fallback
        assert_eq!(
            resample_to_48k(&vec![1000; 50_000], rate).len(),
            output_len(50_000, rate)
        );
    }

    #[test]
    fn linear_fallback_interpolates() {
        let pcm = [0.0, 1.0, 0.0];
        assert_eq!(
            linear_resample(&pcm, 24_000, 6),
            vec![0.0, 0.5, 1.0, 0.5, 0.0, 0.0]
        );
    }
}
