//! Camera and lighting: every stage frames its avatar's head and shoulders
//! from the model's own bounds, so any model looks right without tuning.

use bevy::camera::Projection;
use bevy::light::GlobalAmbientLight;
use bevy::prelude::*;

use crate::avatar::FaceRig;

/// A camera that shows one avatar.
#[derive(Component, Debug, Clone, Copy)]
pub struct Stage {
    pub avatar: Entity,
}

/// Set on a stage camera once it has been framed for its avatar's rig.
#[derive(Component)]
pub struct Framed;

/// The vertical field of view of stage cameras: a portrait lens, which
/// flatters faces more than a wide one.
pub const STAGE_FOV_DEG: f32 = 24.0;

/// The background behind avatars.
pub const BACKDROP: Color = Color::srgb(0.16, 0.17, 0.21);

pub struct StagePlugin;

impl Plugin for StagePlugin {
    fn build(&self, app: &mut App) {
        app.insert_resource(ClearColor(BACKDROP))
            .insert_resource(GlobalAmbientLight {
                color: Color::srgb(0.85, 0.88, 1.0),
                brightness: 350.0,
                ..default()
            })
            .add_systems(Startup, spawn_lights)
            .add_systems(
                PostUpdate,
                frame_stages.before(bevy::transform::TransformSystems::Propagate),
            );
    }
}

/// A three-point light: a warm key from above left, a cool fill from the
/// right and a rim from behind. No shadows: they cost the software renderer
/// most of its time and a head-and-shoulders shot barely shows them.
fn spawn_lights(mut commands: Commands) {
    let light = |lux: f32, color: Color, from: Vec3| {
        (
            DirectionalLight {
                illuminance: lux,
                color,
                shadow_maps_enabled: false,
                ..default()
            },
            Transform::from_translation(from).looking_at(Vec3::ZERO, Vec3::Y),
        )
    };
    commands.spawn((
        Name::new("key light"),
        light(
            7_000.0,
            Color::srgb(1.0, 0.95, 0.88),
            Vec3::new(-1.2, 1.6, 2.0),
        ),
    ));
    commands.spawn((
        Name::new("fill light"),
        light(
            2_600.0,
            Color::srgb(0.85, 0.9, 1.0),
            Vec3::new(1.8, 0.4, 1.6),
        ),
    ));
    commands.spawn((
        Name::new("rim light"),
        light(
            3_500.0,
            Color::srgb(0.9, 0.95, 1.0),
            Vec3::new(0.4, 1.4, -2.0),
        ),
    ));
}

/// Where a camera goes to frame a rig's head and shoulders, in the avatar's
/// local space: returns (eye, target).
pub fn framing(rig: &FaceRig, fov_y: f32, aspect: f32) -> (Vec3, Vec3) {
    let h = rig.head_height.max(0.05);
    let top = rig.head_top + 0.18 * h;
    let bottom = (rig.head_top - 2.5 * h).max(rig.bounds_min.y);
    let span = (top - bottom).max(0.1);
    let center = Vec3::new(
        0.5 * (rig.bounds_min.x + rig.bounds_max.x),
        0.5 * (top + bottom),
        0.5 * (rig.bounds_min.z + rig.bounds_max.z),
    );
    let half_tan = (0.5 * fov_y).tan();
    let dist_v = 0.5 * span / half_tan;
    // Shoulders are about 3.2 head heights wide: keep them in a narrow frame.
    let width = (3.4 * h).min(rig.bounds_max.x - rig.bounds_min.x);
    let dist_h = 0.5 * width / (half_tan * aspect.max(0.1));
    let front = rig.bounds_max.z - center.z;
    let dist = dist_v.max(dist_h) + front;
    // A slightly raised camera, looking a little down, as a webcam would.
    let eye = center + Vec3::new(0.0, 0.06 * span, dist);
    (eye, center)
}

fn frame_stages(
    mut commands: Commands,
    mut cameras: Query<(Entity, &Stage, &Camera, &mut Transform, &mut Projection), Without<Framed>>,
    avatars: Query<(&FaceRig, &GlobalTransform)>,
) {
    for (cam, stage, camera, mut tf, mut projection) in &mut cameras {
        let Ok((rig, root)) = avatars.get(stage.avatar) else {
            continue;
        };
        let aspect = camera
            .logical_viewport_size()
            .map(|s| s.x / s.y.max(1.0))
            .unwrap_or(1.0);
        let fov = STAGE_FOV_DEG.to_radians();
        if let Projection::Perspective(p) = projection.as_mut() {
            p.fov = fov;
            p.near = 0.02;
        }
        let (eye, target) = framing(rig, fov, aspect);
        let eye = root.transform_point(eye);
        let target = root.transform_point(target);
        *tf = Transform::from_translation(eye).looking_at(target, Vec3::Y);
        commands.entity(cam).insert(Framed);
    }
}
