//! Loopback fakes of the providers' HTTP APIs, and the scenarios every wire
//! client must pass against them. Each `wire_*` test binary uses a different
//! subset, hence the allowance below.
#![allow(dead_code)]

use std::collections::VecDeque;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use avatarium_llm::{
    ChatProvider, ChatRequest, Message, ProviderConfig, ProviderError, ProviderKind, TextStream,
};
use axum::body::{Body, Bytes};
use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use futures::StreamExt;
use serde_json::Value;

pub const KEY: &str = "sk-test-SECRET-4242";

/// One step of a fake's response body.
#[derive(Clone, Debug)]
pub enum Part {
    Data(String),
    Sleep(Duration),
    /// Breaks the connection mid-body, as a dropped network would.
    Abort,
}

#[derive(Clone, Debug)]
pub struct Reply {
    pub status: u16,
    pub headers: Vec<(String, String)>,
    /// Wait before sending the status line.
    pub delay: Duration,
    pub parts: Vec<Part>,
}

impl Reply {
    pub fn sse(parts: Vec<Part>) -> Self {
        Self {
            status: 200,
            headers: vec![("content-type".into(), "text/event-stream".into())],
            delay: Duration::ZERO,
            parts,
        }
    }

    pub fn json(status: u16, body: &Value) -> Self {
        Self {
            status,
            headers: vec![("content-type".into(), "application/json".into())],
            delay: Duration::ZERO,
            parts: vec![Part::Data(body.to_string())],
        }
    }

    pub fn header(mut self, name: &str, value: &str) -> Self {
        self.headers.push((name.into(), value.into()));
        self
    }

    pub fn delayed(mut self, delay: Duration) -> Self {
        self.delay = delay;
        self
    }
}

#[derive(Clone, Debug)]
pub struct Recorded {
    pub method: String,
    pub path: String,
    pub query: Option<String>,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Recorded {
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

#[derive(Default)]
struct Shared {
    replies: Mutex<VecDeque<Reply>>,
    requests: Mutex<Vec<Recorded>>,
}

/// A server on 127.0.0.1 that answers requests with a script of replies;
/// the last reply repeats forever.
pub struct Fake {
    pub addr: String,
    shared: Arc<Shared>,
}

impl Fake {
    pub async fn start(replies: Vec<Reply>) -> Self {
        assert!(!replies.is_empty());
        let shared = Arc::new(Shared {
            replies: Mutex::new(replies.into()),
            requests: Mutex::default(),
        });
        let app = axum::Router::new()
            .fallback(handle)
            .with_state(shared.clone());
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = format!("http://{}", listener.local_addr().unwrap());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        Self { addr, shared }
    }

    pub fn requests(&self) -> Vec<Recorded> {
        self.shared.requests.lock().unwrap().clone()
    }

    pub fn hits(&self) -> usize {
        self.shared.requests.lock().unwrap().len()
    }
}

async fn handle(State(shared): State<Arc<Shared>>, request: Request) -> Response {
    let (parts, body) = request.into_parts();
    let bytes = axum::body::to_bytes(body, usize::MAX).await.unwrap();
    shared.requests.lock().unwrap().push(Recorded {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().map(str::to_owned),
        headers: parts.headers,
        body: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    });
    let reply = {
        let mut replies = shared.replies.lock().unwrap();
        if replies.len() > 1 {
            replies.pop_front().unwrap()
        } else {
            replies[0].clone()
        }
    };
    tokio::time::sleep(reply.delay).await;
    let body = futures::stream::iter(reply.parts).filter_map(|part| async move {
        match part {
            Part::Data(text) => Some(Ok(Bytes::from(text))),
            Part::Sleep(d) => {
                tokio::time::sleep(d).await;
                None
            }
            Part::Abort => Some(Err(std::io::Error::other("connection cut by the fake"))),
        }
    });
    let mut response = Response::builder().status(StatusCode::from_u16(reply.status).unwrap());
    for (name, value) in &reply.headers {
        response = response.header(name, value);
    }
    response.body(Body::from_stream(body)).unwrap()
}

/// How one provider speaks on the wire, as far as the shared scenarios need.
pub struct Dialect {
    pub id: &'static str,
    pub kind: ProviderKind,
    pub model: &'static str,
    /// Appended to the fake's address to form the base URL.
    pub base_suffix: &'static str,
    /// Events sent before the first text (role chunks, message_start, ping).
    pub preamble: fn() -> Vec<String>,
    /// One event carrying `text`.
    pub delta: fn(&str) -> String,
    /// Events that close a complete reply, terminator included.
    pub finish: fn() -> Vec<String>,
    /// The provider's documented JSON error body for a status.
    pub error_body: fn(u16, &str) -> Value,
}

impl Dialect {
    pub fn config(&self, fake: &Fake) -> ProviderConfig {
        let mut cfg = ProviderConfig::new(
            self.id,
            self.kind,
            format!("{}{}", fake.addr, self.base_suffix),
            self.model,
        )
        .with_key(Some(KEY.into()));
        cfg.first_token_timeout = Duration::from_secs(3);
        cfg.idle_timeout = Duration::from_secs(3);
        cfg.max_retries = 2;
        cfg.retry_base_delay = Duration::from_millis(10);
        cfg
    }

    pub fn provider(&self, cfg: ProviderConfig) -> std::sync::Arc<dyn ChatProvider> {
        avatarium_llm::build(cfg, client())
    }

    fn events(&self, texts: &[&str], finished: bool) -> Vec<Part> {
        let mut events = (self.preamble)();
        events.extend(texts.iter().map(|t| (self.delta)(t)));
        if finished {
            events.extend((self.finish)());
        }
        events.into_iter().map(Part::Data).collect()
    }

    /// A complete reply made of these deltas.
    pub fn reply(&self, texts: &[&str]) -> Reply {
        Reply::sse(self.events(texts, true))
    }

    /// The deltas without the end of the reply; `then` follows them.
    pub fn partial(&self, texts: &[&str], then: Vec<Part>) -> Reply {
        let mut parts = self.events(texts, false);
        parts.extend(then);
        Reply::sse(parts)
    }

    pub fn error(&self, status: u16, message: &str) -> Reply {
        Reply::json(status, &(self.error_body)(status, message))
    }
}

pub fn client() -> reqwest::Client {
    // A proxy from the environment must not intercept loopback traffic.
    reqwest::Client::builder().no_proxy().build().unwrap()
}

pub fn conversation() -> ChatRequest {
    ChatRequest {
        messages: vec![
            Message::system("You are Ada, a friendly avatar."),
            Message::user("Hi"),
            Message::assistant("Hello! How can I help?"),
            Message::user("Tell me a joke."),
        ],
        temperature: Some(0.5),
        max_tokens: Some(64),
        ..Default::default()
    }
}

/// Drains a stream, with a guard so a hung stream fails the test instead
/// of the suite.
pub async fn drain(mut stream: TextStream) -> Vec<Result<String, ProviderError>> {
    let mut items = Vec::new();
    let guard = tokio::time::sleep(Duration::from_secs(5));
    tokio::pin!(guard);
    loop {
        tokio::select! {
            item = stream.next() => match item {
                Some(item) => items.push(item),
                None => return items,
            },
            _ = &mut guard => panic!("the stream did not end; got {items:?}"),
        }
    }
}

pub fn texts(items: &[Result<String, ProviderError>]) -> Vec<&str> {
    items
        .iter()
        .filter_map(|i| i.as_ref().ok().map(String::as_str))
        .collect()
}

// ---- scenarios shared by every dialect ----

/// Streams a reply and returns the request the fake received.
pub async fn streams_text(d: &Dialect) -> Recorded {
    let fake = Fake::start(vec![d.reply(&["Why did", " the avatar", " blush?"])]).await;
    let provider = d.provider(d.config(&fake));
    let items = drain(provider.stream(conversation()).await.unwrap()).await;
    assert!(items.iter().all(Result::is_ok), "{items:?}");
    assert_eq!(texts(&items).concat(), "Why did the avatar blush?");
    assert_eq!(fake.hits(), 1);
    fake.requests().remove(0)
}

pub async fn complete_assembles_the_reply(d: &Dialect) {
    let fake = Fake::start(vec![d.reply(&["Hel", "lo", "!"])]).await;
    let provider = d.provider(d.config(&fake));
    assert_eq!(provider.complete(conversation()).await.unwrap(), "Hello!");
}

pub async fn retries_a_500_then_succeeds(d: &Dialect) {
    let fake = Fake::start(vec![d.error(500, "boom"), d.reply(&["fine"])]).await;
    let provider = d.provider(d.config(&fake));
    assert_eq!(provider.complete(conversation()).await.unwrap(), "fine");
    assert_eq!(fake.hits(), 2);
}

pub async fn gives_up_after_max_retries(d: &Dialect) {
    let fake = Fake::start(vec![d.error(500, "boom")]).await;
    let cfg = d.config(&fake);
    let attempts = cfg.max_retries as usize + 1;
    let provider = d.provider(cfg);
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    match &err {
        ProviderError::Upstream {
            status: 500,
            message,
        } => assert!(message.contains("boom"), "{err:?}"),
        other => panic!("expected Upstream 500, got {other:?}"),
    }
    assert_eq!(fake.hits(), attempts);
}

pub async fn unauthorized_is_not_retried(d: &Dialect) {
    let fake = Fake::start(vec![d.error(401, "invalid x-api-key")]).await;
    let provider = d.provider(d.config(&fake));
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    assert!(
        matches!(&err, ProviderError::Unauthorized(m) if m.contains("invalid x-api-key")),
        "{err:?}"
    );
    assert_eq!(fake.hits(), 1);
}

pub async fn bad_request_is_not_retried(d: &Dialect) {
    let fake = Fake::start(vec![d.error(400, "unknown model")]).await;
    let provider = d.provider(d.config(&fake));
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    assert!(
        matches!(&err, ProviderError::BadRequest(m) if m.contains("unknown model")),
        "{err:?}"
    );
    assert_eq!(fake.hits(), 1);
}

/// `Retry-After: 0` wins over a backoff long enough to fail the test.
pub async fn rate_limit_honours_retry_after(d: &Dialect) {
    let fake = Fake::start(vec![
        d.error(429, "slow down").header("retry-after", "0"),
        d.reply(&["ok"]),
    ])
    .await;
    let mut cfg = d.config(&fake);
    cfg.retry_base_delay = Duration::from_secs(5);
    let provider = d.provider(cfg);
    let started = Instant::now();
    assert_eq!(provider.complete(conversation()).await.unwrap(), "ok");
    assert_eq!(fake.hits(), 2);
    assert!(
        started.elapsed() < Duration::from_secs(2),
        "took {:?}",
        started.elapsed()
    );
}

/// Rate limiting that never ends surfaces as RateLimited.
pub async fn rate_limit_forever(d: &Dialect) {
    let fake = Fake::start(vec![d.error(429, "slow down").header("retry-after", "0")]).await;
    let mut cfg = d.config(&fake);
    cfg.max_retries = 1;
    let provider = d.provider(cfg);
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    assert!(matches!(err, ProviderError::RateLimited(_)), "{err:?}");
    assert_eq!(fake.hits(), 2);
}

/// The body stops after two deltas: cleanly (`abort` false) or by a broken
/// connection. Returns what the stream yielded.
pub async fn cut_after_two_deltas(d: &Dialect, abort: bool) -> Vec<Result<String, ProviderError>> {
    // The pause lets the deltas reach the client before the cut; without it
    // hyper may drop the connection before writing the response at all.
    let then = if abort {
        vec![Part::Sleep(Duration::from_millis(100)), Part::Abort]
    } else {
        Vec::new()
    };
    let fake = Fake::start(vec![d.partial(&["one", "two"], then)]).await;
    let provider = d.provider(d.config(&fake));
    let items = drain(provider.stream(conversation()).await.unwrap()).await;
    assert_eq!(texts(&items), ["one", "two"], "{items:?}");
    assert_eq!(fake.hits(), 1, "a started reply is never retried");
    items
}

/// The server takes longer than `first_token_timeout` to answer at all.
pub async fn first_token_timeout_on_slow_headers(d: &Dialect) {
    let fake = Fake::start(vec![d.reply(&["late"]).delayed(Duration::from_secs(3))]).await;
    let mut cfg = d.config(&fake);
    cfg.first_token_timeout = Duration::from_millis(300);
    cfg.max_retries = 1;
    let provider = d.provider(cfg);
    let started = Instant::now();
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    assert!(matches!(err, ProviderError::Timeout), "{err:?}");
    assert_eq!(
        fake.hits(),
        2,
        "a timeout before the first token is retried"
    );
    let elapsed = started.elapsed();
    assert!(
        elapsed >= Duration::from_millis(600) && elapsed < Duration::from_millis(1500),
        "took {elapsed:?}"
    );
}

/// Headers and the preamble arrive at once, but no text within the limit.
pub async fn first_token_timeout_on_slow_first_delta(d: &Dialect) {
    let fake = Fake::start(vec![d.partial(
        &[],
        vec![
            Part::Sleep(Duration::from_secs(3)),
            Part::Data((d.delta)("late")),
        ],
    )])
    .await;
    let mut cfg = d.config(&fake);
    cfg.first_token_timeout = Duration::from_millis(300);
    cfg.max_retries = 0;
    let provider = d.provider(cfg);
    let started = Instant::now();
    let err = provider
        .stream(conversation())
        .await
        .err()
        .expect("an error");
    assert!(matches!(err, ProviderError::Timeout), "{err:?}");
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "took {:?}",
        started.elapsed()
    );
}

pub async fn idle_timeout_mid_stream(d: &Dialect) {
    let fake = Fake::start(vec![d.partial(
        &["one", "two"],
        vec![
            Part::Sleep(Duration::from_secs(3)),
            Part::Data((d.delta)("three")),
        ],
    )])
    .await;
    let mut cfg = d.config(&fake);
    cfg.idle_timeout = Duration::from_millis(200);
    let provider = d.provider(cfg);
    let started = Instant::now();
    let items = drain(provider.stream(conversation()).await.unwrap()).await;
    assert_eq!(texts(&items), ["one", "two"]);
    assert!(
        matches!(items.last(), Some(Err(ProviderError::Timeout))),
        "{items:?}"
    );
    assert!(
        started.elapsed() < Duration::from_millis(1000),
        "took {:?}",
        started.elapsed()
    );
    assert_eq!(fake.hits(), 1);
}

/// Upstreams that echo the key back must not leak it through our errors.
pub async fn key_is_redacted(d: &Dialect) {
    for status in [401, 500] {
        let fake = Fake::start(vec![d.error(
            status,
            &format!("Incorrect API key provided: {KEY}. Check it."),
        )])
        .await;
        let mut cfg = d.config(&fake);
        cfg.max_retries = 0;
        let provider = d.provider(cfg);
        let err = provider
            .stream(conversation())
            .await
            .err()
            .expect("an error");
        let shown = format!("{err} / {err:?}");
        assert!(!shown.contains(KEY), "key leaked: {shown}");
        assert!(shown.contains("Incorrect API key provided: ***"), "{shown}");
    }
}
