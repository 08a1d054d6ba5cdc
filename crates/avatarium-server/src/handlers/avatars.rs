//! Shipped 3D avatar presets (001 "Avatars") and their model files.

use axum::http::{HeaderMap, header};
use axum::response::Response;
use serde::Serialize;
use serde_json::{Value, json};

use avatarium_core::presets::{self, AvatarPreset};

use crate::assets;
use crate::error::{ApiError, ApiResult, Envelope};
use crate::extract::{ApiPath, BaseUrl};

pub(crate) fn model_url(base: &str, p: &AvatarPreset) -> String {
    format!("{base}/assets/avatars/{}", p.file)
}

/// A preset as served: its fields plus URLs on this server.
#[derive(Serialize)]
#[serde(rename_all = "camelCase")]
pub struct PresetView {
    #[serde(flatten)]
    preset: &'static AvatarPreset,
    model_url: String,
    thumbnail_url: Option<String>,
}

fn preset_view(base: &str, p: &'static AvatarPreset) -> PresetView {
    let stem = p.file.rsplit_once('.').map_or(p.file.as_str(), |(s, _)| s);
    let thumb = format!("{stem}.png");
    PresetView {
        preset: p,
        model_url: model_url(base, p),
        thumbnail_url: assets::size_of(&thumb).map(|_| format!("{base}/assets/avatars/{thumb}")),
    }
}

fn find(id: &str) -> ApiResult<&'static AvatarPreset> {
    presets::by_id(id).ok_or_else(|| ApiError::not_found(format!("Avatar preset '{id}' not found")))
}

/// List available avatar presets.
#[utoipa::path(get, path = "/v1/avatars", tag = "avatars",
    responses((status = 200, description = "All presets")))]
pub async fn list(BaseUrl(base): BaseUrl) -> Envelope<Vec<PresetView>> {
    Envelope(
        presets::all()
            .iter()
            .map(|p| preset_view(&base, p))
            .collect(),
    )
}

/// Get avatar preset details.
#[utoipa::path(get, path = "/v1/avatars/{id}", tag = "avatars",
    params(("id" = String, Path, description = "Preset id, e.g. aria-001")),
    responses((status = 200, description = "The preset"), (status = 404, description = "Unknown preset")))]
pub async fn get(
    BaseUrl(base): BaseUrl,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Envelope<PresetView>> {
    Ok(Envelope(preset_view(&base, find(&id)?)))
}

/// Get the avatar's 3D model URL (served by this server).
#[utoipa::path(get, path = "/v1/avatars/{id}/model", tag = "avatars",
    params(("id" = String, Path, description = "Preset id")),
    responses((status = 200, description = "Model URL and format"), (status = 404, description = "Unknown preset")))]
pub async fn get_model(
    BaseUrl(base): BaseUrl,
    ApiPath(id): ApiPath<String>,
) -> ApiResult<Envelope<Value>> {
    let p = find(&id)?;
    Ok(Envelope(json!({
        "id": p.id,
        "modelUrl": model_url(&base, p),
        "format": p.format,
        "contentType": assets::content_type(&p.file),
        "sizeBytes": assets::size_of(&p.file),
        "rig": p.rig,
    })))
}

/// A shipped model or thumbnail file.
#[utoipa::path(get, path = "/assets/avatars/{file}", tag = "avatars",
    params(("file" = String, Path, description = "File name, e.g. aria-001.glb")),
    responses((status = 200, description = "The file (model/gltf-binary or image/png)"),
              (status = 304, description = "Not modified"), (status = 404, description = "No such file")))]
pub async fn get_asset(headers: HeaderMap, ApiPath(file): ApiPath<String>) -> ApiResult<Response> {
    assets::serve(&file, headers.get(header::IF_NONE_MATCH))
        .ok_or_else(|| ApiError::not_found(format!("No asset '{file}'")))
}
