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
pub mod realtime;
mod router;
pub mod state;
mod sysstat;

use std::future::Future;
use std::net::SocketAddr;
use std::time::Duration;

pub use error::{ApiError, ApiResult};
pub use router::{openapi, router, ws_router};
pub use state::AppState;

/// Serves the API on `listener` until `shutdown` resolves, then lets
/// in-flight requests finish. With `config.ws_port` set, the session
/// WebSocket is served on that port too (003's local layout).
pub async fn serve(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = move || {
        let mut rx = stop_rx.clone();
        async move {
            let _ = rx.wait_for(|s| *s).await;
        }
    };
    let ws = match state.config.ws_port {
        Some(port) => {
            let addr = SocketAddr::new(state.config.host, port);
            let ws_listener = tokio::net::TcpListener::bind(addr).await.map_err(|e| {
                std::io::Error::new(
                    e.kind(),
                    format!("cannot listen on {addr} (--ws-port): {e}"),
                )
            })?;
            tracing::info!(%addr, "session WebSocket port");
            Some(tokio::spawn(serve_ws(
                ws_listener,
                state.clone(),
                stopped(),
            )))
        }
        None => None,
    };
    let sweeper = {
        let state = state.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_secs(60));
            loop {
                tick.tick().await;
                state.limiters.forget_idle();
                realtime::reap_idle(&state).await;
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
        nodelay(listener),
        app.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    })
    .await;
    sweeper.abort();
    probe.abort();
    if let Some(ws) = ws {
        match ws.await {
            Ok(r) => r?,
            Err(e) => tracing::warn!(error = %e, "the WebSocket port's server ended abnormally"),
        }
    }
    result
}

/// Serves only the session WebSocket (`/ws/{session_id}`) on `listener`,
/// with the same state as the API, until `shutdown` resolves.
pub async fn serve_ws(
    listener: tokio::net::TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> std::io::Result<()> {
    axum::serve(
        nodelay(listener),
        ws_router(state).into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(shutdown)
    .await
}

/// Accepted sockets with Nagle's algorithm off. Streams (SSE, WebSocket
/// chunks and visemes) are many small writes; with Nagle on, a write that
/// follows one not yet acknowledged waits for the ACK, which the peer may
/// delay by up to 40 ms, a stall a lip-synced avatar would show.
fn nodelay(
    listener: tokio::net::TcpListener,
) -> axum::serve::TapIo<tokio::net::TcpListener, fn(&mut tokio::net::TcpStream)> {
    use axum::serve::ListenerExt;
    fn set(tcp: &mut tokio::net::TcpStream) {
        if let Err(e) = tcp.set_nodelay(true) {
            tracing::debug!(error = %e, "could not turn Nagle off on an accepted socket");
        }
    }
    listener.tap_io(set)
}

#[cfg(test)]
mod tests {
    use axum::serve::Listener;

    #[tokio::test]
    async fn accepted_sockets_have_nagle_off() {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let mut listener = super::nodelay(listener);
        let client = tokio::net::TcpStream::connect(addr).await.unwrap();
        let (accepted, _) = listener.accept().await;
        assert!(accepted.nodelay().unwrap());
        // The client's side keeps the default, so the check above is not vacuous.
        assert!(!client.nodelay().unwrap());
    }
}
