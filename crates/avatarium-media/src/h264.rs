//! H.264 through OpenH264: RGBA8 frames in, Annex-B access units out, and back.

use openh264::decoder::Decoder;
use openh264::encoder::{
    BitRate, Encoder, EncoderConfig, FrameRate, FrameType, IntraFramePeriod, Profile,
    RateControlMode, SpsPpsStrategy, UsageType, VuiConfig,
};
use openh264::formats::{RgbaSliceU8, YUVBuffer, YUVSource};
use openh264::{OpenH264API, Timestamp};

use crate::MediaError;

/// OpenH264's largest picture: 3840 on the long side, 2160 on the short one.
const MAX_LONG_SIDE: u32 = 3840;
const MAX_SHORT_SIDE: u32 = 2160;
/// OpenH264 clamps its frame rate to this range (`MIN_FRAME_RATE`..`MAX_FRAME_RATE`).
const MIN_FPS: f32 = 1.0;
const MAX_FPS: f32 = 60.0;

fn codec(context: &str, e: openh264::Error) -> MediaError {
    MediaError::Codec(format!("OpenH264 {context}: {e}"))
}

/// H.264 (constrained baseline, Annex-B output) from RGBA8 frames, via OpenH264.
///
/// Set up for real-time streaming: camera-video real-time usage, rate control by
/// bitrate at the given frame rate, frame skipping off (every frame comes out),
/// one slice per frame, single-threaded (one encoder per stream, predictable CPU),
/// constant SPS/PPS ids. There are no periodic IDRs: the caller asks for a keyframe
/// when a stream starts and when a receiver reports loss (PLI/FIR).
///
/// The RGB→YUV conversion is OpenH264's BT.601 limited-range one (the same matrix its
/// decoder inverts), and the SPS says so in its VUI so browsers convert back with it.
pub struct H264Encoder {
    encoder: Encoder,
    yuv: YUVBuffer,
    width: u32,
    height: u32,
    /// Nominal frame duration, for the timestamps OpenH264's rate control sees.
    frame_ms: f64,
    frames: u64,
}

impl H264Encoder {
    /// `width`/`height` must be even and > 0 (at most 3840×2160 or 2160×3840);
    /// `fps` is the nominal rate (1–60, OpenH264's range); `bitrate_bps` in bits/s (> 0).
    pub fn new(width: u32, height: u32, fps: f32, bitrate_bps: u32) -> Result<Self, MediaError> {
        if width == 0 || height == 0 || !width.is_multiple_of(2) || !height.is_multiple_of(2) {
            return Err(MediaError::BadInput(format!(
                "H.264 frame size {width}x{height}: width and height must be even and non-zero"
            )));
        }
        if width.max(height) > MAX_LONG_SIDE || width.min(height) > MAX_SHORT_SIDE {
            return Err(MediaError::BadInput(format!(
                "H.264 frame size {width}x{height}: OpenH264 encodes at most \
                 {MAX_LONG_SIDE}x{MAX_SHORT_SIDE} (or {MAX_SHORT_SIDE}x{MAX_LONG_SIDE})"
            )));
        }
        if !(MIN_FPS..=MAX_FPS).contains(&fps) {
            return Err(MediaError::BadInput(format!(
                "H.264 frame rate {fps}: must be between {MIN_FPS} and {MAX_FPS} fps"
            )));
        }
        if bitrate_bps == 0 || i32::try_from(bitrate_bps).is_err() {
            return Err(MediaError::BadInput(format!(
                "H.264 bitrate {bitrate_bps} bit/s: must be between 1 and {} bit/s",
                i32::MAX
            )));
        }

        let config = EncoderConfig::new()
            .usage_type(UsageType::CameraVideoRealTime)
            .profile(Profile::Baseline)
            .rate_control_mode(RateControlMode::Bitrate)
            .bitrate(BitRate::from_bps(bitrate_bps))
            .max_frame_rate(FrameRate::from_hz(fps))
            .skip_frames(false)
            .intra_frame_period(IntraFramePeriod::auto())
            .sps_pps_strategy(SpsPpsStrategy::ConstantId)
            .num_threads(1)
            .vui(VuiConfig::bt601());
        // OpenH264 initialises itself on the first frame, with that frame's size.
        let encoder = Encoder::with_api_config(OpenH264API::from_source(), config)
            .map_err(|e| codec("encoder creation", e))?;

        Ok(Self {
            encoder,
            yuv: YUVBuffer::new(width as usize, height as usize),
            width,
            height,
            frame_ms: 1000.0 / f64::from(fps),
            frames: 0,
        })
    }

    pub fn width(&self) -> u32 {
        self.width
    }

    pub fn height(&self) -> u32 {
        self.height
    }

    /// Encodes one RGBA8 frame (width*height*4 bytes, row-major, top row first; alpha
    /// is ignored).
    ///
    /// Returns the Annex-B bitstream of the frame (start codes included; SPS/PPS
    /// included in keyframes), or an empty Vec when the encoder skipped the frame.
    /// `keyframe`: force an IDR (the first frame is always one).
    pub fn encode_rgba(&mut self, rgba: &[u8], keyframe: bool) -> Result<Vec<u8>, MediaError> {
        let (w, h) = (self.width as usize, self.height as usize);
        let expected = w * h * 4;
        if rgba.len() != expected {
            return Err(MediaError::BadInput(format!(
                "RGBA frame of {} bytes, expected {expected} ({w}x{h}x4)",
                rgba.len()
            )));
        }
        self.yuv.read_rgba8(RgbaSliceU8::new(rgba, (w, h)));

        // Before the first frame OpenH264 is not initialised yet (the request would be
        // dropped), and that frame is an IDR anyway.
        if keyframe && self.frames > 0 {
            self.encoder.force_intra_frame();
        }
        let timestamp = Timestamp::from_millis((self.frames as f64 * self.frame_ms).round() as u64);
        let bitstream = self
            .encoder
            .encode_at(&self.yuv, timestamp)
            .map_err(|e| codec("encode", e))?;
        self.frames += 1;

        if bitstream.frame_type() == FrameType::Skip {
            return Ok(Vec::new());
        }
        Ok(bitstream.to_vec())
    }
}

/// The NAL unit types of an Annex-B byte stream, in order.
fn nal_types(annexb: &[u8]) -> impl Iterator<Item = u8> + '_ {
    // A NAL unit starts after every 00 00 01 (a 4-byte start code ends with one too);
    // emulation prevention guarantees the pattern never occurs inside a NAL unit.
    annexb
        .windows(4)
        .filter(|w| w[0] == 0 && w[1] == 0 && w[2] == 1)
        .map(|w| w[3] & 0x1f)
}

/// Whether an Annex-B access unit contains an IDR slice (NAL type 5).
pub fn h264_is_keyframe(annexb: &[u8]) -> bool {
    nal_types(annexb).any(|t| t == 5)
}

/// A decoded picture.
#[derive(Debug, Clone)]
pub struct DecodedFrame {
    pub width: u32,
    pub height: u32,
    /// RGB8, row-major
    pub rgb: Vec<u8>,
}

/// H.264 decoder (OpenH264) for the receiving side: Annex-B in, RGB8 out.
pub struct H264Decoder {
    decoder: Decoder,
}

impl H264Decoder {
    pub fn new() -> Result<Self, MediaError> {
        let decoder = Decoder::new().map_err(|e| codec("decoder creation", e))?;
        Ok(Self { decoder })
    }

    /// Decodes one Annex-B access unit; Ok(None) while the decoder has no picture yet
    /// (and for an empty input, such as a frame the encoder skipped).
    pub fn decode(&mut self, annexb: &[u8]) -> Result<Option<DecodedFrame>, MediaError> {
        if annexb.is_empty() {
            return Ok(None);
        }
        let Some(yuv) = self
            .decoder
            .decode(annexb)
            .map_err(|e| codec("decode", e))?
        else {
            return Ok(None);
        };
        let (width, height) = yuv.dimensions();
        let mut rgb = vec![0; width * height * 3];
        yuv.write_rgb8(&mut rgb);
        Ok(Some(DecodedFrame {
            width: width as u32,
            height: height as u32,
            rgb,
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Instant;

    const SQUARE: [u8; 3] = [230, 40, 40];

    /// A diagonal gradient with a red `size`×`size` square whose top-left is at `(sx, sy)`.
    fn frame(w: usize, h: usize, sx: usize, sy: usize, size: usize) -> Vec<u8> {
        let mut rgba = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            for x in 0..w {
                let px = if (sx..sx + size).contains(&x) && (sy..sy + size).contains(&y) {
                    SQUARE
                } else {
                    [
                        (x * 255 / w) as u8,
                        (y * 255 / h) as u8,
                        ((x + y) * 255 / (w + h)) as u8,
                    ]
                };
                rgba.extend_from_slice(&[px[0], px[1], px[2], 255]);
            }
        }
        rgba
    }

    fn rgba_to_rgb(rgba: &[u8]) -> Vec<u8> {
        rgba.chunks_exact(4)
            .flat_map(|p| [p[0], p[1], p[2]])
            .collect()
    }

    fn psnr(a: &[u8], b: &[u8]) -> f64 {
        assert_eq!(a.len(), b.len());
        let mse = a
            .iter()
            .zip(b)
            .map(|(&x, &y)| (f64::from(x) - f64::from(y)).powi(2))
            .sum::<f64>()
            / a.len() as f64;
        10.0 * (255.0f64 * 255.0 / mse.max(1e-10)).log10()
    }

    /// Mean RGB of a square region of an RGB8 picture.
    fn region_mean(rgb: &[u8], w: usize, x0: usize, y0: usize, size: usize) -> [f64; 3] {
        let mut sum = [0.0; 3];
        for y in y0..y0 + size {
            for x in x0..x0 + size {
                for (c, s) in sum.iter_mut().enumerate() {
                    *s += f64::from(rgb[(y * w + x) * 3 + c]);
                }
            }
        }
        sum.map(|s| s / (size * size) as f64)
    }

    fn is_square_colour(mean: [f64; 3]) -> bool {
        mean.iter()
            .zip(SQUARE)
            .all(|(&m, s)| (m - f64::from(s)).abs() < 20.0)
    }

    #[test]
    fn round_trip_keyframe_then_p_frame() {
        let (w, h) = (256, 256);
        let mut enc = H264Encoder::new(w as u32, h as u32, 30.0, 2_000_000).unwrap();
        let mut dec = H264Decoder::new().unwrap();
        assert_eq!((enc.width(), enc.height()), (256, 256));

        // Frame 1: keyframe, with SPS and PPS in front of the IDR slice.
        let src1 = frame(w, h, 64, 64, 48);
        let au1 = enc.encode_rgba(&src1, true).unwrap();
        assert!(au1.starts_with(&[0, 0, 0, 1]), "Annex-B start code first");
        assert!(h264_is_keyframe(&au1));
        let types: Vec<u8> = nal_types(&au1).collect();
        assert!(
            types.contains(&7) && types.contains(&8),
            "SPS/PPS in keyframe: {types:?}"
        );
        let pic1 = dec.decode(&au1).unwrap().expect("a picture from the IDR");
        assert_eq!((pic1.width, pic1.height), (256, 256));
        let p1 = psnr(&pic1.rgb, &rgba_to_rgb(&src1));
        eprintln!("keyframe: {} bytes, PSNR {p1:.1} dB", au1.len());
        assert!(p1 >= 30.0, "PSNR {p1:.1} dB < 30 dB");
        assert!(is_square_colour(region_mean(&pic1.rgb, w, 72, 72, 32)));

        // Frame 2: the square moved 80 px right, a P-frame.
        let src2 = frame(w, h, 144, 64, 48);
        let au2 = enc.encode_rgba(&src2, false).unwrap();
        assert!(!au2.is_empty());
        assert!(!h264_is_keyframe(&au2), "second frame should be a P-frame");
        assert!(au2.len() < au1.len(), "P-frame smaller than the IDR");
        let pic2 = dec
            .decode(&au2)
            .unwrap()
            .expect("a picture from the P-frame");
        let p2 = psnr(&pic2.rgb, &rgba_to_rgb(&src2));
        eprintln!("P-frame: {} bytes, PSNR {p2:.1} dB", au2.len());
        assert!(p2 >= 30.0, "P-frame PSNR {p2:.1} dB < 30 dB");
        // The square is at its new place and gone from the old one.
        assert!(is_square_colour(region_mean(&pic2.rgb, w, 152, 72, 32)));
        assert!(!is_square_colour(region_mean(&pic2.rgb, w, 72, 72, 32)));
        let old_place = region_mean(&pic2.rgb, w, 72, 72, 32);
        let gradient = region_mean(&rgba_to_rgb(&src2), w, 72, 72, 32);
        for c in 0..3 {
            assert!(
                (old_place[c] - gradient[c]).abs() < 10.0,
                "{old_place:?} vs {gradient:?}"
            );
        }

        // Frame 3: a forced keyframe mid-stream.
        let au3 = enc.encode_rgba(&src2, true).unwrap();
        assert!(h264_is_keyframe(&au3));
        assert!(dec.decode(&au3).unwrap().is_some());
    }

    #[test]
    fn sps_is_constrained_baseline() {
        let mut enc = H264Encoder::new(64, 48, 30.0, 300_000).unwrap();
        let au = enc.encode_rgba(&frame(64, 48, 8, 8, 16), false).unwrap();
        // The byte after the SPS NAL header: profile_idc, constraint flags, level_idc.
        let sps = au
            .windows(7)
            .find(|w| w[..3] == [0, 0, 1] && w[3] & 0x1f == 7)
            .expect("an SPS");
        eprintln!(
            "profile-level-id {:02x}{:02x}{:02x}",
            sps[4], sps[5], sps[6]
        );
        assert_eq!(sps[4], 66, "profile_idc baseline");
        assert_eq!(
            sps[5] & 0x40,
            0x40,
            "constraint_set1_flag (constrained baseline)"
        );
    }

    #[test]
    fn bad_sizes_and_buffers_are_errors() {
        for (w, h) in [(255, 256), (256, 255), (0, 256), (256, 0), (4096, 2160)] {
            assert!(
                matches!(
                    H264Encoder::new(w, h, 30.0, 1_000_000),
                    Err(MediaError::BadInput(_))
                ),
                "{w}x{h}"
            );
        }
        for fps in [0.0, -1.0, f32::NAN, 500.0] {
            assert!(matches!(
                H264Encoder::new(64, 64, fps, 1_000_000),
                Err(MediaError::BadInput(_))
            ));
        }
        assert!(matches!(
            H264Encoder::new(64, 64, 30.0, 0),
            Err(MediaError::BadInput(_))
        ));

        let mut enc = H264Encoder::new(64, 64, 30.0, 500_000).unwrap();
        for len in [0, 64 * 64 * 4 - 1, 64 * 64 * 4 + 4, 64 * 64 * 3] {
            let err = enc.encode_rgba(&vec![0; len], false).unwrap_err();
            assert!(matches!(err, MediaError::BadInput(_)), "{len}: {err}");
        }
        // The encoder still works after refusing bad buffers.
        let au = enc.encode_rgba(&vec![128; 64 * 64 * 4], false).unwrap();
        assert!(h264_is_keyframe(&au));
    }

    #[test]
    fn decoder_tolerates_garbage_and_empty_input() {
        let mut dec = H264Decoder::new().unwrap();
        assert!(dec.decode(&[]).unwrap().is_none());
        // Whatever OpenH264 makes of it, no panic and no picture.
        let garbage = [0, 0, 0, 1, 0x65, 0xff, 0x00, 0x13, 0x37, 0x42];
        if let Ok(pic) = dec.decode(&garbage) {
            assert!(pic.is_none());
        }
        // And a real stream still decodes afterwards.
        let mut enc = H264Encoder::new(64, 64, 30.0, 500_000).unwrap();
        let au = enc.encode_rgba(&frame(64, 64, 8, 8, 16), true).unwrap();
        let pic = dec.decode(&au).unwrap().expect("a picture");
        assert_eq!(
            (pic.width, pic.height, pic.rgb.len()),
            (64, 64, 64 * 64 * 3)
        );
    }

    #[test]
    fn is_keyframe_parses_start_codes() {
        assert!(!h264_is_keyframe(&[]));
        assert!(!h264_is_keyframe(&[0, 0, 1]));
        assert!(h264_is_keyframe(&[0, 0, 1, 0x65, 0x88]));
        assert!(h264_is_keyframe(&[
            0, 0, 0, 1, 0x67, 1, 0, 0, 1, 0x68, 2, 0, 0, 1, 0x65
        ]));
        assert!(!h264_is_keyframe(&[0, 0, 0, 1, 0x41, 0x9a, 0x05, 0x65]));
    }

    #[test]
    fn codecs_are_send() {
        fn send<T: Send>() {}
        send::<H264Encoder>();
        send::<H264Decoder>();
    }

    /// Detailed content for timing: a gradient under 8×8 blocks of pseudo-random
    /// colour, scrolled `shift` px (harder to code than a rendered face).
    fn textured(w: usize, h: usize, shift: usize) -> Vec<u8> {
        let mut rgba = Vec::with_capacity(w * h * 4);
        for y in 0..h {
            for x in 0..w {
                let (bx, by) = ((x + shift) / 8, y / 8);
                let hash = (bx as u32)
                    .wrapping_mul(0x9e37_79b9)
                    .wrapping_add((by as u32).wrapping_mul(0x85eb_ca6b))
                    .rotate_left(13)
                    .wrapping_mul(0xc2b2_ae35);
                let [a, b, c, _] = hash.to_le_bytes();
                let g = ((x + y) * 255 / (w + h)) as u8;
                rgba.extend_from_slice(&[a / 2 + g / 2, b / 2 + g / 2, c / 2 + g / 2, 255]);
            }
        }
        rgba
    }

    /// Rough encode cost of a 512×512 frame (run with --nocapture).
    #[test]
    fn encode_time_512() {
        let (w, h) = (512, 512);
        let simple: Vec<Vec<u8>> = (0..30).map(|i| frame(w, h, 100 + i * 4, 200, 96)).collect();
        let detailed: Vec<Vec<u8>> = (0..30).map(|i| textured(w, h, i * 3)).collect();
        for (what, frames) in [
            ("gradient + square", simple),
            ("8x8 noise blocks", detailed),
        ] {
            time_frames(what, w, h, &frames);
        }
    }

    fn time_frames(what: &str, w: usize, h: usize, frames: &[Vec<u8>]) {
        let mut enc = H264Encoder::new(w as u32, h as u32, 30.0, 2_000_000).unwrap();
        let mut times = Vec::new();
        let mut bytes = Vec::new();
        for (i, f) in frames.iter().enumerate() {
            let start = Instant::now();
            let au = enc.encode_rgba(f, i == 0).unwrap();
            times.push(start.elapsed());
            assert!(!au.is_empty(), "frame {i} skipped");
            bytes.push(au.len());
        }
        let n = frames.len() as u32;
        eprintln!(
            "512x512 encode, {what}: IDR {:?} ({} bytes); P-frames {:?} per frame on \
             average ({} bytes/frame); all {:?} per frame",
            times[0],
            bytes[0],
            times[1..].iter().sum::<std::time::Duration>() / (n - 1),
            bytes[1..].iter().sum::<usize>() / (frames.len() - 1),
            times.iter().sum::<std::time::Duration>() / n,
        );
    }
}
