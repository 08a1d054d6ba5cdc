//! Integration tests: each starts the real server on 127.0.0.1:0 with a
//! fresh data dir and talks HTTP to it.

mod harness;

mod auth;
mod billing;
mod consumer_avatars;
mod conversations;
mod errors;
mod fake_llm;
mod health;
mod keys;
mod knowledge;
mod models;
mod openapi;
mod personas;
mod presets;
mod public;
mod public_chat;
mod security;
mod smarter;
mod speech;
