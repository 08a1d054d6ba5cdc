//! The one error type of the API and the response envelope.
//!
//! Every response body, success or failure, carries `meta.requestId`; the id
//! and the error dialect of the path (001/002's codes, or 004's on `/api/*`)
//! live in a task-local set by the request-context middleware, so handlers
//! and extractors never pass them around.

use std::time::Duration;

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use serde::Serialize;
use serde_json::json;

use avatarium_core::StoreError;

tokio::task_local! {
    pub(crate) static REQUEST_CTX: RequestCtx;
}

#[derive(Clone, Debug)]
pub(crate) struct RequestCtx {
    pub id: String,
    pub dialect: Dialect,
}

/// Which document's error vocabulary a path speaks.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Dialect {
    /// 000/001/002/003: BAD_REQUEST, NOT_FOUND, …
    Avatarium,
    /// 004 (`/api/*`): INVALID_REQUEST for malformed requests.
    SmarterAvatar,
}

impl Dialect {
    pub fn for_path(path: &str) -> Self {
        if path.starts_with("/api/") {
            Self::SmarterAvatar
        } else {
            Self::Avatarium
        }
    }
}

pub(crate) fn request_id() -> String {
    REQUEST_CTX
        .try_with(|c| c.id.clone())
        .unwrap_or_else(|_| format!("req_{}", uuid::Uuid::new_v4().simple()))
}

fn dialect() -> Dialect {
    REQUEST_CTX
        .try_with(|c| c.dialect)
        .unwrap_or(Dialect::Avatarium)
}

#[derive(Debug, thiserror::Error)]
pub enum ApiError {
    #[error("{0}")]
    BadRequest(String),
    #[error("{0}")]
    PayloadTooLarge(String),
    #[error("{0}")]
    UnsupportedMediaType(String),
    #[error("{0}")]
    Unauthorized(String),
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    MethodNotAllowed(String),
    #[error("{0}")]
    Conflict(String),
    #[error("Rate limit exceeded: {limit} requests per {window}s; retry in {}s", retry_after.as_secs().max(1))]
    RateLimited {
        limit: u32,
        window: u64,
        retry_after: Duration,
    },
    #[error("{0}")]
    Provider(String),
    #[error("{0}")]
    Unavailable(String),
    /// 003's error for an unknown streaming session.
    #[error("The specified session does not exist")]
    SessionNotFound(String),
    /// A documented endpoint this server does not offer yet (501).
    #[error("{0}")]
    NotImplemented(String),
    /// Never shown to clients: logged once, answered as a bare 500.
    #[error(transparent)]
    Internal(#[from] anyhow::Error),
}

impl ApiError {
    pub fn bad_request(msg: impl Into<String>) -> Self {
        Self::BadRequest(msg.into())
    }
    pub fn not_found(msg: impl Into<String>) -> Self {
        Self::NotFound(msg.into())
    }
    pub fn unauthorized(msg: impl Into<String>) -> Self {
        Self::Unauthorized(msg.into())
    }
    pub fn forbidden(msg: impl Into<String>) -> Self {
        Self::Forbidden(msg.into())
    }

    pub fn status_code(&self) -> StatusCode {
        match self {
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::PayloadTooLarge(_) => StatusCode::PAYLOAD_TOO_LARGE,
            Self::UnsupportedMediaType(_) => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Unauthorized(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed(_) => StatusCode::METHOD_NOT_ALLOWED,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::RateLimited { .. } => StatusCode::TOO_MANY_REQUESTS,
            Self::Provider(_) => StatusCode::BAD_GATEWAY,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::SessionNotFound(_) => StatusCode::NOT_FOUND,
            Self::NotImplemented(_) => StatusCode::NOT_IMPLEMENTED,
            Self::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    pub fn code(&self) -> &'static str {
        match self {
            Self::SessionNotFound(_) => "SESSION_NOT_FOUND",
            _ => code_for_status(self.status_code(), dialect()),
        }
    }

    fn public_message(&self) -> String {
        match self {
            Self::Internal(_) => "Internal server error".to_string(),
            other => other.to_string(),
        }
    }
}

/// The documented code for a status. 413/415/405 are client mistakes of the
/// request's form, so they share the malformed-request code.
pub(crate) fn code_for_status(status: StatusCode, dialect: Dialect) -> &'static str {
    match status.as_u16() {
        401 => "UNAUTHORIZED",
        403 => "FORBIDDEN",
        404 => "NOT_FOUND",
        409 => "CONFLICT",
        429 => "RATE_LIMITED",
        502 | 504 => "PROVIDER_ERROR",
        501 => "NOT_IMPLEMENTED",
        503 => "SERVICE_UNAVAILABLE",
        400..=499 => match dialect {
            Dialect::Avatarium => "BAD_REQUEST",
            Dialect::SmarterAvatar => "INVALID_REQUEST",
        },
        _ => "INTERNAL_ERROR",
    }
}

pub(crate) fn error_body(code: &str, message: &str) -> serde_json::Value {
    json!({
        "error": { "code": code, "message": message },
        "meta": { "requestId": request_id() },
    })
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if let Self::Internal(err) = &self {
            tracing::error!(request_id = %request_id(), error = ?err, "internal error");
        }
        let status = self.status_code();
        let mut body = error_body(self.code(), &self.public_message());
        if let Self::SessionNotFound(id) = &self {
            body["error"]["details"] = json!({ "session_id": id });
        }
        let mut res = (status, axum::Json(body)).into_response();
        if let Self::RateLimited {
            limit, retry_after, ..
        } = &self
        {
            let h = res.headers_mut();
            let secs = retry_after.as_secs_f64().ceil().max(1.0) as u64;
            h.insert(header::RETRY_AFTER, HeaderValue::from(secs));
            h.insert("x-ratelimit-limit", HeaderValue::from(*limit));
            h.insert("x-ratelimit-remaining", HeaderValue::from(0));
            let reset = chrono::Utc::now().timestamp() as u64 + secs;
            h.insert("x-ratelimit-reset", HeaderValue::from(reset));
        }
        res
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match e {
            StoreError::Conflict(what) => Self::Conflict(format!("{what} already exists")),
            other => Self::Internal(other.into()),
        }
    }
}

pub type ApiResult<T> = Result<T, ApiError>;

/// `{data, meta: {requestId}}`, 200.
pub struct Envelope<T>(pub T);

/// `{data, meta: {requestId}}`, 201.
pub struct Created<T>(pub T);

#[derive(Serialize)]
struct Meta {
    #[serde(rename = "requestId")]
    request_id: String,
}

/// Serialised straight from the handler's type: building a `json!` tree
/// around `data` would deep-copy it on every response.
#[derive(Serialize)]
struct Env<T> {
    data: T,
    meta: Meta,
}

fn envelope<T: Serialize>(status: StatusCode, data: T) -> Response {
    let body = Env {
        data,
        meta: Meta {
            request_id: request_id(),
        },
    };
    (status, axum::Json(body)).into_response()
}

impl<T: Serialize> IntoResponse for Envelope<T> {
    fn into_response(self) -> Response {
        envelope(StatusCode::OK, self.0)
    }
}

impl<T: Serialize> IntoResponse for Created<T> {
    fn into_response(self) -> Response {
        envelope(StatusCode::CREATED, self.0)
    }
}

/// A body whose top level is the document's own shape (003/004 answer bare
/// objects); `meta.requestId` is added beside the fields.
pub struct Bare(pub serde_json::Value);

impl IntoResponse for Bare {
    fn into_response(self) -> Response {
        let mut v = self.0;
        if let Some(obj) = v.as_object_mut() {
            obj.insert("meta".into(), json!({ "requestId": request_id() }));
        }
        axum::Json(v).into_response()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_path_speaks_its_documents_codes() {
        assert_eq!(Dialect::for_path("/api/chat"), Dialect::SmarterAvatar);
        assert_eq!(Dialect::for_path("/v1/avatars"), Dialect::Avatarium);
        let bad = StatusCode::BAD_REQUEST;
        assert_eq!(code_for_status(bad, Dialect::Avatarium), "BAD_REQUEST");
        assert_eq!(
            code_for_status(bad, Dialect::SmarterAvatar),
            "INVALID_REQUEST"
        );
        assert_eq!(
            code_for_status(StatusCode::PAYLOAD_TOO_LARGE, Dialect::Avatarium),
            "BAD_REQUEST"
        );
        assert_eq!(
            code_for_status(StatusCode::BAD_GATEWAY, Dialect::SmarterAvatar),
            "PROVIDER_ERROR"
        );
        assert_eq!(
            code_for_status(StatusCode::TOO_MANY_REQUESTS, Dialect::Avatarium),
            "RATE_LIMITED"
        );
    }

    #[tokio::test]
    async fn internal_errors_hide_their_details() {
        let res = ApiError::Internal(anyhow::anyhow!("secret path /etc/x")).into_response();
        assert_eq!(res.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let body = axum::body::to_bytes(res.into_body(), 1 << 16)
            .await
            .unwrap();
        let text = String::from_utf8(body.to_vec()).unwrap();
        assert!(!text.contains("secret"), "{text}");
        assert!(text.contains("INTERNAL_ERROR"));
    }
}
