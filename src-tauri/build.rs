fn main() {
    // The commands the dashboard may call. Listing them makes Tauri generate
    // an `allow-…` permission per command and check every call against the
    // capabilities, so nothing is callable unless a capability grants it.
    let manifest = tauri_build::AppManifest::new().commands(&[
        "start_listening",
        "stop_listening",
        "play_audio",
        "stop_audio",
        "audio_status",
        "pop_out_avatar",
    ]);
    tauri_build::try_build(tauri_build::Attributes::new().app_manifest(manifest))
        .expect("tauri-build failed");
}
