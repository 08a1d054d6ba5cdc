//! WAV in and out (16-bit PCM mono out; anything `hound` reads in) and a
//! resampler for engines whose audio must be brought to a common rate.

use std::io::Cursor;

use crate::TtsError;

/// 16-bit PCM mono WAV of `samples`.
pub fn encode_wav(samples: &[i16], sample_rate: u32) -> Vec<u8> {
    let spec = hound::WavSpec {
        channels: 1,
        sample_rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut out = Cursor::new(Vec::with_capacity(44 + samples.len() * 2));
    // Writing 16-bit mono into memory cannot fail: hound's errors come from
    // the sink, unsupported specs or more than 4 GiB of data.
    let mut writer = hound::WavWriter::new(&mut out, spec).expect("valid WAV spec");
    {
        let mut w = writer.get_i16_writer(samples.len() as u32);
        for &s in samples {
            w.write_sample(s);
        }
        w.flush().expect("in-memory WAV write");
    }
    writer.finalize().expect("in-memory WAV write");
    out.into_inner()
}

/// Reads any WAV `hound` supports (8/16/24/32-bit integer, 32-bit float,
/// any channel count) into mono 16-bit samples and the sample rate;
/// channels are averaged.
pub fn decode_wav(bytes: &[u8]) -> Result<(Vec<i16>, u32), TtsError> {
    let bad = |e: hound::Error| TtsError::BadAudio(format!("not a readable WAV file: {e}"));
    let mut reader = hound::WavReader::new(Cursor::new(bytes)).map_err(bad)?;
    let spec = reader.spec();
    if spec.channels == 0 || spec.sample_rate == 0 {
        return Err(TtsError::BadAudio(
            "WAV header with no channels or no sample rate".into(),
        ));
    }
    let channels = usize::from(spec.channels);
    // Everything goes through f32 in [-1, 1] so every depth mixes the same way.
    let interleaved: Vec<f32> = match spec.sample_format {
        hound::SampleFormat::Float => reader
            .samples::<f32>()
            .collect::<Result<_, _>>()
            .map_err(bad)?,
        hound::SampleFormat::Int => {
            let scale = 1.0 / (1u64 << (spec.bits_per_sample.clamp(1, 32) - 1)) as f32;
            reader
                .samples::<i32>()
                .map(|s| s.map(|s| s as f32 * scale))
                .collect::<Result<_, _>>()
                .map_err(bad)?
        }
    };
    let mono = interleaved
        .chunks_exact(channels)
        .map(|frame| to_i16(frame.iter().sum::<f32>() / channels as f32))
        .collect();
    Ok((mono, spec.sample_rate))
}

fn to_i16(x: f32) -> i16 {
    (x * 32768.0).round().clamp(-32768.0, 32767.0) as i16
}

/// Linear-interpolation resampling: cheap and good enough for bringing
/// speech to the rate a player or a concatenation expects (not for
/// analysis, where aliasing matters; `avatarium_lipsync::audio` does its
/// own band-limited resampling).
pub fn resample_linear(samples: &[i16], from_rate: u32, to_rate: u32) -> Vec<i16> {
    if from_rate == to_rate || samples.is_empty() || from_rate == 0 || to_rate == 0 {
        return samples.to_vec();
    }
    let out_len =
        (samples.len() as u64 * u64::from(to_rate)).div_ceil(u64::from(from_rate)) as usize;
    let step = f64::from(from_rate) / f64::from(to_rate);
    let last = samples.len() - 1;
    (0..out_len)
        .map(|i| {
            let pos = i as f64 * step;
            let j = (pos as usize).min(last);
            let frac = pos - j as f64;
            let a = f64::from(samples[j]);
            let b = f64::from(samples[(j + 1).min(last)]);
            (a + (b - a) * frac).round() as i16
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn stereo_float_is_mixed_to_mono() {
        let spec = hound::WavSpec {
            channels: 2,
            sample_rate: 8000,
            bits_per_sample: 32,
            sample_format: hound::SampleFormat::Float,
        };
        let mut buf = Cursor::new(Vec::new());
        let mut w = hound::WavWriter::new(&mut buf, spec).unwrap();
        for (l, r) in [(0.5f32, -0.5f32), (0.25, 0.25), (1.0, 1.0)] {
            w.write_sample(l).unwrap();
            w.write_sample(r).unwrap();
        }
        w.finalize().unwrap();
        let (mono, rate) = decode_wav(&buf.into_inner()).unwrap();
        assert_eq!(rate, 8000);
        assert_eq!(mono, vec![0, 8192, 32767]);
    }

    #[test]
    fn garbage_is_bad_audio() {
        assert!(matches!(
            decode_wav(b"RIFFnope"),
            Err(TtsError::BadAudio(_))
        ));
    }

    #[test]
    fn resampling_keeps_duration() {
        let x: Vec<i16> = (0..22050).map(|i| (i % 100) as i16).collect();
        assert_eq!(resample_linear(&x, 22050, 16000).len(), 16000);
        assert_eq!(resample_linear(&x, 22050, 44100).len(), 44100);
    }
}
