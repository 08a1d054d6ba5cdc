//! Visemes to Apple ARKit blendshapes, for avatars rigged with the 52 ARKit
//! shapes (Ready Player Me "ARKit" morphs, most VRoid/Unity face rigs, Live
//! Link Face).

use crate::{Viseme, Weights};

/// The 52 ARKit blendshape locations (`ARFaceAnchor.BlendShapeLocation`
/// raw values), in Apple's documentation order.
pub const ARKIT_BLENDSHAPES: [&str; 52] = [
    "eyeBlinkLeft",
    "eyeLookDownLeft",
    "eyeLookInLeft",
    "eyeLookOutLeft",
    "eyeLookUpLeft",
    "eyeSquintLeft",
    "eyeWideLeft",
    "eyeBlinkRight",
    "eyeLookDownRight",
    "eyeLookInRight",
    "eyeLookOutRight",
    "eyeLookUpRight",
    "eyeSquintRight",
    "eyeWideRight",
    "jawForward",
    "jawLeft",
    "jawRight",
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
    "mouthLeft",
    "mouthRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "mouthDimpleLeft",
    "mouthDimpleRight",
    "mouthStretchLeft",
    "mouthStretchRight",
    "mouthRollLower",
    "mouthRollUpper",
    "mouthShrugLower",
    "mouthShrugUpper",
    "mouthPressLeft",
    "mouthPressRight",
    "mouthLowerDownLeft",
    "mouthLowerDownRight",
    "mouthUpperUpLeft",
    "mouthUpperUpRight",
    "browDownLeft",
    "browDownRight",
    "browInnerUp",
    "browOuterUpLeft",
    "browOuterUpRight",
    "cheekPuff",
    "cheekSquintLeft",
    "cheekSquintRight",
    "noseSneerLeft",
    "noseSneerRight",
    "tongueOut",
];

/// Each viseme as a pose of ARKit mouth shapes, after Meta's reference
/// images (see `phonemes`): how far the jaw drops, whether the lips close
/// (PP: pressed and slightly rolled in), tuck the lower lip under the teeth
/// (FF), show the tongue (TH), spread (SS, ih, E) or round (ou tight, oh
/// open, CH and RR protruded). Left/right shapes are symmetric.
/// `mouthClose` is paired with `jawOpen`, as ARKit defines it (lips together
/// while the jaw is open).
pub const VISEME_POSES: [(Viseme, &[(&str, f32)]); 15] = [
    (Viseme::Sil, &[]),
    (
        Viseme::PP,
        &[
            ("jawOpen", 0.08),
            ("mouthClose", 0.08),
            ("mouthPressLeft", 0.55),
            ("mouthPressRight", 0.55),
            ("mouthRollLower", 0.25),
            ("mouthRollUpper", 0.2),
        ],
    ),
    (
        Viseme::FF,
        &[
            ("jawOpen", 0.1),
            ("mouthRollLower", 0.65),
            ("mouthUpperUpLeft", 0.25),
            ("mouthUpperUpRight", 0.25),
            ("mouthShrugLower", 0.15),
        ],
    ),
    (
        Viseme::TH,
        &[
            ("jawOpen", 0.2),
            ("tongueOut", 0.5),
            ("mouthLowerDownLeft", 0.15),
            ("mouthLowerDownRight", 0.15),
            ("mouthUpperUpLeft", 0.1),
            ("mouthUpperUpRight", 0.1),
        ],
    ),
    (
        Viseme::DD,
        &[
            ("jawOpen", 0.2),
            ("mouthStretchLeft", 0.2),
            ("mouthStretchRight", 0.2),
            ("mouthUpperUpLeft", 0.1),
            ("mouthUpperUpRight", 0.1),
        ],
    ),
    (
        Viseme::Kk,
        &[
            ("jawOpen", 0.3),
            ("mouthStretchLeft", 0.2),
            ("mouthStretchRight", 0.2),
        ],
    ),
    (
        Viseme::CH,
        &[
            ("jawOpen", 0.15),
            ("mouthFunnel", 0.5),
            ("mouthPucker", 0.25),
            ("mouthUpperUpLeft", 0.2),
            ("mouthUpperUpRight", 0.2),
            ("mouthLowerDownLeft", 0.2),
            ("mouthLowerDownRight", 0.2),
        ],
    ),
    (
        Viseme::SS,
        &[
            ("jawOpen", 0.08),
            ("mouthStretchLeft", 0.4),
            ("mouthStretchRight", 0.4),
            ("mouthSmileLeft", 0.2),
            ("mouthSmileRight", 0.2),
            ("mouthLowerDownLeft", 0.15),
            ("mouthLowerDownRight", 0.15),
        ],
    ),
    (
        Viseme::Nn,
        &[
            ("jawOpen", 0.2),
            ("mouthStretchLeft", 0.1),
            ("mouthStretchRight", 0.1),
        ],
    ),
    (
        Viseme::RR,
        &[
            ("jawOpen", 0.2),
            ("mouthFunnel", 0.35),
            ("mouthPucker", 0.3),
        ],
    ),
    (
        Viseme::Aa,
        &[
            ("jawOpen", 0.7),
            ("mouthLowerDownLeft", 0.3),
            ("mouthLowerDownRight", 0.3),
            ("mouthStretchLeft", 0.1),
            ("mouthStretchRight", 0.1),
        ],
    ),
    (
        Viseme::E,
        &[
            ("jawOpen", 0.4),
            ("mouthStretchLeft", 0.35),
            ("mouthStretchRight", 0.35),
            ("mouthSmileLeft", 0.15),
            ("mouthSmileRight", 0.15),
            ("mouthLowerDownLeft", 0.2),
            ("mouthLowerDownRight", 0.2),
        ],
    ),
    (
        Viseme::Ih,
        &[
            ("jawOpen", 0.2),
            ("mouthStretchLeft", 0.3),
            ("mouthStretchRight", 0.3),
            ("mouthSmileLeft", 0.35),
            ("mouthSmileRight", 0.35),
        ],
    ),
    (
        Viseme::Oh,
        &[
            ("jawOpen", 0.45),
            ("mouthFunnel", 0.6),
            ("mouthPucker", 0.2),
        ],
    ),
    (
        Viseme::Ou,
        &[
            ("jawOpen", 0.15),
            ("mouthPucker", 0.8),
            ("mouthFunnel", 0.4),
        ],
    ),
];

/// The ARKit weights for viseme weights: the weighted sum of the viseme
/// poses in [`VISEME_POSES`], each clamped to [0, 1]. Only shapes with a
/// non-zero weight are returned, in [`ARKIT_BLENDSHAPES`] order.
pub fn from_visemes(w: &Weights) -> Vec<(&'static str, f32)> {
    let mut out = [0.0f32; 52];
    for (viseme, pose) in VISEME_POSES.iter() {
        let k = w[viseme.index()].clamp(0.0, 1.0);
        if k == 0.0 {
            continue;
        }
        for (name, value) in pose.iter() {
            if let Some(i) = ARKIT_BLENDSHAPES.iter().position(|n| n == name) {
                out[i] += k * value;
            }
        }
    }
    ARKIT_BLENDSHAPES
        .iter()
        .zip(out)
        .map(|(n, v)| (*n, v.clamp(0.0, 1.0)))
        .filter(|(_, v)| *v > 1e-6)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(v: Viseme) -> Weights {
        let mut w = [0.0; 15];
        w[v.index()] = 1.0;
        w
    }

    fn get(out: &[(&str, f32)], name: &str) -> f32 {
        out.iter()
            .find(|(n, _)| *n == name)
            .map_or(0.0, |(_, v)| *v)
    }

    #[test]
    fn names_are_the_52_arkit_shapes() {
        let mut names = ARKIT_BLENDSHAPES.to_vec();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), 52);
        for (v, pose) in VISEME_POSES.iter() {
            assert_eq!(VISEME_POSES[v.index()].0, *v);
            for (name, value) in pose.iter() {
                assert!(ARKIT_BLENDSHAPES.contains(name), "{name}");
                assert!((0.0..=1.0).contains(value));
            }
        }
    }

    #[test]
    fn visemes_map_to_their_shapes() {
        let aa = from_visemes(&only(Viseme::Aa));
        assert!(get(&aa, "jawOpen") >= 0.6);
        let pp = from_visemes(&only(Viseme::PP));
        assert!(get(&pp, "mouthPressLeft") >= 0.5 && get(&pp, "mouthPressRight") >= 0.5);
        assert!(get(&pp, "mouthClose") > 0.0);
        assert!(get(&pp, "jawOpen") < 0.15);
        let ou = from_visemes(&only(Viseme::Ou));
        assert!(get(&ou, "mouthPucker") >= 0.7);
        assert!(get(&ou, "mouthFunnel") > 0.0);
        let oh = from_visemes(&only(Viseme::Oh));
        assert!(get(&oh, "mouthFunnel") >= 0.5);
        let th = from_visemes(&only(Viseme::TH));
        assert!(get(&th, "tongueOut") > 0.3);
        let ff = from_visemes(&only(Viseme::FF));
        assert!(get(&ff, "mouthRollLower") > 0.5);
        let ih = from_visemes(&only(Viseme::Ih));
        assert!(get(&ih, "mouthSmileLeft") > 0.2);
        assert!(from_visemes(&only(Viseme::Sil)).is_empty());
        assert!(from_visemes(&[0.0; 15]).is_empty());
    }

    #[test]
    fn blends_are_weighted_and_clamped() {
        let mut w = [0.0; 15];
        w[Viseme::Aa.index()] = 0.5;
        w[Viseme::Oh.index()] = 0.5;
        let out = from_visemes(&w);
        assert!((get(&out, "jawOpen") - (0.35 + 0.225)).abs() < 1e-6);
        assert!(out.iter().all(|(_, v)| *v > 0.0 && *v <= 1.0));
        // Out-of-range input stays in range.
        let out = from_visemes(&[5.0; 15]);
        assert!(out.iter().all(|(_, v)| *v <= 1.0));
        // Output follows the canonical order.
        let idx: Vec<usize> = out
            .iter()
            .map(|(n, _)| ARKIT_BLENDSHAPES.iter().position(|m| m == n).unwrap())
            .collect();
        assert!(idx.windows(2).all(|p| p[0] < p[1]));
    }
}
