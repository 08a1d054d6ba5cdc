//! Text-to-speech that always comes with a viseme timeline: the offline
//! espeak-ng voice (phoneme events straight from the synthesiser) and cloud
//! engines (their alignment, else text→phoneme timing fitted to the audio,
//! else an estimate from the audio itself).

pub mod align;
pub mod cloud;
pub mod local;
pub mod sentences;
mod types;
pub mod wav;

pub use types::*;
