//! The embedded API server: the same `avatarium_server::serve` as
//! `avatarium serve`, on 127.0.0.1 only, in this process.

use std::io;
use std::net::{IpAddr, Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use anyhow::Context;
use avatarium_core::config::{self, Config};
use avatarium_server::AppState;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);
/// How many ports after a taken one are tried before any free one: a port
/// near the usual one keeps the dashboard's origin (and so its saved login)
/// the same from one start to the next more often than a random one would.
const NEARBY_PORTS: u16 = 10;

/// The ports to try for `preferred`, in order; `0` (any free port) last.
pub fn candidate_ports(preferred: u16) -> Vec<u16> {
    if preferred == 0 {
        return vec![0];
    }
    let mut ports = vec![preferred];
    ports.extend((1..=NEARBY_PORTS).filter_map(|i| preferred.checked_add(i)));
    ports.push(0);
    ports
}

/// Binds 127.0.0.1 on `preferred`, or on the first free candidate after it.
/// The note says which port was used instead, when it was not `preferred`.
pub async fn bind(preferred: u16) -> io::Result<(TcpListener, Option<String>)> {
    let mut last_err = None;
    for port in candidate_ports(preferred) {
        match TcpListener::bind(SocketAddr::new(LOOPBACK, port)).await {
            Ok(listener) => {
                let actual = listener.local_addr()?.port();
                let note = (preferred != 0 && actual != preferred).then(|| {
                    format!("port {preferred} is taken, so the API uses port {actual} instead")
                });
                return Ok((listener, note));
            }
            // Taken (or reserved): try the next one.
            Err(e)
                if matches!(
                    e.kind(),
                    io::ErrorKind::AddrInUse | io::ErrorKind::PermissionDenied
                ) =>
            {
                last_err = Some(e);
            }
            Err(e) => return Err(e),
        }
    }
    Err(last_err.unwrap_or_else(|| io::Error::other("no free port on 127.0.0.1")))
}

/// The running server; [`Embedded::stop`] shuts it down cleanly.
pub struct Embedded {
    pub addr: SocketAddr,
    pub data_dir: PathBuf,
    /// Set when the preferred port was taken.
    pub port_note: Option<String>,
    shutdown: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Embedded {
    pub fn url(&self) -> String {
        format!("http://{}/", self.addr)
    }

    /// Stops accepting connections, lets requests in flight finish (up to
    /// `grace`), and waits for the server task.
    pub async fn stop(&mut self, grace: Duration) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
        if let Some(task) = self.task.take() {
            match tokio::time::timeout(grace, task).await {
                Ok(Ok(Ok(()))) => tracing::info!("the API server stopped"),
                Ok(Ok(Err(e))) => tracing::warn!(error = %e, "the API server ended with an error"),
                Ok(Err(e)) => tracing::warn!(error = %e, "the API server task failed"),
                Err(_) => tracing::warn!("the API server did not stop in time"),
            }
        }
    }
}

/// The server's configuration: `avatarium serve`'s defaults, on loopback,
/// with provider keys and the default provider from the same environment
/// variables.
pub fn config(data_dir: PathBuf, port: u16) -> Config {
    let mut cfg = Config::new(data_dir);
    cfg.host = LOOPBACK;
    cfg.port = port;
    cfg.providers = config::providers_from_env();
    cfg.default_provider = std::env::var("AVATARIUM_DEFAULT_PROVIDER")
        .ok()
        .filter(|p| !p.trim().is_empty());
    cfg
}

/// Opens the data directory and starts serving; returns once the socket is
/// bound (see [`wait_healthy`] for "ready").
pub async fn start(data_dir: PathBuf, preferred_port: u16) -> anyhow::Result<Embedded> {
    let (listener, port_note) = bind(preferred_port)
        .await
        .with_context(|| format!("cannot listen on 127.0.0.1:{preferred_port}"))?;
    let addr = listener.local_addr()?;
    let cfg = config(data_dir.clone(), addr.port());
    let state = AppState::open(cfg)
        .await
        .with_context(|| format!("cannot open the data dir {}", data_dir.display()))?;
    let (tx, rx) = oneshot::channel::<()>();
    let task = tokio::spawn(avatarium_server::serve(listener, state, async move {
        let _ = rx.await;
    }));
    Ok(Embedded {
        addr,
        data_dir,
        port_note,
        shutdown: Some(tx),
        task: Some(task),
    })
}

/// Polls `GET /health` until it answers 200, or fails after `timeout`.
pub async fn wait_healthy(addr: SocketAddr, timeout: Duration) -> anyhow::Result<()> {
    let client = reqwest::Client::builder()
        .no_proxy()
        .timeout(Duration::from_secs(2))
        .build()?;
    let url = format!("http://{addr}/health");
    let deadline = Instant::now() + timeout;
    loop {
        let last = match client.get(&url).send().await {
            Ok(res) if res.status().is_success() => return Ok(()),
            Ok(res) => format!("HTTP {}", res.status()),
            Err(e) => e.to_string(),
        };
        if Instant::now() >= deadline {
            anyhow::bail!(
                "the API server at {url} was not healthy after {}s ({last})",
                timeout.as_secs()
            );
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn candidates_start_at_the_preferred_port_and_end_with_any() {
        let c = candidate_ports(8000);
        assert_eq!(c.first(), Some(&8000));
        assert_eq!(&c[1..=10], &(8001..=8010).collect::<Vec<_>>()[..]);
        assert_eq!(c.last(), Some(&0));
        assert_eq!(c.len(), 12);
        assert_eq!(candidate_ports(0), vec![0]);
        // No wrap-around past the last port.
        assert_eq!(candidate_ports(65_534), vec![65_534, 65_535, 0]);
    }

    #[tokio::test]
    async fn a_taken_port_moves_to_a_free_one_and_says_so() {
        let (first, note) = bind(0).await.unwrap();
        assert!(note.is_none());
        let taken = first.local_addr().unwrap().port();
        let (second, note) = bind(taken).await.unwrap();
        let port = second.local_addr().unwrap().port();
        assert_ne!(port, taken);
        let note = note.expect("a note about the port");
        assert!(
            note.contains(&taken.to_string()) && note.contains(&port.to_string()),
            "{note}"
        );
        assert!(second.local_addr().unwrap().ip().is_loopback());
    }

    #[tokio::test]
    async fn a_free_preferred_port_is_used_as_is() {
        let port = {
            let l = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            l.local_addr().unwrap().port()
        };
        let (listener, note) = bind(port).await.unwrap();
        assert_eq!(listener.local_addr().unwrap().port(), port);
        assert!(note.is_none());
    }

    #[test]
    fn the_server_is_loopback_only() {
        let cfg = config(PathBuf::from("/tmp/x"), 1234);
        assert!(cfg.host.is_loopback());
        assert_eq!(cfg.port, 1234);
        assert_eq!(cfg.db_path(), PathBuf::from("/tmp/x").join(config::DB_FILE));
    }

    #[tokio::test]
    async fn starts_answers_health_and_stops() {
        let dir = tempfile::tempdir().unwrap();
        let mut server = start(dir.path().to_path_buf(), 0).await.unwrap();
        wait_healthy(server.addr, Duration::from_secs(30))
            .await
            .unwrap();
        assert!(server.url().starts_with("http://127.0.0.1:"));
        server.stop(Duration::from_secs(10)).await;
        assert!(
            wait_healthy(server.addr, Duration::from_millis(200))
                .await
                .is_err()
        );
    }
}
