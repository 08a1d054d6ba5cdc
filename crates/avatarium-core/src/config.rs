//! Runtime configuration: where data lives, what the server may be reached as,
//! and the limits it enforces. Binaries fill it from flags and environment.

use std::net::IpAddr;
use std::path::{Path, PathBuf};
use std::time::Duration;

use serde::{Deserialize, Serialize};

pub const DATA_DIR_ENV: &str = "AVATARIUM_DATA_DIR";
pub const DB_FILE: &str = "avatarium.sqlite";
const SECRET_FILE: &str = "jwt-secret";

/// A request budget: `count` requests per `per`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limit {
    pub count: u32,
    pub per: Duration,
}

impl Limit {
    pub const fn per_minute(count: u32) -> Self {
        Self {
            count,
            per: Duration::from_secs(60),
        }
    }

    /// Parses `N/min`, `N/5min`, `N/s`, `N/h` (as written in config and flags).
    pub fn parse(s: &str) -> Option<Self> {
        let (n, window) = s.trim().split_once('/')?;
        let count: u32 = n.trim().parse().ok().filter(|c| *c > 0)?;
        let window = window.trim();
        let split = window
            .find(|c: char| !c.is_ascii_digit())
            .unwrap_or(window.len());
        let (mult, unit) = window.split_at(split);
        let mult: u64 = if mult.is_empty() {
            1
        } else {
            mult.parse().ok().filter(|m| *m > 0)?
        };
        let unit_secs = match unit {
            "s" | "sec" => 1,
            "m" | "min" => 60,
            "h" | "hour" => 3600,
            _ => return None,
        };
        Some(Self {
            count,
            per: Duration::from_secs(mult * unit_secs),
        })
    }
}

/// Per-client-address limits of the documents (002's per-action table, 003's
/// and 004's endpoint tables), and the per-key tiers of 001.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RateLimits {
    pub avatar_create: Limit,
    pub session_create: Limit,
    pub password_attempts: Limit,
    pub api_chat: Limit,
    pub api_access_token: Limit,
    pub api_health: Limit,
    pub avatar_speak: Limit,
    /// The tier given to keys created on this install. Local installs are
    /// single-user, so the default is generous; hosted tiers stay available.
    pub default_key_tier: KeyTier,
    pub enterprise_per_minute: u32,
}

impl Default for RateLimits {
    fn default() -> Self {
        Self {
            avatar_create: Limit {
                count: 3,
                per: Duration::from_secs(300),
            },
            session_create: Limit::per_minute(10),
            password_attempts: Limit::per_minute(5),
            api_chat: Limit::per_minute(60),
            api_access_token: Limit::per_minute(10),
            api_health: Limit::per_minute(100),
            avatar_speak: Limit::per_minute(30),
            default_key_tier: KeyTier::Local,
            enterprise_per_minute: 600,
        }
    }
}

impl RateLimits {
    /// Limits so high that tests and benchmarks which are not about rate
    /// limiting never meet them.
    pub fn unlimited() -> Self {
        let big = Limit::per_minute(1_000_000);
        Self {
            avatar_create: big,
            session_create: big,
            password_attempts: big,
            api_chat: big,
            api_access_token: big,
            api_health: big,
            avatar_speak: big,
            default_key_tier: KeyTier::Enterprise,
            enterprise_per_minute: 1_000_000,
        }
    }

    pub fn key_tier_per_minute(&self, tier: KeyTier) -> u32 {
        match tier {
            KeyTier::Free => 10,
            KeyTier::Creator => 30,
            KeyTier::Pro => 60,
            KeyTier::Local => 1_200,
            KeyTier::Enterprise => self.enterprise_per_minute,
        }
    }
}

/// 001's rate-limit tiers, plus `local`: the tier of keys minted by the
/// owner of a local install for their own apps.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum KeyTier {
    Free,
    Creator,
    Pro,
    Enterprise,
    Local,
}

impl KeyTier {
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Free => "free",
            Self::Creator => "creator",
            Self::Pro => "pro",
            Self::Enterprise => "enterprise",
            Self::Local => "local",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "free" => Self::Free,
            "creator" => Self::Creator,
            "pro" => Self::Pro,
            "enterprise" => Self::Enterprise,
            "local" => Self::Local,
            _ => return None,
        })
    }
}

/// A secret string whose Debug output never shows it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(pub String);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl Secret {
    pub fn expose(&self) -> &str {
        &self.0
    }
}

/// Server-side settings of one chat provider (keys from the environment or
/// flags; BYOK keys never land here).
#[derive(Debug, Clone, Default, PartialEq)]
pub struct ProviderSettings {
    pub api_key: Option<Secret>,
    pub base_url: Option<String>,
    pub model: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Config {
    pub data_dir: PathBuf,
    pub host: IpAddr,
    pub port: u16,
    /// Host names (beyond loopback ones) that requests may be addressed to.
    pub allowed_hosts: Vec<String>,
    /// Origins granted CORS access. The dashboard and embed pages are served
    /// from the server itself and need none.
    pub cors_origins: Vec<String>,
    pub rate_limits: RateLimits,
    pub max_body_bytes: usize,
    pub token_ttl: Duration,
    pub stripe_secret_key: Option<String>,
    pub stripe_api_base: String,
    /// Provider id → server-side key/base URL/model (`groq`, `openai`,
    /// `anthropic`, `gemini`, `ollama`, or a custom OpenAI-compatible id).
    pub providers: std::collections::BTreeMap<String, ProviderSettings>,
    /// The provider used when a request names none; `local` when unset.
    pub default_provider: Option<String>,
    /// Base URL probed for a local OpenAI-compatible server (Ollama).
    pub ollama_url: String,
    /// 004's hybrid mode: `/api/chat` is forwarded to this backend.
    pub chat_backend_url: Option<String>,
    /// Lets the knowledge base fetch URLs on private networks (off by default).
    pub allow_private_urls: bool,
    /// Provider whose embeddings rank knowledge alongside full-text search
    /// (e.g. `openai`, `ollama`); none by default, which keeps ingestion
    /// offline.
    pub embeddings_provider: Option<String>,
    /// Whisper model for local transcription: a catalog name (`tiny.en`) in
    /// `<data-dir>/models`, or a path. None: the smallest installed one.
    pub whisper_model: Option<String>,
    /// Short id of the avatar 004's `/api/chat` speaks as (default: the
    /// owner's newest active avatar).
    pub api_avatar: Option<String>,
    /// ICE servers handed to realtime sessions (003's `ice_servers`), as
    /// the WebRTC `RTCIceServer` objects a client passes on. Empty by
    /// default: nothing points outside this machine unless configured.
    pub ice_servers: Vec<serde_json::Value>,
    /// 003's local layout: a second port serving only the session
    /// WebSocket (`/ws/{session_id}`), e.g. 8001 beside the API on 8000.
    pub ws_port: Option<u16>,
}

impl Config {
    pub fn new(data_dir: impl Into<PathBuf>) -> Self {
        Self {
            data_dir: data_dir.into(),
            host: IpAddr::from([127, 0, 0, 1]),
            port: 8000,
            allowed_hosts: Vec::new(),
            cors_origins: Vec::new(),
            rate_limits: RateLimits::default(),
            max_body_bytes: 1024 * 1024,
            token_ttl: Duration::from_secs(30 * 24 * 3600),
            stripe_secret_key: None,
            stripe_api_base: "https://api.stripe.com".into(),
            providers: Default::default(),
            default_provider: None,
            ollama_url: "http://127.0.0.1:11434/v1".into(),
            chat_backend_url: None,
            allow_private_urls: false,
            api_avatar: None,
            embeddings_provider: None,
            whisper_model: None,
            ice_servers: Vec::new(),
            ws_port: None,
        }
    }

    pub fn db_path(&self) -> PathBuf {
        self.data_dir.join(DB_FILE)
    }

    /// Custom models uploaded for consumer avatars.
    pub fn models_dir(&self) -> PathBuf {
        self.data_dir.join("models")
    }

    /// Speech models (whisper ggml files), shared by the CLI and the server.
    pub fn speech_models_dir(&self) -> PathBuf {
        self.data_dir.join("speech-models")
    }

    /// Loads the token-signing secret, creating it (owner-only) on first use so
    /// tokens survive restarts and the CLI and the server agree on it.
    pub fn load_or_create_secret(&self) -> std::io::Result<Vec<u8>> {
        std::fs::create_dir_all(&self.data_dir)?;
        let path = self.data_dir.join(SECRET_FILE);
        match std::fs::read(&path) {
            Ok(bytes) if bytes.len() >= 32 => Ok(bytes),
            Ok(_) | Err(_) => {
                let secret = crate::ids::random_secret().to_vec();
                write_private(&path, &secret)?;
                Ok(secret)
            }
        }
    }
}

/// Reads `GROQ_API_KEY`, `OPENAI_API_KEY`, `ANTHROPIC_API_KEY`,
/// `GEMINI_API_KEY` (or `GOOGLE_API_KEY`), and `AVATARIUM_<ID>_BASE_URL` /
/// `AVATARIUM_<ID>_MODEL` overrides, the variables users already have.
pub fn providers_from_env() -> std::collections::BTreeMap<String, ProviderSettings> {
    let var = |k: &str| std::env::var(k).ok().filter(|v| !v.trim().is_empty());
    let mut out = std::collections::BTreeMap::new();
    for (id, key_vars) in [
        ("groq", &["GROQ_API_KEY"][..]),
        ("openai", &["OPENAI_API_KEY"][..]),
        ("anthropic", &["ANTHROPIC_API_KEY"][..]),
        ("gemini", &["GEMINI_API_KEY", "GOOGLE_API_KEY"][..]),
        ("ollama", &[][..]),
        // Speech-only providers.
        ("elevenlabs", &["ELEVENLABS_API_KEY"][..]),
        ("deepgram", &["DEEPGRAM_API_KEY"][..]),
        ("google", &["GOOGLE_CLOUD_API_KEY", "GOOGLE_API_KEY"][..]),
    ] {
        let upper = id.to_ascii_uppercase();
        let settings = ProviderSettings {
            api_key: key_vars.iter().find_map(|k| var(k)).map(Secret),
            base_url: var(&format!("AVATARIUM_{upper}_BASE_URL")),
            model: var(&format!("AVATARIUM_{upper}_MODEL")),
        };
        if settings != ProviderSettings::default() {
            out.insert(id.to_string(), settings);
        }
    }
    out
}

/// The variable holding realtime sessions' ICE servers as JSON.
pub const ICE_SERVERS_ENV: &str = "AVATARIUM_ICE_SERVERS";

/// Parses ICE servers as given in [`ICE_SERVERS_ENV`]: a JSON array of
/// `{"urls": …}` objects, or one such object, or a bare URL string or an
/// array of them (`"stun:host:3478"`). Blank is none.
pub fn parse_ice_servers(text: &str) -> Result<Vec<serde_json::Value>, String> {
    use serde_json::{Value, json};
    let text = text.trim();
    if text.is_empty() {
        return Ok(Vec::new());
    }
    let value: Value =
        serde_json::from_str(text).map_err(|e| format!("{ICE_SERVERS_ENV} is not JSON: {e}"))?;
    let items = match value {
        Value::Array(items) => items,
        other => vec![other],
    };
    items
        .into_iter()
        .map(|item| match item {
            Value::String(url) => Ok(json!({ "urls": url })),
            Value::Object(o) if o.contains_key("urls") => Ok(Value::Object(o)),
            other => Err(format!(
                "{ICE_SERVERS_ENV}: each server needs `urls` (got {other})"
            )),
        })
        .collect()
}

/// ICE servers from [`ICE_SERVERS_ENV`]; none when unset.
pub fn ice_servers_from_env() -> Result<Vec<serde_json::Value>, String> {
    std::env::var(ICE_SERVERS_ENV)
        .ok()
        .map_or(Ok(Vec::new()), |v| parse_ice_servers(&v))
}

/// The data directory used when none is given: `$AVATARIUM_DATA_DIR`, else the
/// platform's data directory (`~/.local/share/avatarium` on Linux).
pub fn default_data_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os(DATA_DIR_ENV).filter(|d| !d.is_empty()) {
        return PathBuf::from(dir);
    }
    dirs::data_dir()
        .unwrap_or_else(|| PathBuf::from("."))
        .join("avatarium")
}

fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    #[cfg(unix)]
    {
        use std::io::Write;
        use std::os::unix::fs::OpenOptionsExt;
        let mut f = std::fs::OpenOptions::new()
            .write(true)
            .create(true)
            .truncate(true)
            .mode(0o600)
            .open(path)?;
        f.write_all(bytes)
    }
    #[cfg(not(unix))]
    {
        std::fs::write(path, bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn limits_parse() {
        assert_eq!(
            Limit::parse("3/5min"),
            Some(Limit {
                count: 3,
                per: Duration::from_secs(300)
            })
        );
        assert_eq!(Limit::parse("10/min"), Some(Limit::per_minute(10)));
        assert_eq!(Limit::parse("100/s").unwrap().per, Duration::from_secs(1));
        assert_eq!(Limit::parse("0/min"), None);
        assert_eq!(Limit::parse("5/fortnight"), None);
        assert_eq!(Limit::parse("five/min"), None);
    }

    #[test]
    fn ice_servers_parse() {
        assert!(parse_ice_servers("  ").unwrap().is_empty());
        let one = parse_ice_servers(r#"{"urls": "stun:stun.example:3478"}"#).unwrap();
        assert_eq!(
            one,
            vec![serde_json::json!({"urls": "stun:stun.example:3478"})]
        );
        let many = parse_ice_servers(
            r#"["stun:a:1", {"urls": ["turn:b:3478"], "username": "u", "credential": "c"}]"#,
        )
        .unwrap();
        assert_eq!(many.len(), 2);
        assert_eq!(many[0]["urls"], "stun:a:1");
        assert_eq!(many[1]["username"], "u");
        assert!(parse_ice_servers("[1]").is_err());
        assert!(parse_ice_servers("{nope").is_err());
    }

    #[test]
    fn secret_is_created_once_and_private() {
        let dir = tempfile::tempdir().unwrap();
        let cfg = Config::new(dir.path().join("nested"));
        let a = cfg.load_or_create_secret().unwrap();
        let b = cfg.load_or_create_secret().unwrap();
        assert_eq!(a, b);
        assert_eq!(a.len(), 32);
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(dir.path().join("nested/jwt-secret"))
                .unwrap()
                .permissions()
                .mode();
            assert_eq!(mode & 0o777, 0o600);
        }
    }
}
