use crate::harness::TestServer;

async fn get_with_host(s: &TestServer, host: &str) -> reqwest::Response {
    s.client
        .get(s.url("/v1/avatars"))
        .header("host", host)
        .send()
        .await
        .unwrap()
}

#[tokio::test]
async fn foreign_host_names_are_refused() {
    let s = TestServer::start().await;
    let r = TestServer::read(get_with_host(&s, "attacker.example").await)
        .await
        .expect(403);
    assert_eq!(r.error_code(), "FORBIDDEN");
    let r =
        TestServer::read(get_with_host(&s, &format!("rebind.attacker.example:{}", s.port)).await)
            .await;
    assert_eq!(r.status, 403);
    for ok in [
        format!("localhost:{}", s.port),
        format!("127.0.0.1:{}", s.port),
        format!("[::1]:{}", s.port),
    ] {
        assert_eq!(get_with_host(&s, &ok).await.status(), 200, "{ok}");
    }
}

#[tokio::test]
async fn configured_hosts_are_allowed() {
    let s = TestServer::with_config(|c| c.allowed_hosts = vec!["studio.lan".into()]).await;
    assert_eq!(get_with_host(&s, "studio.lan:8000").await.status(), 200);
    assert_eq!(get_with_host(&s, "other.lan").await.status(), 403);
}

#[tokio::test]
async fn cors_grants_only_configured_origins() {
    let s = TestServer::with_config(|c| c.cors_origins = vec!["http://app.example".into()]).await;
    let preflight = |origin: &'static str| {
        s.client
            .request(reqwest::Method::OPTIONS, s.url("/v1/avatars"))
            .header("origin", origin)
            .header("access-control-request-method", "GET")
            .send()
    };
    let ok = preflight("http://app.example").await.unwrap();
    assert_eq!(
        ok.headers()["access-control-allow-origin"],
        "http://app.example"
    );
    let no = preflight("http://evil.example").await.unwrap();
    assert!(no.headers().get("access-control-allow-origin").is_none());
    let get = s
        .client
        .get(s.url("/v1/avatars"))
        .header("origin", "http://evil.example")
        .send()
        .await
        .unwrap();
    assert!(get.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test]
async fn the_sqlite_file_is_in_wal_mode_in_the_data_dir() {
    let s = TestServer::start().await;
    let db = s.data_dir.join("avatarium.sqlite");
    let header = std::fs::read(&db).unwrap();
    // Bytes 18 and 19 of the header are the write/read format versions: 2 = WAL.
    assert_eq!((header[18], header[19]), (2, 2));
}
