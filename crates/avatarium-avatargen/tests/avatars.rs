//! Checks the generated avatars with an independent reader (the `gltf` crate)
//! and keeps the committed files in `assets/avatars/` in sync with the generator.

use std::path::PathBuf;
use std::sync::OnceLock;

use avatarium_avatargen::{Landmarks, Preset, TARGET_NAMES, generate, landmarks, presets};

fn repo_root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// Each preset generated once for the read-only tests (generation takes a
/// while in debug builds).
fn generated() -> &'static [(Preset, Vec<u8>)] {
    static CACHE: OnceLock<Vec<(Preset, Vec<u8>)>> = OnceLock::new();
    CACHE.get_or_init(|| {
        presets()
            .into_iter()
            .map(|p| {
                let bytes = generate(&p).unwrap();
                (p, bytes)
            })
            .collect()
    })
}

fn target_index(name: &str) -> usize {
    TARGET_NAMES.iter().position(|n| *n == name).unwrap()
}

/// Per-vertex (position deltas, normal deltas) of one morph target.
type Deltas = (Vec<[f32; 3]>, Vec<[f32; 3]>);

/// One primitive of a mesh with all morph data, in node-local coordinates.
struct PrimData {
    material: String,
    pos: Vec<[f32; 3]>,
    nrm: Vec<[f32; 3]>,
    targets: Vec<Deltas>,
}

struct Loaded {
    doc: gltf::Gltf,
}

impl Loaded {
    fn new(bytes: &[u8]) -> Loaded {
        let doc = gltf::Gltf::from_slice(bytes).expect("GLB parses and validates");
        assert!(doc.blob.is_some(), "GLB has a BIN chunk");
        Loaded { doc }
    }

    fn mesh(&self, name: &str) -> gltf::Mesh<'_> {
        self.doc
            .meshes()
            .find(|m| m.name() == Some(name))
            .unwrap_or_else(|| panic!("mesh {name}"))
    }

    fn prims(&self, mesh: &str) -> Vec<PrimData> {
        let blob = self.doc.blob.as_deref().unwrap();
        self.mesh(mesh)
            .primitives()
            .map(|p| {
                let r = p.reader(|_| Some(blob));
                let pos: Vec<[f32; 3]> = r.read_positions().unwrap().collect();
                let nrm: Vec<[f32; 3]> = r.read_normals().unwrap().collect();
                let targets = r
                    .read_morph_targets()
                    .map(|(tp, tn, _)| {
                        (
                            tp.expect("target has POSITION").collect(),
                            tn.expect("target has NORMAL").collect(),
                        )
                    })
                    .collect();
                PrimData {
                    material: p.material().name().unwrap_or_default().to_string(),
                    pos,
                    nrm,
                    targets,
                }
            })
            .collect()
    }
}

fn local(l: &Landmarks, p: [f64; 3]) -> [f32; 3] {
    [
        (p[0] - l.head_pivot[0]) as f32,
        (p[1] - l.head_pivot[1]) as f32,
        (p[2] - l.head_pivot[2]) as f32,
    ]
}

#[test]
fn generation_is_deterministic_and_committed_assets_are_fresh() {
    for (p, a) in generated() {
        let a = a.clone();
        let b = generate(p).unwrap();
        assert!(a == b, "{}: two runs differ", p.id);
        let path = repo_root()
            .join("assets/avatars")
            .join(format!("{}.glb", p.id));
        let committed = std::fs::read(&path).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; regenerate with `cargo run -p avatarium-avatargen -- --out assets/avatars`",
                path.display()
            )
        });
        assert!(
            committed == a,
            "{} is stale; regenerate with `cargo run -p avatarium-avatargen -- --out assets/avatars`",
            path.display()
        );
        assert!(a.len() < 1_500_000, "{}: {} bytes", p.id, a.len());
    }
}

#[test]
fn files_validate_and_carry_the_full_target_set() {
    for (p, bytes) in generated() {
        let g = Loaded::new(bytes);
        assert_eq!(
            g.doc.as_json().asset.generator.as_deref(),
            Some("avatarium-avatargen"),
            "{}",
            p.id
        );

        let node_names: Vec<&str> = g.doc.nodes().filter_map(|n| n.name()).collect();
        for n in [
            "AvatarRoot",
            "Body",
            "HeadPivot",
            "Head",
            "Face",
            "Teeth",
            "EyeLeft",
            "EyeRight",
            "Hair",
        ] {
            assert!(node_names.contains(&n), "{}: node {n} missing", p.id);
        }
        let pivot = g
            .doc
            .nodes()
            .find(|n| n.name() == Some("HeadPivot"))
            .unwrap();
        let children: Vec<&str> = pivot.children().filter_map(|c| c.name()).collect();
        for n in ["Head", "Face", "Teeth", "EyeLeft", "EyeRight", "Hair"] {
            assert!(children.contains(&n), "{}: {n} not under HeadPivot", p.id);
        }

        let root = g
            .doc
            .nodes()
            .find(|n| n.name() == Some("AvatarRoot"))
            .unwrap();
        let extras: serde_json::Value =
            serde_json::from_str(root.extras().as_ref().expect("root extras").get()).unwrap();
        assert_eq!(extras["avatarium"]["id"], p.id);
        assert_eq!(extras["avatarium"]["gender"], p.gender.as_str());
        assert_eq!(extras["avatarium"]["rig"], "oculus+arkit");

        let mut morph_meshes = 0;
        for mesh in g.doc.meshes() {
            let Some(raw) = mesh.extras().as_ref() else {
                continue;
            };
            let extras: serde_json::Value = serde_json::from_str(raw.get()).unwrap();
            let names: Vec<&str> = extras["targetNames"]
                .as_array()
                .unwrap()
                .iter()
                .map(|v| v.as_str().unwrap())
                .collect();
            assert_eq!(names, TARGET_NAMES, "{}: {:?}", p.id, mesh.name());
            assert_eq!(mesh.weights().map(|w| w.len()), Some(30));
            assert!(mesh.weights().unwrap().iter().all(|&w| w == 0.0));
            morph_meshes += 1;
            for prim in mesh.primitives() {
                let count = prim.get(&gltf::Semantic::Positions).unwrap().count();
                assert_eq!(prim.get(&gltf::Semantic::Normals).unwrap().count(), count);
                let targets: Vec<_> = prim.morph_targets().collect();
                assert_eq!(targets.len(), 30, "{}: {:?}", p.id, mesh.name());
                for t in targets {
                    assert_eq!(t.positions().expect("POSITION").count(), count);
                    assert_eq!(t.normals().expect("NORMAL").count(), count);
                }
            }
        }
        assert_eq!(morph_meshes, 2, "{}: Face and Teeth carry morphs", p.id);
        assert!(g.mesh("Face").extras().is_some());

        // POSITION bounds must match the data (required by the spec); normals
        // must be unit length; no degenerate triangles.
        let blob = g.doc.blob.as_deref().unwrap();
        for mesh in g.doc.meshes() {
            for prim in mesh.primitives() {
                let acc = prim.get(&gltf::Semantic::Positions).unwrap();
                let reader = prim.reader(|_| Some(blob));
                let pos: Vec<[f32; 3]> = reader.read_positions().unwrap().collect();
                for n in reader.read_normals().unwrap() {
                    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                    assert!(
                        (len - 1.0).abs() < 1e-3,
                        "{}: {:?} normal",
                        p.id,
                        mesh.name()
                    );
                }
                let idx: Vec<u32> = reader.read_indices().unwrap().into_u32().collect();
                assert_eq!(idx.len() % 3, 0);
                for t in idx.chunks(3) {
                    let [a, b, c] = [0, 1, 2].map(|k| pos[t[k] as usize]);
                    let e1 = [b[0] - a[0], b[1] - a[1], b[2] - a[2]];
                    let e2 = [c[0] - a[0], c[1] - a[1], c[2] - a[2]];
                    let cr = [
                        e1[1] * e2[2] - e1[2] * e2[1],
                        e1[2] * e2[0] - e1[0] * e2[2],
                        e1[0] * e2[1] - e1[1] * e2[0],
                    ];
                    let area2 = (cr[0] * cr[0] + cr[1] * cr[1] + cr[2] * cr[2]).sqrt();
                    assert!(
                        area2 > 1e-12,
                        "{}: degenerate triangle in {:?}",
                        p.id,
                        mesh.name()
                    );
                }
                let min: Vec<f32> = serde_json::from_value(acc.min().unwrap()).unwrap();
                let max: Vec<f32> = serde_json::from_value(acc.max().unwrap()).unwrap();
                for k in 0..3 {
                    let lo = pos.iter().map(|v| v[k]).fold(f32::MAX, f32::min);
                    let hi = pos.iter().map(|v| v[k]).fold(f32::MIN, f32::max);
                    assert_eq!((min[k], max[k]), (lo, hi));
                }
            }
        }
    }
}

#[test]
fn deltas_are_finite_and_normals_stay_unit() {
    for (p, bytes) in generated() {
        let g = Loaded::new(bytes);
        for mesh in ["Face", "Teeth"] {
            for prim in g.prims(mesh) {
                for (ti, (dp, dn)) in prim.targets.iter().enumerate() {
                    for (i, d) in dp.iter().enumerate() {
                        assert!(
                            d.iter().all(|c| c.is_finite()),
                            "{} {}",
                            p.id,
                            TARGET_NAMES[ti]
                        );
                        // Nothing should fly off: the largest move (jaw) is a few cm.
                        assert!(
                            d.iter().all(|c| c.abs() < 0.06),
                            "{} {} v{i}",
                            p.id,
                            TARGET_NAMES[ti]
                        );
                    }
                    for (n, d) in prim.nrm.iter().zip(dn) {
                        assert!(d.iter().all(|c| c.is_finite()));
                        let m = [n[0] + d[0], n[1] + d[1], n[2] + d[2]];
                        let len = (m[0] * m[0] + m[1] * m[1] + m[2] * m[2]).sqrt();
                        assert!(
                            (len - 1.0).abs() < 0.01,
                            "{} {} {}: |n + dn| = {len}",
                            p.id,
                            mesh,
                            TARGET_NAMES[ti]
                        );
                    }
                }
                for n in &prim.nrm {
                    let len = (n[0] * n[0] + n[1] * n[1] + n[2] * n[2]).sqrt();
                    assert!((len - 1.0).abs() < 1e-3);
                }
            }
        }
    }
}

/// Lip contact points on the midline: (upper lip lowest y, lower lip highest y)
/// after applying `target` (None = neutral).
fn lip_gap(prims: &[PrimData], l: &Landmarks, target: Option<usize>) -> f32 {
    let m = local(l, l.mouth_center);
    let mut upper = f32::MAX;
    let mut lower = f32::MIN;
    for prim in prims.iter().filter(|p| p.material == "Lips") {
        for (i, v) in prim.pos.iter().enumerate() {
            // Midline vertices in front of the teeth.
            if v[0].abs() > 1e-4 || v[2] < m[2] - 0.004 {
                continue;
            }
            let y = v[1] + target.map_or(0.0, |t| prim.targets[t].0[i][1]);
            if v[1] > m[1] {
                upper = upper.min(y);
            } else {
                lower = lower.max(y);
            }
        }
    }
    assert!(
        upper < f32::MAX && lower > f32::MIN,
        "midline lip vertices found"
    );
    upper - lower
}

/// Mean vertical move of the lower lip's red (midline band) for a target.
fn lower_lip_drop(prims: &[PrimData], l: &Landmarks, target: usize) -> f32 {
    let m = local(l, l.mouth_center);
    let (mut sum, mut n) = (0.0, 0);
    for prim in prims.iter().filter(|p| p.material == "Lips") {
        for (i, v) in prim.pos.iter().enumerate() {
            if v[0].abs() < 0.006 && v[1] < m[1] - 0.001 && v[2] > m[2] - 0.004 {
                sum += prim.targets[target].0[i][1];
                n += 1;
            }
        }
    }
    assert!(n > 5, "lower lip vertices found");
    sum / n as f32
}

fn check_shapes(p: &Preset, bytes: &[u8]) {
    let g = Loaded::new(bytes);
    let l = landmarks(p);
    let face = g.prims("Face");

    let aa = lower_lip_drop(&face, &l, target_index("viseme_aa"));
    let e = lower_lip_drop(&face, &l, target_index("viseme_E"));
    assert!(
        aa <= -0.01,
        "{}: viseme_aa lowers the lower lip by {aa} m",
        p.id
    );
    assert!(aa < e, "{}: aa ({aa}) opens more than E ({e})", p.id);
    let jaw = lower_lip_drop(&face, &l, target_index("jawOpen"));
    assert!(jaw <= -0.015, "{}: jawOpen {jaw}", p.id);

    let neutral = lip_gap(&face, &l, None);
    let pp = lip_gap(&face, &l, Some(target_index("viseme_PP")));
    assert!(
        neutral > 0.001,
        "{}: lips slightly apart at rest ({neutral})",
        p.id
    );
    assert!(
        pp.abs() < 2e-4,
        "{}: viseme_PP closes the lips (gap {pp})",
        p.id
    );
    for open in [
        "viseme_aa",
        "viseme_O",
        "viseme_E",
        "viseme_SS",
        "viseme_CH",
    ] {
        let gap = lip_gap(&face, &l, Some(target_index(open)));
        assert!(gap > neutral, "{}: {open} parts the lips ({gap})", p.id);
    }
    // Rounded visemes make the mouth narrower; spread ones wider.
    let corner_dx = |t: &str| -> f32 {
        let ti = target_index(t);
        let m = local(&l, l.mouth_center);
        let mut best = (0.0f32, 0.0f32);
        for prim in face.iter().filter(|p| p.material == "Lips") {
            for (i, v) in prim.pos.iter().enumerate() {
                if (v[1] - m[1]).abs() < 0.003 && v[0] > best.0 {
                    best = (v[0], prim.targets[ti].0[i][0]);
                }
            }
        }
        best.1
    };
    assert!(corner_dx("viseme_U") < -0.005, "{}: U puckers", p.id);
    assert!(corner_dx("viseme_O") < -0.003, "{}: O rounds", p.id);
    assert!(corner_dx("viseme_I") > 0.003, "{}: I spreads", p.id);
    assert!(corner_dx("viseme_E") > 0.002, "{}: E spreads", p.id);

    // Blinks: the upper lid edge (lash line) of that eye comes down past the
    // eye centre; the other eye is untouched.
    let eye_l = local(&l, l.eye_left);
    for (target, sign) in [("eyeBlinkLeft", 1.0f32), ("eyeBlinkRight", -1.0)] {
        let ti = target_index(target);
        let mut moved_edge = 0;
        for prim in &face {
            for (i, v) in prim.pos.iter().enumerate() {
                let d = prim.targets[ti].0[i];
                if v[0] * sign < 0.0 {
                    assert_eq!(d, [0.0; 3], "{}: {target} moves the other side", p.id);
                    continue;
                }
                if prim.material == "Lashes"
                    && (v[0].abs() - eye_l[0]).abs() < 0.002
                    && v[2] > eye_l[2]
                {
                    // Centre of the lid edge: ends below the eye centre.
                    assert!(d[1] < -0.006, "{}: {target} lid moves {d:?}", p.id);
                    assert!(v[1] + d[1] < eye_l[1] - 0.2 * l.eye_radius as f32);
                    moved_edge += 1;
                }
            }
        }
        assert!(moved_edge > 0, "{}: {target} found lid edge vertices", p.id);
    }

    // Smiles raise their own corner only.
    let corner_dy = |t: &str, side: f32| -> f32 {
        let ti = target_index(t);
        let m = local(&l, l.mouth_center);
        let mut best = (0.0f32, 0.0f32);
        for prim in face.iter().filter(|p| p.material == "Lips") {
            for (i, v) in prim.pos.iter().enumerate() {
                if (v[1] - m[1]).abs() < 0.003 && v[0] * side > best.0 {
                    best = (v[0] * side, prim.targets[ti].0[i][1]);
                }
            }
        }
        best.1
    };
    assert!(corner_dy("mouthSmileLeft", 1.0) > 0.003);
    assert!(corner_dy("mouthSmileLeft", -1.0).abs() < 1e-6);
    assert!(corner_dy("mouthSmileRight", -1.0) > 0.003);
    assert!(corner_dy("mouthFrownLeft", 1.0) < -0.002);

    // The lower teeth follow the jaw.
    let teeth = g.prims("Teeth");
    let aa_i = target_index("viseme_aa");
    let lowest = teeth
        .iter()
        .flat_map(|p| p.targets[aa_i].0.iter().map(|d| d[1]))
        .fold(0.0f32, f32::min);
    assert!(
        lowest < -0.01,
        "{}: teeth/tongue drop with aa ({lowest})",
        p.id
    );
}

#[test]
fn shapes_are_plausible() {
    for (p, bytes) in generated() {
        check_shapes(p, bytes);
    }
}

#[test]
fn sil_is_neutral() {
    let (_, bytes) = &generated()[0];
    let g = Loaded::new(bytes);
    let sil = target_index("viseme_sil");
    for mesh in ["Face", "Teeth"] {
        for prim in g.prims(mesh) {
            assert!(prim.targets[sil].0.iter().all(|d| *d == [0.0; 3]));
            assert!(prim.targets[sil].1.iter().all(|d| *d == [0.0; 3]));
        }
    }
}
