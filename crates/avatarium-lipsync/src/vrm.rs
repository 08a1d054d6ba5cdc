//! Visemes to VRM's five mouth expressions.
//!
//! VRM 1.0 (`VRMC_vrm` expressions preset) names them `aa ih ou ee oh`; VRM
//! 0.x blend shape presets are `A I U E O` (written lowercase, `a i u e o`,
//! as `presetName` in the glTF extension JSON). They are the Japanese
//! vowels あいうえお, so every Oculus viseme is expressed as a mix of them;
//! visemes with closed or nearly closed lips (PP, sil) map to nothing, which
//! leaves the mouth at its rest pose.

use crate::{Viseme, Weights};

/// The VRM 1.0 preset names, in the order [`from_visemes`] returns them.
pub const VRM_VOWELS: [&str; 5] = ["aa", "ih", "ou", "ee", "oh"];

/// Each viseme as weights of `[aa, ih, ou, ee, oh]`.
const TABLE: [[f32; 5]; 15] = [
    // sil: rest.
    [0.0, 0.0, 0.0, 0.0, 0.0],
    // PP: lips closed; no vowel shape is closed, so rest.
    [0.0, 0.0, 0.0, 0.0, 0.0],
    // FF: lower lip at the teeth, a little spread.
    [0.0, 0.2, 0.0, 0.0, 0.0],
    // TH: slightly open.
    [0.15, 0.0, 0.0, 0.2, 0.0],
    // DD: teeth almost together, lips relaxed.
    [0.1, 0.3, 0.0, 0.0, 0.0],
    // kk: jaw a little open.
    [0.25, 0.0, 0.0, 0.2, 0.0],
    // CH: lips protruded.
    [0.0, 0.2, 0.5, 0.0, 0.0],
    // SS: teeth together, lips spread.
    [0.0, 0.5, 0.0, 0.0, 0.0],
    // nn: slightly open.
    [0.1, 0.2, 0.0, 0.0, 0.0],
    // RR: lips rounded.
    [0.0, 0.0, 0.4, 0.0, 0.2],
    // aa
    [1.0, 0.0, 0.0, 0.0, 0.0],
    // E
    [0.0, 0.0, 0.0, 1.0, 0.0],
    // ih
    [0.0, 1.0, 0.0, 0.0, 0.0],
    // oh
    [0.0, 0.0, 0.0, 0.0, 1.0],
    // ou
    [0.0, 0.0, 1.0, 0.0, 0.0],
];

/// The VRM 1.0 mouth expressions `aa ih ou ee oh` for viseme weights: the
/// weighted sum of the table above, each clamped to [0, 1].
pub fn from_visemes(w: &Weights) -> [(&'static str, f32); 5] {
    let mut out = [0.0f32; 5];
    for v in Viseme::ALL {
        let k = w[v.index()].clamp(0.0, 1.0);
        for (o, t) in out.iter_mut().zip(TABLE[v.index()]) {
            *o += k * t;
        }
    }
    let mut res = [("", 0.0); 5];
    for (i, r) in res.iter_mut().enumerate() {
        *r = (VRM_VOWELS[i], out[i].clamp(0.0, 1.0));
    }
    res
}

/// The VRM 0.x blend shape preset for a VRM 1.0 mouth expression name
/// (`aa` → `A`, `ih` → `I`, `ou` → `U`, `ee` → `E`, `oh` → `O`); `None` for
/// other names.
pub fn vrm0_name(vrm1: &str) -> Option<&'static str> {
    Some(match vrm1 {
        "aa" => "A",
        "ih" => "I",
        "ou" => "U",
        "ee" => "E",
        "oh" => "O",
        _ => return None,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn only(v: Viseme) -> Weights {
        let mut w = [0.0; 15];
        w[v.index()] = 1.0;
        w
    }

    fn get(out: &[(&str, f32); 5], name: &str) -> f32 {
        out.iter().find(|(n, _)| *n == name).unwrap().1
    }

    #[test]
    fn vowels_map_to_their_expression() {
        for (v, name) in [
            (Viseme::Aa, "aa"),
            (Viseme::Ih, "ih"),
            (Viseme::Ou, "ou"),
            (Viseme::E, "ee"),
            (Viseme::Oh, "oh"),
        ] {
            let out = from_visemes(&only(v));
            assert_eq!(get(&out, name), 1.0, "{v:?}");
            assert!(
                out.iter()
                    .filter(|(n, _)| *n != name)
                    .all(|(_, x)| *x == 0.0)
            );
        }
        assert!(
            from_visemes(&only(Viseme::Sil))
                .iter()
                .all(|(_, x)| *x == 0.0)
        );
        assert!(
            from_visemes(&only(Viseme::PP))
                .iter()
                .all(|(_, x)| *x == 0.0)
        );
        assert!(get(&from_visemes(&only(Viseme::CH)), "ou") > 0.3);
        assert!(get(&from_visemes(&only(Viseme::SS)), "ih") > 0.3);
    }

    #[test]
    fn weights_stay_in_range_and_order() {
        let out = from_visemes(&[1.0; 15]);
        assert_eq!(out.map(|(n, _)| n), VRM_VOWELS);
        assert!(out.iter().all(|(_, x)| (0.0..=1.0).contains(x)));
        let mut w = [0.0; 15];
        w[Viseme::Aa.index()] = 0.5;
        w[Viseme::Oh.index()] = 0.25;
        let out = from_visemes(&w);
        assert_eq!(get(&out, "aa"), 0.5);
        assert_eq!(get(&out, "oh"), 0.25);
    }

    #[test]
    fn vrm0_names() {
        assert_eq!(
            VRM_VOWELS.map(|n| vrm0_name(n).unwrap()),
            ["A", "I", "U", "E", "O"]
        );
        assert_eq!(vrm0_name("blink"), None);
    }
}
