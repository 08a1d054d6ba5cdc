//! Opus at 48 kHz: mono 20 ms frames in, WebRTC packets out, and back.

use opus::{Application, Bitrate, Channels, Signal};

use crate::MediaError;

/// Opus/WebRTC clock.
pub const OPUS_RATE: u32 = 48_000;
/// 20 ms at 48 kHz, mono.
pub const OPUS_FRAME_SAMPLES: usize = 960;

/// libopus' recommended upper bound for one packet.
const MAX_PACKET_BYTES: usize = 4000;
/// The longest Opus packet: 120 ms at 48 kHz.
const MAX_PACKET_SAMPLES: usize = 5760;
/// The bitrates libopus does something useful with (it clamps anything else).
const MIN_BITRATE: i32 = 6_000;
const MAX_BITRATE: i32 = 510_000;

fn codec(context: &str, e: opus::Error) -> MediaError {
    MediaError::Codec(format!("Opus {context}: {e}"))
}

/// Opus, 48 kHz mono, 20 ms frames.
///
/// Application `Audio`, not `Voip`: the input is clean synthesised TTS speech, not a
/// noisy microphone, so we want the decoded voice as close to the TTS output as
/// possible; `Voip` adds a high-pass filter and tuning for intelligibility of captured
/// speech that only colours a clean voice. The `Voice` signal hint still lets the
/// encoder pick its speech modes (SILK/hybrid) at low bitrates. Variable bitrate (the
/// libopus default, and what WebRTC expects).
pub struct OpusEncoder {
    encoder: opus::Encoder,
    /// The frame handed to libopus, with NaN/∞ and out-of-range samples tamed.
    frame: Vec<f32>,
}

impl OpusEncoder {
    /// `bitrate_bps`: 6 000–510 000 bit/s (24–32 kbit/s is transparent-ish speech).
    pub fn new(bitrate_bps: i32) -> Result<Self, MediaError> {
        if !(MIN_BITRATE..=MAX_BITRATE).contains(&bitrate_bps) {
            return Err(MediaError::BadInput(format!(
                "Opus bitrate {bitrate_bps} bit/s: must be between {MIN_BITRATE} and {MAX_BITRATE}"
            )));
        }
        let mut encoder = opus::Encoder::new(OPUS_RATE, Channels::Mono, Application::Audio)
            .map_err(|e| codec("encoder creation", e))?;
        encoder
            .set_bitrate(Bitrate::Bits(bitrate_bps))
            .map_err(|e| codec("set bitrate", e))?;
        encoder
            .set_signal(Signal::Voice)
            .map_err(|e| codec("set signal", e))?;
        Ok(Self {
            encoder,
            frame: vec![0.0; OPUS_FRAME_SAMPLES],
        })
    }

    /// `pcm`: exactly OPUS_FRAME_SAMPLES mono samples in [-1, 1] (anything outside is
    /// clipped, NaN is silence). Returns one Opus packet.
    pub fn encode(&mut self, pcm: &[f32]) -> Result<Vec<u8>, MediaError> {
        if pcm.len() != OPUS_FRAME_SAMPLES {
            return Err(MediaError::BadInput(format!(
                "Opus frame of {} samples, expected {OPUS_FRAME_SAMPLES} (20 ms at 48 kHz, mono)",
                pcm.len()
            )));
        }
        for (dst, &src) in self.frame.iter_mut().zip(pcm) {
            *dst = if src.is_nan() {
                0.0
            } else {
                src.clamp(-1.0, 1.0)
            };
        }
        self.encoder
            .encode_vec_float(&self.frame, MAX_PACKET_BYTES)
            .map_err(|e| codec("encode", e))
    }
}

/// Opus decoder at 48 kHz.
pub struct OpusDecoder {
    decoder: opus::Decoder,
    channels: usize,
}

impl OpusDecoder {
    /// Decodes to 48 kHz; `channels` is 1 or 2 (WebRTC negotiates opus/48000/2; a mono
    /// stream decodes fine into either, as identical left and right). Output is
    /// interleaved f32.
    pub fn new(channels: usize) -> Result<Self, MediaError> {
        let layout = match channels {
            1 => Channels::Mono,
            2 => Channels::Stereo,
            n => {
                return Err(MediaError::BadInput(format!(
                    "Opus decoder with {n} channels: must be 1 or 2"
                )));
            }
        };
        let decoder =
            opus::Decoder::new(OPUS_RATE, layout).map_err(|e| codec("decoder creation", e))?;
        Ok(Self { decoder, channels })
    }

    /// Decodes one packet to interleaved f32 at 48 kHz (960 samples per channel for a
    /// 20 ms packet). An empty `packet` means a lost one: 20 ms of concealment.
    pub fn decode(&mut self, packet: &[u8]) -> Result<Vec<f32>, MediaError> {
        let per_channel = if packet.is_empty() {
            OPUS_FRAME_SAMPLES
        } else {
            MAX_PACKET_SAMPLES
        };
        let mut out = vec![0.0; per_channel * self.channels];
        let n = self
            .decoder
            .decode_float(packet, &mut out, false)
            .map_err(|e| codec("decode", e))?;
        out.truncate(n * self.channels);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::f32::consts::TAU;

    fn sine(freq: f32, amp: f32, n: usize) -> Vec<f32> {
        (0..n)
            .map(|i| amp * (TAU * freq * i as f32 / OPUS_RATE as f32).sin())
            .collect()
    }

    /// Normalised correlation of `a` against `b` delayed by `lag`, over `range` of `a`.
    fn corr_at(a: &[f32], b: &[f32], lag: usize, range: std::ops::Range<usize>) -> f64 {
        let (mut ab, mut aa, mut bb) = (0.0f64, 0.0f64, 0.0f64);
        for i in range {
            let (x, y) = (f64::from(a[i]), f64::from(b[i + lag]));
            ab += x * y;
            aa += x * x;
            bb += y * y;
        }
        ab / (aa * bb).sqrt().max(1e-12)
    }

    #[test]
    fn sine_round_trip_correlates_and_compresses() {
        const FRAMES: usize = 50;
        let input = sine(440.0, 0.5, FRAMES * OPUS_FRAME_SAMPLES);
        let mut enc = OpusEncoder::new(32_000).unwrap();
        let mut dec = OpusDecoder::new(1).unwrap();

        let mut packet_bytes = 0;
        let mut output = Vec::new();
        for chunk in input.chunks_exact(OPUS_FRAME_SAMPLES) {
            let packet = enc.encode(chunk).unwrap();
            packet_bytes += packet.len();
            let pcm = dec.decode(&packet).unwrap();
            assert_eq!(pcm.len(), OPUS_FRAME_SAMPLES);
            output.extend(pcm);
        }
        assert_eq!(output.len(), input.len());

        // Find the codec delay within 0-20 ms by cross-correlation, skipping the first
        // 100 ms (start-up) and leaving room at the end for the largest lag.
        let range = 4800..input.len() - OPUS_FRAME_SAMPLES;
        let corrs: Vec<f64> = (0..=OPUS_FRAME_SAMPLES)
            .map(|lag| corr_at(&input, &output, lag, range.clone()))
            .collect();
        let (lag, corr) = corrs
            .iter()
            .copied()
            .enumerate()
            .max_by(|a, b| a.1.total_cmp(&b.1))
            .unwrap();
        // A sine correlates as well one period (109 samples) later, so the peak alone
        // cannot tell the delay; check that the encoder's own lookahead (the whole
        // algorithmic delay of Opus) is one of the peaks.
        let lookahead = enc.encoder.get_lookahead().unwrap() as usize;
        let at_lookahead = corrs[lookahead];
        let pcm_bytes = input.len() * 2; // as 16-bit PCM
        eprintln!(
            "Opus: best lag {lag} samples ({:.2} ms), correlation {corr:.4}; at the encoder \
             lookahead ({lookahead} samples, {:.2} ms) {at_lookahead:.4}; {packet_bytes} bytes \
             for {pcm_bytes} bytes of 16-bit PCM ({:.1}x smaller)",
            lag as f64 / 48.0,
            lookahead as f64 / 48.0,
            pcm_bytes as f64 / packet_bytes as f64
        );
        assert!(corr >= 0.9, "correlation {corr:.3} at lag {lag}");
        assert!(
            at_lookahead >= 0.95,
            "correlation {at_lookahead:.3} at the lookahead ({lookahead})"
        );
        assert!(
            packet_bytes * 5 < pcm_bytes,
            "{packet_bytes} bytes of Opus for {pcm_bytes} bytes of PCM"
        );
    }

    #[test]
    fn mono_stream_decodes_to_stereo() {
        let mut enc = OpusEncoder::new(24_000).unwrap();
        let mut dec = OpusDecoder::new(2).unwrap();
        let input = sine(300.0, 0.4, 10 * OPUS_FRAME_SAMPLES);
        let mut energy = 0.0;
        for chunk in input.chunks_exact(OPUS_FRAME_SAMPLES) {
            let pcm = dec.decode(&enc.encode(chunk).unwrap()).unwrap();
            assert_eq!(pcm.len(), 2 * OPUS_FRAME_SAMPLES);
            for lr in pcm.chunks_exact(2) {
                assert!((lr[0] - lr[1]).abs() < 1e-6, "{lr:?}");
                energy += lr[0] * lr[0];
            }
        }
        assert!(energy > 1.0, "the sine came out silent");
        // A lost packet: 20 ms of concealment.
        assert_eq!(dec.decode(&[]).unwrap().len(), 2 * OPUS_FRAME_SAMPLES);
    }

    #[test]
    fn bad_input_is_an_error() {
        for bitrate in [0, -1, 100, 1_000_000] {
            assert!(matches!(
                OpusEncoder::new(bitrate),
                Err(MediaError::BadInput(_))
            ));
        }
        let mut enc = OpusEncoder::new(32_000).unwrap();
        for len in [0, 959, 961, 1920] {
            assert!(matches!(
                enc.encode(&vec![0.0; len]),
                Err(MediaError::BadInput(_))
            ));
        }
        // Out-of-range and NaN samples are tamed, not fed to libopus.
        let mut wild = vec![f32::NAN; OPUS_FRAME_SAMPLES];
        wild[..480].fill(7.0);
        assert!(!enc.encode(&wild).unwrap().is_empty());

        for channels in [0, 3, 6] {
            assert!(matches!(
                OpusDecoder::new(channels),
                Err(MediaError::BadInput(_))
            ));
        }
        let mut dec = OpusDecoder::new(1).unwrap();
        // TOC code 3 (arbitrary frame count) with the count byte missing.
        assert!(matches!(dec.decode(&[0xfb]), Err(MediaError::Codec(_))));
    }

    #[test]
    fn codecs_are_send() {
        fn send<T: Send>() {}
        send::<OpusEncoder>();
        send::<OpusDecoder>();
    }
}
