//! `avatarium`: serve the local API, manage keys and tokens of the same
//! data directory, and render or view avatars.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{Context, bail};
use clap::{Args, Parser, Subcommand};

use avatarium_core::config::{self, Config, KeyTier, Limit};
use avatarium_core::{SqliteStore, Store, ids};
use avatarium_server::AppState;
use avatarium_server::auth::TokenKeys;

mod render;
mod speech;
mod view;

#[derive(Parser)]
#[command(
    name = "avatarium",
    version,
    about = "Avatarium: talking AI avatars, offline on your machine"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct DataDir {
    /// Where the database, secrets and uploads live [default: the platform's
    /// data dir, e.g. ~/.local/share/avatarium]
    #[arg(long, env = config::DATA_DIR_ENV, global = true)]
    data_dir: Option<PathBuf>,
}

impl DataDir {
    fn path(&self) -> PathBuf {
        self.data_dir
            .clone()
            .unwrap_or_else(config::default_data_dir)
    }
}

#[derive(Subcommand)]
enum Command {
    /// Serve the local /v1 API.
    Serve(ServeArgs),
    /// Manage API keys.
    Keys {
        #[command(subcommand)]
        command: KeysCommand,
        #[command(flatten)]
        data: DataDir,
    },
    /// Speak TEXT with the offline voice into a WAV file (and its visemes).
    Say {
        text: String,
        #[arg(long)]
        out: PathBuf,
        /// Also write the viseme timeline and word timings as JSON.
        #[arg(long)]
        visemes: Option<PathBuf>,
        /// An espeak-ng voice, e.g. en-us, en-gb+f3, de.
        #[arg(long)]
        voice: Option<String>,
        #[arg(long)]
        speed: Option<f32>,
    },
    /// Transcribe an audio file (WAV, MP3, OGG, WebM) with the local model.
    Transcribe {
        file: PathBuf,
        /// A model name (tiny.en, base.en, …) in the data dir, or a path to a ggml file.
        #[arg(long)]
        model: Option<String>,
        /// Print JSON with word timings instead of the text alone.
        #[arg(long)]
        json: bool,
        #[command(flatten)]
        data: DataDir,
    },
    /// List or download speech-recognition models.
    Models {
        #[command(subcommand)]
        command: ModelsCommand,
        #[command(flatten)]
        data: DataDir,
    },
    /// Render an avatar speaking TEXT into PNG frames, audio.wav and visemes.json.
    Render(render::RenderArgs),
    /// Show an avatar in a window, idling or speaking --text aloud.
    View(view::ViewArgs),
    /// Print a JWT for the local owner account (last line of stdout).
    Token {
        #[command(flatten)]
        data: DataDir,
        /// Lifetime of the token in hours.
        #[arg(long, default_value_t = 24 * 30)]
        ttl_hours: u64,
    },
}

#[derive(Subcommand)]
enum KeysCommand {
    /// Create a key; prints it alone on the last line of stdout.
    Create {
        #[arg(long)]
        name: String,
        /// Rate-limit tier: local, free, creator, pro or enterprise.
        #[arg(long, default_value = "local")]
        tier: String,
    },
    /// List keys (prefixes only).
    List,
    /// Revoke a key by id.
    Revoke { id: String },
}

#[derive(Subcommand)]
enum ModelsCommand {
    /// Models known to the downloader, and which are installed.
    List,
    /// Download a model (resumable, checksum-verified).
    Download {
        name: String,
        /// Where to download from (a mirror of whisper.cpp's model host).
        #[arg(long, env = "AVATARIUM_MODELS_URL", default_value = avatarium_stt::models::DEFAULT_BASE_URL)]
        base_url: String,
    },
}

#[derive(Args)]
struct ServeArgs {
    /// Address to bind. Anything but loopback exposes your avatars and keys
    /// to the network.
    #[arg(long, default_value = "127.0.0.1", env = "AVATARIUM_HOST")]
    host: IpAddr,
    #[arg(long, default_value_t = 8000, env = "AVATARIUM_PORT")]
    port: u16,
    #[command(flatten)]
    data: DataDir,
    /// Extra host names requests may be addressed to (DNS-rebinding guard).
    #[arg(
        long = "allow-host",
        env = "AVATARIUM_ALLOWED_HOSTS",
        value_delimiter = ','
    )]
    allowed_hosts: Vec<String>,
    /// Origins allowed to call the API from a browser (CORS).
    #[arg(
        long = "cors-origin",
        env = "AVATARIUM_CORS_ORIGINS",
        value_delimiter = ','
    )]
    cors_origins: Vec<String>,
    /// Override a per-address limit, e.g. `avatar_create=10/min`. Names:
    /// avatar_create, session_create, password_attempts, api_chat,
    /// api_access_token, api_health, avatar_speak.
    #[arg(
        long = "rate-limit",
        env = "AVATARIUM_RATE_LIMITS",
        value_delimiter = ','
    )]
    rate_limits: Vec<String>,
    /// Tier of API keys created through the API.
    #[arg(long, default_value = "local", env = "AVATARIUM_KEY_TIER")]
    key_tier: String,
    /// Provider used when a request names none: local (offline, the
    /// default), ollama, groq, openai, anthropic or gemini. Keys come from
    /// GROQ_API_KEY, OPENAI_API_KEY, ANTHROPIC_API_KEY, GEMINI_API_KEY.
    #[arg(long, env = "AVATARIUM_DEFAULT_PROVIDER")]
    default_provider: Option<String>,
    /// 004's hybrid mode: forward /api/chat to your own backend.
    #[arg(long, env = "AVATARIUM_CHAT_BACKEND_URL")]
    chat_backend_url: Option<String>,
    /// Short id of the avatar /api/chat speaks as.
    #[arg(long, env = "AVATARIUM_API_AVATAR")]
    api_avatar: Option<String>,
    /// Rank knowledge with this provider's embeddings too (e.g. openai).
    #[arg(long, env = "AVATARIUM_EMBEDDINGS_PROVIDER")]
    embeddings_provider: Option<String>,
    /// Let knowledge URLs point at private or loopback addresses.
    #[arg(long, env = "AVATARIUM_ALLOW_PRIVATE_URLS")]
    allow_private_urls: bool,
    /// Stripe secret key; without it checkout answers a clear error.
    #[arg(long, env = "AVATARIUM_STRIPE_SECRET_KEY", hide_env_values = true)]
    stripe_secret_key: Option<String>,
    /// Also serve the realtime session WebSocket (/ws/{session_id}) on this
    /// port, as 003's local layout has it (8001 beside 8000). ICE servers
    /// for sessions come from AVATARIUM_ICE_SERVERS (JSON).
    #[arg(long, env = "AVATARIUM_WS_PORT")]
    ws_port: Option<u16>,
}

fn main() -> anyhow::Result<()> {
    let cli = Cli::parse();
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    match cli.command {
        // The window's event loop must own the main thread.
        Command::View(args) => view::view(args, &runtime),
        command => runtime.block_on(run(command)),
    }
}

async fn run(command: Command) -> anyhow::Result<()> {
    match command {
        Command::Serve(args) => serve(args).await,
        Command::Keys { command, data } => keys(command, data.path()).await,
        Command::Token { data, ttl_hours } => token(data.path(), ttl_hours).await,
        Command::Say {
            text,
            out,
            visemes,
            voice,
            speed,
        } => speech::say(text, out, visemes, voice, speed).await,
        Command::Transcribe {
            file,
            model,
            json,
            data,
        } => speech::transcribe(Config::new(data.path()), file, model, json).await,
        Command::Models { command, data } => {
            speech::models(Config::new(data.path()), command).await
        }
        Command::Render(args) => render::render(args).await,
        Command::View(_) => unreachable!("handled on the main thread"),
    }
}

fn init_tracing() {
    tracing_subscriber::fmt()
        .with_env_filter(
            tracing_subscriber::EnvFilter::try_from_default_env()
                .unwrap_or_else(|_| "info,sqlx=warn".into()),
        )
        .with_writer(std::io::stderr)
        .init();
}

fn apply_rate_limit(cfg: &mut Config, spec: &str) -> anyhow::Result<()> {
    let (name, value) = spec
        .split_once('=')
        .with_context(|| format!("--rate-limit '{spec}': expected NAME=N/WINDOW"))?;
    let limit = Limit::parse(value)
        .with_context(|| format!("--rate-limit '{spec}': expected e.g. 10/min or 3/5min"))?;
    let r = &mut cfg.rate_limits;
    let slot = match name.trim() {
        "avatar_create" => &mut r.avatar_create,
        "session_create" => &mut r.session_create,
        "password_attempts" => &mut r.password_attempts,
        "api_chat" => &mut r.api_chat,
        "api_access_token" => &mut r.api_access_token,
        "api_health" => &mut r.api_health,
        "avatar_speak" => &mut r.avatar_speak,
        other => bail!("--rate-limit: unknown limit '{other}'"),
    };
    *slot = limit;
    Ok(())
}

async fn serve(args: ServeArgs) -> anyhow::Result<()> {
    init_tracing();
    let mut cfg = Config::new(args.data.path());
    cfg.host = args.host;
    cfg.port = args.port;
    cfg.allowed_hosts = args.allowed_hosts;
    cfg.cors_origins = args.cors_origins;
    cfg.stripe_secret_key = args.stripe_secret_key.filter(|k| !k.is_empty());
    cfg.providers = config::providers_from_env();
    cfg.default_provider = args.default_provider.filter(|p| !p.is_empty());
    cfg.chat_backend_url = args.chat_backend_url.filter(|u| !u.is_empty());
    cfg.api_avatar = args.api_avatar.filter(|a| !a.is_empty());
    cfg.allow_private_urls = args.allow_private_urls;
    cfg.embeddings_provider = args.embeddings_provider.filter(|p| !p.is_empty());
    cfg.ws_port = args.ws_port;
    cfg.ice_servers = config::ice_servers_from_env().map_err(anyhow::Error::msg)?;
    cfg.rate_limits.default_key_tier = KeyTier::parse(&args.key_tier).with_context(|| {
        format!(
            "--key-tier '{}': expected local, free, creator, pro or enterprise",
            args.key_tier
        )
    })?;
    for spec in &args.rate_limits {
        apply_rate_limit(&mut cfg, spec)?;
    }
    if !args.host.is_loopback() {
        if !args.host.is_unspecified() {
            cfg.allowed_hosts.push(args.host.to_string());
        }
        let banner = "!".repeat(72);
        eprintln!(
            "{banner}\n  WARNING: binding {} exposes this Avatarium server beyond this machine.\n  \
             Anyone who can reach it can use your avatars and spend your provider keys.\n  \
             Requests must still name an allowed host (--allow-host).\n{banner}",
            args.host
        );
        tracing::warn!(host = %args.host, "serving on a non-loopback address");
    }

    let listener = tokio::net::TcpListener::bind(SocketAddr::new(cfg.host, cfg.port))
        .await
        .with_context(|| format!("cannot listen on {}:{}", cfg.host, cfg.port))?;
    let addr = listener.local_addr()?;
    let data_dir = cfg.data_dir.clone();
    let state = AppState::open(cfg)
        .await
        .with_context(|| format!("cannot open the data dir {}", data_dir.display()))?;
    let shutdown = shutdown_signal()?;
    let shown = if addr.ip().is_unspecified() {
        SocketAddr::new(IpAddr::from([127, 0, 0, 1]), addr.port())
    } else {
        addr
    };
    // A launcher may close our stdout once it has read the URL; that must not
    // take the server down, so write errors are ignored here.
    {
        use std::io::Write;
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "Avatarium API listening on http://{shown}");
        let _ = writeln!(out, "Data directory: {}", data_dir.display());
        let _ = out.flush();
    }
    tracing::info!(%addr, "serving");
    avatarium_server::serve(listener, state, shutdown).await?;
    tracing::info!("stopped");
    Ok(())
}

/// Registers the signal handlers at once, so a SIGTERM that arrives right
/// after the URL is printed already stops the server cleanly rather than
/// killing it; the returned future resolves on the first SIGINT or SIGTERM.
fn shutdown_signal() -> std::io::Result<impl std::future::Future<Output = ()> + Send + 'static> {
    #[cfg(unix)]
    let mut term = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate())?;
    #[cfg(unix)]
    let mut int = tokio::signal::unix::signal(tokio::signal::unix::SignalKind::interrupt())?;
    Ok(async move {
        #[cfg(unix)]
        tokio::select! {
            _ = term.recv() => {},
            _ = int.recv() => {},
        }
        #[cfg(not(unix))]
        let _ = tokio::signal::ctrl_c().await;
        tracing::info!("shutting down");
    })
}

async fn keys(command: KeysCommand, data_dir: PathBuf) -> anyhow::Result<()> {
    let store = SqliteStore::open(&data_dir.join(config::DB_FILE)).await?;
    let owner = store.owner().await?;
    match command {
        KeysCommand::Create { name, tier } => {
            let name = name.trim();
            if name.is_empty() {
                bail!("--name must not be empty");
            }
            let tier = KeyTier::parse(&tier).with_context(|| format!("unknown tier '{tier}'"))?;
            let key = ids::new_api_key();
            let rec = store
                .create_api_key(
                    &owner.id,
                    name,
                    &ids::hash_api_key(&key),
                    &ids::api_key_visible_prefix(&key),
                    tier.as_str(),
                )
                .await?;
            println!(
                "Created API key '{}' (id {}, tier {}). It is shown only now:",
                rec.name, rec.id, rec.tier
            );
            println!("{key}");
        }
        KeysCommand::List => {
            for k in store.api_keys(&owner.id).await? {
                let status = if k.revoked_at.is_some() {
                    "revoked"
                } else {
                    "active"
                };
                println!(
                    "{}\t{}…\t{}\t{}\t{}",
                    k.id, k.prefix, k.name, k.tier, status
                );
            }
        }
        KeysCommand::Revoke { id } => {
            if !store.revoke_api_key(&owner.id, &id).await? {
                bail!("no active key with id {id}");
            }
            println!("Revoked {id}");
        }
    }
    store.close().await;
    Ok(())
}

async fn token(data_dir: PathBuf, ttl_hours: u64) -> anyhow::Result<()> {
    let cfg = Config::new(data_dir);
    let store = SqliteStore::open(&cfg.db_path()).await?;
    let owner = store.owner().await?;
    store.close().await;
    let keys = TokenKeys::new(&cfg.load_or_create_secret()?);
    let t = keys.issue(
        &owner.id,
        "user",
        None,
        Duration::from_secs(ttl_hours * 3600),
    );
    println!(
        "Owner token (expires {}):",
        avatarium_core::time::to_iso(t.expires_at)
    );
    println!("{}", t.token);
    Ok(())
}
