//! The shipped avatars, read by the `gltf` crate (an independent reader with
//! its own validation), not by Bevy: every morph target named, the full
//! Oculus viseme set and the face shapes present, a PNG of each beside it.

use std::collections::HashSet;
use std::path::PathBuf;

use avatarium_lipsync::Viseme;

const FACE: [&str; 6] = [
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "browInnerUp",
    "jawOpen",
];

#[test]
fn shipped_avatars_validate_with_every_morph_target_named() {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../assets/avatars");
    let mut seen = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let path = entry.unwrap().path();
        if path.extension().and_then(|e| e.to_str()) != Some("glb") {
            continue;
        }
        seen += 1;
        let name = path.display().to_string();
        let gltf = gltf::Gltf::from_slice(&std::fs::read(&path).unwrap())
            .unwrap_or_else(|e| panic!("{name}: {e}"));
        let mut all = HashSet::new();
        for mesh in gltf.meshes() {
            let targets = mesh
                .primitives()
                .map(|p| p.morph_targets().len())
                .max()
                .unwrap_or(0);
            if targets == 0 {
                continue;
            }
            let extras = mesh
                .extras()
                .as_ref()
                .unwrap_or_else(|| panic!("{name}: mesh without extras"));
            let v: serde_json::Value = serde_json::from_str(extras.get()).unwrap();
            let names: Vec<&str> = v["targetNames"]
                .as_array()
                .unwrap_or_else(|| panic!("{name}: no targetNames"))
                .iter()
                .map(|n| n.as_str().unwrap())
                .collect();
            assert_eq!(
                names.len(),
                targets,
                "{name}: {} names for {targets} targets",
                names.len()
            );
            assert!(
                names.iter().all(|n| !n.is_empty()),
                "{name}: an unnamed target"
            );
            let unique: HashSet<_> = names.iter().collect();
            assert_eq!(unique.len(), names.len(), "{name}: duplicate target names");
            for p in mesh.primitives() {
                for t in p.morph_targets() {
                    // Morphed normals keep the shading right as the face moves.
                    assert!(t.normals().is_some(), "{name}: a target without normals");
                }
            }
            all.extend(names.into_iter().map(String::from));
        }
        for v in Viseme::ALL {
            assert!(
                all.contains(v.morph_target()),
                "{name}: no {}",
                v.morph_target()
            );
        }
        for f in FACE {
            assert!(all.contains(f), "{name}: no {f}");
        }
        let png = path.with_extension("png");
        let img = image::open(&png).unwrap_or_else(|e| panic!("{}: {e}", png.display()));
        assert!(
            img.width() >= 256 && img.height() >= 256,
            "{}: too small",
            png.display()
        );
    }
    assert!(seen >= 6, "only {seen} avatars");
}
