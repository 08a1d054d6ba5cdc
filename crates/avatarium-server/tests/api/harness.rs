//! A real server on 127.0.0.1:0 with a fresh data dir, and a client for it.

use std::path::PathBuf;
use std::time::Duration;

use reqwest::header::HeaderMap;
use reqwest::{Method, StatusCode};
use serde_json::{Value, json};
use tokio::sync::oneshot;

use avatarium_core::config::{Config, RateLimits};
use avatarium_server::AppState;

pub struct TestServer {
    pub base: String,
    pub port: u16,
    pub client: reqwest::Client,
    pub owner_token: String,
    pub data_dir: PathBuf,
    shutdown: Option<oneshot::Sender<()>>,
    _dir: tempfile::TempDir,
}

pub struct Res {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Value,
}

impl Res {
    /// Asserts the documented error envelope and returns the code.
    #[track_caller]
    pub fn error_code(&self) -> &str {
        let code = self.body["error"]["code"]
            .as_str()
            .unwrap_or_else(|| panic!("not an error envelope: {}", self.body));
        assert!(
            self.body["error"]["message"]
                .as_str()
                .is_some_and(|m| !m.is_empty()),
            "error without message: {}",
            self.body
        );
        assert!(
            self.body["meta"]["requestId"].is_string(),
            "no requestId: {}",
            self.body
        );
        code
    }

    #[track_caller]
    pub fn expect(self, status: u16) -> Self {
        assert_eq!(self.status.as_u16(), status, "body: {}", self.body);
        self
    }

    pub fn data(&self) -> &Value {
        &self.body["data"]
    }

    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers.get(name).and_then(|v| v.to_str().ok())
    }
}

impl TestServer {
    /// A server whose rate limits never interfere.
    pub async fn start() -> Self {
        Self::with_config(|c| c.rate_limits = RateLimits::unlimited()).await
    }

    /// A server with the documents' default limits.
    pub async fn with_default_limits() -> Self {
        Self::with_config(|_| {}).await
    }

    pub async fn with_config(tweak: impl FnOnce(&mut Config)) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = Config::new(dir.path().join("data"));
        tweak(&mut cfg);
        let data_dir = cfg.data_dir.clone();
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
        let owner_token = state
            .tokens
            .issue(&owner.id, "user", None, Duration::from_secs(3600))
            .token;
        Self {
            base: format!("http://127.0.0.1:{port}"),
            port,
            client: reqwest::Client::builder()
                .redirect(reqwest::redirect::Policy::none())
                .build()
                .unwrap(),
            owner_token,
            data_dir,
            shutdown: Some(tx),
            _dir: dir,
        }
    }

    /// A realtime session's WebSocket, authorised by its access token
    /// (the realtime and WebRTC tests; the API tests open none).
    #[allow(dead_code)]
    pub async fn session_ws(&self, id: &str, token: &str) -> Ws {
        ws_connect(&format!(
            "ws://127.0.0.1:{}/ws/{id}?token={token}",
            self.port
        ))
        .await
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        token: Option<&str>,
        body: Option<Value>,
    ) -> Res {
        let mut req = self.client.request(method, self.url(path));
        if let Some(t) = token {
            req = req.bearer_auth(t);
        }
        if let Some(b) = body {
            req = req.json(&b);
        }
        Self::read(req.send().await.unwrap()).await
    }

    pub async fn read(res: reqwest::Response) -> Res {
        let status = res.status();
        let headers = res.headers().clone();
        let bytes = res.bytes().await.unwrap();
        let body = if bytes.is_empty() {
            Value::Null
        } else {
            serde_json::from_slice(&bytes).unwrap_or_else(|_| {
                panic!(
                    "{status}: body is not JSON: {:?}",
                    String::from_utf8_lossy(&bytes[..bytes.len().min(300)])
                )
            })
        };
        Res {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str, token: Option<&str>) -> Res {
        self.send(Method::GET, path, token, None).await
    }

    pub async fn post(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        self.send(Method::POST, path, token, Some(body)).await
    }

    pub async fn patch(&self, path: &str, token: Option<&str>, body: Value) -> Res {
        self.send(Method::PATCH, path, token, Some(body)).await
    }

    pub async fn delete(&self, path: &str, token: Option<&str>) -> Res {
        self.send(Method::DELETE, path, token, None).await
    }

    pub fn owner(&self) -> Option<&str> {
        Some(&self.owner_token)
    }

    /// Signs up a fresh account and returns its token.
    pub async fn signup(&self, email: &str) -> String {
        let res = self
            .post(
                "/v1/auth/signup",
                None,
                json!({"email": email, "password": "correct horse battery", "name": "Test"}),
            )
            .await
            .expect(201);
        res.data()["token"].as_str().unwrap().to_string()
    }

    pub async fn create_key(&self, token: &str, name: &str) -> (String, String) {
        let res = self
            .post("/v1/api-keys", Some(token), json!({ "name": name }))
            .await
            .expect(201);
        (
            res.data()["id"].as_str().unwrap().to_string(),
            res.data()["key"].as_str().unwrap().to_string(),
        )
    }

    pub async fn create_avatar(&self, token: &str, slug: &str) -> Value {
        self.post(
            "/v1/consumer-avatars",
            Some(token),
            json!({
                "slug": slug,
                "name": "Sales Assistant",
                "avatarPreset": "female-01",
                "personality": "Friendly, knowledgeable, professional",
                "greeting": "Hi! How can I help you today?",
                "traits": ["helpful", "concise"],
                "tone": "professional",
            }),
        )
        .await
        .expect(201)
        .data()
        .clone()
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        if let Some(tx) = self.shutdown.take() {
            let _ = tx.send(());
        }
    }
}

pub type Ws =
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>;

pub async fn ws_connect(url: &str) -> Ws {
    tokio_tungstenite::connect_async(url)
        .await
        .unwrap_or_else(|e| panic!("{url}: {e}"))
        .0
}

/// The HTTP status a refused WebSocket upgrade answered with.
pub async fn ws_refused(url: &str) -> u16 {
    match tokio_tungstenite::connect_async(url).await {
        Err(tokio_tungstenite::tungstenite::Error::Http(res)) => res.status().as_u16(),
        Err(e) => panic!("unexpected error: {e}"),
        Ok(_) => panic!("{url} was accepted"),
    }
}

pub async fn ws_send(ws: &mut Ws, v: Value) {
    use futures::SinkExt;
    ws.send(tokio_tungstenite::tungstenite::Message::Text(
        v.to_string().into(),
    ))
    .await
    .unwrap();
}

/// The next JSON event, or None when the socket closes.
pub async fn ws_next(ws: &mut Ws) -> Option<Value> {
    use futures::StreamExt;
    loop {
        let msg = tokio::time::timeout(Duration::from_secs(10), ws.next())
            .await
            .expect("no WebSocket event within 10 s");
        match msg {
            Some(Ok(tokio_tungstenite::tungstenite::Message::Text(t))) => {
                return Some(serde_json::from_str(&t).unwrap());
            }
            Some(Ok(tokio_tungstenite::tungstenite::Message::Close(_))) | None | Some(Err(_)) => {
                return None;
            }
            Some(Ok(_)) => continue,
        }
    }
}

impl TestServer {
    /// An avatar of the owner with a knowledge item.
    pub async fn avatar_with_knowledge(&self, slug: &str, title: &str, content: &str) -> Value {
        let tok = self.owner_token.clone();
        let a = self.create_avatar(&tok, slug).await;
        self.post(
            &format!(
                "/v1/consumer-avatars/{}/knowledge",
                a["id"].as_str().unwrap()
            ),
            Some(&tok),
            json!({"type": "text", "title": title, "content": content}),
        )
        .await
        .expect(201);
        a
    }
}

pub const PRICING: &str = "Basic costs 10 dollars a month, Pro costs 30 dollars a month. \
Both plans include email support. Our office is in Lisbon.";
