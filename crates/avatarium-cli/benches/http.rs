//! HTTP benchmark of the local server: throughput and latency of
//! `GET /v1/avatars` against a bare axum hello-world, cold start of the real
//! binary, its idle memory and its shutdown on SIGTERM.
//!
//! `cargo bench -p avatarium-cli --bench http` runs it in full (`BENCH_SECS`,
//! default 5, and `BENCH_ROUNDS`, default 2, tune the load phase). Without
//! `--bench` (as `cargo test --all-targets` runs it) it does a short smoke
//! pass so the code keeps working without costing a test run half a minute.

use std::io::{BufRead, BufReader, Read, Write};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use avatarium_core::config::{Config, RateLimits};
use avatarium_server::AppState;
use axum::Router;
use axum::routing::get;
use http_body_util::{BodyExt, Empty};
use hyper::StatusCode;
use hyper::body::Bytes;
use hyper::client::conn::http1::SendRequest;
use hyper::header::{HOST, HeaderValue};
use hyper_util::rt::TokioIo;
use tokio::sync::oneshot;

const CLIENTS: usize = 64;
const BIN: &str = env!("CARGO_BIN_EXE_avatarium");

type BoxError = Box<dyn std::error::Error + Send + Sync>;

struct Settings {
    full: bool,
    warmup: Duration,
    window: Duration,
    rounds: usize,
    starts: usize,
}

impl Settings {
    fn from_env() -> Self {
        let full = std::env::args().any(|a| a == "--bench");
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
        if full {
            Self {
                full,
                warmup: Duration::from_secs(1),
                window: Duration::from_secs_f64(var("BENCH_SECS").unwrap_or(5.0).max(0.1)),
                rounds: var("BENCH_ROUNDS").map_or(2, |r| r.max(1.0) as usize),
                starts: 10,
            }
        } else {
            Self {
                full,
                warmup: Duration::from_millis(100),
                window: Duration::from_millis(300),
                rounds: 1,
                starts: 2,
            }
        }
    }
}

fn main() {
    let s = Settings::from_env();
    // Other processes on a small machine skew every figure; say so next to them.
    let load_before = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    if !s.full {
        println!("(smoke run: pass --bench, as `cargo bench` does, for real figures)");
    }
    // The load generator gets its own runtime so it never shares a scheduler
    // with the servers, which run on theirs in their own threads.
    let load_rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("load runtime");

    let data = tempfile::tempdir().expect("temp dir");
    let hello = Server::start(App::Hello);
    let avatarium = Server::start(App::Avatarium(data.path().to_path_buf()));

    // Alternating rounds spread machine noise (other builds, frequency
    // scaling) over both servers instead of loading it onto one.
    let mut hello_runs = Vec::new();
    let mut avatar_runs = Vec::new();
    for round in 1..=s.rounds {
        for (name, server, path, runs) in [
            ("hello-world", &hello, "/", &mut hello_runs),
            (
                "GET /v1/avatars",
                &avatarium,
                "/v1/avatars",
                &mut avatar_runs,
            ),
        ] {
            let run = load_rt.block_on(load(server.addr, path, s.warmup, s.window));
            println!("round {round} {name:<16}: {}", run.line());
            runs.push(run);
        }
    }
    drop(hello);
    drop(avatarium);

    let best = |runs: &[LoadRun]| {
        runs.iter()
            .max_by(|a, b| a.rps.total_cmp(&b.rps))
            .cloned()
            .expect("at least one round")
    };
    let (hello_best, avatar_best) = (best(&hello_runs), best(&avatar_runs));
    let ratio = avatar_best.rps / hello_best.rps;

    let starts = Starts::measure(&s);
    let idle = load_rt.block_on(idle_and_shutdown());

    // A smoke run is a debug build measured for a fraction of a second: its
    // figures say nothing about the goals.
    let verdict = |ok: bool| if ok || !s.full { "" } else { "  << MISSED" };
    let secs = s.window.as_secs_f64();
    let mut summary = format!(
        "== avatarium http bench ({CLIENTS} clients, {secs} s each after {} s warm-up, best of {} by req/s) ==\n",
        s.warmup.as_secs_f64(),
        s.rounds,
    );
    summary += &format!("machine: {cpus} CPUs, 1-min load average {load_before} before the run\n");
    summary += &format!("hello-world    : {}\n", hello_best.line());
    summary += &format!("GET /v1/avatars: {}\n", avatar_best.line());
    summary += &format!(
        "ratio avatars/hello: {ratio:.2} (goal >= 0.5){}\n",
        verdict(ratio >= 0.5)
    );
    summary += &format!(
        "cold start (fresh dir): median {}, max {} (goal <= 150 ms){}\n",
        ms(median(&starts.fresh)),
        ms(max(&starts.fresh)),
        verdict(max(&starts.fresh) <= Duration::from_millis(150)),
    );
    summary += &format!(
        "cold start (warm dir) : median {}, max {}{}\n",
        ms(median(&starts.warm)),
        ms(max(&starts.warm)),
        verdict(max(&starts.warm) <= Duration::from_millis(150)),
    );
    summary += &format!(
        "  (spawn to \"listening\" line: median {} fresh, {} warm; SIGTERM exits of those runs: max {}, all status 0: {})\n",
        ms(median(&starts.listening_fresh)),
        ms(median(&starts.listening_warm)),
        ms(max(&starts.stops)),
        starts.all_clean,
    );
    summary += &format!(
        "idle RSS: {:.1} MB (goal <= 25 MB){}; peak RSS {:.1} MB\n",
        idle.rss_mb,
        verdict(idle.rss_mb <= 25.0),
        idle.hwm_mb,
    );
    summary += &match idle.exit {
        Some((status, took)) if status.success() => format!(
            "SIGTERM (1 idle keep-alive connection open): clean exit in {}\n",
            ms(took)
        ),
        Some((status, took)) => format!(
            "SIGTERM (1 idle keep-alive connection open): exited with {status} after {}  << FAILED\n",
            ms(took)
        ),
        None => "SIGTERM: still running after 5 s, killed  << FAILED\n".to_string(),
    };
    println!("\n{summary}");
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.0} ms")
    }
}

fn median(v: &[Duration]) -> Duration {
    let mut v = v.to_vec();
    v.sort();
    v.get(v.len() / 2).copied().unwrap_or_default()
}

fn max(v: &[Duration]) -> Duration {
    v.iter().max().copied().unwrap_or_default()
}

// ---------------------------------------------------------------------------
// In-process servers under load

enum App {
    Hello,
    Avatarium(std::path::PathBuf),
}

struct Server {
    addr: SocketAddr,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Server {
    fn start(app: App) -> Self {
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            // Two workers, as the real binary gets on this two-core machine,
            // and the same for both servers so only the app differs.
            let rt = tokio::runtime::Builder::new_multi_thread()
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("local addr");
                let shutdown = async {
                    let _ = stopped.await;
                };
                match app {
                    App::Hello => {
                        let app = Router::new().route("/", get(|| async { "hello" }));
                        addr_tx.send(addr).expect("main thread waits");
                        axum::serve(
                            listener,
                            app.into_make_service_with_connect_info::<SocketAddr>(),
                        )
                        .with_graceful_shutdown(shutdown)
                        .await
                    }
                    App::Avatarium(dir) => {
                        let mut cfg = Config::new(dir);
                        cfg.rate_limits = RateLimits::unlimited();
                        let state = AppState::open(cfg).await.expect("open app state");
                        addr_tx.send(addr).expect("main thread waits");
                        avatarium_server::serve(listener, state, shutdown).await
                    }
                }
                .expect("serve");
            });
        });
        let addr = addr_rx.recv().expect("server thread started");
        Self {
            addr,
            stop: Some(stop),
            thread: Some(thread),
        }
    }
}

impl Drop for Server {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

#[derive(Clone)]
struct LoadRun {
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
}

impl LoadRun {
    fn line(&self) -> String {
        format!(
            "{:>6.0} req/s  p50 {}  p99 {}  errors {}",
            self.rps,
            ms(self.p50),
            ms(self.p99),
            self.errors
        )
    }
}

#[derive(Default)]
struct ClientTally {
    latencies: Vec<u32>,
    errors: u64,
}

/// `CLIENTS` tasks, each on its own keep-alive connection, issue requests
/// back to back; only those started after the warm-up and finished inside
/// the window count, errors count throughout.
async fn load(addr: SocketAddr, path: &'static str, warmup: Duration, window: Duration) -> LoadRun {
    let host = HeaderValue::from_str(&addr.to_string()).expect("host header");
    let from = Instant::now() + warmup;
    let until = from + window;
    let tasks: Vec<_> = (0..CLIENTS)
        .map(|_| tokio::spawn(client(addr, path, host.clone(), from, until)))
        .collect();
    let mut latencies = Vec::new();
    let mut errors = 0;
    for t in tasks {
        let tally = t.await.expect("client task");
        latencies.extend(tally.latencies);
        errors += tally.errors;
    }
    latencies.sort_unstable();
    let pct = |p: f64| {
        let i = ((latencies.len() as f64 * p).ceil() as usize).saturating_sub(1);
        Duration::from_micros(latencies.get(i).copied().unwrap_or(0).into())
    };
    LoadRun {
        rps: latencies.len() as f64 / window.as_secs_f64(),
        p50: pct(0.50),
        p99: pct(0.99),
        errors,
    }
}

async fn client(
    addr: SocketAddr,
    path: &'static str,
    host: HeaderValue,
    from: Instant,
    until: Instant,
) -> ClientTally {
    let mut tally = ClientTally::default();
    let mut conn = None;
    while Instant::now() < until {
        let sender = match &mut conn {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => conn.insert(s),
                Err(_) => {
                    tally.errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let outcome = fetch(sender, path, &host).await;
        let done = Instant::now();
        match outcome {
            Ok(StatusCode::OK) => {
                if started >= from && done <= until {
                    let micros = (done - started).as_micros();
                    tally.latencies.push(micros.try_into().unwrap_or(u32::MAX));
                }
            }
            Ok(_) => tally.errors += 1,
            Err(_) => {
                tally.errors += 1;
                conn = None;
            }
        }
    }
    tally
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Empty<Bytes>>, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request, body read to the end so the connection is reusable.
async fn fetch(
    sender: &mut SendRequest<Empty<Bytes>>,
    path: &str,
    host: &HeaderValue,
) -> Result<StatusCode, BoxError> {
    sender.ready().await?;
    let req = hyper::Request::get(path)
        .header(HOST, host.clone())
        .body(Empty::new())?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    res.into_body().collect().await?;
    Ok(status)
}

// ---------------------------------------------------------------------------
// The real binary: start, idle memory, shutdown

struct Spawned {
    child: Child,
    port: u16,
    /// Keeps the stdout reader alive: a closed pipe would make the server's
    /// later `println!` fail.
    _stdout: JoinHandle<()>,
    listening: Duration,
    healthy: Duration,
}

impl Spawned {
    fn start(data_dir: &Path) -> Self {
        let spawned_at = Instant::now();
        let mut child = Command::new(BIN)
            .args(["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(data_dir)
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(Stdio::null())
            .spawn()
            .expect("spawn avatarium");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        let reader = std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let port = loop {
            let line = match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => line,
                Err(_) => {
                    let _ = child.kill();
                    panic!("no \"listening on\" line; exit: {:?}", child.wait());
                }
            };
            if let Some((_, url)) = line.split_once("listening on http://") {
                let addr: SocketAddr = url.trim().parse().expect("address in banner");
                break addr.port();
            }
        };
        let listening = spawned_at.elapsed();
        let deadline = spawned_at + Duration::from_secs(10);
        loop {
            if health_ok(port) {
                break;
            }
            if let Ok(Some(status)) = child.try_wait() {
                panic!("avatarium exited with {status} before it was healthy");
            }
            assert!(Instant::now() < deadline, "/health not 200 within 10 s");
            std::thread::sleep(Duration::from_millis(2));
        }
        Self {
            healthy: spawned_at.elapsed(),
            child,
            port,
            _stdout: reader,
            listening,
        }
    }

    /// SIGTERM, then the exit status and the time from the signal to exit,
    /// or `None` (and SIGKILL) when it is still up after 5 s.
    fn terminate(mut self) -> Option<(ExitStatus, Duration)> {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("run kill");
        assert!(sent.success(), "kill -TERM failed");
        let signalled = Instant::now();
        while signalled.elapsed() < Duration::from_secs(5) {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some((status, signalled.elapsed()));
            }
            std::thread::sleep(Duration::from_millis(1));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        None
    }
}

/// A fresh connection per probe with short timeouts, so a server that is not
/// up yet costs milliseconds, not a client's default timeout.
fn health_ok(port: u16) -> bool {
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
    let Ok(mut s) = std::net::TcpStream::connect_timeout(&addr, Duration::from_millis(50)) else {
        return false;
    };
    let _ = s.set_nodelay(true);
    let _ = s.set_read_timeout(Some(Duration::from_millis(500)));
    let req =
        format!("GET /health HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nConnection: close\r\n\r\n");
    let mut status = [0u8; 12];
    s.write_all(req.as_bytes()).is_ok()
        && s.read_exact(&mut status).is_ok()
        && &status == b"HTTP/1.1 200"
}

struct Starts {
    fresh: Vec<Duration>,
    warm: Vec<Duration>,
    listening_fresh: Vec<Duration>,
    listening_warm: Vec<Duration>,
    stops: Vec<Duration>,
    all_clean: bool,
}

impl Starts {
    fn measure(s: &Settings) -> Self {
        let root = tempfile::tempdir().expect("temp dir");
        let mut out = Self {
            fresh: Vec::new(),
            warm: Vec::new(),
            listening_fresh: Vec::new(),
            listening_warm: Vec::new(),
            stops: Vec::new(),
            all_clean: true,
        };
        let stop = |out: &mut Self, server: Spawned| match server.terminate() {
            Some((status, took)) => {
                out.stops.push(took);
                out.all_clean &= status.success();
            }
            None => out.all_clean = false,
        };
        // Untimed: loads the binary into the page cache, which an installed
        // binary that was just run would also be.
        let warm_dir = root.path().join("warm");
        let primer = Spawned::start(&warm_dir);
        stop(&mut out, primer);

        for i in 0..s.starts {
            let server = Spawned::start(&root.path().join(format!("fresh-{i}")));
            out.fresh.push(server.healthy);
            out.listening_fresh.push(server.listening);
            stop(&mut out, server);
        }
        for _ in 0..s.starts {
            let server = Spawned::start(&warm_dir);
            out.warm.push(server.healthy);
            out.listening_warm.push(server.listening);
            stop(&mut out, server);
        }
        println!(
            "cold starts, fresh dir: {}",
            out.fresh
                .iter()
                .map(|d| ms(*d))
                .collect::<Vec<_>>()
                .join(", ")
        );
        println!(
            "cold starts, warm dir : {}",
            out.warm
                .iter()
                .map(|d| ms(*d))
                .collect::<Vec<_>>()
                .join(", ")
        );
        out
    }
}

struct Idle {
    rss_mb: f64,
    hwm_mb: f64,
    exit: Option<(ExitStatus, Duration)>,
}

/// Resident memory after some traffic and 2 s idle, then SIGTERM with a
/// keep-alive connection still open, as a browser tab would leave one.
async fn idle_and_shutdown() -> Idle {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Spawned::start(dir.path());
    let addr = SocketAddr::from(([127, 0, 0, 1], server.port));
    let host = HeaderValue::from_str(&addr.to_string()).expect("host header");
    let mut conn = connect(addr).await.expect("connect");
    for path in ["/health", "/v1/avatars", "/v1/personas"]
        .iter()
        .cycle()
        .take(21)
    {
        let status = fetch(&mut conn, path, &host).await.expect("request");
        assert_eq!(status, StatusCode::OK, "GET {path}");
    }
    tokio::time::sleep(Duration::from_secs(2)).await;
    let proc_status = std::fs::read_to_string(format!("/proc/{}/status", server.child.id()))
        .expect("read /proc/<pid>/status");
    let kb = |field: &str| {
        proc_status
            .lines()
            .find_map(|l| l.strip_prefix(field))
            .and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<f64>().ok())
            .expect("memory field in /proc status")
    };
    let (rss_mb, hwm_mb) = (kb("VmRSS:") / 1024.0, kb("VmHWM:") / 1024.0);
    let exit = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("terminate task");
    drop(conn);
    Idle {
        rss_mb,
        hwm_mb,
        exit,
    }
}
