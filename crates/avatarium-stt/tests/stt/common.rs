//! Test data and encoders that produce the formats browsers and users upload, offline.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::OnceLock;

pub fn data_dir() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../../shared/data");
    assert!(
        dir.join("jfk.wav").is_file(),
        "test data not found: expected jfk.wav and the for-tests models in {} (the repository's \
         ../shared/data); these tests need it",
        dir.display()
    );
    dir
}

pub fn data_file(name: &str) -> PathBuf {
    let path = data_dir().join(name);
    assert!(path.is_file(), "test data file missing: {}", path.display());
    path
}

pub fn jfk_wav() -> &'static [u8] {
    static BYTES: OnceLock<Vec<u8>> = OnceLock::new();
    BYTES.get_or_init(|| std::fs::read(data_file("jfk.wav")).expect("read jfk.wav"))
}

/// jfk.wav as 16 kHz mono samples, read with hound (independent of the code under test).
pub fn jfk_pcm() -> &'static [f32] {
    static PCM: OnceLock<Vec<f32>> = OnceLock::new();
    PCM.get_or_init(|| {
        let reader = hound::WavReader::new(Cursor::new(jfk_wav())).expect("parse jfk.wav");
        let spec = reader.spec();
        assert_eq!((spec.channels, spec.sample_rate), (1, 16_000));
        reader
            .into_samples::<i16>()
            .map(|s| s.expect("sample") as f32 / 32768.0)
            .collect()
    })
}

pub fn wav_bytes(samples: &[f32], channels: u16, rate: u32) -> Vec<u8> {
    let mut out = Cursor::new(Vec::new());
    let spec = hound::WavSpec {
        channels,
        sample_rate: rate,
        bits_per_sample: 16,
        sample_format: hound::SampleFormat::Int,
    };
    let mut w = hound::WavWriter::new(&mut out, spec).expect("wav writer");
    for &s in samples {
        w.write_sample((s.clamp(-1.0, 1.0) * 32767.0) as i16)
            .expect("write sample");
    }
    w.finalize().expect("finalize wav");
    out.into_inner()
}

/// A 16-bit mono WAV of digital silence, built directly (hound would write it sample by sample).
pub fn silent_wav(seconds: usize, rate: u32) -> Vec<u8> {
    let data_len = (seconds * rate as usize * 2) as u32;
    let mut out = Vec::with_capacity(44 + data_len as usize);
    out.extend_from_slice(b"RIFF");
    out.extend_from_slice(&(36 + data_len).to_le_bytes());
    out.extend_from_slice(b"WAVEfmt ");
    out.extend_from_slice(&16u32.to_le_bytes());
    out.extend_from_slice(&1u16.to_le_bytes()); // PCM
    out.extend_from_slice(&1u16.to_le_bytes()); // mono
    out.extend_from_slice(&rate.to_le_bytes());
    out.extend_from_slice(&(rate * 2).to_le_bytes());
    out.extend_from_slice(&2u16.to_le_bytes());
    out.extend_from_slice(&16u16.to_le_bytes());
    out.extend_from_slice(b"data");
    out.extend_from_slice(&data_len.to_le_bytes());
    out.resize(44 + data_len as usize, 0);
    out
}

/// Linear interpolation: crude, but independent of the resampler under test.
pub fn naive_resample(pcm: &[f32], from: u32, to: u32) -> Vec<f32> {
    let n = (pcm.len() as u64 * to as u64 / from as u64) as usize;
    (0..n)
        .map(|i| {
            let x = i as f64 * from as f64 / to as f64;
            let j = x.floor() as usize;
            let frac = (x - j as f64) as f32;
            let a = pcm[j.min(pcm.len() - 1)];
            let b = pcm[(j + 1).min(pcm.len() - 1)];
            a + (b - a) * frac
        })
        .collect()
}

/// Encodes 16 kHz mono PCM to 20 ms Opus packets; returns `(packets, pre_skip at 48 kHz)`.
pub fn opus_packets(pcm: &[f32]) -> (Vec<Vec<u8>>, u16) {
    let mut enc = opus::Encoder::new(16_000, opus::Channels::Mono, opus::Application::Voip)
        .expect("opus encoder");
    enc.set_bitrate(opus::Bitrate::Bits(24_000))
        .expect("bitrate");
    let lookahead = enc.get_lookahead().expect("lookahead") as usize;
    let frame = 320;
    let mut input = pcm.to_vec();
    // Flush the encoder's look-ahead so the tail is not lost.
    input.resize((pcm.len() + lookahead).div_ceil(frame) * frame, 0.0);
    let packets = input
        .chunks(frame)
        .map(|f| enc.encode_vec_float(f, 4000).expect("encode opus"))
        .collect();
    (packets, (lookahead * 3) as u16)
}

pub fn opus_head(pre_skip: u16) -> Vec<u8> {
    let mut h = b"OpusHead".to_vec();
    h.push(1); // version
    h.push(1); // channels
    h.extend_from_slice(&pre_skip.to_le_bytes());
    h.extend_from_slice(&16_000u32.to_le_bytes()); // original input rate
    h.extend_from_slice(&0i16.to_le_bytes()); // output gain
    h.push(0); // mapping family
    h
}

/// OGG/Opus as `MediaRecorder` in Firefox writes it.
pub fn ogg_opus(pcm: &[f32]) -> Vec<u8> {
    let (packets, pre_skip) = opus_packets(pcm);
    let serial = 0x5eed;
    let mut out = Vec::new();
    let mut seq = 0;
    ogg_page(&mut out, 0x02, 0, serial, &mut seq, &[opus_head(pre_skip)]);
    let mut tags = b"OpusTags".to_vec();
    let vendor = b"avatarium-test";
    tags.extend_from_slice(&(vendor.len() as u32).to_le_bytes());
    tags.extend_from_slice(vendor);
    tags.extend_from_slice(&0u32.to_le_bytes());
    ogg_page(&mut out, 0, 0, serial, &mut seq, &[tags]);
    let total_48k = pcm.len() as u64 * 3 + pre_skip as u64;
    let mut granule = 0u64;
    let pages: Vec<&[Vec<u8>]> = packets.chunks(50).collect();
    for (i, page) in pages.iter().enumerate() {
        granule += page.len() as u64 * 960;
        let last = i + 1 == pages.len();
        let (flags, pos) = if last {
            (0x04, total_48k)
        } else {
            (0, granule)
        };
        ogg_page(&mut out, flags, pos, serial, &mut seq, page);
    }
    out
}

fn ogg_page(
    out: &mut Vec<u8>,
    flags: u8,
    granule: u64,
    serial: u32,
    seq: &mut u32,
    packets: &[Vec<u8>],
) {
    let mut lacing = Vec::new();
    for p in packets {
        let mut n = p.len();
        while n >= 255 {
            lacing.push(255u8);
            n -= 255;
        }
        lacing.push(n as u8);
    }
    assert!(lacing.len() <= 255, "too many segments for one page");
    let start = out.len();
    out.extend_from_slice(b"OggS");
    out.push(0);
    out.push(flags);
    out.extend_from_slice(&granule.to_le_bytes());
    out.extend_from_slice(&serial.to_le_bytes());
    out.extend_from_slice(&seq.to_le_bytes());
    *seq += 1;
    out.extend_from_slice(&[0; 4]);
    out.push(lacing.len() as u8);
    out.extend_from_slice(&lacing);
    for p in packets {
        out.extend_from_slice(p);
    }
    let crc = ogg_crc(&out[start..]);
    out[start + 22..start + 26].copy_from_slice(&crc.to_le_bytes());
}

fn ogg_crc(data: &[u8]) -> u32 {
    let mut crc = 0u32;
    for &b in data {
        crc ^= (b as u32) << 24;
        for _ in 0..8 {
            crc = if crc & 0x8000_0000 != 0 {
                (crc << 1) ^ 0x04c1_1db7
            } else {
                crc << 1
            };
        }
    }
    crc
}

/// WebM/Opus shaped like Chrome's `MediaRecorder` output: a Segment and Clusters of unknown
/// size (the recorder streams and never goes back to patch sizes), no Cues, no Duration.
pub fn webm_opus(pcm: &[f32]) -> Vec<u8> {
    let (packets, pre_skip) = opus_packets(pcm);
    let mut out = Vec::new();
    ebml(
        &mut out,
        &[0x1a, 0x45, 0xdf, 0xa3],
        &[
            uint_el(&[0x42, 0x86], 1),
            uint_el(&[0x42, 0xf7], 1),
            uint_el(&[0x42, 0xf2], 4),
            uint_el(&[0x42, 0xf3], 8),
            bytes_el(&[0x42, 0x82], b"webm"),
            uint_el(&[0x42, 0x87], 4),
            uint_el(&[0x42, 0x85], 2),
        ]
        .concat(),
    );
    out.extend_from_slice(&[0x18, 0x53, 0x80, 0x67]);
    out.extend_from_slice(&[0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
    let info = [
        uint_el(&[0x2a, 0xd7, 0xb1], 1_000_000),
        bytes_el(&[0x4d, 0x80], b"Chrome"),
        bytes_el(&[0x57, 0x41], b"Chrome"),
    ]
    .concat();
    ebml(&mut out, &[0x15, 0x49, 0xa9, 0x66], &info);
    let audio = [
        bytes_el(&[0xb5], &48_000f64.to_be_bytes()),
        uint_el(&[0x9f], 1),
    ]
    .concat();
    let entry = [
        uint_el(&[0xd7], 1),
        uint_el(&[0x73, 0xc5], 1),
        uint_el(&[0x83], 2),
        bytes_el(&[0x86], b"A_OPUS"),
        bytes_el(&[0x63, 0xa2], &opus_head(pre_skip)),
        bytes_el(&[0xe1], &audio),
    ]
    .concat();
    let mut tracks = Vec::new();
    ebml(&mut tracks, &[0xae], &entry);
    ebml(&mut out, &[0x16, 0x54, 0xae, 0x6b], &tracks);
    for (c, cluster) in packets.chunks(50).enumerate() {
        out.extend_from_slice(&[0x1f, 0x43, 0xb6, 0x75]);
        out.extend_from_slice(&[0x01, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff]);
        let cluster_ms = c as u64 * 50 * 20;
        out.extend_from_slice(&uint_el(&[0xe7], cluster_ms));
        for (i, p) in cluster.iter().enumerate() {
            let mut block = vec![0x81];
            block.extend_from_slice(&((i * 20) as i16).to_be_bytes());
            block.push(0x80);
            block.extend_from_slice(p);
            ebml(&mut out, &[0xa3], &block);
        }
    }
    out
}

fn ebml(out: &mut Vec<u8>, id: &[u8], payload: &[u8]) {
    out.extend_from_slice(id);
    // Always an 8-byte size: valid EBML and simpler than picking the shortest form.
    let size = payload.len() as u64 | (1u64 << 56);
    out.extend_from_slice(&size.to_be_bytes());
    out.extend_from_slice(payload);
}

fn uint_el(id: &[u8], v: u64) -> Vec<u8> {
    let mut out = Vec::new();
    ebml(&mut out, id, &v.to_be_bytes());
    out
}

fn bytes_el(id: &[u8], v: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    ebml(&mut out, id, v);
    out
}

pub fn mp3(pcm: &[f32], rate: u32) -> Vec<u8> {
    use mp3lame_encoder::{Builder, FlushNoGap, MonoPcm};
    let mut b = Builder::new().expect("lame");
    b.set_num_channels(1).expect("channels");
    b.set_sample_rate(rate).expect("rate");
    b.set_brate(mp3lame_encoder::Bitrate::Kbps64)
        .expect("bitrate");
    b.set_quality(mp3lame_encoder::Quality::Good)
        .expect("quality");
    let mut enc = b.build().expect("build lame");
    let samples: Vec<i16> = pcm
        .iter()
        .map(|s| (s.clamp(-1.0, 1.0) * 32767.0) as i16)
        .collect();
    // LAME treats a zero-sized output buffer as unlimited, so reserve first.
    let mut out = Vec::with_capacity(mp3lame_encoder::max_required_buffer_size(samples.len()));
    enc.encode_to_vec(MonoPcm(&samples), &mut out)
        .expect("encode mp3");
    out.reserve(7200);
    enc.flush_to_vec::<FlushNoGap>(&mut out).expect("flush mp3");
    out
}

/// Pearson correlation of two signals, after aligning them by the best lag within ±`max_lag`
/// samples (codecs add delay). Works on every 4th sample to stay fast in debug builds.
pub fn best_correlation(a: &[f32], b: &[f32], max_lag: usize) -> f32 {
    let a: Vec<f32> = a.iter().step_by(4).copied().collect();
    let b: Vec<f32> = b.iter().step_by(4).copied().collect();
    let max_lag = max_lag / 4;
    let mut best = f32::MIN;
    for lag in 0..=2 * max_lag {
        let (x, y) = if lag >= max_lag {
            (&a[..], &b[(lag - max_lag).min(b.len())..])
        } else {
            (&a[(max_lag - lag).min(a.len())..], &b[..])
        };
        let n = x.len().min(y.len());
        if n < 500 {
            continue;
        }
        let (x, y) = (&x[..n], &y[..n]);
        let mx = x.iter().sum::<f32>() / n as f32;
        let my = y.iter().sum::<f32>() / n as f32;
        let (mut sxy, mut sxx, mut syy) = (0.0f32, 0.0f32, 0.0f32);
        for (a, b) in x.iter().zip(y) {
            sxy += (a - mx) * (b - my);
            sxx += (a - mx) * (a - mx);
            syy += (b - my) * (b - my);
        }
        best = best.max(sxy / (sxx.sqrt() * syy.sqrt()).max(1e-9));
    }
    best
}
