//! Minimal, deterministic glTF 2.0 binary writer.
//!
//! JSON is produced by a tiny ordered writer rather than serde_json: key order
//! is fixed by the code, so the output cannot change when some other crate in
//! the workspace turns on serde_json's `preserve_order` feature.

use std::fmt::Write as _;

use crate::mesh::Prim;

const ARRAY_BUFFER: u32 = 34962;
const ELEMENT_ARRAY_BUFFER: u32 = 34963;
const FLOAT: u32 = 5126;
const UNSIGNED_SHORT: u32 = 5123;
const UNSIGNED_INT: u32 = 5125;

/// Ordered JSON value.
#[derive(Clone, Debug)]
pub enum Json {
    Bool(bool),
    Int(i64),
    /// Written with f32 precision (shortest round-trip form).
    Num(f32),
    Str(String),
    Arr(Vec<Json>),
    Obj(Vec<(String, Json)>),
}

impl Json {
    pub fn obj<const N: usize>(fields: [(&str, Json); N]) -> Json {
        Json::Obj(
            fields
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    pub fn str(s: &str) -> Json {
        Json::Str(s.to_string())
    }

    fn write(&self, out: &mut String) {
        match self {
            Json::Bool(b) => out.push_str(if *b { "true" } else { "false" }),
            Json::Int(i) => {
                let _ = write!(out, "{i}");
            }
            Json::Num(f) => {
                assert!(f.is_finite(), "non-finite number in glTF JSON");
                // Rust's float Display is the shortest round-trip decimal and never
                // uses exponents, which is valid JSON.
                let _ = write!(out, "{f}");
            }
            Json::Str(s) => write_str(out, s),
            Json::Arr(items) => {
                out.push('[');
                for (i, v) in items.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    v.write(out);
                }
                out.push(']');
            }
            Json::Obj(fields) => {
                out.push('{');
                for (i, (k, v)) in fields.iter().enumerate() {
                    if i > 0 {
                        out.push(',');
                    }
                    write_str(out, k);
                    out.push(':');
                    v.write(out);
                }
                out.push('}');
            }
        }
    }
}

fn write_str(out: &mut String, s: &str) {
    out.push('"');
    for ch in s.chars() {
        match ch {
            '"' => out.push_str("\\\""),
            '\\' => out.push_str("\\\\"),
            c if (c as u32) < 0x20 => {
                let _ = write!(out, "\\u{:04x}", c as u32);
            }
            c => out.push(c),
        }
    }
    out.push('"');
}

fn nums(v: &[f32]) -> Json {
    Json::Arr(v.iter().map(|&x| Json::Num(x)).collect())
}

pub struct MaterialDef {
    pub name: &'static str,
    pub color: [f32; 4],
    pub metallic: f32,
    pub roughness: f32,
}

pub struct MeshDef {
    pub name: &'static str,
    pub prims: Vec<Prim>,
    /// Material index for each primitive.
    pub materials: Vec<usize>,
    pub target_names: Option<Vec<&'static str>>,
}

pub struct NodeDef {
    pub name: &'static str,
    pub translation: Option<[f64; 3]>,
    pub mesh: Option<usize>,
    pub children: Vec<usize>,
    pub extras: Option<Json>,
}

pub struct Document {
    pub materials: Vec<MaterialDef>,
    pub meshes: Vec<MeshDef>,
    pub nodes: Vec<NodeDef>,
    pub scene_roots: Vec<usize>,
    pub scene_extras: Option<Json>,
}

#[derive(Default)]
struct Bin {
    data: Vec<u8>,
    views: Vec<Json>,
    accessors: Vec<Json>,
}

impl Bin {
    fn view(&mut self, bytes: &[u8], target: Option<u32>) -> usize {
        // Every view starts 4-byte aligned (floats and u32 need it).
        self.data.resize(self.data.len().next_multiple_of(4), 0);
        let offset = self.data.len();
        self.data.extend_from_slice(bytes);
        let mut f = vec![
            ("buffer".to_string(), Json::Int(0)),
            ("byteOffset".to_string(), Json::Int(offset as i64)),
            ("byteLength".to_string(), Json::Int(bytes.len() as i64)),
        ];
        // Sparse index/value views must not declare a target.
        if let Some(t) = target {
            f.push(("target".to_string(), Json::Int(t as i64)));
        }
        self.views.push(Json::Obj(f));
        self.views.len() - 1
    }

    fn vec3(&mut self, data: &[[f32; 3]], with_bounds: bool) -> usize {
        let bytes: Vec<u8> = data
            .iter()
            .flatten()
            .flat_map(|f| f.to_le_bytes())
            .collect();
        let view = self.view(&bytes, Some(ARRAY_BUFFER));
        let mut f = vec![
            ("bufferView".to_string(), Json::Int(view as i64)),
            ("componentType".to_string(), Json::Int(FLOAT as i64)),
            ("count".to_string(), Json::Int(data.len() as i64)),
            ("type".to_string(), Json::str("VEC3")),
        ];
        if with_bounds {
            let (min, max) = bounds(data.iter().copied());
            f.push(("min".to_string(), nums(&min)));
            f.push(("max".to_string(), nums(&max)));
        }
        self.accessors.push(Json::Obj(f));
        self.accessors.len() - 1
    }

    fn indices(&mut self, idx: &[u32], vertex_count: usize) -> usize {
        let (bytes, ctype): (Vec<u8>, u32) = if vertex_count <= u16::MAX as usize {
            (
                idx.iter().flat_map(|&i| (i as u16).to_le_bytes()).collect(),
                UNSIGNED_SHORT,
            )
        } else {
            (
                idx.iter().flat_map(|&i| i.to_le_bytes()).collect(),
                UNSIGNED_INT,
            )
        };
        let view = self.view(&bytes, Some(ELEMENT_ARRAY_BUFFER));
        self.accessors.push(Json::obj([
            ("bufferView", Json::Int(view as i64)),
            ("componentType", Json::Int(ctype as i64)),
            ("count", Json::Int(idx.len() as i64)),
            ("type", Json::str("SCALAR")),
        ]));
        self.accessors.len() - 1
    }

    /// Morph target as a pair of sparse accessors (positions, normals) sharing one
    /// index list: most targets move only a small part of the mesh.
    fn sparse_target(&mut self, dpos: &[[f32; 3]], dnrm: &[[f32; 3]]) -> (usize, usize) {
        let count = dpos.len();
        let mut which: Vec<u32> = (0..count)
            .filter(|&i| dpos[i] != [0.0; 3] || dnrm[i] != [0.0; 3])
            .map(|i| i as u32)
            .collect();
        if which.is_empty() {
            // A sparse accessor needs at least one entry; an explicit zero is harmless.
            which.push(0);
        }
        let (idx_bytes, ctype): (Vec<u8>, u32) = if count <= u16::MAX as usize {
            (
                which
                    .iter()
                    .flat_map(|&i| (i as u16).to_le_bytes())
                    .collect(),
                UNSIGNED_SHORT,
            )
        } else {
            (
                which.iter().flat_map(|&i| i.to_le_bytes()).collect(),
                UNSIGNED_INT,
            )
        };
        let idx_view = self.view(&idx_bytes, None);
        let mut make = |data: &[[f32; 3]], with_bounds: bool| -> usize {
            let vals: Vec<u8> = which
                .iter()
                .flat_map(|&i| data[i as usize])
                .flat_map(|f| f.to_le_bytes())
                .collect();
            let val_view = self.view(&vals, None);
            let mut f = vec![
                ("componentType".to_string(), Json::Int(FLOAT as i64)),
                ("count".to_string(), Json::Int(count as i64)),
                ("type".to_string(), Json::str("VEC3")),
            ];
            if with_bounds {
                let (min, max) = bounds(data.iter().copied());
                f.push(("min".to_string(), nums(&min)));
                f.push(("max".to_string(), nums(&max)));
            }
            f.push((
                "sparse".to_string(),
                Json::obj([
                    ("count", Json::Int(which.len() as i64)),
                    (
                        "indices",
                        Json::obj([
                            ("bufferView", Json::Int(idx_view as i64)),
                            ("componentType", Json::Int(ctype as i64)),
                        ]),
                    ),
                    (
                        "values",
                        Json::obj([("bufferView", Json::Int(val_view as i64))]),
                    ),
                ]),
            ));
            self.accessors.push(Json::Obj(f));
            self.accessors.len() - 1
        };
        let p = make(dpos, true);
        let n = make(dnrm, false);
        (p, n)
    }
}

fn bounds(it: impl Iterator<Item = [f32; 3]>) -> ([f32; 3], [f32; 3]) {
    let mut min = [f32::MAX; 3];
    let mut max = [f32::MIN; 3];
    for v in it {
        for k in 0..3 {
            min[k] = min[k].min(v[k]);
            max[k] = max[k].max(v[k]);
        }
    }
    (min, max)
}

pub fn write(doc: &Document, asset_generator: &str) -> Vec<u8> {
    let mut bin = Bin::default();
    let mut meshes = Vec::new();
    for m in &doc.meshes {
        let mut prims = Vec::new();
        for (p, &mat) in m.prims.iter().zip(&m.materials) {
            let pos = bin.vec3(&p.pos, true);
            let nrm = bin.vec3(&p.nrm, false);
            let idx = bin.indices(&p.idx, p.pos.len());
            let mut f = vec![
                (
                    "attributes".to_string(),
                    Json::obj([
                        ("POSITION", Json::Int(pos as i64)),
                        ("NORMAL", Json::Int(nrm as i64)),
                    ]),
                ),
                ("indices".to_string(), Json::Int(idx as i64)),
                ("material".to_string(), Json::Int(mat as i64)),
                ("mode".to_string(), Json::Int(4)),
            ];
            if !p.targets.is_empty() {
                let targets = p
                    .targets
                    .iter()
                    .map(|(dp, dn)| {
                        let (a, b) = bin.sparse_target(dp, dn);
                        Json::obj([
                            ("POSITION", Json::Int(a as i64)),
                            ("NORMAL", Json::Int(b as i64)),
                        ])
                    })
                    .collect();
                f.push(("targets".to_string(), Json::Arr(targets)));
            }
            prims.push(Json::Obj(f));
        }
        let mut f = vec![
            ("name".to_string(), Json::str(m.name)),
            ("primitives".to_string(), Json::Arr(prims)),
        ];
        if let Some(names) = &m.target_names {
            f.push((
                "weights".to_string(),
                Json::Arr(names.iter().map(|_| Json::Num(0.0)).collect()),
            ));
            f.push((
                "extras".to_string(),
                Json::obj([(
                    "targetNames",
                    Json::Arr(names.iter().map(|n| Json::str(n)).collect()),
                )]),
            ));
        }
        meshes.push(Json::Obj(f));
    }
    let materials = doc
        .materials
        .iter()
        .map(|m| {
            Json::obj([
                ("name", Json::str(m.name)),
                (
                    "pbrMetallicRoughness",
                    Json::obj([
                        ("baseColorFactor", nums(&m.color)),
                        ("metallicFactor", Json::Num(m.metallic)),
                        ("roughnessFactor", Json::Num(m.roughness)),
                    ]),
                ),
            ])
        })
        .collect();
    let nodes = doc
        .nodes
        .iter()
        .map(|n| {
            let mut f = vec![("name".to_string(), Json::str(n.name))];
            if let Some(t) = n.translation {
                f.push((
                    "translation".to_string(),
                    nums(&[t[0] as f32, t[1] as f32, t[2] as f32]),
                ));
            }
            if let Some(m) = n.mesh {
                f.push(("mesh".to_string(), Json::Int(m as i64)));
            }
            if !n.children.is_empty() {
                f.push((
                    "children".to_string(),
                    Json::Arr(n.children.iter().map(|&c| Json::Int(c as i64)).collect()),
                ));
            }
            if let Some(e) = &n.extras {
                f.push(("extras".to_string(), e.clone()));
            }
            Json::Obj(f)
        })
        .collect();
    let mut scene = vec![
        ("name".to_string(), Json::str("Scene")),
        (
            "nodes".to_string(),
            Json::Arr(
                doc.scene_roots
                    .iter()
                    .map(|&c| Json::Int(c as i64))
                    .collect(),
            ),
        ),
    ];
    if let Some(e) = &doc.scene_extras {
        scene.push(("extras".to_string(), e.clone()));
    }
    bin.data.resize(bin.data.len().next_multiple_of(4), 0);
    let root = Json::obj([
        (
            "asset",
            Json::obj([
                ("version", Json::str("2.0")),
                ("generator", Json::str(asset_generator)),
            ]),
        ),
        ("scene", Json::Int(0)),
        ("scenes", Json::Arr(vec![Json::Obj(scene)])),
        ("nodes", Json::Arr(nodes)),
        ("meshes", Json::Arr(meshes)),
        ("materials", Json::Arr(materials)),
        ("accessors", Json::Arr(bin.accessors)),
        ("bufferViews", Json::Arr(bin.views)),
        (
            "buffers",
            Json::Arr(vec![Json::obj([(
                "byteLength",
                Json::Int(bin.data.len() as i64),
            )])]),
        ),
    ]);
    let mut json = String::new();
    root.write(&mut json);
    let mut json = json.into_bytes();
    // GLB chunks are 4-byte aligned; JSON pads with spaces, BIN with zeros.
    json.resize(json.len().next_multiple_of(4), b' ');
    let total = 12 + 8 + json.len() + 8 + bin.data.len();
    let mut out = Vec::with_capacity(total);
    out.extend_from_slice(b"glTF");
    out.extend_from_slice(&2u32.to_le_bytes());
    out.extend_from_slice(&(total as u32).to_le_bytes());
    out.extend_from_slice(&(json.len() as u32).to_le_bytes());
    out.extend_from_slice(b"JSON");
    out.extend_from_slice(&json);
    out.extend_from_slice(&(bin.data.len() as u32).to_le_bytes());
    out.extend_from_slice(b"BIN\0");
    out.extend_from_slice(&bin.data);
    out
}
