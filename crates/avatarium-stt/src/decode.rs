//! Decoding uploaded audio into 16 kHz mono `f32` PCM, the input every engine here needs.
//!
//! Symphonia demuxes WAV, MP3, OGG, WebM/Matroska, FLAC and MP4, and decodes PCM, MP3, Vorbis,
//! FLAC and AAC; Opus (what browsers' `MediaRecorder` produces in WebM and OGG) goes through
//! libopus, built from source by `opusic-sys`.

use std::io::{Cursor, ErrorKind};
use std::sync::OnceLock;

use rubato::audioadapter_buffers::direct::InterleavedSlice;
use rubato::{Fft, FixedSync, Resampler};
use symphonia::core::codecs::CodecParameters;
use symphonia::core::codecs::audio::AudioDecoderOptions;
use symphonia::core::codecs::registry::CodecRegistry;
use symphonia::core::errors::Error as SymphError;
use symphonia::core::formats::probe::Hint;
use symphonia::core::formats::{FormatOptions, TrackType};
use symphonia::core::io::{MediaSourceStream, MediaSourceStreamOptions};
use symphonia::core::meta::MetadataOptions;

use crate::SttError;

/// The sample rate every engine here consumes.
pub const SAMPLE_RATE: u32 = 16_000;

/// The longest audio accepted, in seconds.
pub const MAX_SECONDS: f32 = 600.0;

/// Decodes `bytes` (any supported container and codec) into mono PCM at 16 kHz.
///
/// `hint` is a MIME type (`audio/webm;codecs=opus`), a file name (`clip.ogg`) or an extension
/// (`mp3`); it only speeds up format detection, a wrong hint does no harm.
///
/// Errors: [`SttError::BadAudio`] for empty, truncated, undecodable or unsupported input;
/// [`SttError::TooLong`] past [`MAX_SECONDS`].
pub fn decode_to_mono_16k(bytes: &[u8], hint: Option<&str>) -> Result<Vec<f32>, SttError> {
    let (mono, rate) = decode_mono(bytes, hint)?;
    resample_to_16k(mono, rate)
}

/// Decodes to mono at the stream's own sample rate, enforcing [`MAX_SECONDS`].
fn decode_mono(bytes: &[u8], hint: Option<&str>) -> Result<(Vec<f32>, u32), SttError> {
    if bytes.is_empty() {
        return Err(SttError::BadAudio("the audio is empty".into()));
    }

    let mss = MediaSourceStream::new(
        Box::new(Cursor::new(bytes)),
        MediaSourceStreamOptions::default(),
    );
    let mut format = symphonia::default::get_probe()
        .probe(
            &make_hint(hint),
            mss,
            FormatOptions::default(),
            MetadataOptions::default(),
        )
        .map_err(|e| match e {
            SymphError::IoError(ref io) if io.kind() == ErrorKind::UnexpectedEof => {
                SttError::BadAudio("the audio is truncated or not a known audio format".into())
            }
            other => SttError::BadAudio(format!("unrecognised audio format ({other})")),
        })?;

    let track = format
        .default_track(TrackType::Audio)
        .ok_or_else(|| SttError::BadAudio("the file has no audio track".into()))?;
    let track_id = track.id;
    let declared_frames = track.num_frames;
    let Some(CodecParameters::Audio(params)) = track.codec_params.clone() else {
        return Err(SttError::BadAudio("the file has no audio track".into()));
    };
    let mut decoder = codecs()
        .make_audio_decoder(&params, &AudioDecoderOptions::default())
        .map_err(|e| SttError::BadAudio(format!("unsupported audio codec ({e})")))?;

    let mut mono: Vec<f32> = Vec::new();
    let mut interleaved: Vec<f32> = Vec::new();
    // The decoder's output rate is the truth: codec parameters can state the core rate of a
    // codec that doubles it (HE-AAC), or none at all.
    let mut rate: Option<u32> = None;
    let mut max_frames = params.sample_rate.map(frames_limit);
    let (mut packets, mut bad_packets) = (0usize, 0usize);
    let mut first_error: Option<String> = None;
    let mut hit_eof = false;

    loop {
        let packet = match format.next_packet() {
            Ok(Some(packet)) => packet,
            Ok(None) => break,
            Err(SymphError::IoError(e)) if e.kind() == ErrorKind::UnexpectedEof => {
                hit_eof = true;
                break;
            }
            // A chained stream or a mid-stream format change; what came before is usable.
            Err(SymphError::ResetRequired) => break,
            Err(e) => {
                if mono.is_empty() {
                    return Err(SttError::BadAudio(format!("cannot read the audio ({e})")));
                }
                tracing::warn!(error = %e, "audio stream ended with an error; keeping what was decoded");
                break;
            }
        };
        if packet.track_id != track_id {
            continue;
        }
        packets += 1;
        let buf = match decoder.decode(&packet) {
            Ok(buf) => buf,
            // One corrupt packet should not cost the whole utterance.
            Err(SymphError::DecodeError(msg)) => {
                bad_packets += 1;
                first_error.get_or_insert_with(|| msg.to_string());
                continue;
            }
            Err(SymphError::IoError(e)) => {
                bad_packets += 1;
                first_error.get_or_insert_with(|| e.to_string());
                continue;
            }
            Err(e) => return Err(SttError::BadAudio(format!("cannot decode the audio ({e})"))),
        };
        if buf.frames() == 0 {
            continue;
        }
        if rate.is_none() {
            let spec_rate = buf.spec().rate();
            rate = Some(spec_rate);
            max_frames = Some(frames_limit(spec_rate));
        }
        let channels = buf.num_planes().max(1);
        buf.copy_to_vec_interleaved(&mut interleaved);
        mix_down(&interleaved, channels, &mut mono);
        if max_frames.is_some_and(|max| mono.len() > max) {
            return Err(SttError::TooLong { max_s: MAX_SECONDS });
        }
    }

    if bad_packets > 0 {
        tracing::debug!(bad_packets, packets, "skipped undecodable audio packets");
    }
    if packets > 0 && bad_packets * 2 > packets {
        return Err(SttError::BadAudio(format!(
            "most of the audio is undecodable ({})",
            first_error.unwrap_or_default()
        )));
    }
    if mono.is_empty() {
        return Err(SttError::BadAudio(match (hit_eof, first_error) {
            (true, _) => "the audio is truncated: no complete audio frame".into(),
            (_, Some(e)) => format!("no decodable audio ({e})"),
            _ => "the file contains no audio samples".into(),
        }));
    }
    // Formats that declare their length (WAV, FLAC, most MP3/MP4) let a cut-off upload be told
    // apart from a short one; streamed formats without a declared length keep what arrived.
    if hit_eof
        && let Some(declared) = declared_frames
        && (mono.len() as f64) < declared as f64 * 0.98
    {
        return Err(SttError::BadAudio(format!(
            "the audio is truncated: {} of {} frames present",
            mono.len(),
            declared
        )));
    }
    let rate = rate
        .filter(|&r| r > 0)
        .ok_or_else(|| SttError::BadAudio("the audio has no valid sample rate".into()))?;
    Ok((mono, rate))
}

/// Frames allowed at `rate`; a few milliseconds of slack so a file of exactly [`MAX_SECONDS`]
/// with encoder padding still passes.
fn frames_limit(rate: u32) -> usize {
    ((MAX_SECONDS as f64 + 0.1) * rate as f64) as usize
}

/// Averages interleaved channels into `out`; non-finite samples (broken float WAVs) become 0 so
/// they cannot poison the resampler or the model.
fn mix_down(interleaved: &[f32], channels: usize, out: &mut Vec<f32>) {
    let clean = |s: f32| if s.is_finite() { s } else { 0.0 };
    if channels == 1 {
        out.extend(interleaved.iter().map(|&s| clean(s)));
        return;
    }
    let scale = 1.0 / channels as f32;
    out.extend(
        interleaved
            .chunks_exact(channels)
            .map(|frame| frame.iter().map(|&s| clean(s)).sum::<f32>() * scale),
    );
}

/// Resamples mono PCM from `rate` to [`SAMPLE_RATE`].
pub fn resample_to_16k(mono: Vec<f32>, rate: u32) -> Result<Vec<f32>, SttError> {
    if rate == SAMPLE_RATE || mono.is_empty() {
        return Ok(mono);
    }
    // The FFT resampler is exact for a fixed ratio and several times faster than sinc.
    let mut resampler = Fft::<f32>::new(
        rate as usize,
        SAMPLE_RATE as usize,
        1024,
        1,
        FixedSync::Both,
    )
    .map_err(|e| SttError::BadAudio(format!("cannot resample from {rate} Hz ({e})")))?;
    let input = InterleavedSlice::new(&mono, 1, mono.len())
        .map_err(|e| SttError::BadAudio(format!("cannot resample ({e})")))?;
    let out = resampler
        .process_all(&input, mono.len(), None)
        .map_err(|e| SttError::BadAudio(format!("cannot resample from {rate} Hz ({e})")))?;
    Ok(out.take_data())
}

fn codecs() -> &'static CodecRegistry {
    static REGISTRY: OnceLock<CodecRegistry> = OnceLock::new();
    REGISTRY.get_or_init(|| {
        let mut registry = CodecRegistry::new();
        symphonia::default::register_enabled_codecs(&mut registry);
        registry.register_audio_decoder::<symphonia_adapter_libopus::OpusDecoder>();
        registry
    })
}

fn make_hint(hint: Option<&str>) -> Hint {
    let mut h = Hint::new();
    let Some(raw) = hint.map(str::trim).filter(|s| !s.is_empty()) else {
        return h;
    };
    if raw.contains('/') && !raw.contains('.') {
        // `audio/webm;codecs=opus` → `audio/webm`
        let mime = raw
            .split(';')
            .next()
            .unwrap_or(raw)
            .trim()
            .to_ascii_lowercase();
        if let Some(ext) = extension_for_mime(&mime) {
            h.with_extension(ext);
        }
        h.mime_type(&mime);
    } else {
        let ext = raw.rsplit('.').next().unwrap_or(raw).to_ascii_lowercase();
        h.with_extension(&ext);
    }
    h
}

/// The file extension symphonia knows for a MIME type; also used to name multipart uploads.
pub(crate) fn extension_for_mime(mime: &str) -> Option<&'static str> {
    let base = mime
        .split(';')
        .next()
        .unwrap_or(mime)
        .trim()
        .to_ascii_lowercase();
    Some(match base.as_str() {
        "audio/webm" | "video/webm" => "webm",
        "audio/ogg" | "audio/opus" | "application/ogg" => "ogg",
        "audio/mpeg" | "audio/mp3" => "mp3",
        "audio/wav" | "audio/x-wav" | "audio/wave" | "audio/vnd.wave" => "wav",
        "audio/flac" | "audio/x-flac" => "flac",
        "audio/mp4" | "audio/m4a" | "audio/x-m4a" | "video/mp4" | "audio/aac" => "m4a",
        "audio/x-matroska" | "video/x-matroska" => "mkv",
        _ => return None,
    })
}

/// The MIME type for an extension or file name, for uploads that came without one.
pub(crate) fn mime_for_name(name: &str) -> Option<&'static str> {
    let ext = name.rsplit('.').next().unwrap_or(name).to_ascii_lowercase();
    Some(match ext.as_str() {
        "webm" => "audio/webm",
        "ogg" | "oga" | "opus" => "audio/ogg",
        "mp3" => "audio/mpeg",
        "wav" | "wave" => "audio/wav",
        "flac" => "audio/flac",
        "m4a" | "mp4" | "aac" => "audio/mp4",
        "mkv" | "mka" => "audio/x-matroska",
        _ => return None,
    })
}

/// Guesses the container from its first bytes, for uploads with neither a name nor a MIME type.
pub(crate) fn sniff_extension(bytes: &[u8]) -> Option<&'static str> {
    let starts = |magic: &[u8]| bytes.starts_with(magic);
    if starts(b"RIFF") && bytes.get(8..12) == Some(b"WAVE") {
        Some("wav")
    } else if starts(b"OggS") {
        Some("ogg")
    } else if starts(&[0x1a, 0x45, 0xdf, 0xa3]) {
        Some("webm")
    } else if starts(b"fLaC") {
        Some("flac")
    } else if bytes.get(4..8) == Some(b"ftyp") {
        Some("m4a")
    } else if starts(b"ID3") || (bytes.len() > 1 && bytes[0] == 0xff && bytes[1] & 0xe0 == 0xe0) {
        Some("mp3")
    } else {
        None
    }
}

/// A file name with an extension cloud APIs accept, from whatever the request carries.
pub(crate) fn upload_name(filename: Option<&str>, mime: Option<&str>, bytes: &[u8]) -> String {
    if let Some(name) = filename.map(str::trim).filter(|n| !n.is_empty())
        && mime_for_name(name).is_some()
        && name.contains('.')
    {
        return name.rsplit(['/', '\\']).next().unwrap_or(name).to_string();
    }
    let ext = mime
        .and_then(extension_for_mime)
        .or_else(|| sniff_extension(bytes))
        .unwrap_or("wav");
    format!("audio.{ext}")
}

/// Encodes 16 kHz mono PCM as 16-bit little-endian samples (what cloud APIs call LINEAR16).
pub(crate) fn pcm_to_s16le(pcm: &[f32]) -> Vec<u8> {
    let mut out = Vec::with_capacity(pcm.len() * 2);
    for &s in pcm {
        let v = (s.clamp(-1.0, 1.0) * i16::MAX as f32).round() as i16;
        out.extend_from_slice(&v.to_le_bytes());
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mime_hints_are_normalised() {
        assert_eq!(extension_for_mime("audio/webm;codecs=opus"), Some("webm"));
        assert_eq!(extension_for_mime("Audio/OGG; codecs=opus"), Some("ogg"));
        assert_eq!(mime_for_name("clip.MP3"), Some("audio/mpeg"));
        assert_eq!(mime_for_name("noext"), None);
    }

    #[test]
    fn upload_names_carry_a_known_extension() {
        assert_eq!(upload_name(Some("take.webm"), None, b""), "take.webm");
        assert_eq!(
            upload_name(Some("blob"), Some("audio/ogg;codecs=opus"), b""),
            "audio.ogg"
        );
        assert_eq!(
            upload_name(None, None, b"RIFF\0\0\0\0WAVEfmt "),
            "audio.wav"
        );
        assert_eq!(
            upload_name(None, None, &[0x1a, 0x45, 0xdf, 0xa3, 1]),
            "audio.webm"
        );
    }

    #[test]
    fn mix_down_averages_and_cleans() {
        let mut out = Vec::new();
        mix_down(&[1.0, 0.0, f32::NAN, 0.5], 2, &mut out);
        assert_eq!(out, vec![0.5, 0.25]);
    }

    #[test]
    fn resample_keeps_duration() {
        let input = vec![0.1f32; 44_100 * 2];
        let out = resample_to_16k(input, 44_100).unwrap();
        let expected = 32_000.0;
        assert!(
            (out.len() as f32 - expected).abs() / expected < 0.01,
            "{}",
            out.len()
        );
    }

    #[test]
    fn s16le_clamps() {
        assert_eq!(
            pcm_to_s16le(&[2.0, -2.0, 0.0]),
            vec![0xff, 0x7f, 0x01, 0x80, 0, 0]
        );
    }

    #[test]
    fn empty_and_garbage_are_bad_audio() {
        assert!(matches!(
            decode_to_mono_16k(&[], None),
            Err(SttError::BadAudio(_))
        ));
        assert!(matches!(
            decode_to_mono_16k(
                b"definitely not audio at all, just text",
                Some("text/plain")
            ),
            Err(SttError::BadAudio(_))
        ));
    }
}
