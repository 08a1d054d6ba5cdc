//! The avatar renderer: Bevy plugins that load glTF/VRM avatars, move their
//! mouths from viseme timelines, make them blink, breathe and show emotions,
//! and frame them; plus a headless renderer that yields frames offscreen.
//!
//! One plugin per concern, in [`AvatarRenderPlugins`]:
//! - [`avatar::AvatarPlugin`]: loading and binding the face rig;
//! - [`face::LipSyncPlugin`], [`face::PresencePlugin`],
//!   [`face::FaceApplyPlugin`] (with [`face::ClockPlugin`] ordering them);
//! - [`stage::StagePlugin`]: camera framing and lights.
//!
//! The maths has no Bevy types: [`rig`], [`presence`], [`vrm`], and the
//! viseme blending in `avatarium_lipsync::blend`.

pub mod avatar;
pub mod face;
pub mod headless;
pub mod lite;
pub mod presence;
pub mod rig;
pub mod stage;
pub mod vrm;

pub use avatar::{ModelSource, register_avatar_source};
pub use bevy;
pub use headless::{Frame, RenderError, Renderer, RendererOptions, StageInfo};
pub use presence::Emotion;
pub use rig::MouthMode;

use bevy::app::{PluginGroup, PluginGroupBuilder};

/// Every renderer plugin. Call [`register_avatar_source`] before adding
/// Bevy's `DefaultPlugins`, then add these.
pub struct AvatarRenderPlugins;

impl PluginGroup for AvatarRenderPlugins {
    fn build(self) -> PluginGroupBuilder {
        PluginGroupBuilder::start::<Self>()
            .add(avatar::AvatarPlugin)
            .add(face::ClockPlugin)
            .add(face::LipSyncPlugin)
            .add(face::PresencePlugin)
            .add(face::FaceApplyPlugin)
            .add(stage::StagePlugin)
            .add(lite::LitePlugin)
    }
}
