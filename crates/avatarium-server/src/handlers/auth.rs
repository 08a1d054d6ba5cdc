use axum::extract::State;
use axum::response::{IntoResponse, Response};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_core::model::Account;

use crate::auth::{hash_password, verify_password};
use crate::error::{ApiError, ApiResult, Created, Envelope};
use crate::extract::{ApiCaller, ApiJson, ClientIp};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct SignupRequest {
    email: String,
    password: String,
    #[serde(default)]
    name: Option<String>,
}

#[derive(Deserialize, ToSchema)]
pub struct LoginRequest {
    email: String,
    password: String,
}

pub(crate) fn user_json(a: &Account) -> Value {
    json!({
        "id": a.id,
        "email": a.email,
        "name": a.display_name,
        "plan": a.plan_id,
        "isOwner": a.is_owner,
        "createdAt": a.created_at,
    })
}

fn session_json(state: &AppState, a: &Account) -> Value {
    let t = state
        .tokens
        .issue(&a.id, "user", None, state.config.token_ttl);
    json!({
        "token": t.token,
        "tokenType": "Bearer",
        "expiresAt": avatarium_core::time::to_iso(t.expires_at),
        "user": user_json(a),
    })
}

pub(crate) fn validate_email(email: &str) -> ApiResult<String> {
    let email = email.trim();
    let valid = email.len() <= 254
        && !email.contains(char::is_whitespace)
        && email.split_once('@').is_some_and(|(local, domain)| {
            !local.is_empty()
                && !domain.is_empty()
                && !domain.contains('@')
                && !domain.starts_with('.')
                && !domain.ends_with('.')
        });
    if valid {
        Ok(email.to_ascii_lowercase())
    } else {
        Err(ApiError::bad_request("email must be a valid email address"))
    }
}

/// Create a local account.
#[utoipa::path(post, path = "/v1/auth/signup", tag = "auth", request_body = SignupRequest,
    responses((status = 201, description = "Account created; returns a token"),
              (status = 400, description = "Invalid email or weak password"),
              (status = 409, description = "Email already registered"),
              (status = 429, description = "Too many password attempts")))]
pub async fn signup(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<SignupRequest>,
) -> ApiResult<Response> {
    let rate = state.limiters.password_attempts.check(&ip)?;
    let email = validate_email(&req.email)?;
    if req.password.chars().count() < 8 {
        return Err(ApiError::bad_request(
            "password must be at least 8 characters",
        ));
    }
    if req.password.len() > 1024 {
        return Err(ApiError::bad_request("password must be at most 1024 bytes"));
    }
    let name = req
        .name
        .unwrap_or_default()
        .trim()
        .chars()
        .take(100)
        .collect::<String>();
    let hash = hash_password(req.password).await?;
    let account = state.store.create_account(&email, &name, &hash).await?;
    Ok((rate, Created(session_json(&state, &account))).into_response())
}

/// Exchange email and password for a token.
#[utoipa::path(post, path = "/v1/auth/login", tag = "auth", request_body = LoginRequest,
    responses((status = 200, description = "Token issued"),
              (status = 401, description = "Wrong email or password"),
              (status = 429, description = "Too many password attempts")))]
pub async fn login(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiJson(req): ApiJson<LoginRequest>,
) -> ApiResult<Response> {
    let rate = state.limiters.password_attempts.check(&ip)?;
    let account = state.store.account_by_email(req.email.trim()).await?;
    let hash = account.as_ref().and_then(|a| a.password_hash.clone());
    if !verify_password(req.password, hash).await? {
        return Err(ApiError::unauthorized("Wrong email or password"));
    }
    let account = account.expect("a verified password belongs to an account");
    Ok((rate, Envelope(session_json(&state, &account))).into_response())
}

/// The calling account, for a user token or an API key (a quick way for an
/// app to check its key).
#[utoipa::path(get, path = "/v1/auth/me", tag = "auth", security(("bearer" = [])),
    responses((status = 200, description = "The account and how the caller authenticated"),
              (status = 401, description = "No, bad or revoked credentials")))]
pub async fn me(State(state): State<AppState>, caller: ApiCaller) -> ApiResult<Envelope<Value>> {
    let account = state
        .store
        .account(&caller.account_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("This account no longer exists"))?;
    let mut body = user_json(&account);
    body["authenticatedWith"] = json!(if caller.key_id.is_some() {
        "apiKey"
    } else {
        "token"
    });
    body["keyId"] = json!(caller.key_id);
    Ok(Envelope(body))
}
