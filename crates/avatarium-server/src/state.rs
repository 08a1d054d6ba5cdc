//! Shared application state.

use std::sync::Arc;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use avatarium_core::{Config, SqliteStore, Store};

use crate::auth::TokenKeys;
use crate::engine::Engine;
use crate::ratelimit::Limiters;

#[derive(Clone)]
pub struct AppState(Arc<Inner>);

pub struct Inner {
    pub config: Config,
    pub store: Arc<dyn Store>,
    pub tokens: TokenKeys,
    pub limiters: Limiters,
    pub metrics: Metrics,
    pub started: Instant,
    pub http: reqwest::Client,
    pub engine: Engine,
    pub whisper: crate::handlers::stt::WhisperCache,
    /// Realtime avatar sessions (003), the shared renderer and its pump.
    pub realtime: crate::realtime::Realtime,
}

impl std::ops::Deref for AppState {
    type Target = Inner;
    fn deref(&self) -> &Inner {
        &self.0
    }
}

impl AppState {
    /// Opens the store in the configured data dir (creating it and applying
    /// migrations), makes sure the owner account exists and loads the signing
    /// secret.
    pub async fn open(config: Config) -> anyhow::Result<Self> {
        let store = SqliteStore::open(&config.db_path()).await?;
        Self::with_store(config, Arc::new(store)).await
    }

    pub async fn with_store(config: Config, store: Arc<dyn Store>) -> anyhow::Result<Self> {
        store.owner().await?;
        let secret = config.load_or_create_secret()?;
        let http = reqwest::Client::builder()
            .user_agent(concat!("avatarium/", env!("CARGO_PKG_VERSION")))
            .connect_timeout(std::time::Duration::from_secs(10))
            .timeout(std::time::Duration::from_secs(60))
            .build()?;
        Ok(Self(Arc::new(Inner {
            tokens: TokenKeys::new(&secret),
            limiters: Limiters::new(&config.rate_limits),
            metrics: Metrics::default(),
            started: Instant::now(),
            store,
            config,
            http,
            engine: Engine::default(),
            whisper: Default::default(),
            realtime: Default::default(),
        })))
    }
}

impl AppState {
    /// Whether a realtime streaming session (003) is live.
    pub fn streaming_session_exists(&self, session_id: &str) -> bool {
        self.realtime.exists(session_id)
    }
}

/// Live counters behind `/metrics`.
#[derive(Default)]
pub struct Metrics {
    pub requests: AtomicU64,
    pub latency_micros: AtomicU64,
    pub websocket_connections: AtomicI64,
    pub active_sessions: AtomicI64,
    pub total_sessions: AtomicU64,
    /// Realtime turns answered aloud, and the summed time from the end of
    /// the user's input to the first audio of the answer.
    pub turns: AtomicU64,
    pub turn_latency_micros: AtomicU64,
}

impl Metrics {
    pub fn record_request(&self, micros: u64) {
        self.requests.fetch_add(1, Ordering::Relaxed);
        self.latency_micros.fetch_add(micros, Ordering::Relaxed);
    }

    pub fn record_turn(&self, latency: Duration) {
        self.turns.fetch_add(1, Ordering::Relaxed);
        self.turn_latency_micros
            .fetch_add(latency.as_micros() as u64, Ordering::Relaxed);
    }

    /// Mean time from the end of a user's input to the answer's first
    /// audio, over realtime turns; None before the first.
    pub fn average_turn_latency_ms(&self) -> Option<f64> {
        let n = self.turns.load(Ordering::Relaxed);
        (n > 0).then(|| self.turn_latency_micros.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0)
    }

    pub fn average_latency_ms(&self) -> f64 {
        let n = self.requests.load(Ordering::Relaxed);
        if n == 0 {
            return 0.0;
        }
        self.latency_micros.load(Ordering::Relaxed) as f64 / n as f64 / 1000.0
    }
}
