//! The face plugins in a minimal app with manual time: no window, no GPU.

use std::time::Duration;

use avatarium_lipsync::{Cue, Timeline, Viseme};
use avatarium_render::avatar::{Avatar, AvatarClock, FaceRig, Mood};
use avatarium_render::face::{ClockPlugin, FaceApplyPlugin, LipSyncPlugin, PresencePlugin, Speech};
use avatarium_render::presence::{BLINK_GAP_MAX_MS, Emotion};
use avatarium_render::rig::{self, MouthMode};
use bevy::mesh::morph::MorphWeights;
use bevy::prelude::*;
use bevy::time::TimeUpdateStrategy;

const FRAME_MS: u64 = 10;

/// Targets of the test face, as a generated avatar names them.
const TARGETS: [&str; 6] = [
    "viseme_sil",
    "viseme_PP",
    "viseme_aa",
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "mouthSmileLeft",
];

fn target(name: &str) -> usize {
    TARGETS.iter().position(|t| *t == name).unwrap()
}

fn app() -> (App, Entity, Entity) {
    let mut app = App::new();
    app.add_plugins(MinimalPlugins)
        .insert_resource(TimeUpdateStrategy::ManualDuration(Duration::from_millis(
            FRAME_MS,
        )))
        .add_plugins((ClockPlugin, LipSyncPlugin, PresencePlugin, FaceApplyPlugin));
    let names: Vec<String> = TARGETS.iter().map(|s| s.to_string()).collect();
    let face = app
        .world_mut()
        .spawn(MorphWeights::new(vec![0.0; TARGETS.len()], None).unwrap())
        .id();
    let binding = rig::bind_by_name(&names);
    let avatar = app
        .world_mut()
        .spawn((
            Avatar::bundle("test", 11),
            FaceRig {
                mouth: rig::mouth_mode([&binding]),
                meshes: vec![(face, binding)],
                morph_targets: TARGETS.len(),
                head: None,
                eyes: Vec::new(),
                chest: None,
                bounds_min: Vec3::ZERO,
                bounds_max: Vec3::ONE,
                head_top: 1.0,
                head_height: 0.25,
                warnings: Vec::new(),
            },
        ))
        .id();
    // Bevy's first update has a zero delta; start the clock running.
    app.update();
    (app, avatar, face)
}

fn clock(app: &App, avatar: Entity) -> f64 {
    app.world().get::<AvatarClock>(avatar).unwrap().t_ms
}

fn weights(app: &App, face: Entity) -> Vec<f32> {
    app.world()
        .get::<MorphWeights>(face)
        .unwrap()
        .weights()
        .to_vec()
}

/// Runs updates until the avatar clock reaches `t_ms`.
fn run_to(app: &mut App, avatar: Entity, t_ms: f64) {
    while clock(app, avatar) + 1e-6 < t_ms {
        app.update();
    }
}

#[test]
fn mouth_follows_a_known_timeline_at_given_instants() {
    let (mut app, avatar, face) = app();
    let tl = Timeline {
        cues: vec![
            Cue {
                viseme: Viseme::Sil,
                start: 0,
                end: 100,
            },
            Cue {
                viseme: Viseme::PP,
                start: 100,
                end: 300,
            },
            Cue {
                viseme: Viseme::Aa,
                start: 300,
                end: 700,
            },
            Cue {
                viseme: Viseme::Sil,
                start: 700,
                end: 900,
            },
        ],
    };
    let start = clock(&app, avatar) + 50.0;
    app.world_mut()
        .get_mut::<Speech>(avatar)
        .unwrap()
        .play(tl, start);
    assert_eq!(
        app.world().get::<FaceRig>(avatar).unwrap().mouth,
        MouthMode::Visemes
    );

    // Middle of PP: lips closed, jaw shut.
    run_to(&mut app, avatar, start + 200.0);
    let w = weights(&app, face);
    assert!(w[target("viseme_PP")] > 0.8, "PP at 200 ms: {w:?}");
    assert!(w[target("viseme_aa")] < 0.1, "aa at 200 ms: {w:?}");

    // Middle of aa: open.
    run_to(&mut app, avatar, start + 500.0);
    let w = weights(&app, face);
    assert!(w[target("viseme_aa")] > 0.8, "aa at 500 ms: {w:?}");
    assert!(w[target("viseme_PP")] < 0.1, "PP at 500 ms: {w:?}");

    // Long after: back to rest.
    run_to(&mut app, avatar, start + 1_400.0);
    let w = weights(&app, face);
    assert!(
        w[target("viseme_sil")] > 0.9 && w[target("viseme_aa")] < 0.05,
        "{w:?}"
    );
}

#[test]
fn shapes_change_without_popping() {
    let (mut app, avatar, face) = app();
    let tl = Timeline {
        cues: vec![
            Cue {
                viseme: Viseme::PP,
                start: 0,
                end: 120,
            },
            Cue {
                viseme: Viseme::Aa,
                start: 120,
                end: 400,
            },
        ],
    };
    let start = clock(&app, avatar);
    app.world_mut()
        .get_mut::<Speech>(avatar)
        .unwrap()
        .play(tl, start);
    let mut prev = weights(&app, face)[target("viseme_aa")];
    while clock(&app, avatar) < start + 400.0 {
        app.update();
        let aa = weights(&app, face)[target("viseme_aa")];
        // 10 ms frames: no jump of more than half the range in one frame.
        assert!((aa - prev).abs() < 0.5, "pop: {prev} → {aa}");
        prev = aa;
    }
}

#[test]
fn a_blink_happens_within_a_bounded_interval() {
    let (mut app, avatar, face) = app();
    let mut closed_at = Vec::new();
    let mut was_closed = false;
    let end = clock(&app, avatar) + 3.0 * BLINK_GAP_MAX_MS;
    while clock(&app, avatar) < end {
        app.update();
        let w = weights(&app, face);
        let closed = w[target("eyeBlinkLeft")] > 0.9 && w[target("eyeBlinkRight")] > 0.9;
        if closed && !was_closed {
            closed_at.push(clock(&app, avatar));
        }
        was_closed = closed;
    }
    assert!(closed_at.len() >= 3, "blinks seen: {closed_at:?}");
    assert!(
        closed_at[0] < BLINK_GAP_MAX_MS,
        "first blink late: {closed_at:?}"
    );
    for w in closed_at.windows(2) {
        assert!(
            w[1] - w[0] <= BLINK_GAP_MAX_MS + 50.0,
            "gap too long: {closed_at:?}"
        );
    }
}

#[test]
fn an_emotion_change_eases_in() {
    let (mut app, avatar, face) = app();
    let now = clock(&app, avatar);
    app.world_mut()
        .get_mut::<Mood>(avatar)
        .unwrap()
        .set(Emotion::Happy, 1.0, now);
    app.update();
    let first = weights(&app, face)[target("mouthSmileLeft")];
    assert!(first < 0.1, "smile popped in: {first}");
    run_to(&mut app, avatar, now + 200.0);
    let mid = weights(&app, face)[target("mouthSmileLeft")];
    assert!(mid > first && mid < 0.7, "half-way smile: {mid}");
    run_to(&mut app, avatar, now + 800.0);
    let full = weights(&app, face)[target("mouthSmileLeft")];
    assert!(full > 0.7, "full smile: {full}");
}
