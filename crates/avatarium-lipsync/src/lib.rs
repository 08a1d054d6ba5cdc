//! Lip-sync without I/O or engines: phonemes (IPA) to the 15 Oculus visemes,
//! timelines, per-frame blend weights with coarticulation, mappings to ARKit
//! and VRM, and estimating visemes from audio alone.

pub mod arkit;
pub mod audio;
pub mod blend;
pub mod correction;
pub mod fit;
pub mod phonemes;
mod types;
pub mod vrm;

pub use types::*;
