//! WAV in and out: captured utterances go to the dashboard as 16-bit PCM
//! WAV (what `/v1/stt/transcribe` takes), and the API's speech comes back
//! as WAV to play.

use std::io::Cursor;

use base64::Engine;
use base64::engine::general_purpose::STANDARD;

/// Decoded audio: interleaved samples in -1..1.
#[derive(Debug, Clone, PartialEq)]
pub struct Pcm {
    pub samples: Vec<f32>,
    pub channels: u16,
    pub sample_rate: u32,
}

impl Pcm {
    pub fn duration_ms(&self) -> u64 {
        let frames = self.samples.len() as u64 / u64::from(self.channels.max(1));
        frames * 1000 / u64::from(self.sample_rate.max(1))
    }
}

/// Mono samples (-1..1, clipped) as a 16-bit PCM WAV file, written by the
/// voice's own WAV writer.
pub fn encode_pcm16(samples: &[f32], sample_rate: u32) -> Vec<u8> {
    let pcm: Vec<i16> = samples.iter().map(|&s| to_i16(s)).collect();
    avatarium_tts::wav::encode_wav(&pcm, sample_rate)
}

fn to_i16(s: f32) -> i16 {
    if s.is_nan() {
        return 0;
    }
    (s.clamp(-1.0, 1.0) * 32767.0).round() as i16
}

/// Reads a PCM WAV file (8/16/24/32-bit integer or 32-bit float).
pub fn decode(bytes: &[u8]) -> Result<Pcm, String> {
    let reader =
        hound::WavReader::new(Cursor::new(bytes)).map_err(|e| format!("not a WAV file: {e}"))?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err("WAV file with no channels or no sample rate".into());
    }
    let samples: Result<Vec<f32>, hound::Error> = match spec.sample_format {
        hound::SampleFormat::Float => reader.into_samples::<f32>().collect(),
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .into_samples::<i32>()
                .map(|s| s.map(|v| v as f32 * scale))
                .collect()
        }
    };
    Ok(Pcm {
        samples: samples.map_err(|e| format!("bad WAV data: {e}"))?,
        channels: spec.channels,
        sample_rate: spec.sample_rate,
    })
}

pub fn to_base64(bytes: &[u8]) -> String {
    STANDARD.encode(bytes)
}

/// Base64 (with or without a `data:audio/wav;base64,` prefix) to bytes.
pub fn from_base64(text: &str) -> Result<Vec<u8>, String> {
    let body = match text.split_once(',') {
        Some((head, body)) if head.starts_with("data:") => body,
        _ => text,
    };
    STANDARD
        .decode(body.trim())
        .map_err(|e| format!("the audio is not valid base64: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn encodes_a_standard_16_bit_mono_header() {
        let wav = encode_pcm16(&[0.0, 0.5, -0.5, 1.0], 16_000);
        assert_eq!(wav.len(), 44 + 8);
        assert_eq!(&wav[0..4], b"RIFF");
        assert_eq!(&wav[8..16], b"WAVEfmt ");
        assert_eq!(u16::from_le_bytes([wav[20], wav[21]]), 1, "PCM");
        assert_eq!(u16::from_le_bytes([wav[22], wav[23]]), 1, "mono");
        assert_eq!(u32::from_le_bytes(wav[24..28].try_into().unwrap()), 16_000);
        assert_eq!(u16::from_le_bytes([wav[34], wav[35]]), 16, "bits");
        assert_eq!(&wav[36..40], b"data");
        assert_eq!(u32::from_le_bytes(wav[40..44].try_into().unwrap()), 8);
        let first = |i: usize| i16::from_le_bytes([wav[44 + 2 * i], wav[45 + 2 * i]]);
        assert_eq!(
            (first(0), first(1), first(2), first(3)),
            (0, 16_384, -16_384, 32_767)
        );
    }

    #[test]
    fn round_trips_and_clips() {
        let samples: Vec<f32> = (0..1600).map(|i| (i as f32 * 0.05).sin() * 0.8).collect();
        let pcm = decode(&encode_pcm16(&samples, 16_000)).unwrap();
        assert_eq!((pcm.channels, pcm.sample_rate), (1, 16_000));
        assert_eq!(pcm.samples.len(), samples.len());
        assert_eq!(pcm.duration_ms(), 100);
        for (a, b) in samples.iter().zip(&pcm.samples) {
            assert!((a - b).abs() < 1e-4, "{a} vs {b}");
        }
        let clipped = decode(&encode_pcm16(&[3.0, -3.0, f32::NAN], 8_000)).unwrap();
        assert!((clipped.samples[0] - 1.0).abs() < 1e-3);
        assert!((clipped.samples[1] + 1.0).abs() < 1e-3);
        assert_eq!(clipped.samples[2], 0.0);
    }

    #[test]
    fn decodes_stereo_float_and_refuses_garbage() {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 22_050,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut buf = Cursor::new(Vec::new());
        {
            let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
            for s in [0.25f32, -0.25, 0.5, -0.5] {
                w.write_sample(s).unwrap();
            }
            w.finalize().unwrap();
        }
        let pcm = decode(buf.get_ref()).unwrap();
        assert_eq!(pcm.channels, 2);
        assert_eq!(pcm.samples, vec![0.25, -0.25, 0.5, -0.5]);
        assert!(decode(b"not a wav").is_err());
    }

    #[test]
    fn base64_with_and_without_a_data_url() {
        let wav = encode_pcm16(&[0.1; 10], 16_000);
        let b64 = to_base64(&wav);
        assert_eq!(from_base64(&b64).unwrap(), wav);
        assert_eq!(
            from_base64(&format!("data:audio/wav;base64,{b64}")).unwrap(),
            wav
        );
        assert!(from_base64("***").is_err());
    }
}
