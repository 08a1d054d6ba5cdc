//! `/v1/stt/transcribe` end to end (upload, decode, resample, inference)
//! against the bare whisper call on the same audio and model, in one run.
//!
//! Uses `../shared/data/jfk.wav` and the test model with tiny.en's real
//! shapes (its weights are untrained, but inference costs the same).
//! `cargo bench -p avatarium-cli --bench stt`; `BENCH_ROUNDS` (default 5).

use std::path::PathBuf;
use std::time::{Duration, Instant};

use avatarium_core::config::{Config, RateLimits};
use avatarium_server::AppState;
use avatarium_stt::decode::decode_to_mono_16k;
use avatarium_stt::whisper::LocalWhisper;

fn shared(file: &str) -> PathBuf {
    let p = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/data")
        .join(file);
    assert!(
        p.exists(),
        "missing test data {} (../shared beside the project)",
        p.display()
    );
    p
}

fn median(mut v: Vec<Duration>) -> Duration {
    v.sort();
    v[v.len() / 2]
}

fn main() {
    let quick = !std::env::args().any(|a| a == "--bench");
    let rounds: usize = std::env::var("BENCH_ROUNDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(if quick { 1 } else { 5 });
    let model = shared("for-tests-ggml-tiny.en.bin");
    let audio = std::fs::read(shared("jfk.wav")).unwrap();
    let rt = tokio::runtime::Runtime::new().unwrap();
    rt.block_on(async move {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path());
        cfg.rate_limits = RateLimits::unlimited();
        cfg.whisper_model = Some(model.to_string_lossy().into_owned());
        let state = AppState::open(cfg).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!(
            "http://{}/v1/stt/transcribe",
            listener.local_addr().unwrap()
        );
        tokio::spawn(avatarium_server::serve(
            listener,
            state,
            std::future::pending(),
        ));
        let http = reqwest::Client::new();
        let post = || {
            let form = reqwest::multipart::Form::new().part(
                "audio",
                reqwest::multipart::Part::bytes(audio.clone()).file_name("jfk.wav"),
            );
            http.post(&url).multipart(form).send()
        };
        // Loads and caches the model in the server, as any first call would.
        assert_eq!(post().await.unwrap().status(), 200);

        let whisper = LocalWhisper::load(&model).unwrap();
        let pcm = decode_to_mono_16k(&audio, Some("wav")).unwrap();
        let (mut bare, mut full) = (Vec::new(), Vec::new());
        for _ in 0..rounds {
            // Alternate so machine noise falls on both alike.
            let w = whisper.clone();
            let p = pcm.clone();
            let t = Instant::now();
            tokio::task::spawn_blocking(move || w.transcribe_pcm(&p, None, false).unwrap())
                .await
                .unwrap();
            bare.push(t.elapsed());
            let t = Instant::now();
            let res = post().await.unwrap();
            assert_eq!(res.status(), 200);
            res.bytes().await.unwrap();
            full.push(t.elapsed());
        }
        let (b, f) = (median(bare), median(full));
        println!("== stt bench: jfk.wav (11 s), tiny.en-shaped model, median of {rounds} ==");
        println!(
            "bare whisper inference      : {:>8.1} ms",
            b.as_secs_f64() * 1e3
        );
        println!(
            "POST /v1/stt/transcribe      : {:>8.1} ms",
            f.as_secs_f64() * 1e3
        );
        println!(
            "ratio full/bare: {:.3} (goal <= 1.1); realtime factor {:.1}x",
            f.as_secs_f64() / b.as_secs_f64(),
            11.0 / f.as_secs_f64()
        );
    });
}
