mod common;

use std::convert::Infallible;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use avatarium_knowledge::{FetchPolicy, KnowledgeError, fetch_url};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::get;
use futures::StreamExt;

const PAGE: &str = r#"<!doctype html><html><head><title>Test Page</title>
<script>var tracking = "secret";</script></head>
<body><nav>Menu</nav><h1>Hello</h1><p>Fetched paragraph.</p></body></html>"#;

struct Server {
    addr: SocketAddr,
    hits: Arc<AtomicUsize>,
}

impl Server {
    fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    fn hits(&self) -> usize {
        self.hits.load(Ordering::SeqCst)
    }
}

fn typed(content_type: &'static str, body: impl Into<Body>) -> Response {
    ([(header::CONTENT_TYPE, content_type)], body.into()).into_response()
}

async fn serve() -> Server {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let port = addr.port();
    let hits = Arc::new(AtomicUsize::new(0));
    let pdf = common::make_pdf(&[&["Text inside a served PDF."]], Some("Served PDF"));

    let app = Router::new()
        .route(
            "/page.html",
            get(|| async { typed("text/html; charset=utf-8", PAGE) }),
        )
        .route(
            "/latin1",
            get(|| async { typed("text/html; charset=iso-8859-1", &b"<p>caf\xe9</p>"[..]) }),
        )
        .route(
            "/notes.txt",
            get(|| async { typed("text/plain", "Plain   notes.\r\nSecond line.") }),
        )
        .route(
            "/docs/README.md",
            get(|| async { typed("text/plain; charset=utf-8", "# Readme\n\nMarkdown body.") }),
        )
        .route(
            "/files/report",
            get(move || {
                let pdf = pdf.clone();
                async move { typed("application/pdf", pdf) }
            }),
        )
        .route(
            "/image.png",
            get(|| async { typed("image/png", &b"\x89PNG\r\n"[..]) }),
        )
        .route(
            "/big",
            get(|| async { typed("text/plain", vec![b'a'; 64 * 1024]) }),
        )
        .route(
            "/big-stream",
            get(|| async {
                // Streamed without Content-Length: the limit must hold on the bytes themselves.
                let chunks = futures::stream::iter(
                    (0..64).map(|_| Ok::<_, Infallible>(Bytes::from(vec![b'a'; 1024]))),
                );
                typed("text/plain", Body::from_stream(chunks))
            }),
        )
        .route(
            "/slow",
            get(|| async {
                tokio::time::sleep(Duration::from_secs(10)).await;
                typed("text/plain", "too late")
            }),
        )
        .route(
            "/slow-body",
            get(|| async {
                let stalled = futures::stream::once(async {
                    Ok::<_, Infallible>(Bytes::from_static(b"<p>start"))
                })
                .chain(futures::stream::pending());
                typed("text/html", Body::from_stream(stalled))
            }),
        )
        .route(
            "/to-page",
            get(|| async { Redirect::temporary("/page.html") }),
        )
        .route(
            "/to-metadata",
            get(|| async { Redirect::to("http://169.254.169.254/latest/meta-data/") }),
        )
        .route(
            "/to-v6-loopback",
            get(move || async move { Redirect::to(&format!("http://[::1]:{port}/page.html")) }),
        )
        .route(
            "/to-private",
            get(|| async { Redirect::permanent("http://10.1.2.3/") }),
        )
        .route(
            "/to-ftp",
            get(|| async { Redirect::to("ftp://example.com/file") }),
        )
        .route("/loop", get(|| async { Redirect::to("/loop") }))
        .route(
            "/bad-redirect",
            get(|| async {
                let mut r = StatusCode::FOUND.into_response();
                r.headers_mut()
                    .insert(header::LOCATION, HeaderValue::from_static("http://[::zz/"));
                r
            }),
        );

    let counter = hits.clone();
    let app = app.layer(axum::middleware::from_fn(
        move |req: axum::extract::Request, next: axum::middleware::Next| {
            counter.fetch_add(1, Ordering::SeqCst);
            next.run(req)
        },
    ));
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    Server { addr, hits }
}

fn open_policy() -> FetchPolicy {
    FetchPolicy {
        allow_private: true,
        ..FetchPolicy::default()
    }
}

/// Trusts only the test server's own address, so redirects elsewhere
/// are judged by the normal rules.
fn loopback_only() -> FetchPolicy {
    FetchPolicy {
        allowed_ips: vec![IpAddr::V4(Ipv4Addr::LOCALHOST)],
        ..FetchPolicy::default()
    }
}

fn assert_blocked(result: Result<avatarium_knowledge::Extracted, KnowledgeError>, what: &str) {
    match result {
        Err(KnowledgeError::Blocked(message)) => {
            assert!(!message.is_empty());
        }
        other => panic!("{what}: expected Blocked, got {other:?}"),
    }
}

#[tokio::test]
async fn fetches_and_extracts_html() {
    let server = serve().await;
    let e = fetch_url(&server.url("/page.html"), &open_policy())
        .await
        .unwrap();
    assert_eq!(e.title.as_deref(), Some("Test Page"));
    assert_eq!(e.text, "# Hello\n\nFetched paragraph.");
    assert_eq!(e.mime, "text/html");

    let e = fetch_url(&server.url("/latin1"), &open_policy())
        .await
        .unwrap();
    assert_eq!(e.text, "café");
}

#[tokio::test]
async fn fetches_text_markdown_and_pdf() {
    let server = serve().await;
    let e = fetch_url(&server.url("/notes.txt"), &open_policy())
        .await
        .unwrap();
    assert_eq!(e.text, "Plain notes.\nSecond line.");
    assert_eq!(e.title.as_deref(), Some("notes"));
    assert_eq!(e.mime, "text/plain");

    let e = fetch_url(&server.url("/docs/README.md"), &open_policy())
        .await
        .unwrap();
    assert_eq!(e.mime, "text/markdown");
    assert_eq!(e.title.as_deref(), Some("Readme"));

    let e = fetch_url(&server.url("/files/report"), &open_policy())
        .await
        .unwrap();
    assert_eq!(e.mime, "application/pdf");
    assert_eq!(e.text, "Text inside a served PDF.");
    assert_eq!(e.title.as_deref(), Some("Served PDF"));

    let err = fetch_url(&server.url("/image.png"), &open_policy())
        .await
        .unwrap_err();
    assert_eq!(err, KnowledgeError::Unsupported("image/png".into()));
}

#[tokio::test]
async fn default_policy_blocks_local_addresses_before_connecting() {
    let server = serve().await;
    let port = server.addr.port();
    let policy = FetchPolicy::default();
    for url in [
        format!("http://127.0.0.1:{port}/page.html"),
        format!("http://localhost:{port}/page.html"),
        format!("http://[::1]:{port}/page.html"),
        format!("http://[::ffff:127.0.0.1]:{port}/page.html"),
        format!("http://0.0.0.0:{port}/page.html"),
        // 127.0.0.1 spelled as a single decimal number.
        format!("http://2130706433:{port}/page.html"),
        format!("http://127.1:{port}/page.html"),
    ] {
        assert_blocked(fetch_url(&url, &policy).await, &url);
    }
    assert_eq!(server.hits(), 0, "a blocked URL reached the server");
}

#[tokio::test]
async fn default_policy_blocks_private_ranges_and_schemes() {
    let policy = FetchPolicy::default();
    for url in [
        "http://169.254.169.254/latest/meta-data/",
        "http://10.1.2.3/",
        "http://192.168.1.1/",
        "http://172.16.0.1/",
        "http://100.64.0.1/",
        "http://[fe80::1]/",
        "http://[fd00::1]/",
        "https://[::ffff:169.254.169.254]/",
        "ftp://x",
        "file:///etc/passwd",
        "gopher://example.com/",
    ] {
        let started = Instant::now();
        assert_blocked(fetch_url(url, &policy).await, url);
        assert!(
            started.elapsed() < Duration::from_millis(500),
            "{url} took {:?}; it must be refused without connecting",
            started.elapsed()
        );
    }
    let message = fetch_url("http://169.254.169.254/", &policy)
        .await
        .unwrap_err()
        .to_string();
    assert_eq!(
        message,
        "this URL is not allowed: 169.254.169.254 is a link-local address"
    );
    assert!(matches!(
        fetch_url("not a url", &policy).await,
        Err(KnowledgeError::Parse(_))
    ));
}

#[tokio::test]
async fn allowed_ips_let_one_address_through() {
    let server = serve().await;
    let e = fetch_url(&server.url("/page.html"), &loopback_only())
        .await
        .unwrap();
    assert_eq!(e.title.as_deref(), Some("Test Page"));
    let e = fetch_url(&server.url("/to-page"), &loopback_only())
        .await
        .unwrap();
    assert_eq!(e.title.as_deref(), Some("Test Page"));
    // Host names go through our own resolution and the pinned addresses.
    let by_name = format!("http://localhost:{}/page.html", server.addr.port());
    let e = fetch_url(&by_name, &open_policy()).await.unwrap();
    assert_eq!(e.title.as_deref(), Some("Test Page"));
}

#[tokio::test]
async fn every_redirect_hop_is_checked() {
    let server = serve().await;
    for path in ["/to-metadata", "/to-v6-loopback", "/to-private", "/to-ftp"] {
        let hits_before = server.hits();
        assert_blocked(fetch_url(&server.url(path), &loopback_only()).await, path);
        assert_eq!(
            server.hits(),
            hits_before + 1,
            "{path}: only the first hop may connect"
        );
    }
}

#[tokio::test]
async fn redirect_limits() {
    let server = serve().await;
    let err = fetch_url(&server.url("/loop"), &open_policy())
        .await
        .unwrap_err();
    assert_eq!(
        err,
        KnowledgeError::Fetch("too many redirects (more than 5)".into())
    );
    assert_eq!(server.hits(), 6);

    let no_redirects = FetchPolicy {
        max_redirects: 0,
        ..open_policy()
    };
    assert!(matches!(
        fetch_url(&server.url("/to-page"), &no_redirects).await,
        Err(KnowledgeError::Fetch(_))
    ));
    assert!(matches!(
        fetch_url(&server.url("/bad-redirect"), &open_policy()).await,
        Err(KnowledgeError::Fetch(_))
    ));
}

#[tokio::test]
async fn oversized_bodies_are_refused() {
    let server = serve().await;
    let small = FetchPolicy {
        max_bytes: 1024,
        ..open_policy()
    };
    for path in ["/big", "/big-stream"] {
        let err = fetch_url(&server.url(path), &small).await.unwrap_err();
        assert_eq!(err, KnowledgeError::TooLarge { limit: 1024 }, "{path}");
    }
    assert_eq!(
        KnowledgeError::TooLarge { limit: 1024 }.to_string(),
        "the document is larger than the limit of 1 KiB"
    );
    // Exactly at the limit is fine.
    let exact = FetchPolicy {
        max_bytes: 64 * 1024,
        ..open_policy()
    };
    assert!(fetch_url(&server.url("/big-stream"), &exact).await.is_ok());
}

#[tokio::test]
async fn slow_servers_time_out() {
    let server = serve().await;
    let quick = FetchPolicy {
        timeout: Duration::from_millis(300),
        ..open_policy()
    };
    for path in ["/slow", "/slow-body"] {
        let started = Instant::now();
        let err = fetch_url(&server.url(path), &quick).await.unwrap_err();
        assert_eq!(err, KnowledgeError::Timeout, "{path}");
        assert!(started.elapsed() < Duration::from_secs(3), "{path}");
    }
}

#[tokio::test]
async fn http_errors_carry_the_status() {
    let server = serve().await;
    let err = fetch_url(&server.url("/missing"), &open_policy())
        .await
        .unwrap_err();
    assert!(
        matches!(&err, KnowledgeError::Fetch(m) if m.contains("404")),
        "{err:?}"
    );
    assert_eq!(
        err.to_string(),
        "could not fetch the URL: the server answered 404 Not Found"
    );
}

#[tokio::test]
async fn connection_refused_is_a_fetch_error() {
    // Bind and drop to get a port nobody listens on.
    let port = {
        let l = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        l.local_addr().unwrap().port()
    };
    let err = fetch_url(&format!("http://127.0.0.1:{port}/"), &open_policy())
        .await
        .unwrap_err();
    assert!(matches!(err, KnowledgeError::Fetch(_)), "{err:?}");
}
