//! Request handlers, one module per resource, named by verb.

pub mod api_keys;
pub mod auth;
pub mod avatars;
pub mod billing;
pub mod consumer_avatars;
pub mod health;
pub mod personas;
pub mod public;
