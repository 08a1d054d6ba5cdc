//! Public avatar endpoints (002 "Conversations"): no authentication; visitors
//! reach them through an avatar's short id.

use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Redirect, Response};
use chrono::{Datelike, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_core::model::AvatarRecord;
use avatarium_core::plans;
use avatarium_core::store::NewSession;

use crate::auth::{Auth, Principal};
use crate::error::{ApiError, ApiResult, Created, Envelope};
use crate::extract::{ApiPath, BaseUrl, ClientIp};
use crate::handlers::consumer_avatars::public_avatar_json;
use crate::state::AppState;

/// An avatar visitors may reach: public and active. Anything else is 404, so
/// a paused or private avatar's existence is not revealed.
pub(crate) async fn visible(state: &AppState, short_id: &str) -> ApiResult<AvatarRecord> {
    match state.store.avatar_by_short_id(short_id).await? {
        Some(a) if a.is_public && a.status == "active" => Ok(a),
        _ => Err(ApiError::not_found("Avatar not found")),
    }
}

/// Public avatar details by short id. Counts as a view.
#[utoipa::path(get, path = "/v1/public/avatar/{shortId}", tag = "public",
    params(("shortId" = String, Path, description = "The avatar's 11-character short id")),
    responses((status = 200, description = "Public fields only"), (status = 404, description = "Unknown, paused or private")))]
pub async fn get(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    ApiPath(short_id): ApiPath<String>,
) -> ApiResult<Envelope<Value>> {
    let avatar = visible(&state, &short_id).await?;
    state.store.record_view(&avatar.id).await?;
    Ok(Envelope(public_avatar_json(&base, &avatar)))
}

#[derive(Deserialize, Default, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct SessionRequest {
    visitor_name: Option<String>,
    visitor_email: Option<String>,
    /// Where the visitor came from, e.g. "embed" or "page".
    source: Option<String>,
}

/// Start a conversation session with an avatar.
#[utoipa::path(post, path = "/v1/public/avatar/{shortId}/session", tag = "public",
    params(("shortId" = String, Path, description = "Avatar short id")), request_body = SessionRequest,
    responses((status = 201, description = "`{sessionId, greeting}`"), (status = 400, description = "Bad visitor fields"),
              (status = 403, description = "The owner's monthly conversation quota is used up"),
              (status = 404, description = "Unknown, paused or private"), (status = 429, description = "Too many sessions from this address")))]
pub async fn create_session(
    State(state): State<AppState>,
    ClientIp(ip): ClientIp,
    ApiPath(short_id): ApiPath<String>,
    headers: HeaderMap,
    body: Bytes,
) -> ApiResult<Response> {
    let rate = state.limiters.session_create.check(&ip)?;
    // The body is optional: a visitor may start anonymously with no body.
    let req: SessionRequest = if body.iter().all(u8::is_ascii_whitespace) {
        SessionRequest::default()
    } else {
        let is_json = headers
            .get(header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/json"));
        if !is_json {
            return Err(ApiError::UnsupportedMediaType(
                "Expected a JSON body with `Content-Type: application/json`".into(),
            ));
        }
        let mut de = serde_json::Deserializer::from_slice(&body);
        serde_path_to_error::deserialize(&mut de)
            .map_err(|e| ApiError::bad_request(format!("Invalid request body: {e}")))?
    };
    let clean = |v: Option<String>, max: usize, field: &str| -> ApiResult<Option<String>> {
        match v.map(|s| s.trim().to_string()).filter(|s| !s.is_empty()) {
            Some(s) if s.chars().count() > max => Err(ApiError::bad_request(format!(
                "{field} must be at most {max} characters"
            ))),
            other => Ok(other),
        }
    };
    let visitor_name = clean(req.visitor_name, 100, "visitorName")?;
    let visitor_email = match clean(req.visitor_email, 254, "visitorEmail")? {
        Some(e) => Some(crate::handlers::auth::validate_email(&e)?),
        None => None,
    };
    let source = clean(req.source, 50, "source")?;

    let avatar = visible(&state, &short_id).await?;
    enforce_session_quota(&state, &avatar.account_id).await?;
    let session = state
        .store
        .create_session(NewSession {
            avatar_id: avatar.id.clone(),
            account_id: avatar.account_id.clone(),
            visitor_name,
            visitor_email,
            source,
        })
        .await?;
    Ok((
        rate,
        Created(json!({
            "sessionId": session.id,
            "greeting": avatar.settings.greeting,
            "startedAt": session.started_at,
        })),
    )
        .into_response())
}

pub(crate) fn month_start() -> String {
    let now = Utc::now();
    let start = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .expect("the first of a month exists");
    avatarium_core::time::to_iso(start)
}

pub(crate) async fn enforce_session_quota(state: &AppState, account_id: &str) -> ApiResult<()> {
    let Some(account) = state.store.account(account_id).await? else {
        return Err(ApiError::not_found("Avatar not found"));
    };
    let plan = plans::by_id(&account.plan_id).unwrap_or(&plans::PLANS[0]);
    if let Some(quota) = plan.monthly_session_quota {
        let used = state
            .store
            .count_sessions_since(account_id, &month_start())
            .await?;
        if used >= i64::from(quota) {
            return Err(ApiError::forbidden(
                "This avatar has reached its monthly conversation quota; please try again next month",
            ));
        }
    }
    Ok(())
}

/// The avatar's 3D model: its uploaded file, or a redirect to its preset.
/// Private and paused avatars' models are served to their owner only.
#[utoipa::path(get, path = "/v1/public/avatar/{shortId}/model", tag = "public",
    params(("shortId" = String, Path, description = "Avatar short id")),
    responses((status = 200, description = "The GLB/VRM file"), (status = 307, description = "Redirect to a preset or external model"),
              (status = 404, description = "Unknown or not visible")))]
pub async fn get_model(
    State(state): State<AppState>,
    BaseUrl(base): BaseUrl,
    ApiPath(short_id): ApiPath<String>,
    auth: Option<axum::Extension<Auth>>,
) -> ApiResult<Response> {
    let avatar = match state.store.avatar_by_short_id(&short_id).await? {
        Some(a) if a.is_public && a.status == "active" => a,
        Some(a) if matches!(&auth, Some(axum::Extension(Auth::Valid(Principal::User { account_id }))) if *account_id == a.account_id) => {
            a
        }
        _ => return Err(ApiError::not_found("Avatar not found")),
    };
    let path = state.config.models_dir().join(&avatar.id).join("model.glb");
    match tokio::fs::read(&path).await {
        Ok(bytes) => Ok((
            [
                (header::CONTENT_TYPE, "model/gltf-binary"),
                (header::CACHE_CONTROL, "no-cache"),
            ],
            bytes,
        )
            .into_response()),
        Err(_) => {
            let own = format!("/v1/public/avatar/{short_id}/model");
            let target = public_avatar_json(&base, &avatar)["avatarModelUrl"]
                .as_str()
                .filter(|u| !u.ends_with(&own))
                .map(str::to_owned)
                .ok_or_else(|| ApiError::not_found("This avatar has no model"))?;
            Ok(Redirect::temporary(&target).into_response())
        }
    }
}
