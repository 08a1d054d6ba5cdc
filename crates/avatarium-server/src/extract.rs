//! Extractors whose rejections speak the API's envelope.

use std::net::{IpAddr, SocketAddr};

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{ConnectInfo, FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{StatusCode, header};
use serde::de::DeserializeOwned;

use crate::auth::{Auth, Principal};
use crate::error::ApiError;

/// `axum::Json` with envelope rejections and messages that name the field.
pub struct ApiJson<T>(pub T);

impl<T, S> FromRequest<S> for ApiJson<T>
where
    T: DeserializeOwned,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        match axum::Json::<T>::from_request(req, state).await {
            Ok(axum::Json(v)) => Ok(Self(v)),
            Err(rejection) => Err(json_rejection(rejection)),
        }
    }
}

fn json_rejection(r: JsonRejection) -> ApiError {
    match r {
        JsonRejection::JsonDataError(e) => ApiError::BadRequest(format!(
            "Invalid request body: {}",
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.body_text())
        )),
        JsonRejection::JsonSyntaxError(e) => ApiError::BadRequest(format!(
            "Malformed JSON: {}",
            std::error::Error::source(&e)
                .map(ToString::to_string)
                .unwrap_or_else(|| e.body_text())
        )),
        JsonRejection::MissingJsonContentType(_) => ApiError::UnsupportedMediaType(
            "Expected a JSON body with `Content-Type: application/json`".into(),
        ),
        JsonRejection::BytesRejection(e) if e.status() == StatusCode::PAYLOAD_TOO_LARGE => {
            ApiError::PayloadTooLarge("Request body is too large".into())
        }
        other => ApiError::BadRequest(other.body_text()),
    }
}

/// Path parameters with envelope rejections.
pub struct ApiPath<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiPath<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| Self(p.0))
            .map_err(|e: PathRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// Query parameters with envelope rejections.
pub struct ApiQuery<T>(pub T);

impl<T, S> FromRequestParts<S> for ApiQuery<T>
where
    T: DeserializeOwned + Send,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Self(q.0))
            .map_err(|e: QueryRejection| ApiError::BadRequest(e.body_text()))
    }
}

/// The peer address. Forwarding headers are ignored on purpose: the server
/// listens on loopback, and trusting them would let any local page pick its
/// own rate-limit bucket.
#[derive(Clone, Copy, Debug)]
pub struct ClientIp(pub IpAddr);

impl<S: Send + Sync> FromRequestParts<S> for ClientIp {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(Self(
            parts
                .extensions
                .get::<ConnectInfo<SocketAddr>>()
                .map(|c| c.0.ip())
                .unwrap_or(IpAddr::from([127, 0, 0, 1])),
        ))
    }
}

/// `http://<host>` as the client addressed us, so URLs we hand out work from
/// wherever the client stands (localhost, 127.0.0.1, an allowed LAN name).
/// The host guard has already vetted the header.
#[derive(Clone, Debug)]
pub struct BaseUrl(pub String);

impl<S: Send + Sync> FromRequestParts<S> for BaseUrl {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        let host = parts
            .headers
            .get(header::HOST)
            .and_then(|h| h.to_str().ok())
            .or_else(|| parts.uri.authority().map(|a| a.as_str()))
            .unwrap_or("127.0.0.1");
        Ok(Self(format!("http://{host}")))
    }
}

/// A signed-in user (a JWT). API keys are refused: these endpoints manage the
/// account itself.
#[derive(Clone, Debug)]
pub struct AuthUser {
    pub account_id: String,
}

impl<S: Send + Sync> FromRequestParts<S> for AuthUser {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        match auth_of(parts)? {
            Principal::User { account_id } => Ok(Self { account_id }),
            Principal::ApiKey { .. } => Err(ApiError::forbidden(
                "This endpoint needs a user token (JWT), not an API key",
            )),
        }
    }
}

/// A caller with an `av_live_` API key or a user JWT.
#[derive(Clone, Debug)]
pub struct ApiCaller {
    pub account_id: String,
    /// The key used, when the caller came with one.
    pub key_id: Option<String>,
}

impl<S: Send + Sync> FromRequestParts<S> for ApiCaller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, Self::Rejection> {
        Ok(match auth_of(parts)? {
            Principal::User { account_id } => Self {
                account_id,
                key_id: None,
            },
            Principal::ApiKey { account_id, key_id } => Self {
                account_id,
                key_id: Some(key_id),
            },
        })
    }
}

fn auth_of(parts: &Parts) -> Result<Principal, ApiError> {
    match parts.extensions.get::<Auth>() {
        Some(Auth::Valid(p)) => Ok(p.clone()),
        Some(Auth::Invalid(msg)) => Err(ApiError::unauthorized(msg.clone())),
        Some(Auth::Missing) | None => Err(ApiError::unauthorized(
            "Missing credentials: send `Authorization: Bearer <token>`",
        )),
    }
}
