//! Chat benchmark of the local server against a loopback fake LLM that
//! speaks OpenAI's streaming Chat Completions:
//!
//! 1. the latency a REST turn (`POST /v1/conversations/:id/messages`) adds
//!    over calling the fake directly, 64 keep-alive clients each: (a) with
//!    the fake replying in 100 ms like a fast model, the goal's measure,
//!    and (b) with the fake replying at once, where the closed loop
//!    saturates the CPUs and measures capacity instead;
//! 2. 1,000 conversation WebSockets relaying a 20 chunks/s stream for 30 s
//!    from the real binary in its own process: delivery, per-chunk relay
//!    latency, and the server's memory per open session.
//!
//! `cargo bench -p avatarium-cli --bench chat` runs it in full; `BENCH_SECS`
//! (default 5), `BENCH_WS_CLIENTS` (default 1000) and `BENCH_WS_SECS`
//! (default 30) tune it. Without `--bench` (as `cargo test --all-targets`
//! runs it) it does a short smoke pass.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, OnceLock};
use std::thread::JoinHandle;
use std::time::{Duration, Instant};

use avatarium_core::config::{Config, ProviderSettings, RateLimits, Secret};
use avatarium_server::AppState;
use axum::body::{Body, Bytes};
use axum::extract::{Path as UrlPath, State};
use axum::http::StatusCode;
use axum::http::header::{AUTHORIZATION, CONTENT_TYPE, HOST};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use axum::serve::ListenerExt;
use futures::{SinkExt, StreamExt};
use http_body_util::{BodyExt, Full};
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderValue;
use hyper_util::rt::TokioIo;
use serde_json::{Value, json};
use tokio::sync::{Semaphore, oneshot, watch};
use tokio_tungstenite::tungstenite::Message as WsMessage;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;

const BIN: &str = env!("CARGO_BIN_EXE_avatarium");
const REST_CLIENTS: usize = 64;
const QUIET_CONVERSATIONS: usize = 64;
const CHUNK_PERIOD: Duration = Duration::from_millis(50);
const BURST_REPLY: [&str; 5] = ["Hello", " from", " the", " fake", " model."];
/// `paced` replies stream like a fast hosted model: the first chunk after
/// this long, the others `PACED_GAP` apart, 100 ms in all.
const PACED_FIRST: Duration = Duration::from_millis(40);
const PACED_GAP: Duration = Duration::from_millis(15);
const API_KEY: &str = "sk-bench";

type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// The clock every chunk timestamp is read from. The fake LLM and the
/// WebSocket clients share this process, so a receive time minus the
/// timestamp inside the chunk is the time the server took to relay it.
static EPOCH: OnceLock<Instant> = OnceLock::new();

fn now_micros() -> u64 {
    EPOCH.get_or_init(Instant::now).elapsed().as_micros() as u64
}

struct Settings {
    full: bool,
    warmup: Duration,
    window: Duration,
    rounds: usize,
    quiet_window: Duration,
    ws_clients: usize,
    ws_chunks: u64,
}

impl Settings {
    fn from_env() -> Self {
        let full = std::env::args().any(|a| a == "--bench");
        let var = |name: &str| std::env::var(name).ok().and_then(|v| v.parse::<f64>().ok());
        if full {
            let window = Duration::from_secs_f64(var("BENCH_SECS").unwrap_or(5.0).max(0.1));
            Self {
                full,
                warmup: Duration::from_secs(1),
                window,
                rounds: 2,
                quiet_window: window.min(Duration::from_secs(2)),
                ws_clients: var("BENCH_WS_CLIENTS").map_or(1000, |c| c.max(1.0) as usize),
                ws_chunks: (var("BENCH_WS_SECS").unwrap_or(30.0).max(0.5) * 20.0) as u64,
            }
        } else {
            Self {
                full,
                warmup: Duration::from_millis(100),
                window: Duration::from_millis(300),
                rounds: 1,
                quiet_window: Duration::from_millis(200),
                ws_clients: 20,
                ws_chunks: 20,
            }
        }
    }

    fn ws_secs(&self) -> f64 {
        self.ws_chunks as f64 * CHUNK_PERIOD.as_secs_f64()
    }
}

fn main() {
    EPOCH.get_or_init(Instant::now);
    let s = Settings::from_env();
    let bench_started = Instant::now();
    // Other processes on a small machine skew every figure; say so next to them.
    let load_before = std::fs::read_to_string("/proc/loadavg")
        .ok()
        .and_then(|l| l.split_whitespace().next().map(str::to_owned))
        .unwrap_or_else(|| "?".into());
    let cpus = std::thread::available_parallelism().map_or(0, |n| n.get());
    if !s.full {
        println!("(smoke run: pass --bench, as `cargo bench` does, for real figures)");
    }
    // Each WebSocket costs this process two descriptors (the client socket
    // and the fake LLM's accepted one) and the server child, which inherits
    // the limit, two as well (the socket and its upstream connection).
    let nofile = raise_open_file_limit(2 * s.ws_clients as u64 + 512);

    // One worker each for the fake and the clients, two for the server (as
    // the real binary gets on a two-core machine): the load generator and
    // the fake never share a scheduler with the server they measure.
    // Threads are named so that a profile of this process tells them apart.
    let client_rt = tokio::runtime::Builder::new_multi_thread()
        .thread_name("bench-clients")
        .worker_threads(1)
        .enable_all()
        .build()
        .expect("client runtime");
    let fake = Fake::start();

    // ---- 1. REST turn: direct to the fake vs through the server ----------
    // a) The latency goal: the fake takes as long as a fast model, so 64
    //    clients offer a steady load (~640 turns/s) the machine can carry,
    //    and the difference is what the server adds to each turn.
    let (paced_direct, paced_through) = rest_rounds(&client_rt, &fake, "paced", paced_turn(), &s);
    // b) Capacity: the fake answers at once, so the closed loop saturates
    //    both CPUs and its p50 is 64 / throughput.
    let data = tempfile::tempdir().expect("temp dir");
    let server = InProcess::start(data.path(), &fake.base("burst"));
    let (direct, through) = rest_rounds_on(&client_rt, &fake, &server, "burst", Duration::ZERO, &s);
    // One client, no queueing: the server's own cost per turn, which the
    // 64-client figures multiply by the depth of the run queue. It cycles
    // through many conversations because a single one would reach hundreds
    // of turns in seconds, and the cost of a turn grows with its thread.
    let quiet_direct = client_rt.block_on(rest_load(
        Target::Direct(fake.addr, "burst"),
        1,
        Duration::ZERO,
        s.warmup / 2,
        s.quiet_window,
    ));
    println!("1 client direct to fake LLM: {}", quiet_direct.line());
    let convs = vec![client_rt.block_on(server.conversations(QUIET_CONVERSATIONS))];
    let quiet_server = client_rt.block_on(rest_load(
        Target::Server(server.addr, server.token.clone(), convs),
        1,
        Duration::ZERO,
        s.warmup / 2,
        s.quiet_window,
    ));
    println!(
        "1 client REST turn         : {}  (up to {} turns per conversation)",
        quiet_server.line(),
        quiet_server.max_turns
    );
    drop(server);

    // ---- 2. 1,000 WebSockets streaming through the real binary -----------
    let ws = client_rt.block_on(ws_bench(&s, &fake));
    drop(fake);

    // ---- summary ----------------------------------------------------------
    let added = |a: Duration, b: Duration| a.as_secs_f64() * 1e3 - b.as_secs_f64() * 1e3;
    let (added_p50, added_p99) = (
        added(through.p50, direct.p50),
        added(through.p99, direct.p99),
    );
    let (quiet_p50, quiet_p99) = (
        added(quiet_server.p50, quiet_direct.p50),
        added(quiet_server.p99, quiet_direct.p99),
    );
    let secs = s.window.as_secs_f64();
    let mut out = String::new();
    out += "== avatarium chat bench ==\n";
    out += &format!(
        "machine: {cpus} CPUs, 1-min load average {load_before} before the run; open files soft/hard {}/{}\n",
        nofile.0, nofile.1
    );
    let (paced_p50, paced_p99) = (
        added(paced_through.p50, paced_direct.p50),
        added(paced_through.p99, paced_direct.p99),
    );
    out += &format!(
        "REST turn, {REST_CLIENTS} keep-alive clients, {} x {secs} s each after {} s warm-up, direct and through the server alternated\n",
        s.rounds,
        s.warmup.as_secs_f64()
    );
    out += &format!(
        "a) fake LLM streaming its 5 chunks like a fast model (first after {} ms, then every {} ms, each at its exact offset from the request's arrival; {} ms a reply), clients started evenly over one reply:\n",
        PACED_FIRST.as_millis(),
        PACED_GAP.as_millis(),
        paced_turn().as_millis(),
    );
    out += &format!(
        "  direct to fake LLM                 : {}\n",
        paced_direct.line()
    );
    out += &format!(
        "  POST /v1/conversations/:id/messages: {}\n",
        paced_through.line()
    );
    out += &format!(
        "  added by the server: p50 {:+.2} ms (goal <= 1 ms){}, p99 {:+.2} ms (goal <= 5 ms){}\n",
        paced_p50,
        verdict(paced_p50 <= 1.0),
        paced_p99,
        verdict(paced_p99 <= 5.0),
    );
    out += &format!(
        "  CPU per turn: server {:.0} us (runtime {:.0} + SQLite threads {:.0}) at {:.0} turns/s\n",
        paced_through.cpu_us(paced_through.cpu.server + paced_through.cpu.sqlite),
        paced_through.cpu_us(paced_through.cpu.server),
        paced_through.cpu_us(paced_through.cpu.sqlite),
        paced_through.rps,
    );
    out += "b) capacity: fake LLM answering at once (5-chunk SSE), so the closed loop saturates the CPUs:\n";
    out += &format!("  direct to fake LLM                 : {}\n", direct.line());
    out += &format!(
        "  POST /v1/conversations/:id/messages: {}\n",
        through.line()
    );
    out += &format!(
        "  difference at saturation: p50 {:+.2} ms, p99 {:+.2} ms (queueing behind {REST_CLIENTS} clients, not a per-turn cost)\n",
        added_p50, added_p99,
    );
    let (d, t) = (&direct, &through);
    let direct_total = d.cpu_us(d.cpu.fake) + d.cpu_us(d.cpu.clients);
    let turn_total = t.cpu_us(t.cpu.server + t.cpu.sqlite + t.cpu.fake + t.cpu.clients);
    out += &format!(
        "  CPU per request: direct {:.0} us (fake {:.0}, clients {:.0}); REST turn {:.0} us (server {:.0} = runtime {:.0} + SQLite threads {:.0}; fake {:.0}, clients {:.0}): at {cpus} CPUs at most ~{:.0} turns/s vs ~{:.0} direct\n",
        direct_total,
        d.cpu_us(d.cpu.fake),
        d.cpu_us(d.cpu.clients),
        turn_total,
        t.cpu_us(t.cpu.server + t.cpu.sqlite),
        t.cpu_us(t.cpu.server),
        t.cpu_us(t.cpu.sqlite),
        t.cpu_us(t.cpu.fake),
        t.cpu_us(t.cpu.clients),
        cpus as f64 * 1e6 / turn_total.max(1e-9),
        cpus as f64 * 1e6 / direct_total.max(1e-9),
    );
    out += &format!(
        "  (closed loop: p50 ~ {REST_CLIENTS} / throughput, so these p50s measure the turn rate: {:.1} ms at the server's, {:.1} ms at the fake's)\n",
        REST_CLIENTS as f64 * 1e3 / through.rps.max(1e-9),
        REST_CLIENTS as f64 * 1e3 / direct.rps.max(1e-9),
    );
    out += &format!(
        "  1 client (no queueing, {} conversations round-robin, up to {} turns each): direct p50 {} / server p50 {} -> added p50 {:+.2} ms (goal <= 1 ms){}, p99 {:+.2} ms (goal <= 5 ms){}\n",
        QUIET_CONVERSATIONS,
        quiet_server.max_turns,
        ms(quiet_direct.p50),
        ms(quiet_server.p50),
        quiet_p50,
        verdict(quiet_p50 <= 1.0),
        quiet_p99,
        verdict(quiet_p99 <= 5.0),
    );
    out += &ws.summary(&s);
    out += &format!(
        "whole bench: {:.0} s\n",
        bench_started.elapsed().as_secs_f64()
    );
    println!("\n{out}");
}

/// How long a `paced` reply takes from request to its last chunk.
fn paced_turn() -> Duration {
    PACED_FIRST + PACED_GAP * (BURST_REPLY.len() as u32 - 1)
}

/// Rounds of 64 clients direct to the fake in `mode` and through a fresh
/// in-process server pointed at it.
fn rest_rounds(
    rt: &tokio::runtime::Runtime,
    fake: &Fake,
    mode: &'static str,
    stagger: Duration,
    s: &Settings,
) -> (LoadRun, LoadRun) {
    let data = tempfile::tempdir().expect("temp dir");
    let server = InProcess::start(data.path(), &fake.base(mode));
    rest_rounds_on(rt, fake, &server, mode, stagger, s)
}

/// Alternates direct and server rounds, so a change in the machine's load
/// falls on both alike.
fn rest_rounds_on(
    rt: &tokio::runtime::Runtime,
    fake: &Fake,
    server: &InProcess,
    mode: &'static str,
    stagger: Duration,
    s: &Settings,
) -> (LoadRun, LoadRun) {
    let mut direct_runs = Vec::new();
    let mut server_runs = Vec::new();
    for round in 1..=s.rounds {
        let run = rt.block_on(rest_load(
            Target::Direct(fake.addr, mode),
            REST_CLIENTS,
            stagger,
            s.warmup,
            s.window,
        ));
        println!("round {round} {mode:>5} direct to fake LLM: {}", run.line());
        direct_runs.push(run);
        let convs = rt.block_on(server.conversations(REST_CLIENTS));
        let convs = convs.into_iter().map(|c| vec![c]).collect();
        let opened = fake.stats.accepted.load(Ordering::Relaxed);
        let run = rt.block_on(rest_load(
            Target::Server(server.addr, server.token.clone(), convs),
            REST_CLIENTS,
            stagger,
            s.warmup,
            s.window,
        ));
        println!(
            "round {round} {mode:>5} REST turn         : {}; {} upstream connections opened",
            run.line(),
            fake.stats.accepted.load(Ordering::Relaxed) - opened
        );
        server_runs.push(run);
    }
    (LoadRun::merge(&direct_runs), LoadRun::merge(&server_runs))
}

fn verdict(ok: bool) -> &'static str {
    if ok { "" } else { "  << MISSED" }
}

fn ms(d: Duration) -> String {
    let ms = d.as_secs_f64() * 1e3;
    if ms < 10.0 {
        format!("{ms:.2} ms")
    } else {
        format!("{ms:.1} ms")
    }
}

/// Nearest-rank percentile of sorted microsecond samples.
fn pct(sorted: &[u32], p: f64) -> Duration {
    let i = ((sorted.len() as f64 * p).ceil() as usize).saturating_sub(1);
    Duration::from_micros(sorted.get(i).copied().unwrap_or(0).into())
}

/// Raises the soft open-file limit towards `want` (never past the hard
/// limit) and returns the soft and hard limits then in force.
#[cfg(unix)]
#[allow(unsafe_code)]
fn raise_open_file_limit(want: u64) -> (u64, u64) {
    let mut lim = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: `lim` is a valid, writable rlimit for the call's duration.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) } != 0 {
        return (0, 0);
    }
    let target = (want as libc::rlim_t).min(lim.rlim_max);
    if lim.rlim_cur < target {
        let raised = libc::rlimit {
            rlim_cur: target,
            rlim_max: lim.rlim_max,
        };
        // SAFETY: `raised` is a valid rlimit that only the kernel reads.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &raised) } == 0 {
            lim.rlim_cur = target;
        }
    }
    // rlim_t is u64 on Linux but not everywhere; the casts keep this portable.
    #[allow(clippy::unnecessary_cast)]
    let (cur, max) = (lim.rlim_cur as u64, lim.rlim_max as u64);
    if cur < want {
        println!(
            "warning: open-file limit {} is below the {want} this run needs; expect failed connects",
            lim.rlim_cur
        );
    }
    (cur, max)
}

#[cfg(not(unix))]
fn raise_open_file_limit(_want: u64) -> (u64, u64) {
    (0, 0)
}

// ---------------------------------------------------------------------------
// The fake LLM

#[derive(Default)]
struct FakeStats {
    /// Chunks in each `ticker` reply; set before the streams it shapes start.
    ticker_chunks: AtomicU64,
    ticker_started: AtomicU64,
    ticker_emitted: AtomicU64,
    /// TCP connections accepted: a server that reuses its upstream
    /// connections opens about one per concurrent turn, not one per turn.
    accepted: AtomicU64,
}

/// An OpenAI-compatible `/{mode}/v1/chat/completions` on its own runtime:
/// `burst` answers at once with a 5-chunk SSE reply, `ticker` sends one
/// chunk every 50 ms whose text is its send time (`t=<µs since EPOCH>;`).
struct Fake {
    addr: SocketAddr,
    stats: Arc<FakeStats>,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl Fake {
    fn start() -> Self {
        let stats = Arc::new(FakeStats::default());
        let (addr_tx, addr_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let shared = stats.clone();
        let accepted = stats.clone();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .thread_name("fake-llm")
                .worker_threads(1)
                .enable_all()
                .build()
                .expect("fake LLM runtime");
            rt.block_on(async move {
                let app = axum::Router::new()
                    .route("/{mode}/v1/chat/completions", post(completions))
                    .with_state(shared);
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind fake LLM");
                addr_tx
                    .send(listener.local_addr().expect("fake address"))
                    .expect("main thread waits");
                // Without it Nagle holds a chunk written right after another
                // until the first is acknowledged (up to the server's 40 ms
                // delayed ACK), a delay that would be charged to the server.
                let listener = listener.tap_io(move |tcp| {
                    accepted.accepted.fetch_add(1, Ordering::Relaxed);
                    let _ = tcp.set_nodelay(true);
                });
                axum::serve(listener, app)
                    .with_graceful_shutdown(async {
                        let _ = stopped.await;
                    })
                    .await
                    .expect("serve fake LLM");
            });
        });
        Self {
            addr: addr_rx.recv().expect("fake LLM started"),
            stats,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    fn base(&self, mode: &str) -> String {
        format!("http://{}/{mode}/v1", self.addr)
    }
}

impl Drop for Fake {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

fn sse_chunk(content: &str) -> String {
    format!(
        "data: {}\n\n",
        json!({"id": "chatcmpl-bench", "object": "chat.completion.chunk", "created": 0, "model": "fake",
               "choices": [{"index": 0, "delta": {"content": content}, "finish_reason": null}]})
    )
}

async fn completions(
    State(stats): State<Arc<FakeStats>>,
    UrlPath(mode): UrlPath<String>,
    body: Bytes,
) -> Response {
    // Parsed like a real provider would, so both paths pay for it alike.
    let req: Value = match serde_json::from_slice(&body) {
        Ok(v) => v,
        Err(e) => return (StatusCode::BAD_REQUEST, e.to_string()).into_response(),
    };
    if req["stream"] != json!(true) || !req["messages"].is_array() {
        return (StatusCode::BAD_REQUEST, "expected a streaming chat request").into_response();
    }
    let sse = [(CONTENT_TYPE, "text/event-stream")];
    match mode.as_str() {
        "burst" => {
            let mut out = String::new();
            for c in BURST_REPLY {
                out.push_str(&sse_chunk(c));
            }
            out.push_str("data: [DONE]\n\n");
            (sse, out).into_response()
        }
        "paced" => (sse, Body::from_stream(paced())).into_response(),
        "ticker" => (sse, Body::from_stream(ticker(stats))).into_response(),
        _ => StatusCode::NOT_FOUND.into_response(),
    }
}

/// Each chunk leaves at the request's arrival plus its exact offset.
///
/// Tokio's timer fires only on its runtime's 1 ms ticks. Paced on it, every
/// chunk left on a tick, so a delay before the request reached the fake
/// vanished into the rounding while it fell short of the next tick and cost
/// a whole millisecond once it crossed it; in the closed loop each client's
/// phase against the ticks locked in, and the 64-client p50 moved by up to
/// a millisecond between runs of unchanged code. async-io's timers wake at
/// their instant (a timerfd on Linux), so a delay the server adds reaches
/// the client whole, neither hidden nor rounded up.
fn paced() -> impl futures::Stream<Item = Result<Bytes, BoxError>> {
    let arrived = Instant::now();
    futures::stream::unfold(0usize, move |i| async move {
        match i {
            i if i < BURST_REPLY.len() => {
                async_io::Timer::at(arrived + PACED_FIRST + PACED_GAP * i as u32).await;
                Some((Ok(Bytes::from(sse_chunk(BURST_REPLY[i]))), i + 1))
            }
            i if i == BURST_REPLY.len() => {
                Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), i + 1))
            }
            _ => None,
        }
    })
}

fn ticker(stats: Arc<FakeStats>) -> impl futures::Stream<Item = Result<Bytes, BoxError>> {
    let n = stats.ticker_chunks.load(Ordering::Relaxed);
    let k = stats.ticker_started.fetch_add(1, Ordering::Relaxed);
    // Streams that start together would otherwise tick in the same
    // millisecond forever, a lock-step burst no set of real users makes;
    // golden-ratio offsets spread them evenly over the period.
    let phase = (k as f64 * 0.618_033_988_75).fract();
    let first = tokio::time::Instant::now() + CHUNK_PERIOD.mul_f64(phase);
    let tick = tokio::time::interval_at(first, CHUNK_PERIOD);
    futures::stream::unfold((tick, 0u64), move |(mut tick, i)| {
        let stats = stats.clone();
        async move {
            if i > n {
                return None;
            }
            if i == n {
                return Some((Ok(Bytes::from_static(b"data: [DONE]\n\n")), (tick, i + 1)));
            }
            tick.tick().await;
            let chunk = sse_chunk(&format!("t={};", now_micros()));
            stats.ticker_emitted.fetch_add(1, Ordering::Relaxed);
            Some((Ok(Bytes::from(chunk)), (tick, i + 1)))
        }
    })
}

// ---------------------------------------------------------------------------
// Part 1: REST turns against an in-process server

struct InProcess {
    addr: SocketAddr,
    token: String,
    stop: Option<oneshot::Sender<()>>,
    thread: Option<JoinHandle<()>>,
}

impl InProcess {
    fn start(dir: &Path, llm_base: &str) -> Self {
        let mut cfg = Config::new(dir);
        cfg.rate_limits = RateLimits::unlimited();
        cfg.providers.insert(
            "openai".into(),
            ProviderSettings {
                api_key: Some(Secret(API_KEY.into())),
                base_url: Some(llm_base.into()),
                model: None,
            },
        );
        let (ready_tx, ready_rx) = mpsc::channel();
        let (stop, stopped) = oneshot::channel::<()>();
        let thread = std::thread::spawn(move || {
            let rt = tokio::runtime::Builder::new_multi_thread()
                .thread_name("avatarium")
                .worker_threads(2)
                .enable_all()
                .build()
                .expect("server runtime");
            rt.block_on(async move {
                let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
                    .await
                    .expect("bind");
                let addr = listener.local_addr().expect("local addr");
                let state = AppState::open(cfg).await.expect("open app state");
                let owner = state.store.owner().await.expect("owner account");
                let token = state
                    .tokens
                    .issue(&owner.id, "user", None, Duration::from_secs(3600))
                    .token;
                ready_tx.send((addr, token)).expect("main thread waits");
                avatarium_server::serve(listener, state, async {
                    let _ = stopped.await;
                })
                .await
                .expect("serve");
            });
        });
        let (addr, token) = ready_rx.recv().expect("server started");
        Self {
            addr,
            token,
            stop: Some(stop),
            thread: Some(thread),
        }
    }

    /// Fresh conversations, so every round starts from the same short
    /// history rather than from the previous round's hundreds of turns.
    async fn conversations(&self, n: usize) -> Vec<String> {
        let base = format!("http://{}", self.addr);
        create_conversations(&base, &self.token, n)
            .await
            .into_iter()
            .map(|c| c.id)
            .collect()
    }
}

impl Drop for InProcess {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

struct Conversation {
    id: String,
    ws_url: String,
}

async fn create_conversations(base: &str, token: &str, n: usize) -> Vec<Conversation> {
    let http = reqwest::Client::new();
    let url = format!("{base}/v1/conversations");
    futures::stream::iter(0..n)
        .map(|_| {
            let req = http
                .post(&url)
                .bearer_auth(token)
                .json(&json!({"provider": "openai"}));
            async move {
                let res = req.send().await.expect("POST /v1/conversations");
                let status = res.status();
                let body: Value = res.json().await.expect("JSON reply");
                assert_eq!(status, reqwest::StatusCode::CREATED, "{body}");
                let data = &body["data"];
                // The server quietly falls back to its default provider when
                // the one asked for is not configured; that would measure the
                // wrong thing.
                assert_eq!(data["provider"], "openai", "{body}");
                Conversation {
                    id: data["id"].as_str().expect("id").to_owned(),
                    ws_url: data["wsUrl"].as_str().expect("wsUrl").to_owned(),
                }
            }
        })
        .buffer_unordered(16)
        .collect()
        .await
}

#[derive(Clone)]
enum Target {
    /// The fake's address and the mode of its replies.
    Direct(SocketAddr, &'static str),
    /// Server address, bearer token, and for each client the conversations
    /// it takes turns in, round-robin.
    Server(SocketAddr, String, Vec<Vec<String>>),
}

#[derive(Clone, Default)]
struct LoadRun {
    window: Duration,
    latencies: Vec<u32>,
    rps: f64,
    p50: Duration,
    p99: Duration,
    errors: u64,
    max_turns: u64,
    /// CPU ticks each group of this process's threads used in the window.
    cpu: ThreadCpu,
}

/// CPU time (clock ticks) of this process's threads, by who they work for;
/// thread names tell them apart.
#[derive(Clone, Copy, Default)]
struct ThreadCpu {
    /// The in-process server's runtime ("avatarium").
    server: u64,
    /// sqlx's one thread per SQLite connection: only the server has any.
    sqlite: u64,
    fake: u64,
    clients: u64,
}

impl ThreadCpu {
    fn now() -> Self {
        let mut cpu = Self::default();
        let Ok(tasks) = std::fs::read_dir("/proc/self/task") else {
            return cpu;
        };
        for task in tasks.flatten() {
            let tid = task.file_name();
            let tid = tid.to_string_lossy();
            let Some(ticks) = proc_cpu_ticks(&format!("self/task/{tid}")) else {
                continue;
            };
            let name =
                std::fs::read_to_string(format!("/proc/self/task/{tid}/comm")).unwrap_or_default();
            let group = match name.trim_end() {
                n if n.starts_with("avatarium") => &mut cpu.server,
                n if n.starts_with("sqlx-sqlite") => &mut cpu.sqlite,
                n if n.starts_with("fake-llm") => &mut cpu.fake,
                n if n.starts_with("bench-clients") => &mut cpu.clients,
                _ => continue,
            };
            *group += ticks;
        }
        cpu
    }

    fn since(self, before: Self) -> Self {
        Self {
            server: self.server.saturating_sub(before.server),
            sqlite: self.sqlite.saturating_sub(before.sqlite),
            fake: self.fake.saturating_sub(before.fake),
            clients: self.clients.saturating_sub(before.clients),
        }
    }

    fn add(self, o: Self) -> Self {
        Self {
            server: self.server + o.server,
            sqlite: self.sqlite + o.sqlite,
            fake: self.fake + o.fake,
            clients: self.clients + o.clients,
        }
    }
}

impl LoadRun {
    fn finish(mut self) -> Self {
        self.latencies.sort_unstable();
        self.rps = self.latencies.len() as f64 / self.window.as_secs_f64();
        self.p50 = pct(&self.latencies, 0.50);
        self.p99 = pct(&self.latencies, 0.99);
        self
    }

    fn merge(runs: &[LoadRun]) -> Self {
        let mut all = LoadRun::default();
        for r in runs {
            all.window += r.window;
            all.latencies.extend(&r.latencies);
            all.errors += r.errors;
            all.max_turns = all.max_turns.max(r.max_turns);
            all.cpu = all.cpu.add(r.cpu);
        }
        all.finish()
    }

    /// Microseconds of CPU per request a group of threads used.
    fn cpu_us(&self, ticks: u64) -> f64 {
        ticks as f64 / CLK_TCK * 1e6 / self.latencies.len().max(1) as f64
    }

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

/// `clients` tasks, each on its own keep-alive connection, issue requests
/// back to back, the i-th starting `stagger * i / clients` late; only those
/// started after the warm-up and finished inside the window count, errors
/// count throughout.
async fn rest_load(
    target: Target,
    clients: usize,
    stagger: Duration,
    warmup: Duration,
    window: Duration,
) -> LoadRun {
    let start = Instant::now();
    let from = start + warmup;
    let until = from + window;
    let tasks: Vec<_> = (0..clients)
        .map(|i| {
            // Clients that all start at once against a fake that always
            // takes as long stay in lock-step, a burst of 64 turns per
            // reply that no set of real users makes.
            let first = start + stagger.mul_f64(i as f64 / clients as f64);
            tokio::spawn(rest_client(target.clone(), i, first, from, until))
        })
        .collect();
    // Threads' CPU over the window only, so warm-up and the tail of turns
    // still running at its end are (nearly) not charged.
    tokio::time::sleep_until(from.into()).await;
    let cpu_from = ThreadCpu::now();
    tokio::time::sleep_until(until.into()).await;
    let cpu = ThreadCpu::now().since(cpu_from);
    let mut run = LoadRun {
        window,
        cpu,
        ..Default::default()
    };
    for t in tasks {
        let (latencies, errors, turns) = t.await.expect("client task");
        run.latencies.extend(latencies);
        run.errors += errors;
        run.max_turns = run.max_turns.max(turns);
    }
    run.finish()
}

/// The body the server sends the fake once a conversation has its full
/// 20-message history, so the direct path carries the same request shape.
fn direct_body() -> Bytes {
    let mut messages: Vec<Value> = (0..10)
        .flat_map(|_| {
            [
                json!({"role": "user", "content": "Hello there"}),
                json!({"role": "assistant", "content": BURST_REPLY.concat()}),
            ]
        })
        .collect();
    messages.push(json!({"role": "user", "content": "Hello there"}));
    Bytes::from(json!({"model": "gpt-4o-mini", "messages": messages, "stream": true}).to_string())
}

async fn rest_client(
    target: Target,
    index: usize,
    first: Instant,
    from: Instant,
    until: Instant,
) -> (Vec<u32>, u64, u64) {
    tokio::time::sleep_until(first.into()).await;
    let (addr, paths, auth, body) = match &target {
        Target::Direct(addr, mode) => (
            *addr,
            vec![format!("/{mode}/v1/chat/completions")],
            format!("Bearer {API_KEY}"),
            direct_body(),
        ),
        Target::Server(addr, token, convs) => (
            *addr,
            convs[index]
                .iter()
                .map(|id| format!("/v1/conversations/{id}/messages"))
                .collect(),
            format!("Bearer {token}"),
            Bytes::from_static(br#"{"content":"Hello there"}"#),
        ),
    };
    let host = HeaderValue::from_str(&addr.to_string()).expect("host header");
    let auth = HeaderValue::from_str(&auth).expect("auth header");
    let mut latencies = Vec::new();
    let (mut errors, mut turns) = (0, 0u64);
    let mut conn = None;
    while Instant::now() < until {
        let sender = match &mut conn {
            Some(s) => s,
            None => match connect(addr).await {
                Ok(s) => conn.insert(s),
                Err(_) => {
                    errors += 1;
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
        };
        let started = Instant::now();
        let path = &paths[turns as usize % paths.len()];
        let outcome = post_json(sender, path, &host, &auth, body.clone()).await;
        let done = Instant::now();
        match outcome {
            Ok((StatusCode::OK, reply)) if reply_complete(&target, &reply) => {
                turns += 1;
                if started >= from && done <= until {
                    let micros = (done - started).as_micros();
                    latencies.push(micros.try_into().unwrap_or(u32::MAX));
                }
            }
            Ok(_) => errors += 1,
            Err(_) => {
                errors += 1;
                conn = None;
            }
        }
    }
    (latencies, errors, turns.div_ceil(paths.len() as u64))
}

fn reply_complete(target: &Target, reply: &[u8]) -> bool {
    match target {
        Target::Direct(..) => reply.ends_with(b"data: [DONE]\n\n"),
        Target::Server(..) => {
            let want = BURST_REPLY.concat();
            reply.windows(want.len()).any(|w| w == want.as_bytes())
        }
    }
}

async fn connect(addr: SocketAddr) -> Result<SendRequest<Full<Bytes>>, BoxError> {
    let stream = tokio::net::TcpStream::connect(addr).await?;
    stream.set_nodelay(true)?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
    tokio::spawn(async move {
        let _ = conn.await;
    });
    Ok(sender)
}

/// One request, body read to the end so the connection is reusable.
async fn post_json(
    sender: &mut SendRequest<Full<Bytes>>,
    path: &str,
    host: &HeaderValue,
    auth: &HeaderValue,
    body: Bytes,
) -> Result<(StatusCode, Bytes), BoxError> {
    sender.ready().await?;
    let req = hyper::Request::post(path)
        .header(HOST, host.clone())
        .header(AUTHORIZATION, auth.clone())
        .header(CONTENT_TYPE, "application/json")
        .body(Full::new(body))?;
    let res = sender.send_request(req).await?;
    let status = res.status();
    let bytes = res.into_body().collect().await?.to_bytes();
    Ok((status, bytes))
}

// ---------------------------------------------------------------------------
// Part 2: WebSockets against the real binary

/// Counters the clients bump as they go, read by the sampler.
#[derive(Default)]
struct Live {
    connected: AtomicUsize,
    failed: AtomicUsize,
    streaming: AtomicUsize,
    finished: AtomicUsize,
    chunks: AtomicU64,
}

#[derive(Default)]
struct WsTally {
    connect_error: Option<String>,
    error_events: u64,
    first_error: Option<String>,
    closed_early: bool,
    timed_out: bool,
    chunks: u64,
    latencies: Vec<u32>,
}

impl WsTally {
    /// The first chunk of a stream follows `stream_start` within
    /// microseconds, the one place where the server writes twice in a row.
    fn first_latency(&self) -> Option<u32> {
        self.latencies.first().copied()
    }
}

struct WsReport {
    clients: usize,
    connected: usize,
    failed_connects: usize,
    first_connect_error: Option<String>,
    error_events: u64,
    first_error: Option<String>,
    closed_early: usize,
    timed_out: usize,
    chunks: u64,
    expected: u64,
    emitted: u64,
    latencies: Vec<u32>,
    first_latencies: Vec<u32>,
    stream_secs: f64,
    warmup_errors: usize,
    rss_before_kb: u64,
    rss_idle_kb: u64,
    rss_streaming_kb: Vec<u64>,
    rss_peak_kb: u64,
    server_cpu: f64,
    bench_cpu: f64,
    exit: String,
    server_log_tail: String,
}

impl WsReport {
    fn summary(&self, s: &Settings) -> String {
        let mut out = format!(
            "WebSockets: {} conversations, fake LLM at 20 chunks/s for {} s each ({} chunks per stream), server in its own process:\n",
            self.clients,
            s.ws_secs(),
            s.ws_chunks
        );
        let errors = self.failed_connects as u64
            + self.error_events
            + self.closed_early as u64
            + self.timed_out as u64;
        let missing = self.expected.saturating_sub(self.chunks);
        out += &format!(
            "  connections opened {}/{}; errors {} (goal 0){}: failed connects {}, error events {}, closed early {}, timed out {}; warm-up errors {}\n",
            self.connected,
            self.clients,
            errors,
            verdict(errors == 0),
            self.failed_connects,
            self.error_events,
            self.closed_early,
            self.timed_out,
            self.warmup_errors,
        );
        if let Some(e) = &self.first_connect_error {
            out += &format!("    first connect error: {e}\n");
        }
        if let Some(e) = &self.first_error {
            out += &format!("    first error event: {e}\n");
        }
        out += &format!(
            "  chunks relayed {} of {} expected (missing {}, goal 0){}; fake sent {}; {:.0} chunks/s over {:.1} s (offered {:.0}/s)\n",
            self.chunks,
            self.expected,
            missing,
            verdict(missing == 0),
            self.emitted,
            self.chunks as f64 / self.stream_secs.max(1e-9),
            self.stream_secs,
            self.connected as f64 * 20.0,
        );
        let p99 = pct(&self.latencies, 0.99);
        let over = self.latencies.iter().filter(|&&l| l > 20_000).count();
        out += &format!(
            "  chunk relay latency (fake send -> client receive): p50 {}, p99 {} (goal <= 20 ms){}, max {}\n",
            ms(pct(&self.latencies, 0.50)),
            ms(p99),
            verdict(p99 <= Duration::from_millis(20)),
            ms(pct(&self.latencies, 1.0)),
        );
        out += &format!(
            "    p90 {}, p99.9 {}; {:.2}% of chunks over 20 ms\n",
            ms(pct(&self.latencies, 0.90)),
            ms(pct(&self.latencies, 0.999)),
            over as f64 * 100.0 / self.latencies.len().max(1) as f64,
        );
        out += &format!(
            "    first chunk of each stream (right after stream_start): p50 {}, p99 {}, max {}\n",
            ms(pct(&self.first_latencies, 0.50)),
            ms(pct(&self.first_latencies, 0.99)),
            ms(pct(&self.first_latencies, 1.0)),
        );
        let mb = |kb: u64| kb as f64 / 1024.0;
        let mut sorted = self.rss_streaming_kb.clone();
        sorted.sort_unstable();
        let during = sorted.get(sorted.len() / 2).copied();
        match during {
            Some(during) => {
                let per = (during.saturating_sub(self.rss_before_kb)) as f64 / self.clients as f64;
                out += &format!(
                    "  server RSS: {:.1} MB before the sockets, {:.1} MB with all open and idle, {:.1} MB while all stream (median of {} samples; peak {:.1} MB)\n",
                    mb(self.rss_before_kb),
                    mb(self.rss_idle_kb),
                    mb(during),
                    sorted.len(),
                    mb(self.rss_peak_kb),
                );
                out += &format!(
                    "  memory per open session: {per:.1} KB streaming, {:.1} KB idle\n",
                    self.rss_idle_kb.saturating_sub(self.rss_before_kb) as f64
                        / self.clients as f64,
                );
            }
            None => {
                out += &format!(
                    "  server RSS: {:.1} MB before; never saw all {} streaming at once (peak {:.1} MB), so no per-session figure\n",
                    mb(self.rss_before_kb),
                    self.clients,
                    mb(self.rss_peak_kb),
                );
            }
        }
        out += &format!(
            "  CPU while streaming: server {:.0}% of one core, bench process (fake LLM + clients) {:.0}%\n",
            self.server_cpu * 100.0,
            self.bench_cpu * 100.0,
        );
        out += &format!("  SIGTERM: {}\n", self.exit);
        if errors > 0 && !self.server_log_tail.is_empty() {
            out += &format!("  server log tail:\n{}\n", self.server_log_tail);
        }
        out
    }
}

/// The real binary, started the way a user would, with the fake LLM as its
/// `openai` provider.
struct Spawned {
    child: Child,
    base: String,
    token: String,
    log: std::path::PathBuf,
    _stdout: JoinHandle<()>,
}

impl Spawned {
    fn start(dir: &Path, llm_base: &str) -> Self {
        let token_out = Command::new(BIN)
            .args(["token", "--data-dir"])
            .arg(dir)
            .output()
            .expect("run avatarium token");
        assert!(token_out.status.success(), "avatarium token failed");
        let token = String::from_utf8_lossy(&token_out.stdout)
            .lines()
            .rev()
            .find(|l| !l.trim().is_empty())
            .expect("token line")
            .trim()
            .to_owned();
        let log = dir.join("server.log");
        let mut child = Command::new(BIN)
            .args(["serve", "--host", "127.0.0.1", "--port", "0", "--data-dir"])
            .arg(dir)
            .env("OPENAI_API_KEY", API_KEY)
            .env("AVATARIUM_OPENAI_BASE_URL", llm_base)
            .env_remove("AVATARIUM_DEFAULT_PROVIDER")
            .stdin(Stdio::null())
            .stdout(Stdio::piped())
            .stderr(std::fs::File::create(&log).expect("server log file"))
            .spawn()
            .expect("spawn avatarium");
        let (tx, rx) = mpsc::channel();
        let stdout = child.stdout.take().expect("piped stdout");
        // Keeps the pipe open: a closed one would fail the server's later
        // writes to stdout.
        let reader = std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout)
                .lines()
                .map_while(Result::ok)
            {
                let _ = tx.send(line);
            }
        });
        let base = loop {
            match rx.recv_timeout(Duration::from_secs(10)) {
                Ok(line) => {
                    if let Some((_, url)) = line.split_once("listening on ") {
                        break url.trim().to_owned();
                    }
                }
                Err(_) => {
                    let _ = child.kill();
                    panic!("no \"listening on\" line; exit: {:?}", child.wait());
                }
            }
        };
        Self {
            child,
            base,
            token,
            log,
            _stdout: reader,
        }
    }

    fn pid(&self) -> u32 {
        self.child.id()
    }

    /// SIGTERM, then how it went.
    fn terminate(mut self) -> (String, String) {
        let sent = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .is_ok_and(|s| s.success());
        let signalled = Instant::now();
        let outcome = loop {
            if !sent {
                break "kill -TERM failed".to_string();
            }
            if let Ok(Some(status)) = self.child.try_wait() {
                break if status.success() {
                    format!("clean exit in {}", ms(signalled.elapsed()))
                } else {
                    format!("exited with {status}  << FAILED")
                };
            }
            if signalled.elapsed() > Duration::from_secs(5) {
                break "still running after 5 s, killed  << FAILED".to_string();
            }
            std::thread::sleep(Duration::from_millis(5));
        };
        let _ = self.child.kill();
        let _ = self.child.wait();
        let log = std::fs::read_to_string(&self.log).unwrap_or_default();
        let tail: Vec<&str> = log.lines().rev().take(8).collect();
        let tail = tail
            .into_iter()
            .rev()
            .map(|l| format!("    {l}"))
            .collect::<Vec<_>>()
            .join("\n");
        (outcome, tail)
    }
}

fn proc_status_kb(pid: &str, field: &str) -> Option<u64> {
    std::fs::read_to_string(format!("/proc/{pid}/status"))
        .ok()?
        .lines()
        .find_map(|l| l.strip_prefix(field))?
        .trim()
        .trim_end_matches("kB")
        .trim()
        .parse()
        .ok()
}

/// User plus system CPU time of a process, in clock ticks.
fn proc_cpu_ticks(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the parenthesised command name, which may hold spaces.
    let rest = stat.rsplit_once(')')?.1;
    let fields: Vec<&str> = rest.split_whitespace().collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    Some(utime + stime)
}

/// USER_HZ, the unit of /proc's CPU times: 100 on every mainstream Linux
/// architecture (x86, ARM, RISC-V), whatever the kernel's own tick rate.
const CLK_TCK: f64 = 100.0;

async fn ws_bench(s: &Settings, fake: &Fake) -> WsReport {
    let dir = tempfile::tempdir().expect("temp dir");
    let server = Spawned::start(dir.path(), &fake.base("ticker"));
    let pid = server.pid().to_string();
    let warm_clients = 32.min(s.ws_clients);
    let convs =
        create_conversations(&server.base, &server.token, s.ws_clients + warm_clients).await;
    let (warm, convs) = convs.split_at(warm_clients);

    // Warm-up: a few short streams fill the server's connection pool,
    // allocator arenas and statement caches, which the per-session figure
    // should not be charged for.
    fake.stats.ticker_chunks.store(10, Ordering::Relaxed);
    let warm_live = Arc::new(Live::default());
    let (go_tx, go) = watch::channel(true);
    let gate = Arc::new(Semaphore::new(50));
    let give_up = tokio::time::Instant::now() + Duration::from_secs(20);
    let warm_tasks: Vec<_> = warm
        .iter()
        .map(|c| {
            tokio::spawn(ws_client(
                c.ws_url.clone(),
                go.clone(),
                gate.clone(),
                warm_live.clone(),
                give_up,
                give_up,
            ))
        })
        .collect();
    let mut warmup_errors = 0;
    for t in warm_tasks {
        let t = t.await.expect("warm-up client");
        if t.connect_error.is_some()
            || t.error_events > 0
            || t.closed_early
            || t.timed_out
            || t.chunks != 10
        {
            warmup_errors += 1;
        }
    }
    drop(go_tx);
    fake.stats
        .ticker_chunks
        .store(s.ws_chunks, Ordering::Relaxed);
    let emitted_before = fake.stats.ticker_emitted.load(Ordering::Relaxed);
    tokio::time::sleep(Duration::from_secs(1)).await;
    let rss_before_kb = proc_status_kb(&pid, "VmRSS:").unwrap_or(0);

    // Connect everyone first, then start every turn at once: the stream
    // phases are spread by the fake, and the "all open, idle" memory is
    // read between the two.
    let live = Arc::new(Live::default());
    let (go_tx, go) = watch::channel(false);
    let connect_by = tokio::time::Instant::now() + Duration::from_secs(30);
    let give_up = connect_by + Duration::from_secs_f64(s.ws_secs() + 30.0);
    let tasks: Vec<_> = convs
        .iter()
        .map(|c| {
            tokio::spawn(ws_client(
                c.ws_url.clone(),
                go.clone(),
                gate.clone(),
                live.clone(),
                connect_by,
                give_up,
            ))
        })
        .collect();
    let connect_started = Instant::now();
    while live.connected.load(Ordering::Relaxed) + live.failed.load(Ordering::Relaxed) < convs.len()
    {
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!(
        "ws: {} connected, {} failed in {}",
        live.connected.load(Ordering::Relaxed),
        live.failed.load(Ordering::Relaxed),
        ms(connect_started.elapsed())
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let rss_idle_kb = proc_status_kb(&pid, "VmRSS:").unwrap_or(0);

    let cpu_server_0 = proc_cpu_ticks(&pid).unwrap_or(0);
    let cpu_self_0 = proc_cpu_ticks("self").unwrap_or(0);
    let go_at = Instant::now();
    go_tx.send_replace(true);
    let mut all = tokio::spawn(futures::future::join_all(tasks));
    let mut rss_streaming_kb = Vec::new();
    let mut rss_peak_kb = rss_idle_kb;
    let mut cpu_end = None;
    let mut last_progress = Instant::now();
    let connected = live.connected.load(Ordering::Relaxed);
    let tallies = loop {
        tokio::select! {
            done = &mut all => break done.expect("client tasks"),
            _ = tokio::time::sleep(Duration::from_millis(250)) => {
                let rss = proc_status_kb(&pid, "VmRSS:").unwrap_or(0);
                rss_peak_kb = rss_peak_kb.max(rss);
                let streaming = live.streaming.load(Ordering::Relaxed);
                let finished = live.finished.load(Ordering::Relaxed);
                // Only samples with every connected client mid-stream count
                // as "during".
                if connected > 0 && streaming == connected && finished == 0 {
                    rss_streaming_kb.push(rss);
                }
                if finished > 0 && cpu_end.is_none() {
                    cpu_end = Some((proc_cpu_ticks(&pid).unwrap_or(0), proc_cpu_ticks("self").unwrap_or(0), go_at.elapsed()));
                }
                if last_progress.elapsed() >= Duration::from_secs(5) {
                    last_progress = Instant::now();
                    println!(
                        "ws: {:>4.0} s  streaming {streaming}  finished {finished}  chunks {}  server RSS {:.1} MB",
                        go_at.elapsed().as_secs_f64(),
                        live.chunks.load(Ordering::Relaxed),
                        rss as f64 / 1024.0,
                    );
                }
            }
        }
    };
    let stream_secs = go_at.elapsed().as_secs_f64();
    let (cpu_server_1, cpu_self_1, cpu_window) = cpu_end.unwrap_or_else(|| {
        (
            proc_cpu_ticks(&pid).unwrap_or(0),
            proc_cpu_ticks("self").unwrap_or(0),
            go_at.elapsed(),
        )
    });
    let cpu_share = |a: u64, b: u64| {
        (b.saturating_sub(a)) as f64 / CLK_TCK / cpu_window.as_secs_f64().max(1e-9)
    };
    let emitted = fake.stats.ticker_emitted.load(Ordering::Relaxed) - emitted_before;
    let (exit, server_log_tail) = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .expect("terminate");

    let mut report = WsReport {
        clients: convs.len(),
        connected,
        failed_connects: 0,
        first_connect_error: None,
        error_events: 0,
        first_error: None,
        closed_early: 0,
        timed_out: 0,
        chunks: 0,
        expected: connected as u64 * s.ws_chunks,
        emitted,
        latencies: Vec::with_capacity(connected * s.ws_chunks as usize),
        first_latencies: Vec::with_capacity(connected),
        stream_secs,
        warmup_errors,
        rss_before_kb,
        rss_idle_kb,
        rss_streaming_kb,
        rss_peak_kb,
        server_cpu: cpu_share(cpu_server_0, cpu_server_1),
        bench_cpu: cpu_share(cpu_self_0, cpu_self_1),
        exit,
        server_log_tail,
    };
    for t in tallies.into_iter().map(|t| t.expect("ws client task")) {
        if let Some(e) = t.connect_error {
            report.failed_connects += 1;
            report.first_connect_error.get_or_insert(e);
            continue;
        }
        report.first_latencies.extend(t.first_latency());
        report.error_events += t.error_events;
        if let Some(e) = t.first_error {
            report.first_error.get_or_insert(e);
        }
        report.closed_early += usize::from(t.closed_early);
        report.timed_out += usize::from(t.timed_out);
        report.chunks += t.chunks;
        report.latencies.extend(t.latencies);
    }
    report.latencies.sort_unstable();
    report.first_latencies.sort_unstable();
    report
}

/// One conversation socket: connect, wait for `go`, send a message, then
/// time every chunk until `stream_end`.
async fn ws_client(
    url: String,
    mut go: watch::Receiver<bool>,
    gate: Arc<Semaphore>,
    live: Arc<Live>,
    connect_by: tokio::time::Instant,
    give_up: tokio::time::Instant,
) -> WsTally {
    let mut t = WsTally::default();
    let opened = {
        // A bounded number of handshakes in flight keeps the accept queue
        // from overflowing into SYN retries, which would time the kernel.
        let _permit = gate.acquire().await.expect("gate open");
        // tungstenite zero-fills its whole read buffer (128 KiB by default)
        // before every read; at 20 messages/s per client that memset would
        // be most of this process's work, and its delay part of the latency.
        let config = WebSocketConfig::default().read_buffer_size(4096);
        let connect =
            tokio_tungstenite::connect_async_with_config(url.as_str(), Some(config), true);
        tokio::time::timeout_at(connect_by, connect).await
    };
    let mut ws = match opened {
        Ok(Ok((ws, _))) => ws,
        Ok(Err(e)) => {
            t.connect_error = Some(e.to_string());
            live.failed.fetch_add(1, Ordering::Relaxed);
            return t;
        }
        Err(_) => {
            t.connect_error = Some("timed out".into());
            live.failed.fetch_add(1, Ordering::Relaxed);
            return t;
        }
    };
    live.connected.fetch_add(1, Ordering::Relaxed);
    if go.wait_for(|g| *g).await.is_err() {
        return t;
    }
    let hello = r#"{"type":"message","content":"Read me the clock, please."}"#;
    if ws.send(WsMessage::text(hello)).await.is_err() {
        t.closed_early = true;
        return t;
    }
    let mut streaming = false;
    loop {
        let next = match tokio::time::timeout_at(give_up, ws.next()).await {
            Ok(next) => next,
            Err(_) => {
                t.timed_out = true;
                break;
            }
        };
        let text = match next {
            Some(Ok(WsMessage::Text(text))) => text,
            Some(Ok(WsMessage::Close(_))) | None | Some(Err(_)) => {
                t.closed_early = true;
                break;
            }
            Some(Ok(_)) => continue,
        };
        let text = text.as_str();
        // The hot path: 20 of these per second per client. Reading the
        // timestamps straight from the text keeps the client's own cost
        // (which lands in the measured latency) small.
        if text.contains("\"stream_chunk\"") {
            let now = now_micros();
            for part in text.split("t=").skip(1) {
                let digits = part.split(';').next().unwrap_or("");
                if let Ok(sent) = digits.parse::<u64>() {
                    t.chunks += 1;
                    let lat = now.saturating_sub(sent);
                    t.latencies.push(lat.try_into().unwrap_or(u32::MAX));
                }
            }
            live.chunks.fetch_add(1, Ordering::Relaxed);
            continue;
        }
        let event: Value = serde_json::from_str(text).unwrap_or(Value::Null);
        match event["type"].as_str() {
            Some("stream_start") => {
                streaming = true;
                live.streaming.fetch_add(1, Ordering::Relaxed);
            }
            Some("stream_end") => break,
            Some("error") => {
                t.error_events += 1;
                t.first_error.get_or_insert_with(|| text.to_owned());
                break;
            }
            _ => {}
        }
    }
    if streaming {
        live.streaming.fetch_sub(1, Ordering::Relaxed);
    }
    live.finished.fetch_add(1, Ordering::Relaxed);
    let _ = ws.close(None).await;
    t
}
