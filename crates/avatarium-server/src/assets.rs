//! Shipped avatar models, compiled into the binary so every install (cargo,
//! .deb, the desktop app) serves them without locating an assets folder.

use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

#[derive(RustEmbed)]
#[folder = "../../assets/avatars/"]
#[include = "*.glb"]
#[include = "*.vrm"]
#[include = "*.png"]
pub struct AvatarAssets;

pub fn content_type(file: &str) -> &'static str {
    match file.rsplit('.').next() {
        Some("glb") | Some("vrm") => "model/gltf-binary",
        Some("gltf") => "model/gltf+json",
        Some("png") => "image/png",
        _ => "application/octet-stream",
    }
}

pub fn size_of(file: &str) -> Option<usize> {
    AvatarAssets::get(file).map(|f| f.data.len())
}

/// The file with a strong ETag from its content hash, so clients cache it.
pub fn serve(file: &str, if_none_match: Option<&HeaderValue>) -> Option<Response> {
    let asset = AvatarAssets::get(file)?;
    let etag = format!(
        "\"{}\"",
        asset
            .metadata
            .sha256_hash()
            .iter()
            .take(16)
            .map(|b| format!("{b:02x}"))
            .collect::<String>()
    );
    if if_none_match.and_then(|v| v.to_str().ok()) == Some(etag.as_str()) {
        return Some((StatusCode::NOT_MODIFIED, [(header::ETAG, etag)]).into_response());
    }
    Some(
        (
            [
                (header::CONTENT_TYPE, content_type(file).to_string()),
                (header::ETAG, etag),
                (header::CACHE_CONTROL, "public, max-age=3600".to_string()),
            ],
            asset.data.into_owned(),
        )
            .into_response(),
    )
}
