//! Domain types, configuration and storage shared by every Avatarium binary.

pub mod config;
pub mod ids;
pub mod model;
pub mod personas;
pub mod plans;
pub mod presets;
pub mod soul;
pub mod store;
pub mod time;

pub use config::Config;
pub use store::{SqliteStore, Store, StoreError};
