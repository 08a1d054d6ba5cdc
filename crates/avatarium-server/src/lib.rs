//! The Avatarium local API server: the hosted services' `/v1` endpoints,
//! answered from an embedded SQLite store on loopback.

pub mod assets;
pub mod auth;
pub mod engine;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod middleware;
mod openapi;
pub mod ratelimit;
mod router;
pub mod state;
mod sysstat;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use error::{ApiError, ApiResult};
pub use router::{openapi, router};
pub use state::AppState;

/// Serves the API on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish.
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.limiters.forget_idle();
            }
        })
    };
    // Offer a running Ollama in /v1/models without delaying start-up.
    let probe = {
        let state = state.clone();
        tokio::spawn(async move { state.detect_local_models().await })
    };
    let app = router(state);
    let result = axum::serve(
        listener,
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await;
    sweeper.abort();
    probe.abort();
    result
}
