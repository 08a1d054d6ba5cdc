use std::sync::atomic::Ordering;

use axum::extract::State;
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use serde_json::{Value, json};

use crate::error::{ApiResult, Bare, Envelope};
use crate::extract::ClientIp;
use crate::state::AppState;

async fn health_body(state: &AppState) -> (StatusCode, Value) {
    let db_ok = state.store.ping().await.is_ok();
    let status = if db_ok { "healthy" } else { "unhealthy" };
    let code = if db_ok {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    (
        code,
        json!({
            "status": status,
            "version": env!("CARGO_PKG_VERSION"),
            "uptime": state.started.elapsed().as_secs(),
            "services": {
                "api": "healthy",
                "database": if db_ok { "healthy" } else { "unhealthy" },
                "websocket": "healthy",
                // A local install keeps session state in process: there is no
                // Redis to be healthy or not.
                "redis": "not_used",
                // The renderer starts with the first realtime session:
                // "software" when it runs on the CPU (Mesa's lavapipe).
                "gpu": state.realtime.gpu_status(),
            },
        }),
    )
}

/// Root health check for infrastructure monitors (003's shape).
#[utoipa::path(get, path = "/health", tag = "health",
    responses((status = 200, description = "Service is healthy"), (status = 503, description = "Database unreachable")))]
pub async fn get_root(State(state): State<AppState>) -> Response {
    let (code, body) = health_body(&state).await;
    (code, Bare(body)).into_response()
}

/// Versioned health alias under the /v1 base URL (001's envelope).
#[utoipa::path(get, path = "/v1/health", tag = "health",
    responses((status = 200, description = "Service is healthy"), (status = 503, description = "Database unreachable")))]
pub async fn get_v1(State(state): State<AppState>) -> Response {
    let (code, body) = health_body(&state).await;
    (code, Envelope(body)).into_response()
}

/// 004's health check.
#[utoipa::path(get, path = "/api/health", tag = "smarteravatar",
    responses((status = 200, description = "Status and provider connectivity"), (status = 429, description = "Rate limited")))]
pub async fn get_api(State(state): State<AppState>, ClientIp(ip): ClientIp) -> ApiResult<Response> {
    let rate = state.limiters.api_health.check(&ip)?;
    let db_ok = state.store.ping().await.is_ok();
    let body = json!({
        "status": if db_ok { "ok" } else { "degraded" },
        "timestamp": avatarium_core::time::now_iso(),
        "providers": {
            // Replaced by the conversation and speech engines' own probes as
            // they land; until then nothing is connected.
            "llm": "not_configured",
            "stt": "not_configured",
            "avatar": "connected",
        },
    });
    Ok((rate, Bare(body)).into_response())
}

/// System metrics (003's shape) from live counters.
#[utoipa::path(get, path = "/metrics", tag = "health",
    responses((status = 200, description = "Live counters and resource usage")))]
pub async fn get_metrics(State(state): State<AppState>) -> Response {
    let m = &state.metrics;
    let usage = crate::sysstat::sample();
    Bare(json!({
        "active_sessions": m.active_sessions.load(Ordering::Relaxed),
        "total_sessions": m.total_sessions.load(Ordering::Relaxed),
        "cpu_usage": usage.cpu_percent,
        "memory_usage": usage.memory_percent,
        "gpu_usage": Value::Null,
        "websocket_connections": m.websocket_connections.load(Ordering::Relaxed),
        "redis_memory": Value::Null,
        "average_latency": (m.average_latency_ms() * 100.0).round() / 100.0,
        // Realtime sessions: end of the user's input to the answer's first
        // audio, and the frames the pump sent or skipped.
        "average_turn_latency": m.average_turn_latency_ms().map(|l| (l * 100.0).round() / 100.0),
        "turns_total": m.turns.load(Ordering::Relaxed),
        "frames_sent": state.realtime.frames_sent(),
        "frames_skipped": state.realtime.frames_skipped(),
        // How far ahead of the session clock frames are rendered, so that
        // they arrive when the instant they show comes.
        "render_lead_ms": (state.realtime.render_lead_ms() * 10.0).round() / 10.0,
        "renderer": match state.realtime.adapter() {
            None => json!({ "status": "not_started" }),
            Some(Ok(adapter)) => json!({ "status": "running", "adapter": adapter }),
            Some(Err(e)) => json!({ "status": "unavailable", "error": e }),
        },
        "process_rss_bytes": usage.rss_bytes,
        "requests_total": m.requests.load(Ordering::Relaxed),
        "uptime": state.started.elapsed().as_secs(),
    }))
    .into_response()
}
