use crate::harness::TestServer;

#[tokio::test]
async fn root_health_has_003_shape_and_request_id_header() {
    let s = TestServer::start().await;
    let r = s.get("/health", None).await.expect(200);
    assert_eq!(r.body["status"], "healthy");
    assert_eq!(r.body["version"], env!("CARGO_PKG_VERSION"));
    assert!(r.body["uptime"].is_u64());
    assert_eq!(r.body["services"]["api"], "healthy");
    assert_eq!(r.body["services"]["database"], "healthy");
    let id = r.header("x-request-id").unwrap();
    assert_eq!(r.body["meta"]["requestId"], id);
}

#[tokio::test]
async fn versioned_health_uses_the_envelope() {
    let s = TestServer::start().await;
    let r = s.get("/v1/health", None).await.expect(200);
    assert_eq!(r.data()["status"], "healthy");
    assert!(r.data()["services"].is_object());
    assert!(
        r.body["meta"]["requestId"]
            .as_str()
            .unwrap()
            .starts_with("req_")
    );
}

#[tokio::test]
async fn api_health_has_004_shape_and_limit() {
    let s = TestServer::with_config(|c| {
        c.rate_limits.api_health = avatarium_core::config::Limit::per_minute(2);
    })
    .await;
    let r = s.get("/api/health", None).await.expect(200);
    assert_eq!(r.body["status"], "ok");
    assert!(r.body["timestamp"].as_str().unwrap().ends_with('Z'));
    assert!(r.body["providers"]["llm"].is_string());
    assert_eq!(r.header("x-ratelimit-limit"), Some("2"));
    s.get("/api/health", None).await.expect(200);
    let limited = s.get("/api/health", None).await.expect(429);
    assert_eq!(limited.error_code(), "RATE_LIMITED");
    assert!(limited.header("retry-after").is_some());
}

#[tokio::test]
async fn metrics_report_live_counters() {
    let s = TestServer::start().await;
    for _ in 0..3 {
        s.get("/v1/avatars", None).await.expect(200);
    }
    let m = s.get("/metrics", None).await.expect(200).body;
    for field in [
        "active_sessions",
        "total_sessions",
        "cpu_usage",
        "memory_usage",
        "websocket_connections",
        "average_latency",
    ] {
        assert!(m[field].is_number(), "{field} missing in {m}");
    }
    assert!(m["requests_total"].as_u64().unwrap() >= 3);
    assert!(m["process_rss_bytes"].as_u64().unwrap() > 1_000_000);
    assert!(m["average_latency"].as_f64().unwrap() > 0.0);
}

#[tokio::test]
async fn a_sane_caller_request_id_is_echoed() {
    let s = TestServer::start().await;
    let res = s
        .client
        .get(s.url("/v1/health"))
        .header("x-request-id", "trace-abc_123")
        .send()
        .await
        .unwrap();
    let r = TestServer::read(res).await;
    assert_eq!(r.header("x-request-id"), Some("trace-abc_123"));
    assert_eq!(r.body["meta"]["requestId"], "trace-abc_123");
    // An unsafe one is replaced rather than reflected.
    let res = s
        .client
        .get(s.url("/v1/health"))
        .header("x-request-id", "<script>")
        .send()
        .await
        .unwrap();
    assert!(
        res.headers()["x-request-id"]
            .to_str()
            .unwrap()
            .starts_with("req_")
    );
}
