//! Reading what Bevy's glTF loader does not: the JSON chunk of a GLB, and
//! VRM's expression bindings (0.x `VRM.blendShapeMaster`, 1.0
//! `VRMC_vrm.expressions`), which bind expressions to morph targets by index
//! because VRM meshes rarely name their targets. Pure: no Bevy types.

use serde_json::Value;

use crate::rig::VrmExpression;

#[derive(Debug, thiserror::Error)]
pub enum ModelError {
    #[error("not a glTF binary (GLB) file")]
    NotGlb,
    #[error("the GLB's JSON chunk is not valid JSON: {0}")]
    Json(#[from] serde_json::Error),
}

/// The JSON document of a GLB (or of a `.gltf` file given as bytes).
pub fn gltf_json(bytes: &[u8]) -> Result<Value, ModelError> {
    if bytes.starts_with(b"glTF") {
        if bytes.len() < 20 {
            return Err(ModelError::NotGlb);
        }
        let len = u32::from_le_bytes(bytes[12..16].try_into().expect("4 bytes")) as usize;
        if &bytes[16..20] != b"JSON" || bytes.len() < 20 + len {
            return Err(ModelError::NotGlb);
        }
        Ok(serde_json::from_slice(&bytes[20..20 + len])?)
    } else if bytes.first().is_some_and(|b| *b == b'{') {
        Ok(serde_json::from_slice(bytes)?)
    } else {
        Err(ModelError::NotGlb)
    }
}

/// One VRM binding: `expression` moves target `morph` of glTF mesh `mesh`
/// by `weight` (0..1).
#[derive(Clone, Debug, PartialEq)]
pub struct VrmBind {
    pub expression: VrmExpression,
    pub mesh: usize,
    pub morph: usize,
    pub weight: f32,
}

/// What a VRM file declares.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct VrmInfo {
    /// 0 for VRM 0.x, 1 for VRM 1.0.
    pub version: u8,
    pub binds: Vec<VrmBind>,
}

/// The VRM extension of a glTF document, if it has one.
pub fn vrm_info(doc: &Value) -> Option<VrmInfo> {
    let ext = doc.get("extensions")?;
    if let Some(v1) = ext.get("VRMC_vrm") {
        let mut binds = Vec::new();
        let presets = v1.pointer("/expressions/preset").and_then(Value::as_object);
        for (name, expr) in presets.into_iter().flatten() {
            let Some(expression) = VrmExpression::from_preset(name) else {
                continue;
            };
            for b in expr
                .get("morphTargetBinds")
                .and_then(Value::as_array)
                .into_iter()
                .flatten()
            {
                // 1.0 binds name a node; the node names the mesh.
                let node = b.get("node").and_then(Value::as_u64);
                let mesh = node
                    .and_then(|n| doc.pointer(&format!("/nodes/{n}/mesh")))
                    .and_then(Value::as_u64);
                let (Some(mesh), Some(morph)) = (mesh, b.get("index").and_then(Value::as_u64))
                else {
                    continue;
                };
                let weight = b.get("weight").and_then(Value::as_f64).unwrap_or(1.0) as f32;
                binds.push(VrmBind {
                    expression,
                    mesh: mesh as usize,
                    morph: morph as usize,
                    weight: weight.clamp(0.0, 1.0),
                });
            }
        }
        return Some(VrmInfo { version: 1, binds });
    }
    let v0 = ext.get("VRM")?;
    let mut binds = Vec::new();
    for group in v0
        .pointer("/blendShapeMaster/blendShapeGroups")
        .and_then(Value::as_array)
        .into_iter()
        .flatten()
    {
        let preset = group
            .get("presetName")
            .and_then(Value::as_str)
            .filter(|p| !p.is_empty() && *p != "unknown")
            .or_else(|| group.get("name").and_then(Value::as_str));
        let Some(expression) = preset.and_then(VrmExpression::from_preset) else {
            continue;
        };
        for b in group
            .get("binds")
            .and_then(Value::as_array)
            .into_iter()
            .flatten()
        {
            let (Some(mesh), Some(morph)) = (
                b.get("mesh").and_then(Value::as_u64),
                b.get("index").and_then(Value::as_u64),
            ) else {
                continue;
            };
            // 0.x weights are percentages.
            let weight = b.get("weight").and_then(Value::as_f64).unwrap_or(100.0) as f32 / 100.0;
            binds.push(VrmBind {
                expression,
                mesh: mesh as usize,
                morph: morph as usize,
                weight: weight.clamp(0.0, 1.0),
            });
        }
    }
    Some(VrmInfo { version: 0, binds })
}

/// The names of the document's meshes, by index (empty for unnamed ones).
pub fn mesh_names(doc: &Value) -> Vec<String> {
    doc.get("meshes")
        .and_then(Value::as_array)
        .map(|m| {
            m.iter()
                .map(|m| {
                    m.get("name")
                        .and_then(Value::as_str)
                        .unwrap_or("")
                        .to_string()
                })
                .collect()
        })
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn glb(doc: &Value) -> Vec<u8> {
        let mut json = serde_json::to_vec(doc).unwrap();
        while !json.len().is_multiple_of(4) {
            json.push(b' ');
        }
        let mut out = b"glTF".to_vec();
        out.extend(2u32.to_le_bytes());
        out.extend(((20 + json.len()) as u32).to_le_bytes());
        out.extend((json.len() as u32).to_le_bytes());
        out.extend(b"JSON");
        out.extend(json);
        out
    }

    #[test]
    fn reads_the_json_chunk_and_refuses_other_bytes() {
        let doc = json!({"asset": {"version": "2.0"}});
        assert_eq!(gltf_json(&glb(&doc)).unwrap(), doc);
        assert!(matches!(gltf_json(b"PK\x03\x04"), Err(ModelError::NotGlb)));
        assert!(matches!(gltf_json(b"glTF\x02"), Err(ModelError::NotGlb)));
    }

    #[test]
    fn vrm0_blend_shape_groups_map_to_presets() {
        let doc = json!({
            "meshes": [{"name": "Face"}],
            "extensions": {"VRM": {"blendShapeMaster": {"blendShapeGroups": [
                {"name": "A", "presetName": "a", "binds": [{"mesh": 0, "index": 3, "weight": 100}]},
                {"name": "Blink_L", "presetName": "blink_l", "binds": [{"mesh": 0, "index": 7, "weight": 50}]},
                {"name": "Joy", "presetName": "joy", "binds": [{"mesh": 0, "index": 9, "weight": 100}]},
                {"name": "Custom", "presetName": "unknown", "binds": [{"mesh": 0, "index": 1, "weight": 100}]}
            ]}}}
        });
        let info = vrm_info(&doc).unwrap();
        assert_eq!(info.version, 0);
        assert_eq!(
            info.binds,
            vec![
                VrmBind {
                    expression: VrmExpression::Aa,
                    mesh: 0,
                    morph: 3,
                    weight: 1.0
                },
                VrmBind {
                    expression: VrmExpression::BlinkLeft,
                    mesh: 0,
                    morph: 7,
                    weight: 0.5
                },
                VrmBind {
                    expression: VrmExpression::Happy,
                    mesh: 0,
                    morph: 9,
                    weight: 1.0
                },
            ]
        );
        assert_eq!(mesh_names(&doc), vec!["Face".to_string()]);
    }

    #[test]
    fn vrm1_binds_resolve_nodes_to_meshes() {
        let doc = json!({
            "nodes": [{"name": "root"}, {"name": "face", "mesh": 2}],
            "extensions": {"VRMC_vrm": {"expressions": {"preset": {
                "aa": {"morphTargetBinds": [{"node": 1, "index": 0, "weight": 1.0}]},
                "blink": {"morphTargetBinds": [{"node": 1, "index": 5, "weight": 0.8}]},
                "lookUp": {"morphTargetBinds": [{"node": 1, "index": 6, "weight": 1.0}]}
            }}}}
        });
        let mut info = vrm_info(&doc).unwrap();
        info.binds.sort_by_key(|b| b.morph);
        assert_eq!(info.version, 1);
        assert_eq!(
            info.binds,
            vec![
                VrmBind {
                    expression: VrmExpression::Aa,
                    mesh: 2,
                    morph: 0,
                    weight: 1.0
                },
                VrmBind {
                    expression: VrmExpression::Blink,
                    mesh: 2,
                    morph: 5,
                    weight: 0.8
                },
            ]
        );
        assert!(vrm_info(&json!({"asset": {}})).is_none());
    }
}
