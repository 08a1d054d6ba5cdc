//! Integration tests, one binary so whisper.cpp is linked once.

mod cloud;
mod common;
mod decode;
mod models;
mod vad;
mod whisper;
