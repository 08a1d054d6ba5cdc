//! The CLI contract other tools rely on, checked against the real binary.

use std::io::{BufRead, BufReader};
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

const BIN: &str = env!("CARGO_BIN_EXE_avatarium");

fn last_line(out: &[u8]) -> String {
    String::from_utf8_lossy(out)
        .lines()
        .last()
        .unwrap_or_default()
        .to_string()
}

fn run(args: &[&str], data_dir: &Path) -> String {
    last_line(&succeed(Command::new(BIN).args(args).arg("--data-dir").arg(data_dir)).stdout)
}

/// Runs `cmd` to the end and checks that it succeeded.
fn succeed(cmd: &mut Command) -> std::process::Output {
    let out = cmd.output().unwrap();
    assert!(
        out.status.success(),
        "{cmd:?} failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    out
}

struct Server {
    child: Child,
    base: String,
    stderr: std::thread::JoinHandle<String>,
}

/// Starts `avatarium serve` on a free port and waits for its URL line.
fn serve(data_dir: &Path, extra: &[&str]) -> Server {
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(data_dir)
        .args(extra)
        .env("RUST_LOG", "info")
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap();
    let stderr = child.stderr.take().unwrap();
    let stderr = std::thread::spawn(move || {
        let mut s = String::new();
        for line in BufReader::new(stderr).lines().map_while(Result::ok) {
            s.push_str(&line);
            s.push('\n');
        }
        s
    });
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url_line = lines
        .next()
        .expect("serve printed nothing")
        .expect("readable stdout");
    let base = url_line
        .rsplit(' ')
        .next()
        .expect("a URL at the end of the line")
        .to_string();
    assert!(base.starts_with("http://127.0.0.1:"), "{url_line}");
    // Read the rest too, as a real launcher might not; see the test below
    // for a launcher that closes the pipe.
    std::thread::spawn(move || lines.for_each(drop));
    Server {
        child,
        base,
        stderr,
    }
}

impl Server {
    /// SIGTERM, then the exit status and everything logged.
    fn stop(mut self) -> (std::process::ExitStatus, String) {
        Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(10);
        let status = loop {
            if let Some(status) = self.child.try_wait().unwrap() {
                break status;
            }
            assert!(Instant::now() < deadline, "serve did not stop on SIGTERM");
            std::thread::sleep(Duration::from_millis(20));
        };
        (status, self.stderr.join().unwrap())
    }
}

#[tokio::test]
async fn keys_and_tokens_from_the_cli_work_against_serve() {
    let dir = tempfile::tempdir().unwrap();
    let data = dir.path().join("data");

    let key = run(&["keys", "create", "--name", "ci"], &data);
    assert!(key.starts_with("av_live_") && key.len() == 40, "{key}");
    let token = run(&["token"], &data);
    assert_eq!(token.split('.').count(), 3, "not a JWT: {token}");

    let server = serve(&data, &[]);
    let http = reqwest::Client::new();
    let health = http
        .get(format!("{}/health", server.base))
        .send()
        .await
        .unwrap();
    assert_eq!(health.status(), 200);

    let me: serde_json::Value = http
        .get(format!("{}/v1/auth/me", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(me["data"]["authenticatedWith"], "apiKey");
    assert_eq!(me["data"]["isOwner"], true);

    let keys: serde_json::Value = http
        .get(format!("{}/v1/api-keys", server.base))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let listed = &keys["data"][0];
    assert_eq!(listed["name"], "ci");
    assert!(key.starts_with(listed["prefix"].as_str().unwrap()));
    assert!(!keys.to_string().contains(&key), "full key shown again");

    // A key revoked from the CLI fails at once against the running server.
    let id = listed["id"].as_str().unwrap();
    run(&["keys", "revoke", id], &data);
    let after = http
        .get(format!("{}/v1/auth/me", server.base))
        .bearer_auth(&key)
        .send()
        .await
        .unwrap();
    assert_eq!(after.status(), 401);

    let (status, log) = server.stop();
    assert!(status.success(), "exit {status:?}\n{log}");
    assert!(log.contains("shutting down"), "{log}");
    assert!(data.join("avatarium.sqlite").exists());
}

#[tokio::test]
async fn the_data_dir_comes_from_the_environment() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["keys", "create", "--name", "env"])
        .env("AVATARIUM_DATA_DIR", dir.path())
        .output()
        .unwrap();
    assert!(out.status.success());
    assert!(last_line(&out.stdout).starts_with("av_live_"));
    assert!(dir.path().join("avatarium.sqlite").exists());
}

#[test]
fn binding_beyond_loopback_warns_loudly() {
    let dir = tempfile::tempdir().unwrap();
    let server = serve(dir.path(), &["--host", "0.0.0.0"]);
    let (status, log) = server.stop();
    assert!(status.success());
    assert!(log.contains("WARNING"), "{log}");
    assert!(log.contains("exposes"), "{log}");
}

#[test]
fn bad_flags_fail_with_a_message() {
    let dir = tempfile::tempdir().unwrap();
    let out = Command::new(BIN)
        .args(["serve", "--port", "0", "--rate-limit", "avatar_create=lots"])
        .arg("--data-dir")
        .arg(dir.path())
        .output()
        .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("--rate-limit"));
}

#[tokio::test]
async fn serve_survives_its_stdout_being_closed() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = Command::new(BIN)
        .args(["serve", "--port", "0", "--data-dir"])
        .arg(dir.path())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let mut first = String::new();
    BufReader::new(child.stdout.take().unwrap())
        .read_line(&mut first)
        .unwrap();
    // The reader is dropped here: the pipe is closed.
    let base = first.trim().rsplit(' ').next().unwrap().to_string();
    tokio::time::sleep(Duration::from_millis(200)).await;
    let res = reqwest::get(format!("{base}/health")).await.unwrap();
    assert_eq!(res.status(), 200);
    assert!(child.try_wait().unwrap().is_none(), "serve exited");
    child.kill().unwrap();
    child.wait().unwrap();
}

/// `say` speaks sentence by sentence and joins the parts: the joined
/// timeline must still be one ordered timeline over the whole audio, with
/// the lips closed on "Bob" and a rest between the sentences.
#[test]
fn say_writes_speech_with_one_timeline_across_sentences() {
    let dir = tempfile::tempdir().unwrap();
    let (wav, json) = (dir.path().join("a.wav"), dir.path().join("a.json"));
    succeed(
        Command::new(BIN)
            .args(["say", "Bob bought a map. Then we rested."])
            .arg("--out")
            .arg(&wav)
            .arg("--visemes")
            .arg(&json),
    );
    let audio = std::fs::read(&wav).unwrap();
    assert_eq!(&audio[..4], b"RIFF");
    let doc: serde_json::Value = serde_json::from_slice(&std::fs::read(&json).unwrap()).unwrap();
    let duration = doc["durationMs"].as_u64().unwrap();
    let rate = doc["sampleRate"].as_u64().unwrap();
    // 16-bit mono after a 44-byte header.
    let samples = (audio.len() as u64 - 44) / 2;
    assert!(samples * 1000 / rate + 2 >= duration && samples * 1000 / rate <= duration + 2);

    let cues = spans(&doc["visemes"], "viseme");
    for pair in cues.windows(2) {
        assert!(pair[0].2 <= pair[1].1, "overlap or disorder: {pair:?}");
    }
    assert!(
        cues.iter().all(|c| c.1 < c.2 && c.2 <= duration),
        "{cues:?}"
    );

    let words = spans(&doc["words"], "word");
    let said: Vec<String> = words
        .iter()
        .map(|w| {
            w.0.trim_matches(|c: char| !c.is_alphabetic())
                .to_lowercase()
        })
        .collect();
    assert_eq!(said, ["bob", "bought", "a", "map", "then", "we", "rested"]);
    let within =
        |v: &str, from: u64, to: u64| cues.iter().any(|c| c.0 == v && c.1 < to && c.2 > from);
    let (bob, map, then) = (&words[0], &words[3], &words[4]);
    assert!(within("PP", bob.1, bob.2), "no PP in {bob:?}: {cues:?}");
    assert!(
        within("sil", map.2.saturating_sub(1), then.1 + 1),
        "no rest between the sentences ({map:?} .. {then:?}): {cues:?}"
    );
}

/// `[{NAME, start, end}]` (a viseme timeline, word timings) as tuples.
fn spans(list: &serde_json::Value, name: &str) -> Vec<(String, u64, u64)> {
    let n = |v: &serde_json::Value, k: &str| v[k].as_u64().unwrap();
    list.as_array()
        .unwrap()
        .iter()
        .map(|v| {
            (
                v[name].as_str().unwrap().to_owned(),
                n(v, "start"),
                n(v, "end"),
            )
        })
        .collect()
}
