//! Procedural generator for Avatarium's built-in avatars.
//!
//! Each preset becomes a stylised head-and-shoulders GLB with a face mesh that
//! carries 30 morph targets (Oculus/Ready Player Me visemes + ARKit-style
//! expressions, see [`TARGET_NAMES`]). Output is deterministic down to the byte.
//!
//! Node layout (all lengths in metres, Y up, the avatar faces +Z):
//!
//! ```text
//! Scene
//! └─ AvatarRoot                  (origin, extras.avatarium = {id, name, gender, rig})
//!    ├─ Body                     neck + shoulders + clothing
//!    └─ HeadPivot                at the neck (0, 1.45, 0); rotate it to turn the head
//!       ├─ Head                  back of the skull + ears (static)
//!       ├─ Face                  morph mesh: face skin, lips, lids, brows, mouth interior
//!       ├─ Teeth                 teeth + tongue, same morph targets as Face
//!       ├─ EyeLeft / EyeRight    at the eye centres, eyeball looks down local +Z
//!       └─ Hair
//! ```

pub mod body;
pub mod eyes;
pub mod face;
pub mod glb;
pub mod hair;
pub mod math;
pub mod mesh;
pub mod morph;
pub mod preset;
pub mod teeth;

use anyhow::{Result, bail};

use crate::face::{Layout, PART_FACE, PART_HEAD, PIVOT};
use crate::glb::{Document, Json, MaterialDef, MeshDef, NodeDef};
use crate::math::{V3, powf};
use crate::mesh::{Mat, MorphSet, Prim, Surface};
use crate::morph::Controls;
pub use crate::morph::TARGET_NAMES;
pub use crate::preset::{Preset, preset, presets};

pub const GENERATOR: &str = "avatarium-avatargen";
pub const RIG: &str = "oculus+arkit";

/// Model-space landmarks a renderer may want (metres).
#[derive(Clone, Copy, Debug)]
pub struct Landmarks {
    pub head_pivot: [f64; 3],
    pub mouth_center: [f64; 3],
    pub eye_left: [f64; 3],
    pub eye_right: [f64; 3],
    pub eye_radius: f64,
}

pub fn landmarks(p: &Preset) -> Landmarks {
    let l = Layout::new(p);
    let a = |v: V3| [v.x, v.y, v.z];
    Landmarks {
        head_pivot: a(PIVOT),
        mouth_center: a(l.mouth_center),
        eye_left: a(l.eye_left),
        eye_right: a(l.eye_right),
        eye_radius: face::EYE_RADIUS,
    }
}

/// Displaced positions and normals of `s` for every morph target.
fn morph_set<T: Copy>(s: &Surface<T>, deform: impl Fn(V3, T, &Controls) -> V3) -> MorphSet {
    let shape = |k: &Controls| -> Vec<V3> {
        s.pos
            .iter()
            .zip(&s.tag)
            .map(|(&p, &t)| deform(p, t, k))
            .collect()
    };
    let mut pos = Vec::new();
    for r in morph::recipes() {
        let shaped = match &r.minus {
            None => shape(&r.controls),
            Some(minus) => {
                let (pa, pb) = (shape(&r.controls), shape(minus));
                s.pos
                    .iter()
                    .zip(pa.iter().zip(&pb))
                    .map(|(&p, (&a, &b))| p + (a - b))
                    .collect()
            }
        };
        pos.push(shaped);
    }
    let nrm = pos.iter().map(|p| s.normals(p)).collect();
    MorphSet { pos, nrm }
}

fn srgb(hex: u32) -> [f32; 4] {
    let lin = |c: u32| {
        let c = c as f64 / 255.0;
        let v = if c <= 0.04045 {
            c / 12.92
        } else {
            powf((c + 0.055) / 1.055, 2.4)
        };
        v as f32
    };
    [
        lin((hex >> 16) & 0xff),
        lin((hex >> 8) & 0xff),
        lin(hex & 0xff),
        1.0,
    ]
}

fn material(p: &Preset, m: Mat) -> MaterialDef {
    let (hex, roughness) = match m {
        Mat::Skin => (p.skin, 0.55),
        Mat::Lips => (p.lips, 0.42),
        Mat::MouthInterior => (0x4A1A1C, 0.75),
        Mat::Teeth => (0xEDE8DC, 0.3),
        Mat::Tongue => (0xB5585A, 0.5),
        Mat::Sclera => (0xF2EFEA, 0.28),
        Mat::Iris => (p.iris, 0.18),
        Mat::Pupil => (0x0A0A0C, 0.12),
        Mat::Hair => (p.hair, 0.62),
        Mat::Clothing => (p.clothing, 0.85),
        Mat::Brows => (p.brows, 0.9),
        Mat::Lashes => (0x1A1414, 0.85),
    };
    MaterialDef {
        name: m.name(),
        color: srgb(hex),
        metallic: 0.0,
        roughness,
    }
}

/// Largest position/normal change any target applies to a vertex used by `part`.
fn max_delta_in_part<T: Copy>(s: &Surface<T>, normals: &[V3], m: &MorphSet, part: u8) -> f64 {
    let mut used = vec![false; s.pos.len()];
    for t in s.tris.iter().filter(|t| t.part == part) {
        for &v in &t.v {
            used[v as usize] = true;
        }
    }
    let mut worst: f64 = 0.0;
    for (tp, tn) in m.pos.iter().zip(&m.nrm) {
        for i in (0..s.pos.len()).filter(|&i| used[i]) {
            // Normals are compared at 1 cm per radian so one threshold fits both.
            worst = worst
                .max((tp[i] - s.pos[i]).len())
                .max((tn[i] - normals[i]).len() * 0.01);
        }
    }
    worst
}

/// Generates the GLB bytes for a preset.
pub fn generate(p: &Preset) -> Result<Vec<u8>> {
    let l = Layout::new(p);

    let face_s = face::build(&l);
    let face_n = face_s.normals(&face_s.pos);
    let face_m = morph_set(&face_s, |pos, tag, k| morph::deform_face(&l, pos, tag, k));
    // The Head mesh has no morph targets; anything that moves there would tear
    // the seam between Head and Face.
    let leak = max_delta_in_part(&face_s, &face_n, &face_m, PART_HEAD);
    if leak > 1e-7 {
        bail!("morph targets move the static Head part (by {leak} m)");
    }
    let face_prims = mesh::emit(&face_s, PART_FACE, PIVOT, &face_n, Some(&face_m));
    let head_prims = mesh::emit(&face_s, PART_HEAD, PIVOT, &face_n, None);

    let teeth_s = teeth::build(&l);
    let teeth_n = teeth_s.normals(&teeth_s.pos);
    let teeth_m = morph_set(&teeth_s, |pos, tag, k| morph::deform_teeth(&l, pos, tag, k));
    let teeth_prims = mesh::emit(&teeth_s, 0, PIVOT, &teeth_n, Some(&teeth_m));

    let eye_s = eyes::build();
    let eye_n = eye_s.normals(&eye_s.pos);
    let eye_prims = mesh::emit(&eye_s, 0, V3::ZERO, &eye_n, None);

    let hair_s = hair::build(&l.shape, p.hair_style);
    let hair_n = hair_s.normals(&hair_s.pos);
    let hair_prims = mesh::emit(&hair_s, 0, PIVOT, &hair_n, None);

    let body_s = body::build(p);
    let body_n = body_s.normals(&body_s.pos);
    let body_prims = mesh::emit(&body_s, 0, V3::ZERO, &body_n, None);

    let mut materials: Vec<MaterialDef> = Vec::new();
    let mat_index = |m: Mat, materials: &mut Vec<MaterialDef>| -> usize {
        if let Some(i) = materials.iter().position(|d| d.name == m.name()) {
            return i;
        }
        materials.push(material(p, m));
        materials.len() - 1
    };
    let names = || Some(TARGET_NAMES.to_vec());
    let mesh_defs: Vec<(&'static str, Vec<Prim>, bool)> = vec![
        ("Body", body_prims, false),
        ("Head", head_prims, false),
        ("Face", face_prims, true),
        ("Teeth", teeth_prims, true),
        ("Eye", eye_prims, false),
        ("Hair", hair_prims, false),
    ];
    let mut meshes = Vec::new();
    for (name, prims, morphs) in mesh_defs {
        let mats = prims
            .iter()
            .map(|pr| mat_index(pr.mat, &mut materials))
            .collect();
        meshes.push(MeshDef {
            name,
            prims,
            materials: mats,
            target_names: if morphs { names() } else { None },
        });
    }
    let rel = |v: V3| Some([v.x - PIVOT.x, v.y - PIVOT.y, v.z - PIVOT.z]);
    let info = Json::obj([(
        "avatarium",
        Json::obj([
            ("id", Json::str(p.id)),
            ("name", Json::str(p.name)),
            ("gender", Json::str(p.gender.as_str())),
            ("rig", Json::str(RIG)),
        ]),
    )]);
    let node = |name, translation, mesh, children: Vec<usize>| NodeDef {
        name,
        translation,
        mesh,
        children,
        extras: None,
    };
    // Indices: 0 AvatarRoot, 1 Body, 2 HeadPivot, 3 Head, 4 Face, 5 Teeth,
    // 6 EyeLeft, 7 EyeRight, 8 Hair.
    let mut nodes = vec![
        node("AvatarRoot", None, None, vec![1, 2]),
        node("Body", None, Some(0), vec![]),
        node(
            "HeadPivot",
            Some([PIVOT.x, PIVOT.y, PIVOT.z]),
            None,
            vec![3, 4, 5, 6, 7, 8],
        ),
        node("Head", None, Some(1), vec![]),
        node("Face", None, Some(2), vec![]),
        node("Teeth", None, Some(3), vec![]),
        node("EyeLeft", rel(l.eye_left), Some(4), vec![]),
        node("EyeRight", rel(l.eye_right), Some(4), vec![]),
        node("Hair", None, Some(5), vec![]),
    ];
    nodes[0].extras = Some(info.clone());
    let doc = Document {
        materials,
        meshes,
        nodes,
        scene_roots: vec![0],
        scene_extras: Some(info),
    };
    Ok(glb::write(&doc, GENERATOR))
}
