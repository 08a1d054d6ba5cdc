//! Avatar loading: GLB/glTF and VRM models from bytes, their face meshes and
//! morph targets found and bound to the canonical rig once the scene exists.

use std::path::Path;
use std::sync::Arc;

use bevy::asset::io::AssetSourceBuilder;
use bevy::asset::io::memory::{Dir, MemoryAssetReader};
use bevy::camera::primitives::Aabb;
use bevy::camera::visibility::VisibilitySystems;
use bevy::gltf::{GltfAssetLabel, GltfMeshName};
use bevy::mesh::morph::MorphWeights;
use bevy::prelude::*;
use bevy::transform::TransformSystems;
use bevy::world_serialization::{WorldAssetRoot, WorldInstanceReady};

use crate::presence::{BlinkSchedule, EmotionMix};
use crate::rig::{self, FaceState, MeshBinding, MouthMode, Source};
use crate::vrm::{self, ModelError, VrmInfo};

/// The asset source avatars are loaded from: models arrive as bytes (the
/// presets are embedded in the binary, uploads live in the data dir), so
/// they are put in memory rather than read through Bevy's file source.
pub const AVATAR_SOURCE: &str = "avatar";

/// The in-memory folder behind [`AVATAR_SOURCE`].
#[derive(Resource, Clone, Default)]
pub struct AvatarAssets {
    dir: Dir,
}

/// Registers the avatar asset source. Bevy reads asset sources when its
/// `AssetPlugin` is built, so this must run before `DefaultPlugins` is added.
pub fn register_avatar_source(app: &mut App) {
    let assets = AvatarAssets::default();
    let dir = assets.dir.clone();
    app.register_asset_source(
        AVATAR_SOURCE,
        AssetSourceBuilder::new(move || Box::new(MemoryAssetReader { root: dir.clone() })),
    );
    app.insert_resource(assets);
}

/// A model to show: its bytes and a name for messages.
#[derive(Clone, Debug)]
pub struct ModelSource {
    pub name: String,
    pub bytes: Arc<Vec<u8>>,
}

impl ModelSource {
    pub fn new(name: impl Into<String>, bytes: Vec<u8>) -> Self {
        Self {
            name: name.into(),
            bytes: Arc::new(bytes),
        }
    }

    /// Reads a `.glb` or `.vrm` file.
    pub fn from_path(path: &Path) -> std::io::Result<Self> {
        let name = path
            .file_stem()
            .map(|s| s.to_string_lossy().into_owned())
            .unwrap_or_else(|| "avatar".into());
        Ok(Self::new(name, std::fs::read(path)?))
    }
}

/// An avatar in the world. Its children are the model's scene.
#[derive(Component, Debug)]
pub struct Avatar {
    pub name: String,
    /// Seeds blinks and sway, so each avatar moves a little differently
    /// but every render of one avatar at one instant is the same.
    pub seed: u64,
    vrm: Option<VrmInfo>,
    mesh_names: Vec<String>,
}

impl Avatar {
    /// An avatar whose rig is bound by hand (tests, procedural models)
    /// rather than read from a model file.
    pub fn new(name: impl Into<String>, seed: u64) -> Self {
        Self {
            name: name.into(),
            seed,
            vrm: None,
            mesh_names: Vec::new(),
        }
    }

    /// The components every avatar carries besides its model.
    pub fn bundle(name: impl Into<String>, seed: u64) -> impl Bundle {
        (
            Avatar::new(name, seed),
            AvatarClock::default(),
            Face::default(),
            Mood::default(),
            Blinks(BlinkSchedule::new(seed)),
            crate::face::Speech::default(),
        )
    }
}

/// Set when the model's scene has been spawned.
#[derive(Component)]
struct SceneSpawned;

/// The avatar's own clock, in ms. Lip-sync, blinks and emotions are all
/// functions of it: it follows `Time` in a window, and is set from outside
/// when frames must show exact instants (headless rendering, tests).
#[derive(Component, Debug, Clone, Copy, Default)]
pub struct AvatarClock {
    pub t_ms: f64,
    pub external: bool,
}

/// What the face shows this frame, before it is written to morph targets.
#[derive(Component, Debug, Clone, Default, Deref, DerefMut)]
pub struct Face(pub FaceState);

/// The current emotion and its easing.
#[derive(Component, Debug, Clone, Default, Deref, DerefMut)]
pub struct Mood(pub EmotionMix);

/// Blink schedule of one avatar.
#[derive(Component, Debug, Clone)]
pub struct Blinks(pub BlinkSchedule);

/// The model's face, bound to the canonical rig.
#[derive(Component, Debug, Clone)]
pub struct FaceRig {
    /// Entities holding `MorphWeights`, with the binding of their targets.
    pub meshes: Vec<(Entity, MeshBinding)>,
    pub mouth: MouthMode,
    pub morph_targets: usize,
    /// The head (or neck) node and its rest transform, for head motion.
    pub head: Option<(Entity, Transform)>,
    /// Eye nodes with their rest transforms, for gaze and saccades.
    pub eyes: Vec<(Entity, Transform)>,
    /// A chest or body node with its rest transform, for breathing.
    pub chest: Option<(Entity, Transform)>,
    /// Model bounds in the avatar's local space.
    pub bounds_min: Vec3,
    pub bounds_max: Vec3,
    /// Top of the head and the head's height, in the avatar's local space.
    pub head_top: f32,
    pub head_height: f32,
    pub warnings: Vec<String>,
}

/// Triggered on an avatar once its rig is bound and it can be rendered.
#[derive(EntityEvent, Debug, Clone)]
pub struct AvatarLoaded {
    pub entity: Entity,
    pub mouth: MouthMode,
    pub warnings: Vec<String>,
}

/// Spawns an avatar from model bytes at `transform`.
pub fn spawn_avatar(
    commands: &mut Commands,
    assets: &AvatarAssets,
    asset_server: &AssetServer,
    model: &ModelSource,
    transform: Transform,
    seed: u64,
) -> Result<Entity, ModelError> {
    let doc = vrm::gltf_json(&model.bytes)?;
    let vrm = vrm::vrm_info(&doc);
    let mesh_names = vrm::mesh_names(&doc);
    let ext = if model.bytes.starts_with(b"glTF") {
        "glb"
    } else {
        "gltf"
    };
    let path = format!("{}-{seed}.{ext}", sanitize(&model.name));
    assets
        .dir
        .insert_asset(Path::new(&path), model.bytes.as_ref().clone());
    let scene =
        asset_server.load(GltfAssetLabel::Scene(0).from_asset(format!("{AVATAR_SOURCE}://{path}")));
    // VRM 0.x models face -Z, glTF and VRM 1.0 face +Z; turn the old ones
    // round so every avatar looks at the camera.
    let mut transform = transform;
    if vrm.as_ref().is_some_and(|v| v.version == 0) {
        transform.rotate_y(std::f32::consts::PI);
    }
    let entity = commands
        .spawn((
            Name::new(format!("avatar:{}", model.name)),
            Avatar::bundle(model.name.clone(), seed),
            transform,
            WorldAssetRoot(scene),
        ))
        .observe(|ev: On<WorldInstanceReady>, mut commands: Commands| {
            commands.entity(ev.entity).insert(SceneSpawned);
        })
        .id();
    commands.queue(move |world: &mut World| {
        if let Some(mut a) = world.get_mut::<Avatar>(entity) {
            a.vrm = vrm;
            a.mesh_names = mesh_names;
        }
    });
    Ok(entity)
}

fn sanitize(name: &str) -> String {
    let s: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || c == '-' || c == '_' {
                c
            } else {
                '_'
            }
        })
        .take(48)
        .collect();
    if s.is_empty() { "avatar".into() } else { s }
}

/// Loads avatars and binds their rigs.
pub struct AvatarPlugin;

impl Plugin for AvatarPlugin {
    fn build(&self, app: &mut App) {
        if !app.world().contains_resource::<AvatarAssets>() {
            // Without the source, models cannot be read; say so at once
            // rather than failing on the first load.
            panic!("register_avatar_source(app) must run before DefaultPlugins");
        }
        app.add_systems(
            PostUpdate,
            bind_rigs
                .after(TransformSystems::Propagate)
                .after(VisibilitySystems::CalculateBounds),
        );
    }
}

const HEAD_NAMES: [&str; 6] = [
    "headpivot",
    "head",
    "j_bip_c_head",
    "mixamorig:head",
    "head_m",
    "bip01_head",
];
const CHEST_NAMES: [&str; 6] = [
    "chest",
    "upperchest",
    "spine2",
    "spine1",
    "j_bip_c_chest",
    "body",
];

#[allow(clippy::too_many_arguments, clippy::type_complexity)]
fn bind_rigs(
    mut commands: Commands,
    avatars: Query<(Entity, &Avatar, &GlobalTransform), (With<SceneSpawned>, Without<FaceRig>)>,
    children: Query<&Children>,
    morphs: Query<&MorphWeights>,
    mesh_names: Query<&GltfMeshName>,
    names: Query<&Name>,
    transforms: Query<&Transform>,
    globals: Query<&GlobalTransform>,
    bounds: Query<(&Aabb, &GlobalTransform)>,
    meshes: Res<Assets<Mesh>>,
) {
    for (root, avatar, root_tf) in &avatars {
        let to_local = root_tf.affine().inverse();
        let mut rig_meshes = Vec::new();
        let mut targets = 0;
        let (mut lo, mut hi) = (Vec3::splat(f32::MAX), Vec3::splat(f32::MIN));
        let mut missing_bounds = false;
        let mut head = None;
        let mut chest = None;
        let mut eyes = Vec::new();
        let mut face_bounds: Option<(Vec3, Vec3)> = None;
        for e in children.iter_descendants(root) {
            if let Ok(name) = names.get(e) {
                let n = name.as_str().to_ascii_lowercase();
                if head.is_none() && HEAD_NAMES.contains(&n.as_str()) {
                    head = transforms.get(e).ok().map(|t| (e, *t));
                }
                if chest.is_none() && CHEST_NAMES.contains(&n.as_str()) {
                    chest = transforms.get(e).ok().map(|t| (e, *t));
                }
                let is_eye = n.contains("eye")
                    && !n.contains("brow")
                    && !n.contains("lash")
                    && !n.contains("lid")
                    && (n.contains("left")
                        || n.contains("right")
                        || n.contains("_l")
                        || n.contains("_r"));
                if is_eye
                    && !morphs.contains(e)
                    && let Ok(t) = transforms.get(e)
                {
                    eyes.push((e, *t));
                }
            }
            if let Ok((aabb, gt)) = bounds.get(e) {
                let (bmin, bmax) = world_bounds(aabb, gt, &to_local);
                lo = lo.min(bmin);
                hi = hi.max(bmax);
                if mesh_names
                    .get(e)
                    .is_ok_and(|m| matches!(m.0.to_ascii_lowercase().as_str(), "face" | "head"))
                {
                    face_bounds = Some((bmin, bmax));
                }
            }
            let Ok(weights) = morphs.get(e) else { continue };
            let Some(mesh) = weights.first_mesh().and_then(|h| meshes.get(h)) else {
                missing_bounds = true;
                continue;
            };
            let count = weights.weights().len();
            targets += count;
            let names = mesh.morph_target_names().unwrap_or(&[]);
            let mut binding = rig::bind_by_name(names);
            binding.targets.resize(count, Vec::new());
            // VRM binds by glTF mesh index; Bevy names the primitives after
            // their mesh, so the index is found by that name.
            if let Some(vrm) = &avatar.vrm {
                let my_names: Vec<&str> = children
                    .get(e)
                    .into_iter()
                    .flatten()
                    .filter_map(|c| mesh_names.get(*c).ok())
                    .map(|m| m.0.as_str())
                    .collect();
                for b in &vrm.binds {
                    let name = avatar.mesh_names.get(b.mesh).map(String::as_str);
                    if name.is_some_and(|n| my_names.contains(&n)) && b.morph < count {
                        binding.targets[b.morph].push((Source::Vrm(b.expression), b.weight));
                    }
                }
            }
            rig_meshes.push((e, binding));
        }
        if missing_bounds || lo.x > hi.x {
            // Meshes or bounds not there yet: try again next frame.
            continue;
        }
        let mouth = rig::mouth_mode(rig_meshes.iter().map(|(_, b)| b));
        let mut warnings = Vec::new();
        if targets == 0 {
            warnings.push(format!(
                "{}: the model has no morph targets; it will render but its face cannot move",
                avatar.name
            ));
        } else if mouth == MouthMode::None {
            warnings.push(format!(
                "{}: no mouth morph targets (viseme_*, ARKit jawOpen/mouthFunnel, or VRM aa/ih/ou/ee/oh); the mouth will not move",
                avatar.name
            ));
        }
        for w in &warnings {
            warn!("{w}");
        }
        // Head-and-shoulders framing needs the head's size: the face mesh's
        // height where there is one, else from the head node to the top.
        let head_top = hi.y;
        let from_node = head
            .and_then(|(e, _)| globals.get(e).ok())
            .map(|g| head_top - to_local.transform_point3(g.translation()).y)
            .filter(|h| *h > 0.05 && *h < 0.6 * (hi.y - lo.y));
        let head_height = match (face_bounds, from_node) {
            (Some((fmin, fmax)), _) => (fmax.y - fmin.y).max(head_top - fmin.y).max(0.05),
            (None, Some(h)) => h,
            (None, None) => (0.14 * (hi.y - lo.y)).clamp(0.05, 0.3),
        };
        let rig = FaceRig {
            meshes: rig_meshes,
            mouth,
            morph_targets: targets,
            head,
            eyes,
            chest,
            bounds_min: lo,
            bounds_max: hi,
            head_top,
            head_height,
            warnings: warnings.clone(),
        };
        commands.entity(root).insert(rig);
        commands.trigger(AvatarLoaded {
            entity: root,
            mouth,
            warnings,
        });
    }
}

fn world_bounds(
    aabb: &Aabb,
    gt: &GlobalTransform,
    to_local: &bevy::math::Affine3A,
) -> (Vec3, Vec3) {
    let c = Vec3::from(aabb.center);
    let h = Vec3::from(aabb.half_extents);
    let m = *to_local * gt.affine();
    let (mut lo, mut hi) = (Vec3::splat(f32::MAX), Vec3::splat(f32::MIN));
    for i in 0..8 {
        let s = Vec3::new(
            if i & 1 == 0 { -1.0 } else { 1.0 },
            if i & 2 == 0 { -1.0 } else { 1.0 },
            if i & 4 == 0 { -1.0 } else { 1.0 },
        );
        let p = m.transform_point3(c + h * s);
        lo = lo.min(p);
        hi = hi.max(p);
    }
    (lo, hi)
}
