//! Real-time media codecs for the server's WebRTC streaming, and the decoders a
//! receiving peer (tests, benchmarks) uses.
//!
//! - **Video**: rendered RGBA frames to H.264 constrained baseline (Annex-B) with
//!   Cisco's [OpenH264], built from the source the `openh264` crate bundles. H.264 is
//!   the one video codec every browser decodes in WebRTC (in hardware on most
//!   devices), OpenH264 is BSD-2 licensed, and building it from source means no
//!   system library and no runtime download.
//! - **Audio**: mono speech to 48 kHz [Opus], WebRTC's mandatory audio codec (the
//!   bundled libopus, BSD-3), plus [`resample_to_48k`] for TTS voices that speak at
//!   16, 22.05 or 24 kHz.
//!
//! Everything here is synchronous and CPU-bound: call it from a blocking thread,
//! one encoder per stream. Every type is `Send`.
//!
//! [OpenH264]: https://github.com/cisco/openh264
//! [Opus]: https://opus-codec.org

mod audio;
mod h264;
mod resample;

pub use audio::{OPUS_FRAME_SAMPLES, OPUS_RATE, OpusDecoder, OpusEncoder};
pub use h264::{DecodedFrame, H264Decoder, H264Encoder, h264_is_keyframe};
pub use resample::resample_to_48k;

/// Why a codec call failed.
#[derive(Debug, thiserror::Error)]
pub enum MediaError {
    /// The codec library refused or failed (its own message included).
    #[error("codec error: {0}")]
    Codec(String),
    /// The caller's arguments or buffers were invalid (odd frame size, wrong
    /// buffer length, unsupported channel count...).
    #[error("bad input: {0}")]
    BadInput(String),
}
