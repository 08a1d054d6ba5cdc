//! The web UI next to the API: browsers get pages, API clients keep JSON.
//! Runs whether or not `ui/dist` was built: without it, pages say how to
//! build the UI.

use std::time::Duration;

use reqwest::header::{ACCEPT, HeaderMap};
use tokio::sync::oneshot;

use avatarium_core::config::{Config, RateLimits};
use avatarium_server::AppState;
use avatarium_server::handlers::ui;

const BROWSER: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

struct Server {
    base: String,
    client: reqwest::Client,
    token: String,
    _stop: oneshot::Sender<()>,
    _dir: tempfile::TempDir,
}

impl Server {
    async fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path().join("data"));
        cfg.rate_limits = RateLimits::unlimited();
        let state = AppState::open(cfg).await.unwrap();
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let port = listener.local_addr().unwrap().port();
        let (tx, rx) = oneshot::channel();
        let served = state.clone();
        tokio::spawn(async move {
            avatarium_server::serve(listener, served, async {
                let _ = rx.await;
            })
            .await
            .unwrap();
        });
        let owner = state.store.owner().await.unwrap();
        let token = state
            .tokens
            .issue(&owner.id, "user", None, Duration::from_secs(600))
            .token;
        Self {
            base: format!("http://127.0.0.1:{port}"),
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            token,
            _stop: tx,
            _dir: dir,
        }
    }

    async fn get(&self, path: &str, accept: Option<&str>) -> (u16, HeaderMap, String) {
        let mut req = self.client.get(format!("{}{path}", self.base));
        if let Some(a) = accept {
            req = req.header(ACCEPT, a);
        }
        let res = req.send().await.unwrap();
        let status = res.status().as_u16();
        let headers = res.headers().clone();
        (status, headers, res.text().await.unwrap())
    }
}

fn header<'a>(h: &'a HeaderMap, name: &str) -> &'a str {
    h.get(name).and_then(|v| v.to_str().ok()).unwrap_or("")
}

#[track_caller]
fn assert_page(status: u16, headers: &HeaderMap, body: &str) {
    assert_eq!(status, 200, "{body}");
    assert!(header(headers, "content-type").starts_with("text/html"));
    assert!(!header(headers, "content-security-policy").is_empty());
    if ui::is_built() {
        assert!(body.contains(r#"<div id="app">"#), "{body}");
        assert!(body.contains("/assets/"), "no built assets: {body}");
    } else {
        assert!(body.contains("scripts/ui-build.sh"), "{body}");
    }
}

#[track_caller]
fn assert_json_404(status: u16, headers: &HeaderMap, body: &str) {
    assert_eq!(status, 404, "{body}");
    assert!(header(headers, "content-type").starts_with("application/json"));
    let v: serde_json::Value = serde_json::from_str(body).unwrap();
    assert_eq!(v["error"]["code"], "NOT_FOUND", "{v}");
    assert!(v["meta"]["requestId"].is_string());
}

#[tokio::test]
async fn root_is_the_dashboard_for_browsers_and_json_for_api_clients() {
    let s = Server::start().await;

    let (status, headers, body) = s.get("/", Some(BROWSER)).await;
    assert_page(status, &headers, &body);
    if ui::is_built() {
        assert_eq!(header(&headers, "x-frame-options"), "DENY");
        let csp = header(&headers, "content-security-policy");
        assert!(csp.contains("frame-ancestors 'none'"), "{csp}");
        assert!(csp.contains("script-src 'self'"), "{csp}");
        assert_eq!(header(&headers, "cache-control"), "no-cache");
    }

    // curl, SDKs and fetch() default to */* or JSON: what they got before.
    for accept in [None, Some("*/*"), Some("application/json")] {
        let (status, headers, body) = s.get("/", accept).await;
        assert_json_404(status, &headers, &body);
    }
    // The API itself is untouched.
    let (status, headers, body) = s.get("/health", Some(BROWSER)).await;
    assert_eq!(status, 200);
    assert!(header(&headers, "content-type").starts_with("application/json"));
    assert!(body.contains("\"status\":\"healthy\""));
}

#[tokio::test]
async fn dashboard_routes_fall_back_to_the_app_but_api_paths_do_not() {
    let s = Server::start().await;
    for path in ["/avatars", "/avatars/new", "/settings", "/playground"] {
        let (status, headers, body) = s.get(path, Some(BROWSER)).await;
        assert_page(status, &headers, &body);
        let (status, headers, body) = s.get(path, Some("application/json")).await;
        assert_json_404(status, &headers, &body);
    }
    for path in ["/v1/nope", "/api/nope", "/assets/nope.js", "/nope.png"] {
        let (status, headers, body) = s.get(path, Some(BROWSER)).await;
        assert_json_404(status, &headers, &body);
    }
    // Not a GET: the envelope, never the app.
    let res = s
        .client
        .post(format!("{}/avatars", s.base))
        .header(ACCEPT, BROWSER)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 404);
}

#[tokio::test]
async fn public_pages_and_the_framable_widget() {
    let s = Server::start().await;
    let (status, headers, body) = s.get("/a/abc12345678/embed", None).await;
    assert_page(status, &headers, &body);
    assert!(
        headers.get("x-frame-options").is_none(),
        "the widget must be framable"
    );
    if ui::is_built() {
        let csp = header(&headers, "content-security-policy");
        assert!(csp.contains("frame-ancestors *"), "{csp}");
        assert!(csp.contains("connect-src 'self' ws://127.0.0.1:"), "{csp}");
        assert!(body.contains(r#"<div id="app">"#));
    }

    let (status, headers, body) = s.get("/a/abc12345678", Some(BROWSER)).await;
    assert_page(status, &headers, &body);
    if ui::is_built() {
        assert_eq!(header(&headers, "x-frame-options"), "SAMEORIGIN");
        // One entry serves both public pages.
        let (_, _, widget) = s.get("/a/abc12345678/embed", None).await;
        assert_eq!(body, widget);
    }
}

#[tokio::test]
async fn built_assets_are_cached_and_avatar_models_still_served() {
    let s = Server::start().await;
    if ui::is_built() {
        let (_, _, html) = s.get("/", Some(BROWSER)).await;
        let script = html
            .split("src=\"")
            .nth(1)
            .and_then(|rest| rest.split('"').next())
            .expect("a script in index.html");
        assert!(script.starts_with("/assets/"), "{script}");
        let (status, headers, _) = s.get(script, None).await;
        assert_eq!(status, 200);
        assert!(header(&headers, "content-type").starts_with("text/javascript"));
        assert!(header(&headers, "cache-control").contains("immutable"));
        let etag = header(&headers, "etag").to_string();
        let res = s
            .client
            .get(format!("{}{script}", s.base))
            .header("if-none-match", etag)
            .send()
            .await
            .unwrap();
        assert_eq!(res.status(), 304);

        let (status, headers, _) = s.get("/favicon.svg", None).await;
        assert_eq!(status, 200);
        assert_eq!(header(&headers, "content-type"), "image/svg+xml");
    }
    // The shipped models share the /assets/ prefix and keep their own route.
    let (status, headers, _) = s.get("/assets/avatars/aria-001.glb", None).await;
    assert_eq!(status, 200);
    assert_eq!(header(&headers, "content-type"), "model/gltf-binary");
}

#[tokio::test]
async fn pages_are_not_in_the_openapi_document_and_need_no_token() {
    let s = Server::start().await;
    let doc: serde_json::Value = s
        .client
        .get(format!("{}/v1/openapi.json", s.base))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let paths = doc["paths"].as_object().unwrap();
    for page in ["/", "/assets/{path}", "/a/{shortId}", "/a/{shortId}/embed"] {
        assert!(!paths.contains_key(page), "{page} is documented");
    }
    // A stale token in the browser does not break the page itself.
    let res = s
        .client
        .get(format!("{}/settings", s.base))
        .header(ACCEPT, BROWSER)
        .bearer_auth("not-a-token")
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
    // And the dashboard's own calls work with the owner's token.
    let res = s
        .client
        .get(format!("{}/v1/consumer-avatars", s.base))
        .bearer_auth(&s.token)
        .send()
        .await
        .unwrap();
    assert_eq!(res.status(), 200);
}
