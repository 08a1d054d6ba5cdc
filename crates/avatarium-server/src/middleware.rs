//! Cross-cutting request handling: request ids, the envelope for errors made
//! outside our handlers, and the DNS-rebinding guard.

use std::time::Instant;

use axum::body::{Body, to_bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderValue, StatusCode, header};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};

use crate::error::{Dialect, REQUEST_CTX, RequestCtx, code_for_status, error_body};
use crate::state::AppState;

const REQUEST_ID: &str = "x-request-id";

/// Gives each request an id (the caller's `X-Request-Id` when it is sane),
/// makes it visible to every envelope built while handling it, echoes it in
/// the response header and records the request's latency.
pub async fn request_context(State(state): State<AppState>, req: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = req
        .headers()
        .get(REQUEST_ID)
        .and_then(|v| v.to_str().ok())
        .filter(|v| {
            !v.is_empty()
                && v.len() <= 128
                && v.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-_.:".contains(&b))
        })
        .map(str::to_owned)
        .unwrap_or_else(|| format!("req_{}", uuid::Uuid::new_v4().simple()));
    let ctx = RequestCtx {
        id: id.clone(),
        dialect: Dialect::for_path(req.uri().path()),
    };
    let allowed = host_of(&req).is_none_or(|h| host_allowed(&h, &state.config.allowed_hosts));
    let mut res = REQUEST_CTX
        .scope(ctx.clone(), async move {
            if !allowed {
                return refused_host(&req);
            }
            let res = next.run(req).await;
            envelope_foreign_errors(res).await
        })
        .await;
    if let Ok(v) = HeaderValue::from_str(&id) {
        res.headers_mut().insert(REQUEST_ID, v);
    }
    state
        .metrics
        .record_request(started.elapsed().as_micros() as u64);
    res
}

/// Errors produced by axum or tower (unknown method, a body over the limit, a
/// panic turned 500) come as plain text; rewrite them into the envelope so
/// clients parse every failure the same way.
async fn envelope_foreign_errors(res: Response) -> Response {
    let status = res.status();
    if !(status.is_client_error() || status.is_server_error()) {
        return res;
    }
    let is_json = res
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.starts_with("application/json"));
    if is_json {
        return res;
    }
    let (parts, body) = res.into_parts();
    let text = to_bytes(body, 4096)
        .await
        .ok()
        .and_then(|b| String::from_utf8(b.to_vec()).ok())
        .map(|t| t.trim().to_string())
        .filter(|t| !t.is_empty() && status.is_client_error());
    let message = text.unwrap_or_else(|| default_message(status).to_string());
    let dialect = REQUEST_CTX
        .try_with(|c| c.dialect)
        .unwrap_or(Dialect::Avatarium);
    let body = error_body(code_for_status(status, dialect), &message);
    let mut out = (status, axum::Json(body)).into_response();
    for (name, value) in parts.headers.iter() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            out.headers_mut().insert(name.clone(), value.clone());
        }
    }
    out
}

fn default_message(status: StatusCode) -> &'static str {
    match status {
        StatusCode::NOT_FOUND => "No such endpoint",
        StatusCode::METHOD_NOT_ALLOWED => "Method not allowed on this endpoint",
        StatusCode::PAYLOAD_TOO_LARGE => "Request body is too large",
        s if s.is_server_error() => "Internal server error",
        _ => "Bad request",
    }
}

fn host_of(req: &Request) -> Option<String> {
    req.headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .map(str::to_owned)
        .or_else(|| req.uri().authority().map(|a| a.to_string()))
}

/// Refuses requests addressed to a host name that is neither loopback nor
/// configured: a web page on another origin can point its own DNS name at
/// 127.0.0.1, but it cannot make the browser send `Host: 127.0.0.1`.
/// (HTTP/1.0 clients may omit Host; they cannot be a rebinding browser.)
fn refused_host(req: &Request) -> Response {
    let h = host_of(req).unwrap_or_default();
    let body = error_body(
        "FORBIDDEN",
        &format!(
            "Host '{h}' is not allowed. This server answers loopback names only; \
             add the name with --allow-host to reach it otherwise."
        ),
    );
    (StatusCode::FORBIDDEN, axum::Json(body)).into_response()
}

pub fn host_allowed(host_header: &str, allowed: &[String]) -> bool {
    let host = strip_port(host_header).to_ascii_lowercase();
    let host = host.trim_end_matches('.');
    if host == "localhost" || host.ends_with(".localhost") {
        return true;
    }
    if let Ok(ip) = host
        .trim_start_matches('[')
        .trim_end_matches(']')
        .parse::<std::net::IpAddr>()
        && ip.is_loopback()
    {
        return true;
    }
    allowed.iter().any(|a| {
        let a = a.to_ascii_lowercase();
        a == "*" || strip_port(&a) == host
    })
}

fn strip_port(host: &str) -> &str {
    if let Some(rest) = host.strip_prefix('[') {
        // [::1]:8000
        return rest
            .split(']')
            .next()
            .map_or(host, |h| &host[..h.len() + 2]);
    }
    match host.rsplit_once(':') {
        Some((h, port)) if port.bytes().all(|b| b.is_ascii_digit()) && !h.contains(':') => h,
        _ => host,
    }
}

/// The final fallback: unknown routes answer 404 in the envelope.
pub async fn not_found(req: Request<Body>) -> Response {
    crate::error::ApiError::not_found(format!("No endpoint {} {}", req.method(), req.uri().path()))
        .into_response()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_names_pass_and_others_do_not() {
        let none: Vec<String> = vec![];
        for ok in [
            "localhost",
            "localhost:8000",
            "127.0.0.1:8000",
            "127.1.2.3",
            "[::1]:8000",
            "[::1]",
            "app.localhost:3000",
        ] {
            assert!(host_allowed(ok, &none), "{ok}");
        }
        for bad in [
            "evil.example",
            "evil.example:8000",
            "192.168.1.5:8000",
            "localhost.evil.com",
            "[::2]:80",
        ] {
            assert!(!host_allowed(bad, &none), "{bad}");
        }
        let allowed = vec!["studio.lan".to_string()];
        assert!(host_allowed("studio.lan:8000", &allowed));
    }
}
