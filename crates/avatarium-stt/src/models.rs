//! Whisper model catalogue, discovery and downloads.
//!
//! Models live as `ggml-<name>.bin` in one directory. Downloads go to `<file>.part`, resume from
//! it with an HTTP `Range` request, are checked against the SHA-1 that whisper.cpp publishes, and
//! only then are renamed into place, so a half-written file never looks installed.

use std::collections::HashSet;
use std::path::{Path, PathBuf};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use futures::StreamExt;
use reqwest::StatusCode;
use reqwest::header::{CONTENT_LENGTH, CONTENT_RANGE, RANGE};
use serde::Serialize;
use sha1::{Digest, Sha1};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::SttError;

/// Where whisper.cpp's converted models are published.
pub const DEFAULT_BASE_URL: &str = "https://huggingface.co/ggerganov/whisper.cpp/resolve/main";

/// A chunk that takes longer than this to arrive means the connection is dead; the `.part` file
/// stays for a later resume.
const STALL_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct ModelInfo {
    /// The name users type: `tiny.en`, `base`, `large-v3-turbo`, …
    pub name: &'static str,
    /// The file name under the models directory and on the download server.
    pub file: &'static str,
    /// Approximate size on disk, in MiB.
    pub size_mb: u32,
    /// SHA-1 of the file, as published in whisper.cpp's `models/README.md`.
    pub sha1: &'static str,
}

impl ModelInfo {
    /// `.en` models transcribe English only (and do it better than the multilingual ones).
    pub fn english_only(&self) -> bool {
        self.name.contains(".en")
    }
}

const fn model(
    name: &'static str,
    file: &'static str,
    size_mb: u32,
    sha1: &'static str,
) -> ModelInfo {
    ModelInfo {
        name,
        file,
        size_mb,
        sha1,
    }
}

// Checksums from whisper.cpp `models/README.md` ("Available models").
static CATALOG: &[ModelInfo] = &[
    model(
        "tiny.en",
        "ggml-tiny.en.bin",
        75,
        "c78c86eb1a8faa21b369bcd33207cc90d64ae9df",
    ),
    model(
        "tiny",
        "ggml-tiny.bin",
        75,
        "bd577a113a864445d4c299885e0cb97d4ba92b5f",
    ),
    model(
        "base.en",
        "ggml-base.en.bin",
        142,
        "137c40403d78fd54d454da0f9bd998f78703390c",
    ),
    model(
        "base",
        "ggml-base.bin",
        142,
        "465707469ff3a37a2b9b8d8f89f2f99de7299dac",
    ),
    model(
        "small.en",
        "ggml-small.en.bin",
        466,
        "db8a495a91d927739e50b3fc1cc4c6b8f6c2d022",
    ),
    model(
        "small",
        "ggml-small.bin",
        466,
        "55356645c2b361a969dfd0ef2c5a50d530afd8d5",
    ),
    model(
        "medium.en",
        "ggml-medium.en.bin",
        1536,
        "8c30f0e44ce9560643ebd10bbe50cd20eafd3723",
    ),
    model(
        "medium",
        "ggml-medium.bin",
        1536,
        "fd9727b6e1217c2f614f9b698455c4ffd82463b4",
    ),
    model(
        "large-v3-turbo",
        "ggml-large-v3-turbo.bin",
        1536,
        "4af2b29d7ec73d781377bfd1758ca957a807e941",
    ),
    model(
        "large-v3-turbo-q5_0",
        "ggml-large-v3-turbo-q5_0.bin",
        547,
        "e050f7970618a659205450ad97eb95a18d69c9ee",
    ),
    model(
        "large-v3",
        "ggml-large-v3.bin",
        2970,
        "ad82bf6a9043ceed055076d0fd39f5f186ff8062",
    ),
    model(
        "large-v3-q5_0",
        "ggml-large-v3-q5_0.bin",
        1126,
        "e6e2ed78495d403bef4b7cff42ef4aaadcfea8de",
    ),
];

/// Where whisper.cpp publishes its Silero VAD models.
pub const VAD_BASE_URL: &str = "https://huggingface.co/ggml-org/whisper-vad/resolve/main";

/// The Silero VAD model for [`crate::vad`]. `download` and `resolve` accept its name too; it is
/// fetched from [`VAD_BASE_URL`] unless a custom base URL is given.
// The SHA-1 was computed from a copy whose SHA-256 and size match the published file.
pub static VAD_MODEL: ModelInfo = model(
    "silero-v6.2.0",
    "ggml-silero-v6.2.0.bin",
    1,
    "470e5d9d094ddba2f0a512cecc3732a252188abd",
);

/// Every whisper model `download` knows, smallest first within each family.
pub fn catalog() -> &'static [ModelInfo] {
    CATALOG
}

/// Looks a model (whisper or VAD) up by name (`base.en`) or file name (`ggml-base.en.bin`).
pub fn find(name: &str) -> Option<&'static ModelInfo> {
    CATALOG
        .iter()
        .chain(std::iter::once(&VAD_MODEL))
        .find(|m| m.name == name || m.file == name)
}

/// A model file found in the models directory.
#[derive(Debug, Clone, PartialEq, Serialize)]
#[serde(rename_all = "camelCase")]
pub struct InstalledModel {
    /// Catalogue name, or the file name minus `ggml-` and `.bin` for models from elsewhere.
    pub name: String,
    /// Catalogue entry, when the file is one `download` knows.
    pub info: Option<ModelInfo>,
    pub path: PathBuf,
    pub size_bytes: u64,
}

/// Lists the whisper models installed in `models_dir` (sorted by name). A missing directory
/// means nothing is installed; unfinished downloads (`.part`) and VAD models are not listed.
pub fn installed(models_dir: &Path) -> Vec<InstalledModel> {
    let Ok(entries) = std::fs::read_dir(models_dir) else {
        return Vec::new();
    };
    let mut out: Vec<InstalledModel> = entries
        .filter_map(Result::ok)
        .filter_map(|entry| {
            let file = entry.file_name().to_str()?.to_string();
            let stem = file.strip_prefix("ggml-")?.strip_suffix(".bin")?;
            if stem.contains("silero") || stem.contains("vad") {
                return None;
            }
            let meta = entry.metadata().ok()?;
            if !meta.is_file() {
                return None;
            }
            let info = CATALOG.iter().find(|m| m.file == file).copied();
            Some(InstalledModel {
                name: info.map_or_else(|| stem.to_string(), |i| i.name.to_string()),
                info,
                path: entry.path(),
                size_bytes: meta.len(),
            })
        })
        .collect();
    out.sort_by(|a, b| a.name.cmp(&b.name));
    out
}

/// Turns what a user typed (a catalogue name such as `base.en`, a file name, or a path to a model
/// file) into the path of an installed model.
///
/// Errors with [`SttError::ModelMissing`], whose hint says how to get the model.
pub fn resolve(models_dir: &Path, name_or_path: &str) -> Result<PathBuf, SttError> {
    let wanted = name_or_path.trim();
    if wanted.is_empty() {
        return Err(SttError::ModelMissing {
            name: String::new(),
            hint: download_hint("base.en"),
        });
    }
    let as_path = Path::new(wanted);
    let looks_like_path = wanted.contains(std::path::MAIN_SEPARATOR)
        || wanted.contains('/')
        || wanted.ends_with(".bin");

    if looks_like_path && as_path.is_file() {
        return Ok(as_path.to_path_buf());
    }
    if let Some(info) = find(wanted) {
        let path = models_dir.join(info.file);
        if path.is_file() {
            return Ok(path);
        }
        return Err(SttError::ModelMissing {
            name: info.name.to_string(),
            hint: download_hint(info.name),
        });
    }
    // Models from elsewhere (fine-tunes, other quantisations) follow the same naming.
    let conventional = models_dir.join(format!("ggml-{wanted}.bin"));
    if !looks_like_path && conventional.is_file() {
        return Ok(conventional);
    }
    let in_dir = models_dir.join(wanted);
    if !looks_like_path && in_dir.is_file() {
        return Ok(in_dir);
    }
    Err(SttError::ModelMissing {
        name: wanted.to_string(),
        hint: if looks_like_path {
            format!(
                "no model file at {wanted}; pass the path of a ggml whisper model, or {}",
                download_hint("base.en")
            )
        } else {
            format!(
                "unknown model; known models: {}; or pass the path of a ggml whisper model",
                CATALOG
                    .iter()
                    .map(|m| m.name)
                    .collect::<Vec<_>>()
                    .join(", ")
            )
        },
    })
}

fn download_hint(name: &str) -> String {
    format!("run `avatarium models download {name}`")
}

/// Downloads catalogue model `name` (or [`VAD_MODEL`]) from `base_url` (see
/// [`DEFAULT_BASE_URL`]) into `models_dir` and returns its path. An already installed model is
/// returned as is.
///
/// `progress(done, total)` is called as bytes arrive (`total` when the server says).
pub async fn download(
    http: &reqwest::Client,
    base_url: &str,
    name: &str,
    models_dir: &Path,
    progress: impl FnMut(u64, Option<u64>),
) -> Result<PathBuf, SttError> {
    let info = find(name).ok_or_else(|| SttError::ModelMissing {
        name: name.to_string(),
        hint: format!(
            "unknown model; known models: {}",
            CATALOG
                .iter()
                .map(|m| m.name)
                .collect::<Vec<_>>()
                .join(", ")
        ),
    })?;
    let base = if *info == VAD_MODEL && base_url.trim_end_matches('/') == DEFAULT_BASE_URL {
        VAD_BASE_URL
    } else {
        base_url
    };
    let url = format!("{}/{}", base.trim_end_matches('/'), info.file);
    download_file(http, &url, models_dir, info.file, info.sha1, progress).await
}

/// Downloads `url` to `dest_dir/file_name`, resuming `file_name.part` if an earlier attempt was
/// interrupted, verifying `expected_sha1` (hex) before the atomic rename into place.
///
/// On a checksum mismatch the partial file is deleted and [`SttError::Model`] returned. Network
/// failures leave the partial file for the next attempt.
pub async fn download_file(
    http: &reqwest::Client,
    url: &str,
    dest_dir: &Path,
    file_name: &str,
    expected_sha1: &str,
    mut progress: impl FnMut(u64, Option<u64>),
) -> Result<PathBuf, SttError> {
    if file_name.is_empty() || file_name.contains(['/', '\\']) || file_name.starts_with('.') {
        return Err(SttError::Model(format!(
            "invalid model file name {file_name:?}"
        )));
    }
    let final_path = dest_dir.join(file_name);
    if final_path.is_file() {
        return Ok(final_path);
    }
    tokio::fs::create_dir_all(dest_dir)
        .await
        .map_err(|e| io_error("create", dest_dir, e))?;
    let part_path = dest_dir.join(format!("{file_name}.part"));
    let _lock = DownloadLock::acquire(&part_path)?;

    let expected = expected_sha1.trim().to_ascii_lowercase();
    // One restart is allowed when the server ignores or rejects our Range request.
    for attempt in 0..2 {
        match fetch_into_part(http, url, &part_path, &mut progress).await? {
            Fetched::Complete => {}
            Fetched::Restart if attempt == 0 => {
                remove_quietly(&part_path).await;
                continue;
            }
            Fetched::Restart => {
                return Err(SttError::Upstream(format!(
                    "{} keeps rejecting the download",
                    host_of(url)
                )));
            }
        }
        let actual = sha1_of_file(&part_path).await?;
        if actual != expected {
            remove_quietly(&part_path).await;
            return Err(SttError::Model(format!(
                "checksum mismatch for {file_name}: expected sha1 {expected}, got {actual}; the download was deleted, try again"
            )));
        }
        tokio::fs::rename(&part_path, &final_path)
            .await
            .map_err(|e| io_error("rename", &final_path, e))?;
        tracing::info!(file = %final_path.display(), "model downloaded");
        return Ok(final_path);
    }
    Err(SttError::Upstream("download did not complete".into()))
}

enum Fetched {
    Complete,
    /// The partial file cannot be continued; start from zero.
    Restart,
}

async fn fetch_into_part(
    http: &reqwest::Client,
    url: &str,
    part_path: &Path,
    progress: &mut impl FnMut(u64, Option<u64>),
) -> Result<Fetched, SttError> {
    let have = tokio::fs::metadata(part_path)
        .await
        .map(|m| m.len())
        .unwrap_or(0);
    let mut request = http.get(url);
    if have > 0 {
        request = request.header(RANGE, format!("bytes={have}-"));
    }
    let response = request.send().await.map_err(|e| transport_error(url, e))?;
    let status = response.status();

    let (mut file, mut done, total) = match status {
        StatusCode::PARTIAL_CONTENT if have > 0 => {
            let (start, total) = parse_content_range(response.headers().get(CONTENT_RANGE));
            if start.is_some_and(|s| s != have) {
                return Ok(Fetched::Restart);
            }
            let total = total.or_else(|| content_length(&response).map(|len| len + have));
            let file = tokio::fs::OpenOptions::new()
                .append(true)
                .open(part_path)
                .await
                .map_err(|e| io_error("open", part_path, e))?;
            tracing::info!(resume_from = have, "resuming model download");
            (file, have, total)
        }
        // Either a fresh start or a server that ignored the Range header: start over.
        s if s.is_success() => {
            let total = content_length(&response);
            let file = tokio::fs::File::create(part_path)
                .await
                .map_err(|e| io_error("create", part_path, e))?;
            (file, 0, total)
        }
        // The part already holds everything the server has; let the checksum judge it.
        StatusCode::RANGE_NOT_SATISFIABLE if have > 0 => {
            let (_, total) = parse_content_range(response.headers().get(CONTENT_RANGE));
            if total == Some(have) {
                progress(have, total);
                return Ok(Fetched::Complete);
            }
            return Ok(Fetched::Restart);
        }
        s => return Err(status_error(url, s)),
    };

    progress(done, total);
    let mut body = response.bytes_stream();
    loop {
        let next = tokio::time::timeout(STALL_TIMEOUT, body.next())
            .await
            .map_err(|_| SttError::Timeout)?;
        let Some(chunk) = next else { break };
        let chunk = chunk.map_err(|e| transport_error(url, e))?;
        file.write_all(&chunk)
            .await
            .map_err(|e| io_error("write", part_path, e))?;
        done += chunk.len() as u64;
        progress(done, total);
    }
    file.flush()
        .await
        .map_err(|e| io_error("write", part_path, e))?;
    file.sync_all()
        .await
        .map_err(|e| io_error("sync", part_path, e))?;
    if let Some(total) = total
        && done < total
    {
        return Err(SttError::Upstream(format!(
            "download from {} ended early ({done} of {total} bytes); run it again to resume",
            host_of(url)
        )));
    }
    Ok(Fetched::Complete)
}

fn content_length(response: &reqwest::Response) -> Option<u64> {
    response
        .headers()
        .get(CONTENT_LENGTH)
        .and_then(|v| v.to_str().ok())
        .and_then(|v| v.parse().ok())
}

/// Parses `bytes START-END/TOTAL` into `(START, TOTAL)`.
fn parse_content_range(value: Option<&reqwest::header::HeaderValue>) -> (Option<u64>, Option<u64>) {
    let Some(v) = value.and_then(|v| v.to_str().ok()) else {
        return (None, None);
    };
    let v = v.trim().trim_start_matches("bytes").trim();
    let (range, total) = v.split_once('/').unwrap_or((v, "*"));
    let start = range.split('-').next().and_then(|s| s.trim().parse().ok());
    (start, total.trim().parse().ok())
}

async fn sha1_of_file(path: &Path) -> Result<String, SttError> {
    let mut file = tokio::fs::File::open(path)
        .await
        .map_err(|e| io_error("open", path, e))?;
    let mut hasher = Sha1::new();
    let mut buf = vec![0u8; 1 << 20];
    loop {
        let n = file
            .read(&mut buf)
            .await
            .map_err(|e| io_error("read", path, e))?;
        if n == 0 {
            break;
        }
        hasher.update(&buf[..n]);
    }
    Ok(hex(&hasher.finalize()))
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

async fn remove_quietly(path: &Path) {
    if let Err(e) = tokio::fs::remove_file(path).await
        && e.kind() != std::io::ErrorKind::NotFound
    {
        tracing::warn!(file = %path.display(), error = %e, "cannot remove partial download");
    }
}

fn io_error(what: &str, path: &Path, e: std::io::Error) -> SttError {
    SttError::Model(format!("cannot {what} {}: {e}", path.display()))
}

fn host_of(url: &str) -> &str {
    url.split("://")
        .nth(1)
        .and_then(|rest| rest.split('/').next())
        .unwrap_or(url)
}

fn transport_error(url: &str, e: reqwest::Error) -> SttError {
    if e.is_timeout() {
        return SttError::Timeout;
    }
    SttError::Upstream(format!(
        "download from {} failed: {}",
        host_of(url),
        e.without_url()
    ))
}

fn status_error(url: &str, status: StatusCode) -> SttError {
    let msg = format!("{} answered {status}", host_of(url));
    match status.as_u16() {
        401 | 403 => SttError::Unauthorized(msg),
        429 => SttError::RateLimited(msg),
        _ => SttError::Upstream(msg),
    }
}

/// Two downloads into the same `.part` file would interleave their bytes.
struct DownloadLock(PathBuf);

fn active_downloads() -> &'static Mutex<HashSet<PathBuf>> {
    static ACTIVE: OnceLock<Mutex<HashSet<PathBuf>>> = OnceLock::new();
    ACTIVE.get_or_init(Default::default)
}

impl DownloadLock {
    fn acquire(part: &Path) -> Result<Self, SttError> {
        let mut active = active_downloads().lock().unwrap_or_else(|p| p.into_inner());
        if !active.insert(part.to_path_buf()) {
            return Err(SttError::Model(format!(
                "{} is already being downloaded",
                part.display()
            )));
        }
        Ok(Self(part.to_path_buf()))
    }
}

impl Drop for DownloadLock {
    fn drop(&mut self) {
        active_downloads()
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .remove(&self.0);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn catalog_is_consistent() {
        for m in catalog() {
            assert_eq!(m.file, format!("ggml-{}.bin", m.name));
            assert_eq!(m.sha1.len(), 40, "{}", m.name);
            assert!(m.sha1.chars().all(|c| c.is_ascii_hexdigit()));
        }
        assert!(find("tiny.en").is_some());
        assert!(find("ggml-base.bin").is_some());
        assert!(find("huge").is_none());
    }

    #[test]
    fn content_range_parsing() {
        let v = reqwest::header::HeaderValue::from_static("bytes 100-199/200");
        assert_eq!(parse_content_range(Some(&v)), (Some(100), Some(200)));
        let v = reqwest::header::HeaderValue::from_static("bytes */200");
        assert_eq!(parse_content_range(Some(&v)), (None, Some(200)));
        assert_eq!(parse_content_range(None), (None, None));
    }

    #[test]
    fn resolve_hints_at_download() {
        let dir = std::env::temp_dir().join("avatarium-stt-resolve-none");
        match resolve(&dir, "tiny.en") {
            Err(SttError::ModelMissing { name, hint }) => {
                assert_eq!(name, "tiny.en");
                assert!(hint.contains("avatarium models download tiny.en"), "{hint}");
            }
            other => panic!("{other:?}"),
        }
    }
}
