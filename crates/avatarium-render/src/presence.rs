//! What makes an idle avatar look alive, as pure functions of time: blinks at
//! natural random intervals, breathing, small head and eye motion, and
//! emotions that ease in. Everything is a function of the avatar's clock and
//! a seed, so two renders of the same instant are the same image.

use rand::rngs::StdRng;
use rand::{Rng, SeedableRng};
use serde::{Deserialize, Serialize};

use crate::rig::FaceState;

/// How long a blink takes, in ms: lids close fast and open slower, as
/// measured eyelid kinematics describe (closing ~70 ms, opening ~150 ms).
pub const BLINK_CLOSE_MS: f64 = 70.0;
pub const BLINK_HOLD_MS: f64 = 30.0;
pub const BLINK_OPEN_MS: f64 = 150.0;
pub const BLINK_MS: f64 = BLINK_CLOSE_MS + BLINK_HOLD_MS + BLINK_OPEN_MS;
/// Gaps between blinks: people at rest blink every 2–10 s; conversation
/// sits near the short end.
pub const BLINK_GAP_MIN_MS: f64 = 1_800.0;
pub const BLINK_GAP_MAX_MS: f64 = 5_500.0;

/// Blink onsets for one avatar, drawn once from its seed and extended as
/// its clock runs.
#[derive(Clone, Debug)]
pub struct BlinkSchedule {
    rng: StdRng,
    onsets: Vec<f64>,
}

impl BlinkSchedule {
    pub fn new(seed: u64) -> Self {
        let mut s = Self {
            rng: StdRng::seed_from_u64(seed),
            onsets: Vec::new(),
        };
        // The first blink comes soon, so a short clip still shows one.
        let first = s.rng.random_range(400.0..BLINK_GAP_MIN_MS);
        s.onsets.push(first);
        s
    }

    fn extend_to(&mut self, t_ms: f64) {
        while let Some(&last) = self.onsets.last() {
            if last > t_ms {
                break;
            }
            let gap = self.rng.random_range(BLINK_GAP_MIN_MS..BLINK_GAP_MAX_MS);
            // About one blink in eight is a double blink.
            let next = if self.rng.random_bool(0.125) {
                last + BLINK_MS + 60.0
            } else {
                last + gap
            };
            self.onsets.push(next);
        }
    }

    /// Blink onsets up to `t_ms`.
    pub fn onsets_until(&mut self, t_ms: f64) -> Vec<f64> {
        self.extend_to(t_ms);
        self.onsets.iter().copied().filter(|o| *o <= t_ms).collect()
    }

    /// How closed the lids are at `t_ms`: 0 open, 1 shut.
    pub fn amount(&mut self, t_ms: f64) -> f32 {
        self.extend_to(t_ms);
        // Onsets are sorted; only the latest one at or before t can matter.
        let idx = self.onsets.partition_point(|o| *o <= t_ms);
        if idx == 0 {
            return 0.0;
        }
        blink_shape(t_ms - self.onsets[idx - 1])
    }
}

/// Lid closure `dt` ms into a blink.
pub fn blink_shape(dt: f64) -> f32 {
    let v = if !(0.0..BLINK_MS).contains(&dt) {
        0.0
    } else if dt < BLINK_CLOSE_MS {
        smoothstep(dt / BLINK_CLOSE_MS)
    } else if dt < BLINK_CLOSE_MS + BLINK_HOLD_MS {
        1.0
    } else {
        1.0 - smoothstep((dt - BLINK_CLOSE_MS - BLINK_HOLD_MS) / BLINK_OPEN_MS)
    };
    v as f32
}

fn smoothstep(x: f64) -> f64 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// The emotions a conversation's `emotion` field selects.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Emotion {
    #[default]
    Neutral,
    Happy,
    Sad,
    Angry,
    Surprised,
    Thinking,
}

impl Emotion {
    pub const ALL: [Emotion; 6] = [
        Emotion::Neutral,
        Emotion::Happy,
        Emotion::Sad,
        Emotion::Angry,
        Emotion::Surprised,
        Emotion::Thinking,
    ];

    /// From the API's emotion labels, tolerating common synonyms.
    pub fn parse(s: &str) -> Option<Self> {
        Some(match s.trim().to_ascii_lowercase().as_str() {
            "neutral" | "calm" | "idle" => Self::Neutral,
            "happy" | "joy" | "excited" | "friendly" | "positive" => Self::Happy,
            "sad" | "sorry" | "empathetic" | "negative" => Self::Sad,
            "angry" | "frustrated" => Self::Angry,
            "surprised" | "surprise" | "amazed" => Self::Surprised,
            "thinking" | "curious" | "confused" | "thoughtful" => Self::Thinking,
            _ => return None,
        })
    }

    /// The ARKit channels that show this emotion at full strength.
    pub fn pose(self) -> &'static [(&'static str, f32)] {
        match self {
            Self::Neutral => &[],
            Self::Happy => &[
                ("mouthSmileLeft", 0.75),
                ("mouthSmileRight", 0.75),
                ("cheekSquintLeft", 0.4),
                ("cheekSquintRight", 0.4),
                ("eyeSquintLeft", 0.25),
                ("eyeSquintRight", 0.25),
                ("browInnerUp", 0.1),
            ],
            Self::Sad => &[
                ("mouthFrownLeft", 0.6),
                ("mouthFrownRight", 0.6),
                ("browInnerUp", 0.75),
                ("eyeSquintLeft", 0.15),
                ("eyeSquintRight", 0.15),
            ],
            Self::Angry => &[
                ("browDownLeft", 0.85),
                ("browDownRight", 0.85),
                ("noseSneerLeft", 0.4),
                ("noseSneerRight", 0.4),
                ("mouthPressLeft", 0.35),
                ("mouthPressRight", 0.35),
                ("mouthFrownLeft", 0.25),
                ("mouthFrownRight", 0.25),
            ],
            Self::Surprised => &[
                ("eyeWideLeft", 0.75),
                ("eyeWideRight", 0.75),
                ("browInnerUp", 0.7),
                ("browOuterUpLeft", 0.7),
                ("browOuterUpRight", 0.7),
                ("jawOpen", 0.15),
            ],
            Self::Thinking => &[
                ("browDownLeft", 0.35),
                ("browOuterUpRight", 0.45),
                ("mouthPressLeft", 0.25),
                ("mouthPressRight", 0.25),
                ("eyeLookUpLeft", 0.3),
                ("eyeLookUpRight", 0.3),
            ],
        }
    }
}

/// How long an emotion takes to ease in (and the previous one out).
pub const EMOTION_EASE_MS: f64 = 450.0;

/// Emotion weights over time: a change eases from whatever mix was showing
/// to the new emotion, so changing mid-transition never pops.
#[derive(Clone, Debug, PartialEq)]
pub struct EmotionMix {
    from: [f32; 6],
    to: Emotion,
    intensity: f32,
    changed_at: f64,
}

impl Default for EmotionMix {
    fn default() -> Self {
        let mut from = [0.0; 6];
        from[0] = 1.0;
        Self {
            from,
            to: Emotion::Neutral,
            intensity: 1.0,
            changed_at: f64::NEG_INFINITY,
        }
    }
}

impl EmotionMix {
    pub fn target(&self) -> Emotion {
        self.to
    }

    /// Starts easing towards `emotion` at `t_ms`.
    pub fn set(&mut self, emotion: Emotion, intensity: f32, t_ms: f64) {
        if emotion == self.to && (intensity - self.intensity).abs() < 1e-3 {
            return;
        }
        self.from = self.weights(t_ms);
        self.to = emotion;
        self.intensity = intensity.clamp(0.0, 1.0);
        self.changed_at = t_ms;
    }

    /// Weight of each emotion (in [`Emotion::ALL`] order) at `t_ms`.
    pub fn weights(&self, t_ms: f64) -> [f32; 6] {
        let k = smoothstep((t_ms - self.changed_at) / EMOTION_EASE_MS) as f32;
        let mut target = [0.0; 6];
        target[self.to as usize] = self.intensity;
        let mut out = [0.0; 6];
        for i in 0..6 {
            out[i] = self.from[i] + (target[i] - self.from[i]) * k;
        }
        out
    }

    /// Adds the emotion poses to a face state's ARKit channels.
    pub fn apply(&self, t_ms: f64, face: &mut FaceState) {
        for (e, w) in Emotion::ALL.iter().zip(self.weights(t_ms)) {
            if w <= 0.0 {
                continue;
            }
            for (name, v) in e.pose() {
                let cur = face.get(name);
                face.set(name, (cur + v * w).min(1.0));
            }
        }
    }
}

/// Small motion of the head and body at `t_ms`: sums of slow sines with
/// seed-dependent phases, so no two avatars sway in step.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct Motion {
    /// Head rotation (radians) about X (nod), Y (turn), Z (tilt).
    pub head: [f32; 3],
    /// Chest rise from breathing, 0..1.
    pub breath: f32,
    /// Eye rotation (radians) about X and Y: micro-saccades around the
    /// camera, which the gaze otherwise holds.
    pub eyes: [f32; 2],
}

fn phase(seed: u64, k: u64) -> f64 {
    let mut rng = StdRng::seed_from_u64(seed ^ k.wrapping_mul(0x9E37_79B9_7F4A_7C15));
    rng.random_range(0.0..std::f64::consts::TAU)
}

/// Breathing at about 15 breaths a minute; faster while speaking is not
/// modelled, speech already moves the face.
pub const BREATH_HZ: f64 = 0.25;

pub fn motion(seed: u64, t_ms: f64, speaking: bool) -> Motion {
    let t = t_ms / 1000.0;
    let s = |k: u64, hz: f64| (std::f64::consts::TAU * hz * t + phase(seed, k)).sin();
    // Speakers move their heads more than listeners.
    let amp = if speaking { 1.6 } else { 1.0 };
    let deg = std::f64::consts::PI / 180.0;
    let head = [
        (amp * deg * (1.2 * s(1, 0.11) + 0.5 * s(2, 0.27))) as f32,
        (amp * deg * (1.8 * s(3, 0.07) + 0.6 * s(4, 0.19))) as f32,
        (amp * deg * (0.8 * s(5, 0.09) + 0.3 * s(6, 0.23))) as f32,
    ];
    let breath = (0.5 + 0.5 * s(7, BREATH_HZ)) as f32;
    // Saccades: hold a small offset, jump every ~1.5 s.
    let slot = (t / 1.5).floor() as u64;
    let mut rng = StdRng::seed_from_u64(seed.wrapping_add(slot.wrapping_mul(7919)));
    let eyes = [
        (deg * rng.random_range(-0.8..0.8)) as f32,
        (deg * rng.random_range(-1.2..1.2)) as f32,
    ];
    Motion { head, breath, eyes }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blinks_come_at_natural_intervals_and_close_the_eyes() {
        let mut s = BlinkSchedule::new(7);
        let onsets = s.onsets_until(60_000.0);
        // 60 s at 1.8–5.5 s gaps (with some doubles): 10–40 blinks.
        assert!((10..=40).contains(&onsets.len()), "{} blinks", onsets.len());
        assert!(onsets[0] < BLINK_GAP_MIN_MS);
        for w in onsets.windows(2) {
            let gap = w[1] - w[0];
            assert!(gap > BLINK_MS, "blinks overlap: {gap}");
            assert!(gap <= BLINK_GAP_MAX_MS, "too long without a blink: {gap}");
        }
        let o = onsets[3];
        assert_eq!(s.amount(o + BLINK_CLOSE_MS + 10.0), 1.0);
        assert_eq!(s.amount(o - 1.0), 0.0);
        assert!(s.amount(o + BLINK_CLOSE_MS / 2.0) > 0.3);
        assert_eq!(s.amount(o + BLINK_MS + 1.0), 0.0);
    }

    #[test]
    fn the_same_seed_blinks_the_same_way() {
        let a = BlinkSchedule::new(42).onsets_until(30_000.0);
        let b = BlinkSchedule::new(42).onsets_until(30_000.0);
        let c = BlinkSchedule::new(43).onsets_until(30_000.0);
        assert_eq!(a, b);
        assert_ne!(a, c);
    }

    #[test]
    fn an_emotion_eases_in_without_popping() {
        let mut m = EmotionMix::default();
        m.set(Emotion::Happy, 1.0, 1_000.0);
        let happy = |m: &EmotionMix, t| m.weights(t)[Emotion::Happy as usize];
        assert_eq!(happy(&m, 1_000.0), 0.0);
        let mid = happy(&m, 1_000.0 + EMOTION_EASE_MS / 2.0);
        assert!((0.3..0.7).contains(&mid), "half-way: {mid}");
        assert_eq!(happy(&m, 1_000.0 + EMOTION_EASE_MS), 1.0);
        let mut prev = 0.0;
        for i in 0..=45 {
            let w = happy(&m, 1_000.0 + f64::from(i) * 10.0);
            assert!(w >= prev && w - prev < 0.06, "step at {i}: {prev} → {w}");
            prev = w;
        }
        // Changing mid-way starts from what is showing.
        m.set(Emotion::Sad, 1.0, 1_200.0);
        let w = m.weights(1_200.0);
        assert!(w[Emotion::Happy as usize] > 0.3 && w[Emotion::Sad as usize] == 0.0);
        let mut face = FaceState::default();
        m.apply(1_200.0 + EMOTION_EASE_MS, &mut face);
        assert!(face.get("mouthFrownLeft") > 0.5);
        assert_eq!(face.get("mouthSmileLeft"), 0.0);
    }

    #[test]
    fn emotion_labels_parse() {
        assert_eq!(Emotion::parse("Happy"), Some(Emotion::Happy));
        assert_eq!(Emotion::parse("curious"), Some(Emotion::Thinking));
        assert_eq!(Emotion::parse("bored?"), None);
    }

    #[test]
    fn motion_is_small_smooth_and_breathes() {
        let mut lo: f32 = 1.0;
        let mut hi: f32 = 0.0;
        let mut prev = motion(3, 0.0, false);
        for i in 1..2_000 {
            let m = motion(3, f64::from(i) * 10.0, false);
            for k in 0..3 {
                assert!(m.head[k].abs() < 3.0f32.to_radians());
                assert!((m.head[k] - prev.head[k]).abs() < 0.002, "jerk at {i}");
            }
            lo = lo.min(m.breath);
            hi = hi.max(m.breath);
            prev = m;
        }
        assert!(lo < 0.05 && hi > 0.95, "breath range {lo}..{hi}");
        assert_eq!(motion(3, 1234.0, true), motion(3, 1234.0, true));
    }
}
