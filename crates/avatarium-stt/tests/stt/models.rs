use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use avatarium_stt::SttError;
use avatarium_stt::models::{self, download, download_file, installed, resolve};
use axum::Router;
use axum::body::{Body, Bytes};
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use futures::StreamExt;
use sha1::{Digest, Sha1};

/// `(file, Range header)` per request.
type RequestLog = Arc<Mutex<Vec<(String, Option<String>)>>>;

#[derive(Clone, Default)]
struct Server {
    data: Arc<Vec<u8>>,
    /// Fail the first full (non-Range) request halfway through the body.
    interrupt_first: bool,
    /// Behave like a server without Range support.
    ignore_range: bool,
    log: RequestLog,
}

async fn serve_file(
    State(s): State<Server>,
    Path(file): Path<String>,
    headers: HeaderMap,
) -> Response {
    let range = headers
        .get(header::RANGE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_string);
    let n = {
        let mut log = s.log.lock().unwrap();
        log.push((file.clone(), range.clone()));
        log.len()
    };
    match file.as_str() {
        "secret.bin" => return StatusCode::UNAUTHORIZED.into_response(),
        "busy.bin" => return StatusCode::TOO_MANY_REQUESTS.into_response(),
        f if !f.ends_with(".bin") => return StatusCode::NOT_FOUND.into_response(),
        _ => {}
    }
    let len = s.data.len();
    if let Some(r) = range.filter(|_| !s.ignore_range) {
        let start: usize = r
            .trim_start_matches("bytes=")
            .trim_end_matches('-')
            .parse()
            .unwrap();
        if start >= len {
            return (
                StatusCode::RANGE_NOT_SATISFIABLE,
                [(header::CONTENT_RANGE, format!("bytes */{len}"))],
            )
                .into_response();
        }
        return (
            StatusCode::PARTIAL_CONTENT,
            [(
                header::CONTENT_RANGE,
                format!("bytes {start}-{}/{len}", len - 1),
            )],
            s.data[start..].to_vec(),
        )
            .into_response();
    }
    if s.interrupt_first && n == 1 {
        let half = Bytes::copy_from_slice(&s.data[..len / 2]);
        // Half the body, a pause so it reaches the client, then a dropped connection.
        let body = futures::stream::iter([Ok::<_, std::io::Error>(half)]).chain(
            futures::stream::once(async {
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                Err(std::io::Error::other("connection dropped"))
            }),
        );
        return Response::builder()
            .header(header::CONTENT_LENGTH, len)
            .body(Body::from_stream(body))
            .unwrap();
    }
    s.data.to_vec().into_response()
}

async fn start(server: Server) -> (String, Server) {
    let app = Router::new()
        .route("/{file}", get(serve_file))
        .with_state(server.clone());
    let listener = tokio::net::TcpListener::bind(SocketAddr::from(([127, 0, 0, 1], 0)))
        .await
        .unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}"), server)
}

fn payload() -> Vec<u8> {
    (0..300_000u32)
        .map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8)
        .collect()
}

fn sha1_hex(data: &[u8]) -> String {
    Sha1::digest(data)
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

fn server_with(data: Vec<u8>) -> Server {
    Server {
        data: Arc::new(data),
        ..Server::default()
    }
}

#[tokio::test]
async fn download_reports_progress_and_verifies() {
    let data = payload();
    let (base, _) = start(server_with(data.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    let mut calls = Vec::new();
    let path = download_file(
        &reqwest::Client::new(),
        &format!("{base}/ggml-test.bin"),
        dir.path(),
        "ggml-test.bin",
        &sha1_hex(&data).to_uppercase(),
        |done, total| calls.push((done, total)),
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(&path).unwrap(), data);
    assert!(!dir.path().join("ggml-test.bin.part").exists());
    assert_eq!(calls.first(), Some(&(0, Some(data.len() as u64))));
    assert_eq!(
        calls.last(),
        Some(&(data.len() as u64, Some(data.len() as u64)))
    );
    assert!(calls.windows(2).all(|w| w[0].0 <= w[1].0));
}

#[tokio::test]
async fn interrupted_download_resumes_with_range() {
    let data = payload();
    let (base, server) = start(Server {
        interrupt_first: true,
        ..server_with(data.clone())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let url = format!("{base}/ggml-test.bin");
    let sha = sha1_hex(&data);

    let first = download_file(&http, &url, dir.path(), "ggml-test.bin", &sha, |_, _| {}).await;
    assert!(matches!(first, Err(SttError::Upstream(_))), "{first:?}");
    let part = dir.path().join("ggml-test.bin.part");
    let have = std::fs::metadata(&part).unwrap().len();
    assert_eq!(have, data.len() as u64 / 2);
    assert!(!dir.path().join("ggml-test.bin").exists());

    let mut calls = Vec::new();
    let path = download_file(&http, &url, dir.path(), "ggml-test.bin", &sha, |d, t| {
        calls.push((d, t))
    })
    .await
    .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), data);
    assert_eq!(
        calls[0],
        (have, Some(data.len() as u64)),
        "progress resumes where it stopped"
    );
    let log = server.log.lock().unwrap().clone();
    assert_eq!(log.len(), 2);
    assert_eq!(log[1].1.as_deref(), Some(format!("bytes={have}-").as_str()));
}

#[tokio::test]
async fn server_without_range_support_restarts_cleanly() {
    let data = payload();
    let (base, _) = start(Server {
        ignore_range: true,
        ..server_with(data.clone())
    })
    .await;
    let dir = tempfile::tempdir().unwrap();
    // A stale half-file from an earlier attempt.
    std::fs::write(dir.path().join("ggml-test.bin.part"), &data[..1000]).unwrap();
    let path = download_file(
        &reqwest::Client::new(),
        &format!("{base}/ggml-test.bin"),
        dir.path(),
        "ggml-test.bin",
        &sha1_hex(&data),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(std::fs::read(path).unwrap(), data);
}

#[tokio::test]
async fn complete_part_file_is_verified_without_refetching() {
    let data = payload();
    let (base, server) = start(server_with(data.clone())).await;
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(dir.path().join("ggml-test.bin.part"), &data).unwrap();
    download_file(
        &reqwest::Client::new(),
        &format!("{base}/ggml-test.bin"),
        dir.path(),
        "ggml-test.bin",
        &sha1_hex(&data),
        |_, _| {},
    )
    .await
    .unwrap();
    assert_eq!(server.log.lock().unwrap().len(), 1);
}

#[tokio::test]
async fn checksum_mismatch_deletes_everything() {
    let data = payload();
    let (base, _) = start(server_with(data)).await;
    let dir = tempfile::tempdir().unwrap();
    let err = download_file(
        &reqwest::Client::new(),
        &format!("{base}/ggml-test.bin"),
        dir.path(),
        "ggml-test.bin",
        "0000000000000000000000000000000000000000",
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, SttError::Model(m) if m.contains("checksum")),
        "{err:?}"
    );
    assert!(!dir.path().join("ggml-test.bin").exists());
    assert!(!dir.path().join("ggml-test.bin.part").exists());
}

#[tokio::test]
async fn catalogue_download_uses_the_base_url_and_the_published_checksum() {
    let (base, server) = start(server_with(b"not the real tiny.en".to_vec())).await;
    let dir = tempfile::tempdir().unwrap();
    let err = download(
        &reqwest::Client::new(),
        &format!("{base}/"),
        "tiny.en",
        dir.path(),
        |_, _| {},
    )
    .await
    .unwrap_err();
    assert!(
        matches!(&err, SttError::Model(m) if m.contains("c78c86eb1a8faa21b369bcd33207cc90d64ae9df")),
        "{err:?}"
    );
    assert_eq!(server.log.lock().unwrap()[0].0, "ggml-tiny.en.bin");
    assert!(std::fs::read_dir(dir.path()).unwrap().next().is_none());

    let unknown = download(
        &reqwest::Client::new(),
        &base,
        "huge-v9",
        dir.path(),
        |_, _| {},
    )
    .await;
    assert!(
        matches!(unknown, Err(SttError::ModelMissing { .. })),
        "{unknown:?}"
    );
}

#[tokio::test]
async fn http_errors_are_mapped() {
    let (base, _) = start(server_with(payload())).await;
    let dir = tempfile::tempdir().unwrap();
    let http = reqwest::Client::new();
    let get = |file: &'static str| {
        let (http, url, dir) = (
            http.clone(),
            format!("{base}/{file}"),
            dir.path().to_path_buf(),
        );
        async move { download_file(&http, &url, &dir, "x.bin", "00", |_, _| {}).await }
    };
    assert!(matches!(
        get("secret.bin").await,
        Err(SttError::Unauthorized(_))
    ));
    assert!(matches!(
        get("busy.bin").await,
        Err(SttError::RateLimited(_))
    ));
    assert!(matches!(
        get("missing.txt").await,
        Err(SttError::Upstream(_))
    ));
    let refused = download_file(
        &http,
        "http://127.0.0.1:9/x.bin",
        dir.path(),
        "x.bin",
        "00",
        |_, _| {},
    )
    .await;
    assert!(matches!(refused, Err(SttError::Upstream(_))), "{refused:?}");
}

#[test]
fn installed_and_resolve() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    assert!(installed(d).is_empty());
    assert!(installed(&d.join("does-not-exist")).is_empty());
    std::fs::write(d.join("ggml-tiny.en.bin"), b"0123456789").unwrap();
    std::fs::write(d.join("ggml-custom-q8_0.bin"), b"abc").unwrap();
    std::fs::write(d.join("ggml-base.bin.part"), b"partial").unwrap();
    std::fs::write(d.join("ggml-silero-v6.2.0.bin"), b"vad").unwrap();
    std::fs::write(d.join("notes.txt"), b"hi").unwrap();

    let list = installed(d);
    let names: Vec<&str> = list.iter().map(|m| m.name.as_str()).collect();
    assert_eq!(names, ["custom-q8_0", "tiny.en"]);
    assert_eq!(list[1].size_bytes, 10);
    assert_eq!(
        list[1].info.map(|i| i.sha1),
        Some("c78c86eb1a8faa21b369bcd33207cc90d64ae9df")
    );
    assert!(list[0].info.is_none());

    assert_eq!(resolve(d, "tiny.en").unwrap(), d.join("ggml-tiny.en.bin"));
    assert_eq!(
        resolve(d, "custom-q8_0").unwrap(),
        d.join("ggml-custom-q8_0.bin")
    );
    assert_eq!(
        resolve(d, "silero-v6.2.0").unwrap(),
        d.join("ggml-silero-v6.2.0.bin")
    );
    let explicit = d.join("ggml-tiny.en.bin");
    assert_eq!(resolve(d, explicit.to_str().unwrap()).unwrap(), explicit);

    match resolve(d, "base.en") {
        Err(SttError::ModelMissing { name, hint }) => {
            assert_eq!(name, "base.en");
            assert_eq!(hint, "run `avatarium models download base.en`");
        }
        other => panic!("{other:?}"),
    }
    assert!(matches!(
        resolve(d, "/no/such/model.bin"),
        Err(SttError::ModelMissing { .. })
    ));
    assert!(matches!(
        resolve(d, "gibberish"),
        Err(SttError::ModelMissing { .. })
    ));
    assert!(models::catalog().iter().any(|m| m.name == "large-v3-turbo"));
}
