//! The 3D avatar presets shipped in `assets/avatars/`, listed in
//! `data/avatar_presets.json`.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct AvatarPreset {
    pub id: String,
    pub name: String,
    pub description: String,
    pub gender: String,
    pub style: String,
    /// File name under `assets/avatars/`.
    pub file: String,
    pub format: String,
    pub voice_id: String,
    pub voice_gender: String,
    pub background_color: String,
    pub tags: Vec<String>,
    #[schema(value_type = Object)]
    pub rig: serde_json::Value,
}

static PRESETS: LazyLock<Vec<AvatarPreset>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../data/avatar_presets.json"))
        .expect("data/avatar_presets.json is valid (checked by tests)")
});

pub const DEFAULT_PRESET: &str = "aria-001";

pub fn all() -> &'static [AvatarPreset] {
    &PRESETS
}

pub fn by_id(id: &str) -> Option<&'static AvatarPreset> {
    all().iter().find(|p| p.id == id)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn document_example_ids_resolve() {
        for id in ["aria-001", "avatar_1", "female-01", DEFAULT_PRESET] {
            assert!(by_id(id).is_some(), "{id} missing");
        }
    }

    #[test]
    fn every_preset_file_is_shipped() {
        let assets = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../assets/avatars");
        for p in all() {
            let path = assets.join(&p.file);
            let bytes = std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
            assert_eq!(&bytes[..4], b"glTF", "{} is not a GLB", p.file);
        }
    }
}
