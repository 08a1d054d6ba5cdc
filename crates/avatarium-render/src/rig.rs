//! The canonical face rig: whatever a model calls its morph targets (Ready
//! Player Me / Oculus `viseme_*`, the 52 ARKit names, VRM expressions), each
//! target is bound to channels of one [`FaceState`], so the lip-sync and
//! presence code never sees a model's naming. Pure: no Bevy types.

use avatarium_lipsync::arkit::ARKIT_BLENDSHAPES;
use avatarium_lipsync::{Viseme, Weights, arkit, vrm};

/// The number of ARKit channels in a [`FaceState`].
pub const ARKIT_COUNT: usize = ARKIT_BLENDSHAPES.len();

/// Index of an ARKit blendshape name in [`ARKIT_BLENDSHAPES`].
pub fn arkit_index(name: &str) -> Option<usize> {
    ARKIT_BLENDSHAPES.iter().position(|n| *n == name)
}

/// What the face should show at one instant, in model-independent terms:
/// mouth shapes as Oculus viseme weights, everything else (blinks, smiles,
/// brows, gaze) as ARKit channel weights.
#[derive(Clone, Debug, PartialEq)]
pub struct FaceState {
    pub visemes: Weights,
    pub arkit: [f32; ARKIT_COUNT],
}

impl Default for FaceState {
    fn default() -> Self {
        let mut visemes = [0.0; 15];
        visemes[Viseme::Sil.index()] = 1.0;
        Self {
            visemes,
            arkit: [0.0; ARKIT_COUNT],
        }
    }
}

impl FaceState {
    pub fn set(&mut self, arkit_name: &str, value: f32) {
        if let Some(i) = arkit_index(arkit_name) {
            self.arkit[i] = value;
        }
    }

    pub fn get(&self, arkit_name: &str) -> f32 {
        arkit_index(arkit_name).map_or(0.0, |i| self.arkit[i])
    }
}

/// VRM expression presets a model can bind (1.0 names; 0.x presets are
/// mapped onto them when the model is read).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum VrmExpression {
    Aa,
    Ih,
    Ou,
    Ee,
    Oh,
    Blink,
    BlinkLeft,
    BlinkRight,
    Happy,
    Angry,
    Sad,
    Relaxed,
    Surprised,
}

impl VrmExpression {
    /// From a VRM 1.0 preset name or a VRM 0.x `presetName` (any case).
    pub fn from_preset(name: &str) -> Option<Self> {
        Some(match name.to_ascii_lowercase().as_str() {
            "aa" | "a" => Self::Aa,
            "ih" | "i" => Self::Ih,
            "ou" | "u" => Self::Ou,
            "ee" | "e" => Self::Ee,
            "oh" | "o" => Self::Oh,
            "blink" => Self::Blink,
            "blinkleft" | "blink_l" => Self::BlinkLeft,
            "blinkright" | "blink_r" => Self::BlinkRight,
            "happy" | "joy" => Self::Happy,
            "angry" => Self::Angry,
            "sad" | "sorrow" => Self::Sad,
            "relaxed" | "fun" => Self::Relaxed,
            "surprised" => Self::Surprised,
            _ => return None,
        })
    }

    /// The expression's weight for a face state. Mouth vowels come from the
    /// visemes; the rest are read back from the ARKit channels the presence
    /// code drives, so one emotion model serves every kind of rig.
    fn value(self, face: &FaceState, vowels: &[(&'static str, f32); 5]) -> f32 {
        let avg = |a: &str, b: &str| 0.5 * (face.get(a) + face.get(b));
        match self {
            Self::Aa => vowels[0].1,
            Self::Ih => vowels[1].1,
            Self::Ou => vowels[2].1,
            Self::Ee => vowels[3].1,
            Self::Oh => vowels[4].1,
            // Separate lids where the model has them; `Blink` alone would
            // double-close a model that binds all three.
            Self::Blink => face.get("eyeBlinkLeft").min(face.get("eyeBlinkRight")),
            Self::BlinkLeft => face.get("eyeBlinkLeft") - Self::Blink.value(face, vowels),
            Self::BlinkRight => face.get("eyeBlinkRight") - Self::Blink.value(face, vowels),
            Self::Happy => avg("mouthSmileLeft", "mouthSmileRight"),
            Self::Sad => avg("mouthFrownLeft", "mouthFrownRight"),
            Self::Angry => avg("browDownLeft", "browDownRight"),
            Self::Surprised => avg("eyeWideLeft", "eyeWideRight"),
            Self::Relaxed => 0.0,
        }
    }
}

/// What drives one morph target.
#[derive(Clone, Copy, Debug, PartialEq)]
pub enum Source {
    Viseme(Viseme),
    /// An ARKit channel, by index.
    Arkit(usize),
    Vrm(VrmExpression),
}

/// How the mouth of a model is driven, decided from the targets it has.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum MouthMode {
    /// Oculus / Ready Player Me `viseme_*` targets.
    Visemes,
    /// ARKit mouth shapes (jawOpen, mouthFunnel, …) mixed from the visemes.
    Arkit,
    /// VRM's five vowels.
    Vrm,
    /// Nothing to move: the model still renders, and says so.
    None,
}

/// The bindings of one mesh: for each of its morph targets, the sources that
/// drive it and their scales (VRM binds can scale a target).
#[derive(Clone, Debug, Default, PartialEq)]
pub struct MeshBinding {
    pub targets: Vec<Vec<(Source, f32)>>,
}

impl MeshBinding {
    pub fn is_bound(&self) -> bool {
        self.targets.iter().any(|t| !t.is_empty())
    }
}

/// Normalises a target name for matching: ARKit names come as
/// `eyeBlinkLeft`, `EyeBlinkLeft`, `blendShape1.eyeBlinkLeft`, `eye_blink_L`…
fn normalise(name: &str) -> String {
    let base = name.rsplit('.').next().unwrap_or(name);
    let mut s: String = base
        .chars()
        .filter(|c| c.is_ascii_alphanumeric())
        .collect::<String>()
        .to_ascii_lowercase();
    // `_L` / `_R` suffixes (Blender, VRoid) → Left / Right.
    if s.ends_with('l') && base.ends_with("_L") {
        s.pop();
        s.push_str("left");
    } else if s.ends_with('r') && base.ends_with("_R") {
        s.pop();
        s.push_str("right");
    }
    s
}

/// The source a morph target name stands for, if we know it.
pub fn source_for_name(name: &str) -> Option<Source> {
    let n = normalise(name);
    for v in Viseme::ALL {
        if normalise(v.morph_target()) == n {
            return Some(Source::Viseme(v));
        }
    }
    // A few rigs spell the Oculus set `viseme_ih`, `viseme_oh`, `viseme_ou`.
    match n.as_str() {
        "visemeih" => return Some(Source::Viseme(Viseme::Ih)),
        "visemeoh" => return Some(Source::Viseme(Viseme::Oh)),
        "visemeou" => return Some(Source::Viseme(Viseme::Ou)),
        _ => {}
    }
    if let Some(i) = ARKIT_BLENDSHAPES
        .iter()
        .position(|a| a.to_ascii_lowercase() == n)
    {
        return Some(Source::Arkit(i));
    }
    // VRM models without the extension still often name targets after it.
    let vrm = match n.as_str() {
        "vrca" | "fclmtha" | "mtha" => Some(VrmExpression::Aa),
        "vrci" | "fclmthi" | "mthi" => Some(VrmExpression::Ih),
        "vrcu" | "fclmthu" | "mthu" => Some(VrmExpression::Ou),
        "vrce" | "fclmthe" | "mthe" => Some(VrmExpression::Ee),
        "vrco" | "fclmtho" | "mtho" => Some(VrmExpression::Oh),
        "blink" | "fcleyeclose" => Some(VrmExpression::Blink),
        _ => None,
    };
    vrm.map(Source::Vrm)
}

/// Binds a mesh's morph targets by name.
pub fn bind_by_name(target_names: &[String]) -> MeshBinding {
    MeshBinding {
        targets: target_names
            .iter()
            .map(|n| {
                source_for_name(n)
                    .map(|s| vec![(s, 1.0)])
                    .unwrap_or_default()
            })
            .collect(),
    }
}

/// Decides how the mouth is driven from all the model's bindings.
pub fn mouth_mode<'a>(bindings: impl IntoIterator<Item = &'a MeshBinding>) -> MouthMode {
    let (mut visemes, mut arkit_mouth, mut vrm) = (0usize, 0usize, 0usize);
    let mouth_arkit = ["jawOpen", "mouthFunnel", "mouthPucker", "mouthClose"];
    for b in bindings {
        for srcs in &b.targets {
            for (s, _) in srcs {
                match s {
                    Source::Viseme(v) if *v != Viseme::Sil => visemes += 1,
                    Source::Arkit(i) if mouth_arkit.contains(&ARKIT_BLENDSHAPES[*i]) => {
                        arkit_mouth += 1
                    }
                    Source::Vrm(
                        VrmExpression::Aa
                        | VrmExpression::Ih
                        | VrmExpression::Ou
                        | VrmExpression::Ee
                        | VrmExpression::Oh,
                    ) => vrm += 1,
                    _ => {}
                }
            }
        }
    }
    // Visemes win when a model has most of them: they are the most precise.
    if visemes >= 8 {
        MouthMode::Visemes
    } else if vrm >= 3 {
        MouthMode::Vrm
    } else if arkit_mouth >= 1 {
        MouthMode::Arkit
    } else if visemes > 0 {
        MouthMode::Visemes
    } else {
        MouthMode::None
    }
}

/// The morph weights of one mesh for a face state.
///
/// In [`MouthMode::Visemes`] the ARKit mouth targets a model may also have
/// (jawOpen, …) are left to the emotions, so the jaw is not opened twice; in
/// [`MouthMode::Arkit`] the visemes are mixed into those targets instead.
pub fn evaluate(binding: &MeshBinding, mode: MouthMode, face: &FaceState, out: &mut Vec<f32>) {
    out.clear();
    let mut arkit = face.arkit;
    if mode == MouthMode::Arkit {
        for (name, v) in arkit::from_visemes(&face.visemes) {
            if let Some(i) = arkit_index(name) {
                arkit[i] = (arkit[i] + v).min(1.0);
            }
        }
    }
    let vowels = vrm::from_visemes(&face.visemes);
    for srcs in &binding.targets {
        let mut w = 0.0;
        for (s, scale) in srcs {
            let v = match s {
                Source::Viseme(v) => face.visemes[v.index()],
                Source::Arkit(i) => arkit[*i],
                Source::Vrm(e) => {
                    let is_vowel = matches!(
                        e,
                        VrmExpression::Aa
                            | VrmExpression::Ih
                            | VrmExpression::Ou
                            | VrmExpression::Ee
                            | VrmExpression::Oh
                    );
                    if is_vowel && mode != MouthMode::Vrm {
                        0.0
                    } else {
                        e.value(face, &vowels)
                    }
                }
            };
            w += v * scale;
        }
        out.push(w.clamp(0.0, 1.0));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn names_from_every_convention_bind() {
        assert_eq!(
            source_for_name("viseme_aa"),
            Some(Source::Viseme(Viseme::Aa))
        );
        assert_eq!(
            source_for_name("viseme_U"),
            Some(Source::Viseme(Viseme::Ou))
        );
        assert_eq!(
            source_for_name("EyeBlinkLeft"),
            Some(Source::Arkit(arkit_index("eyeBlinkLeft").unwrap()))
        );
        assert_eq!(
            source_for_name("blendShape1.jawOpen"),
            Some(Source::Arkit(arkit_index("jawOpen").unwrap()))
        );
        assert_eq!(
            source_for_name("eyeBlink_L"),
            Some(Source::Arkit(arkit_index("eyeBlinkLeft").unwrap()))
        );
        assert_eq!(
            source_for_name("Fcl_MTH_A"),
            Some(Source::Vrm(VrmExpression::Aa))
        );
        assert_eq!(source_for_name("Body_Fat"), None);
    }

    #[test]
    fn mouth_mode_prefers_visemes_then_vrm_then_arkit() {
        let oculus: Vec<String> = Viseme::ALL
            .iter()
            .map(|v| v.morph_target().to_string())
            .chain(["jawOpen".to_string()])
            .collect();
        assert_eq!(mouth_mode([&bind_by_name(&oculus)]), MouthMode::Visemes);
        let arkit = bind_by_name(&names(&["jawOpen", "mouthFunnel", "eyeBlinkLeft"]));
        assert_eq!(mouth_mode([&arkit]), MouthMode::Arkit);
        let vrm = bind_by_name(&names(&[
            "Fcl_MTH_A",
            "Fcl_MTH_I",
            "Fcl_MTH_U",
            "Fcl_MTH_E",
        ]));
        assert_eq!(mouth_mode([&vrm]), MouthMode::Vrm);
        let none = bind_by_name(&names(&["eyeBlinkLeft", "Body_Fat"]));
        assert_eq!(mouth_mode([&none]), MouthMode::None);
    }

    #[test]
    fn visemes_drive_their_targets_and_leave_the_jaw_alone() {
        let b = bind_by_name(&names(&[
            "viseme_sil",
            "viseme_aa",
            "jawOpen",
            "eyeBlinkLeft",
        ]));
        let mut face = FaceState {
            visemes: [0.0; 15],
            ..Default::default()
        };
        face.visemes[Viseme::Aa.index()] = 0.8;
        face.set("eyeBlinkLeft", 1.0);
        let mut out = Vec::new();
        evaluate(&b, MouthMode::Visemes, &face, &mut out);
        assert_eq!(out, vec![0.0, 0.8, 0.0, 1.0]);
    }

    #[test]
    fn arkit_rigs_open_the_jaw_for_aa() {
        let b = bind_by_name(&names(&["jawOpen", "mouthPucker"]));
        let mut face = FaceState {
            visemes: [0.0; 15],
            ..Default::default()
        };
        face.visemes[Viseme::Aa.index()] = 1.0;
        let mut out = Vec::new();
        evaluate(&b, MouthMode::Arkit, &face, &mut out);
        assert!(out[0] > 0.4, "jawOpen for aa: {out:?}");
        face.visemes = [0.0; 15];
        face.visemes[Viseme::Ou.index()] = 1.0;
        evaluate(&b, MouthMode::Arkit, &face, &mut out);
        assert!(out[1] > 0.5, "mouthPucker for ou: {out:?}");
    }

    #[test]
    fn vrm_vowels_and_blinks() {
        let b = MeshBinding {
            targets: vec![
                vec![(Source::Vrm(VrmExpression::Aa), 1.0)],
                vec![(Source::Vrm(VrmExpression::Blink), 1.0)],
                vec![(Source::Vrm(VrmExpression::BlinkLeft), 1.0)],
            ],
        };
        let mut face = FaceState {
            visemes: [0.0; 15],
            ..Default::default()
        };
        face.visemes[Viseme::Aa.index()] = 1.0;
        face.set("eyeBlinkLeft", 1.0);
        face.set("eyeBlinkRight", 1.0);
        let mut out = Vec::new();
        evaluate(&b, MouthMode::Vrm, &face, &mut out);
        // Both lids shut: `Blink` carries it and `BlinkLeft` adds nothing.
        assert_eq!(out, vec![1.0, 1.0, 0.0]);
        face.set("eyeBlinkRight", 0.0);
        evaluate(&b, MouthMode::Vrm, &face, &mut out);
        assert_eq!(out, vec![1.0, 0.0, 1.0]);
    }
}
