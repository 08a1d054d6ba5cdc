//! The web UI: the dashboard and the public avatar pages, built from `ui/`
//! into `ui/dist` and compiled into the binary. These are pages, not API
//! routes, so they stay out of the OpenAPI document.
//!
//! - `GET /` answers a browser (Accept: text/html) with the dashboard; API
//!   clients keep getting the JSON 404 they always got.
//! - Dashboard client routes (`/avatars`, `/settings`, …) fall back to the
//!   dashboard for browsers; everything else unknown stays a JSON 404.
//! - `/assets/*` are the build's hashed files, cached for a year.
//! - `/a/{shortId}` and `/a/{shortId}/embed` are the public page and the
//!   iframe widget (002); only the widget may be framed by other sites.
//!
//! When `ui/dist` was not built, pages say how to build it.

use axum::extract::Request;
use axum::http::{HeaderMap, HeaderValue, Method, StatusCode, header};
use axum::response::{IntoResponse, Response};
use rust_embed::RustEmbed;

use crate::middleware;

#[derive(RustEmbed)]
#[folder = "../../ui/dist/"]
#[allow_missing = true]
struct Dist;

const DASHBOARD: &str = "index.html";
const PUBLIC: &str = "embed.html";
const IMMUTABLE: &str = "public, max-age=31536000, immutable";

/// Whether the UI was built when this binary was.
pub fn is_built() -> bool {
    Dist::get(DASHBOARD).is_some()
}

#[derive(Clone, Copy, PartialEq)]
enum Page {
    Dashboard,
    Public,
    Widget,
}

/// True when the client prefers a web page: it lists `text/html` (or
/// XHTML) with a non-zero quality. `*/*` alone (curl, SDKs) is not a browser.
pub fn wants_html(headers: &HeaderMap) -> bool {
    headers
        .get_all(header::ACCEPT)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|range| {
            let mut parts = range.split(';').map(str::trim);
            let media = parts.next().unwrap_or_default().to_ascii_lowercase();
            let q_zero = parts.any(|p| {
                p.strip_prefix("q=")
                    .and_then(|q| q.parse::<f32>().ok())
                    .is_some_and(|q| q <= 0.0)
            });
            (media == "text/html" || media == "application/xhtml+xml") && !q_zero
        })
}

/// The Host header if it is a plain host[:port], for the CSP's WebSocket
/// source (the host guard has already refused names it does not allow).
fn clean_host(headers: &HeaderMap) -> Option<&str> {
    headers
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
        .filter(|h| {
            !h.is_empty()
                && h.len() <= 255
                && h.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || b"-.:[]".contains(&b))
        })
}

fn content_security_policy(headers: &HeaderMap, page: Page) -> String {
    // Conversation sockets go to this same host (`wsUrl`); say so explicitly
    // rather than rely on every browser matching ws: against 'self'.
    let ws = clean_host(headers)
        .map(|h| format!(" ws://{h} wss://{h}"))
        .unwrap_or_default();
    let ancestors = match page {
        Page::Dashboard => "'none'",
        Page::Public => "'self'",
        // 002's iframe widget is meant to be put on any site.
        Page::Widget => "*",
    };
    format!(
        "default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data: blob:; \
         media-src 'self' blob: data:; font-src 'self'; connect-src 'self'{ws}; frame-src 'self'; \
         object-src 'none'; base-uri 'none'; form-action 'self'; frame-ancestors {ancestors}"
    )
}

fn etag_of(file: &rust_embed::EmbeddedFile) -> String {
    let hash: String = file
        .metadata
        .sha256_hash()
        .iter()
        .take(16)
        .map(|b| format!("{b:02x}"))
        .collect();
    format!("\"{hash}\"")
}

fn content_type(name: &str) -> &'static str {
    match name.rsplit('.').next().unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "jpg" | "jpeg" => "image/jpeg",
        "webp" => "image/webp",
        "ico" => "image/x-icon",
        "json" | "map" => "application/json",
        "woff2" => "font/woff2",
        "wasm" => "application/wasm",
        "txt" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

/// A file of the build with an ETag; 304 when the client has it.
fn serve_file(name: &str, request: &HeaderMap, cache: &'static str) -> Option<Response> {
    let file = Dist::get(name)?;
    let etag = etag_of(&file);
    let fresh = request
        .get(header::IF_NONE_MATCH)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.split(',').any(|t| t.trim() == etag));
    let mut res = if fresh {
        StatusCode::NOT_MODIFIED.into_response()
    } else {
        (
            [(header::CONTENT_TYPE, content_type(name))],
            file.data.into_owned(),
        )
            .into_response()
    };
    let h = res.headers_mut();
    h.insert(header::CACHE_CONTROL, HeaderValue::from_static(cache));
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    if let Ok(v) = HeaderValue::from_str(&etag) {
        h.insert(header::ETAG, v);
    }
    Some(res)
}

fn page(which: Page, request: &HeaderMap) -> Response {
    let file = match which {
        Page::Dashboard => DASHBOARD,
        Page::Public | Page::Widget => PUBLIC,
    };
    let Some(mut res) = serve_file(file, request, "no-cache") else {
        return not_built();
    };
    let h = res.headers_mut();
    if let Ok(v) = HeaderValue::from_str(&content_security_policy(request, which)) {
        h.insert(header::CONTENT_SECURITY_POLICY, v);
    }
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("strict-origin-when-cross-origin"),
    );
    match which {
        Page::Dashboard => {
            h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
        }
        Page::Public => {
            h.insert(
                header::X_FRAME_OPTIONS,
                HeaderValue::from_static("SAMEORIGIN"),
            );
        }
        // No X-Frame-Options: the widget is framed by other sites.
        Page::Widget => {}
    }
    res
}

/// What a browser sees when the binary was built without the UI.
fn not_built() -> Response {
    const BODY: &str = r#"<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>Avatarium: the dashboard is not built</title>
<style>
body{font-family:system-ui,sans-serif;max-width:40rem;margin:4rem auto;padding:0 1.5rem;line-height:1.55;color:#151a2d}
code,pre{font-family:ui-monospace,monospace;background:#f2f3f7;border-radius:6px}
code{padding:.1em .35em} pre{padding:.8em 1em;overflow-x:auto}
</style>
</head>
<body>
<h1>The Avatarium dashboard is not built</h1>
<p>This server was compiled without the web UI. The API works as usual
(<a href="/health">/health</a>, <a href="/v1/openapi.json">/v1/openapi.json</a>).</p>
<p>To add the dashboard, build the UI (needs Node.js 20.19 or later) and then the server:</p>
<pre>./scripts/ui-build.sh
cargo build -p avatarium-cli</pre>
<p>For development with live reload, run <code>npm run dev</code> in <code>ui/</code>
while this server is running.</p>
</body>
</html>
"#;
    (
        [
            (header::CONTENT_TYPE, "text/html; charset=utf-8"),
            (header::CACHE_CONTROL, "no-cache"),
            (
                header::CONTENT_SECURITY_POLICY,
                "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'",
            ),
        ],
        BODY,
    )
        .into_response()
}

/// `GET /`: the dashboard for browsers; API clients get the JSON 404 as before.
pub async fn index(req: Request) -> Response {
    if wants_html(req.headers()) {
        page(Page::Dashboard, req.headers())
    } else {
        middleware::not_found(req).await
    }
}

/// `GET /a/{shortId}`: an avatar's public chat page.
pub async fn public_page(headers: HeaderMap) -> Response {
    page(Page::Public, &headers)
}

/// `GET /a/{shortId}/embed`: the compact widget for 002's iframe.
pub async fn widget(headers: HeaderMap) -> Response {
    page(Page::Widget, &headers)
}

/// `GET /assets/{*path}`: the build's hashed scripts and styles.
pub async fn asset(req: Request) -> Response {
    let name = req.uri().path().trim_start_matches('/');
    match serve_file(name, req.headers(), IMMUTABLE) {
        Some(res) => res,
        None => middleware::not_found(req).await,
    }
}

/// A path the dashboard routes itself: not the API's, no file extension.
fn is_client_route(path: &str) -> bool {
    const NOT_OURS: &[&str] = &["/v1", "/api", "/assets", "/a"];
    let reserved = NOT_OURS
        .iter()
        .any(|p| path == *p || path.starts_with(&format!("{p}/")));
    let last = path.rsplit('/').next().unwrap_or_default();
    !reserved && !last.contains('.')
}

/// Unknown paths: top-level files of the build (favicon), dashboard routes
/// for browsers, and the API's JSON 404 for everything else.
pub async fn fallback(req: Request) -> Response {
    if req.method() == Method::GET || req.method() == Method::HEAD {
        let path = req.uri().path();
        if let Some(name) = path.strip_prefix('/')
            && !name.is_empty()
            && !name.contains('/')
            && name != DASHBOARD
            && name != PUBLIC
            && let Some(res) = serve_file(name, req.headers(), "public, max-age=3600")
        {
            return res;
        }
        if wants_html(req.headers()) && is_client_route(path) {
            return page(Page::Dashboard, req.headers());
        }
    }
    middleware::not_found(req).await
}

#[cfg(test)]
mod tests {
    use super::*;

    fn accept(v: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(header::ACCEPT, HeaderValue::from_str(v).unwrap());
        h
    }

    #[test]
    fn browsers_want_html_and_api_clients_do_not() {
        assert!(wants_html(&accept(
            "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8"
        )));
        assert!(wants_html(&accept("TEXT/HTML")));
        assert!(!wants_html(&accept("*/*")));
        assert!(!wants_html(&accept("application/json")));
        assert!(!wants_html(&accept("application/json, text/html;q=0")));
        assert!(!wants_html(&HeaderMap::new()));
    }

    #[test]
    fn client_routes_leave_the_api_alone() {
        for ok in [
            "/avatars",
            "/avatars/new",
            "/avatars/abc-123",
            "/settings",
            "/apis",
        ] {
            assert!(is_client_route(ok), "{ok}");
        }
        for no in [
            "/v1",
            "/v1/nope",
            "/api/x",
            "/assets/x",
            "/a/abc",
            "/robots.txt",
            "/x/y.js",
        ] {
            assert!(!is_client_route(no), "{no}");
        }
    }

    #[test]
    fn only_the_widget_may_be_framed_anywhere() {
        let mut h = HeaderMap::new();
        h.insert(header::HOST, HeaderValue::from_static("127.0.0.1:8000"));
        let widget = content_security_policy(&h, Page::Widget);
        assert!(widget.ends_with("frame-ancestors *"));
        assert!(widget.contains("connect-src 'self' ws://127.0.0.1:8000 wss://127.0.0.1:8000;"));
        assert!(content_security_policy(&h, Page::Dashboard).ends_with("frame-ancestors 'none'"));
        h.insert(
            header::HOST,
            HeaderValue::from_static("evil\"; script-src *"),
        );
        assert!(content_security_policy(&h, Page::Dashboard).contains("connect-src 'self';"));
    }
}
