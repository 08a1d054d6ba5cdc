//! The binary's command line, without a display. Having an integration test
//! also makes `cargo test` build `target/debug/avatarium-desktop` itself, with
//! the test suite's features, so scripts/desktop-test.sh (run after the
//! suite) starts the app without a second build of the workspace.

use std::process::Command;

fn app() -> Command {
    Command::new(env!("CARGO_BIN_EXE_avatarium-desktop"))
}

#[test]
fn help_names_the_serve_flags() {
    let out = app().arg("--help").output().unwrap();
    assert!(out.status.success());
    let help = String::from_utf8_lossy(&out.stdout);
    for flag in ["--port", "--data-dir", "--avatar-window", "--avatar"] {
        assert!(help.contains(flag), "{flag} missing from:\n{help}");
    }
}

#[test]
fn bad_flags_fail_before_any_window() {
    let out = app()
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .arg("--avatar-window")
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(2), "clap's usage error");
    assert!(String::from_utf8_lossy(&out.stderr).contains("--avatar"));
}

#[test]
fn an_unknown_avatar_is_refused_clearly() {
    let dir = tempfile::tempdir().unwrap();
    let out = app()
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args([
            "--avatar-window",
            "--avatar",
            "no-such-avatar",
            "--data-dir",
        ])
        .arg(dir.path())
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    let err = String::from_utf8_lossy(&out.stderr);
    assert!(err.contains("unknown avatar 'no-such-avatar'"), "{err}");
}
