use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_core::ids;
use avatarium_core::model::ApiKeyRecord;

use crate::error::{ApiError, ApiResult, Created, Envelope};
use crate::extract::{ApiJson, ApiPath, AuthUser};
use crate::state::AppState;

#[derive(Deserialize, ToSchema)]
pub struct CreateKeyRequest {
    /// What the key is for, e.g. "website".
    name: String,
}

fn key_json(k: &ApiKeyRecord) -> Value {
    json!({
        "id": k.id,
        "name": k.name,
        "prefix": k.prefix,
        "tier": k.tier,
        "status": if k.revoked_at.is_some() { "revoked" } else { "active" },
        "createdAt": k.created_at,
        "lastUsedAt": k.last_used_at,
        "revokedAt": k.revoked_at,
    })
}

/// List your API keys (prefixes only).
#[utoipa::path(get, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    responses((status = 200, description = "Keys, newest first"), (status = 401, description = "No or bad token")))]
pub async fn list(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Envelope<Vec<Value>>> {
    let keys = state.store.api_keys(&user.account_id).await?;
    Ok(Envelope(keys.iter().map(key_json).collect()))
}

/// Create an API key. The full key is in this response only.
#[utoipa::path(post, path = "/v1/api-keys", tag = "api-keys", security(("bearer" = [])),
    request_body = CreateKeyRequest,
    responses((status = 201, description = "Key created; `key` is shown once"),
              (status = 400, description = "Missing or bad name"), (status = 401, description = "No or bad token")))]
pub async fn create(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CreateKeyRequest>,
) -> ApiResult<Created<Value>> {
    let name = req.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::bad_request("name must be 1 to 100 characters"));
    }
    let key = ids::new_api_key();
    let tier = state.config.rate_limits.default_key_tier.as_str();
    let rec = state
        .store
        .create_api_key(
            &user.account_id,
            name,
            &ids::hash_api_key(&key),
            &ids::api_key_visible_prefix(&key),
            tier,
        )
        .await?;
    let mut body = key_json(&rec);
    body["key"] = json!(key);
    Ok(Created(body))
}

/// Revoke an API key; it fails from the next request on.
#[utoipa::path(delete, path = "/v1/api-keys/{keyId}", tag = "api-keys", security(("bearer" = [])),
    params(("keyId" = String, Path, description = "Key id")),
    responses((status = 200, description = "Revoked"), (status = 404, description = "No such active key")))]
pub async fn revoke(
    State(state): State<AppState>,
    user: AuthUser,
    ApiPath(key_id): ApiPath<String>,
) -> ApiResult<Envelope<Value>> {
    if !state
        .store
        .revoke_api_key(&user.account_id, &key_id)
        .await?
    {
        return Err(ApiError::not_found("API key not found"));
    }
    Ok(Envelope(json!({ "success": true, "id": key_id })))
}
