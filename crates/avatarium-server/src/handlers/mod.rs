//! Request handlers, one module per resource, named by verb.

pub mod api_keys;
pub mod auth;
pub mod avatars;
pub mod billing;
pub mod consumer_avatars;
pub mod conversations;
pub mod health;
pub mod knowledge;
pub mod models;
pub mod personas;
pub mod public;
pub mod public_chat;
pub mod smarter;
pub mod streaming;
pub mod stt;
pub mod tts;
pub mod ui;
