use serde_json::json;

use crate::harness::TestServer;

#[tokio::test]
async fn signup_then_login_returns_working_tokens() {
    let s = TestServer::start().await;
    let r = s
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "Ada@Example.com", "password": "correct horse battery"}),
        )
        .await
        .expect(201);
    assert_eq!(r.data()["user"]["email"], "ada@example.com");
    assert_eq!(r.data()["user"]["plan"], "free");
    let token = r.data()["token"].as_str().unwrap();
    let me = s.get("/v1/auth/me", Some(token)).await.expect(200);
    assert_eq!(me.data()["email"], "ada@example.com");
    assert_eq!(me.data()["authenticatedWith"], "token");

    let login = s
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "ada@example.com", "password": "correct horse battery"}),
        )
        .await
        .expect(200);
    assert_eq!(login.data()["user"]["id"], r.data()["user"]["id"]);
    assert!(login.data()["expiresAt"].as_str().unwrap().ends_with('Z'));
}

#[tokio::test]
async fn signup_errors() {
    let s = TestServer::start().await;
    s.signup("dup@example.com").await;
    let r = s
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "DUP@example.com", "password": "another password"}),
        )
        .await
        .expect(409);
    assert_eq!(r.error_code(), "CONFLICT");
    let r = s
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "not-an-email", "password": "long enough pw"}),
        )
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("email")
    );
    let r = s
        .post(
            "/v1/auth/signup",
            None,
            json!({"email": "x@example.com", "password": "short"}),
        )
        .await
        .expect(400);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("8"));
}

#[tokio::test]
async fn wrong_credentials_are_401_and_the_owner_has_no_password() {
    let s = TestServer::start().await;
    s.signup("b@example.com").await;
    for (email, pw) in [
        ("b@example.com", "wrong password"),
        ("nobody@example.com", "correct horse battery"),
        ("owner@localhost", ""),
    ] {
        let r = s
            .post(
                "/v1/auth/login",
                None,
                json!({"email": email, "password": pw}),
            )
            .await
            .expect(401);
        assert_eq!(r.error_code(), "UNAUTHORIZED");
    }
}

#[tokio::test]
async fn password_attempts_are_limited_to_5_per_minute_per_address() {
    let s = TestServer::with_default_limits().await;
    for i in 0..5 {
        let r = s
            .post(
                "/v1/auth/login",
                None,
                json!({"email": "x@example.com", "password": "wrong"}),
            )
            .await
            .expect(401);
        assert_eq!(
            r.header("x-ratelimit-remaining"),
            None,
            "attempt {i}: failures carry no success headers"
        );
    }
    let r = s
        .post(
            "/v1/auth/login",
            None,
            json!({"email": "x@example.com", "password": "wrong"}),
        )
        .await
        .expect(429);
    assert_eq!(r.error_code(), "RATE_LIMITED");
    let retry: u64 = r.header("retry-after").unwrap().parse().unwrap();
    assert!((1..=60).contains(&retry), "{retry}");
    assert_eq!(r.header("x-ratelimit-limit"), Some("5"));
    assert_eq!(r.header("x-ratelimit-remaining"), Some("0"));
}

#[tokio::test]
async fn bad_tokens_are_refused() {
    let s = TestServer::start().await;
    let r = s.get("/v1/api-keys", None).await.expect(401);
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    let r = s.get("/v1/api-keys", Some("not.a.jwt")).await.expect(401);
    assert_eq!(r.error_code(), "UNAUTHORIZED");
    // A token signed by another install's secret.
    let other = avatarium_server::auth::TokenKeys::new(&[1u8; 32]);
    let forged = other.issue("someone", "user", None, std::time::Duration::from_secs(60));
    s.get("/v1/api-keys", Some(&forged.token)).await.expect(401);
}
