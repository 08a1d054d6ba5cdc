//! The per-frame face: the avatar clock, lip-sync from a viseme timeline,
//! presence (blinks, breathing, head and eye motion, emotions), and the
//! result written to the model's morph targets. The maths is in
//! `avatarium_lipsync::blend`, [`crate::presence`] and [`crate::rig`]; these
//! systems only move data between them and the ECS.

use avatarium_lipsync::{Timeline, blend};
use bevy::mesh::morph::MorphWeights;
use bevy::prelude::*;

use crate::avatar::{AvatarClock, Blinks, Face, FaceRig, Mood};
use crate::presence;
use crate::rig::{self, FaceState};

/// A viseme timeline playing against the avatar clock: `start_ms` is the
/// clock time at which the audio's first sample plays.
#[derive(Component, Debug, Clone, Default)]
pub struct Speech {
    pub timeline: Option<Timeline>,
    pub start_ms: f64,
}

impl Speech {
    pub fn play(&mut self, timeline: Timeline, start_ms: f64) {
        self.timeline = Some(timeline);
        self.start_ms = start_ms;
    }

    pub fn stop(&mut self) {
        self.timeline = None;
    }

    /// Whether the timeline is playing at clock time `t_ms`.
    pub fn is_speaking(&self, t_ms: f64) -> bool {
        self.timeline.as_ref().is_some_and(|tl| {
            let rel = t_ms - self.start_ms;
            rel >= 0.0 && rel <= f64::from(tl.cues.last().map_or(0, |c| c.end))
        })
    }
}

/// The order the face systems run in, each frame.
#[derive(SystemSet, Debug, Clone, PartialEq, Eq, Hash)]
pub enum FaceSystems {
    Clock,
    LipSync,
    Presence,
    Apply,
}

/// Advances avatar clocks from `Time`, except those driven from outside.
pub struct ClockPlugin;

impl Plugin for ClockPlugin {
    fn build(&self, app: &mut App) {
        app.configure_sets(
            Update,
            (
                FaceSystems::Clock,
                FaceSystems::LipSync,
                FaceSystems::Presence,
                FaceSystems::Apply,
            )
                .chain(),
        )
        .add_systems(Update, advance_clocks.in_set(FaceSystems::Clock));
    }
}

fn advance_clocks(time: Res<Time>, mut clocks: Query<&mut AvatarClock>) {
    let dt = time.delta_secs_f64() * 1000.0;
    for mut c in &mut clocks {
        if !c.external {
            c.t_ms += dt;
        }
    }
}

/// Mouth shapes from the speech timeline.
pub struct LipSyncPlugin;

impl Plugin for LipSyncPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, lip_sync.in_set(FaceSystems::LipSync));
    }
}

fn lip_sync(mut q: Query<(&AvatarClock, &Speech, &mut Face)>) {
    for (clock, speech, mut face) in &mut q {
        let rel = (clock.t_ms - speech.start_ms) as f32;
        face.visemes = match &speech.timeline {
            // Before the audio starts, and after it ends, the blend still
            // eases in and out of the first and last shapes.
            Some(tl) if !tl.cues.is_empty() => blend::weights_at(tl, rel),
            _ => FaceState::default().visemes,
        };
    }
}

/// Blinks, breathing, head and eye motion, emotions.
pub struct PresencePlugin;

impl Plugin for PresencePlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, presence_system.in_set(FaceSystems::Presence));
    }
}

#[allow(clippy::type_complexity)]
fn presence_system(
    mut q: Query<(
        &crate::avatar::Avatar,
        &AvatarClock,
        &Speech,
        &Mood,
        &mut Blinks,
        &mut Face,
        Option<&FaceRig>,
    )>,
    mut transforms: Query<&mut Transform>,
) {
    for (avatar, clock, speech, mood, mut blinks, mut face, rig) in &mut q {
        let t = clock.t_ms;
        face.arkit = [0.0; rig::ARKIT_COUNT];
        mood.apply(t, &mut face);
        let blink = blinks.0.amount(t);
        // A squint (happy) already narrows the lids; a blink closes the rest.
        for side in ["Left", "Right"] {
            let name = format!("eyeBlink{side}");
            let squint = face.get(&format!("eyeSquint{side}"));
            face.set(&name, (blink + squint * 0.3).min(1.0));
            if blink > 0.0 {
                // Wide eyes must not fight a blink.
                let wide = format!("eyeWide{side}");
                let w = face.get(&wide);
                face.set(&wide, w * (1.0 - blink));
            }
        }
        let Some(rig) = rig else { continue };
        let m = presence::motion(avatar.seed, t, speech.is_speaking(t));
        if let Some((e, rest)) = rig.head
            && let Ok(mut tf) = transforms.get_mut(e)
        {
            let rot = Quat::from_euler(EulerRot::XYZ, m.head[0], m.head[1], m.head[2]);
            tf.rotation = rest.rotation * rot;
            // Breathing lifts the head a little with the chest.
            tf.translation = rest.translation + Vec3::Y * (0.0015 * m.breath);
        }
        if let Some((e, rest)) = rig.chest
            && let Ok(mut tf) = transforms.get_mut(e)
        {
            tf.scale = rest.scale * Vec3::new(1.0 + 0.006 * m.breath, 1.0, 1.0 + 0.01 * m.breath);
        }
        // The head turns; the eyes counter-rotate so the gaze stays on the
        // camera, plus small saccades.
        for (e, rest) in &rig.eyes {
            if let Ok(mut tf) = transforms.get_mut(*e) {
                let rot = Quat::from_euler(
                    EulerRot::XYZ,
                    -m.head[0] + m.eyes[0],
                    -m.head[1] + m.eyes[1],
                    0.0,
                );
                tf.rotation = rest.rotation * rot;
            }
        }
    }
}

/// Writes the face state into the model's morph weights.
pub struct FaceApplyPlugin;

impl Plugin for FaceApplyPlugin {
    fn build(&self, app: &mut App) {
        app.add_systems(Update, apply_face.in_set(FaceSystems::Apply));
    }
}

fn apply_face(avatars: Query<(&Face, &FaceRig)>, mut weights: Query<&mut MorphWeights>) {
    let mut buf = Vec::new();
    for (face, rig) in &avatars {
        for (e, binding) in &rig.meshes {
            let Ok(mut w) = weights.get_mut(*e) else {
                continue;
            };
            rig::evaluate(binding, rig.mouth, face, &mut buf);
            let n = w.weights().len().min(buf.len());
            // Only take `&mut` when something changed, so Bevy does not
            // re-upload unchanged weights.
            if w.weights()[..n] != buf[..n] {
                w.weights_mut()[..n].copy_from_slice(&buf[..n]);
            }
        }
    }
}
