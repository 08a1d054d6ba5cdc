//! Command-line flags: the same `--port` and `--data-dir` as `avatarium
//! serve` (and the same environment variables and defaults, so the CLI and
//! the app share one data directory), plus the pop-out avatar window mode.

use std::path::PathBuf;
use std::time::Duration;

use avatarium_core::config;
use clap::Parser;

/// The port `avatarium serve` uses by default.
pub const DEFAULT_PORT: u16 = 8000;

#[derive(Parser, Debug, Clone, PartialEq)]
#[command(
    name = "avatarium-desktop",
    version,
    about = "Avatarium studio: the dashboard in a native window, over the local API it serves"
)]
pub struct DesktopArgs {
    /// Port of the embedded API on 127.0.0.1; a free one is picked (and
    /// named) if it is taken.
    #[arg(long, default_value_t = DEFAULT_PORT, env = "AVATARIUM_PORT")]
    pub port: u16,
    /// Where the database, secrets and uploads live [default: the platform's
    /// data dir, e.g. ~/.local/share/avatarium, shared with the CLI]
    #[arg(long, env = config::DATA_DIR_ENV)]
    pub data_dir: Option<PathBuf>,
    /// Show only the native avatar window (the app starts itself this way
    /// for "Pop-out avatar").
    #[arg(long, requires = "avatar")]
    pub avatar_window: bool,
    /// The avatar for --avatar-window: a shipped avatar's id (aria-001, …),
    /// one of your avatars' ids, or a .glb/.vrm file.
    #[arg(long, value_name = "ID", requires = "avatar_window")]
    pub avatar: Option<String>,
    /// Close the window after this many seconds (for tests).
    #[arg(long, value_name = "SECS", value_parser = parse_seconds, hide = true)]
    pub exit_after: Option<Duration>,
}

impl DesktopArgs {
    pub fn data_dir(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(config::default_data_dir)
    }
}

fn parse_seconds(s: &str) -> Result<Duration, String> {
    match s.parse::<f64>() {
        Ok(v) if v.is_finite() && v > 0.0 => Ok(Duration::from_secs_f64(v)),
        _ => Err(format!("'{s}' is not a positive number of seconds")),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Result<DesktopArgs, clap::Error> {
        DesktopArgs::try_parse_from(
            std::iter::once("avatarium-desktop").chain(args.iter().copied()),
        )
    }

    #[test]
    fn defaults_match_avatarium_serve() {
        // The environment may set these; the test wants the built-in defaults.
        if std::env::var_os("AVATARIUM_PORT").is_some()
            || std::env::var_os(config::DATA_DIR_ENV).is_some()
        {
            return;
        }
        let a = parse(&[]).unwrap();
        assert_eq!(a.port, 8000);
        assert_eq!(a.data_dir, None);
        assert_eq!(a.data_dir(), config::default_data_dir());
        assert!(!a.avatar_window);
    }

    #[test]
    fn port_and_data_dir() {
        let a = parse(&["--port", "9123", "--data-dir", "/tmp/av"]).unwrap();
        assert_eq!(a.port, 9123);
        assert_eq!(a.data_dir(), PathBuf::from("/tmp/av"));
        let a = parse(&["--port=0"]).unwrap();
        assert_eq!(a.port, 0);
    }

    #[test]
    fn bad_values_are_refused() {
        assert!(parse(&["--port", "70000"]).is_err());
        assert!(parse(&["--port", "web"]).is_err());
        assert!(parse(&["--unknown"]).is_err());
        assert!(
            parse(&[
                "--avatar-window",
                "--avatar",
                "aria-001",
                "--exit-after",
                "-1"
            ])
            .is_err()
        );
    }

    #[test]
    fn avatar_window_needs_an_avatar_and_the_other_way_round() {
        let a = parse(&[
            "--avatar-window",
            "--avatar",
            "aria-001",
            "--data-dir",
            "/d",
        ])
        .unwrap();
        assert!(a.avatar_window);
        assert_eq!(a.avatar.as_deref(), Some("aria-001"));
        assert!(parse(&["--avatar-window"]).is_err());
        assert!(parse(&["--avatar", "aria-001"]).is_err());
        let a = parse(&["--avatar-window", "--avatar", "x", "--exit-after", "2.5"]).unwrap();
        assert_eq!(a.exit_after, Some(Duration::from_millis(2500)));
    }
}
