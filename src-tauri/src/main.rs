//! `avatarium-desktop`: the Avatarium studio as a desktop app. It serves the
//! local API in process (as `avatarium serve` does, on 127.0.0.1), shows the
//! dashboard in a native window, gives it native microphone and speaker
//! access, and pops the avatar out into its own window.
//!
//! `--avatar-window --avatar ID` shows only that avatar window; the app runs
//! itself this way, because Bevy and Tauri cannot share an event loop.

// No console window behind the app on Windows.
#![cfg_attr(all(windows, not(debug_assertions)), windows_subsystem = "windows")]

mod app;
mod args;
mod audio;
mod avatar_window;
mod server;
mod single_instance;

use std::process::ExitCode;

use clap::Parser;

fn main() -> ExitCode {
    let args = args::DesktopArgs::parse();
    let result = if args.avatar_window {
        // Bevy's log plugin sets up logging in this mode.
        let avatar = args.avatar.clone().unwrap_or_default();
        avatar_window::resolve(&avatar, &args.data_dir())
            .and_then(|model| avatar_window::run(model, args.exit_after))
            .map(|()| 0)
    } else {
        init_tracing();
        app::run(args)
    };
    match result {
        Ok(0) => ExitCode::SUCCESS,
        Ok(code) => ExitCode::from(u8::try_from(code).unwrap_or(1)),
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn,wgpu=error,naga=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}
