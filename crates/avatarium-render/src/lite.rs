//! Lite shading for software renderers: the models' own colours and
//! textures under a fixed key/fill/rim light, in a fragment shader a few
//! instructions long. Bevy's PBR path is the right look on a GPU; on
//! llvmpipe it costs most of the frame, so the headless renderer swaps it
//! for this when the adapter is a CPU.

use bevy::asset::embedded_asset;
use bevy::pbr::{Material, MaterialPlugin};
use bevy::prelude::*;
use bevy::render::render_resource::{AsBindGroup, ShaderType};
use bevy::shader::ShaderRef;

/// Turns lite shading on for every avatar loaded from now on.
#[derive(Resource, Debug, Clone, Copy)]
pub struct LiteShading;

#[derive(Clone, Copy, Debug, ShaderType)]
pub struct LiteUniform {
    pub color: LinearRgba,
    pub shine: f32,
    pub has_texture: u32,
}

#[derive(Asset, TypePath, AsBindGroup, Debug, Clone)]
pub struct LiteMaterial {
    #[uniform(0)]
    pub uniform: LiteUniform,
    #[texture(1)]
    #[sampler(2)]
    pub texture: Option<Handle<Image>>,
    pub alpha_mode: AlphaMode,
}

impl Material for LiteMaterial {
    fn fragment_shader() -> ShaderRef {
        "embedded://avatarium_render/shaders/lite.wgsl".into()
    }

    fn alpha_mode(&self) -> AlphaMode {
        self.alpha_mode
    }
}

impl LiteMaterial {
    /// The lite version of a glTF material: its base colour and texture,
    /// and a highlight that fades with roughness.
    pub fn from_standard(m: &StandardMaterial) -> Self {
        Self {
            uniform: LiteUniform {
                color: m.base_color.to_linear(),
                shine: (1.0 - m.perceptual_roughness).clamp(0.0, 1.0),
                has_texture: u32::from(m.base_color_texture.is_some()),
            },
            texture: m.base_color_texture.clone(),
            alpha_mode: m.alpha_mode,
        }
    }
}

pub struct LitePlugin;

impl Plugin for LitePlugin {
    fn build(&self, app: &mut App) {
        embedded_asset!(app, "shaders/lite.wgsl");
        app.add_plugins(MaterialPlugin::<LiteMaterial>::default())
            .add_systems(
                PostUpdate,
                swap_materials.run_if(resource_exists::<LiteShading>),
            );
    }
}

/// Replaces the standard materials of newly spawned meshes, sharing one
/// lite material per standard one.
fn swap_materials(
    mut commands: Commands,
    meshes: Query<(Entity, &MeshMaterial3d<StandardMaterial>)>,
    standard: Res<Assets<StandardMaterial>>,
    mut lite: ResMut<Assets<LiteMaterial>>,
    mut cache: Local<std::collections::HashMap<AssetId<StandardMaterial>, Handle<LiteMaterial>>>,
) {
    for (e, m) in &meshes {
        let Some(src) = standard.get(&m.0) else {
            continue;
        };
        let handle = cache
            .entry(m.0.id())
            .or_insert_with(|| lite.add(LiteMaterial::from_standard(src)))
            .clone();
        commands
            .entity(e)
            .remove::<MeshMaterial3d<StandardMaterial>>()
            .insert(MeshMaterial3d(handle));
    }
}
