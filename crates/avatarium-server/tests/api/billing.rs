use std::sync::{Arc, Mutex};

use axum::extract::State;
use axum::http::{HeaderMap, StatusCode};
use axum::routing::post;
use serde_json::{Value, json};

use crate::harness::TestServer;

#[tokio::test]
async fn plans_carry_limits_and_quotas() {
    let s = TestServer::start().await;
    let r = s.get("/v1/consumer-billing/plans", None).await.expect(200);
    let plans = r.data().as_array().unwrap();
    for id in ["free", "creator", "pro"] {
        let p = plans.iter().find(|p| p["id"] == id).unwrap();
        assert!(p["avatarLimit"].is_u64(), "{p}");
        assert!(p["monthlySessionQuota"].is_u64(), "{p}");
        assert!(p["priceMonthly"].is_u64(), "{p}");
    }
}

#[tokio::test]
async fn subscription_shows_the_plan_and_live_usage() {
    let s = TestServer::start().await;
    let tok = s.owner_token.clone();
    s.create_avatar(&tok, "one").await;
    s.create_avatar(&tok, "two").await;
    let r = s
        .get("/v1/consumer-billing/subscription", Some(&tok))
        .await
        .expect(200);
    assert_eq!(r.data()["planId"], "local");
    assert_eq!(r.data()["usage"]["avatars"], 2);
    assert!(r.data()["usage"]["avatarLimit"].is_null());
    assert_eq!(r.data()["checkoutAvailable"], false);
    s.get("/v1/consumer-billing/subscription", None)
        .await
        .expect(401);
}

#[tokio::test]
async fn checkout_without_a_stripe_key_is_a_clear_error() {
    let s = TestServer::start().await;
    let body = json!({"planId": "pro", "yearly": false, "successUrl": "https://app.example/ok", "cancelUrl": "https://app.example/no"});
    let r = s
        .post("/v1/consumer-billing/checkout", s.owner(), body)
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("Stripe")
    );
    let r = s
        .post(
            "/v1/consumer-billing/checkout",
            s.owner(),
            json!({"planId": "gold", "successUrl": "https://a/b", "cancelUrl": "https://a/c"}),
        )
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("planId")
    );
}

type Seen = Arc<Mutex<Vec<(String, String)>>>;

/// Speaks Stripe's documented `POST /v1/checkout/sessions`: basic auth with
/// the secret key, a form body, `{id, url}` back or `{error: {message}}`.
async fn fake_stripe(fail: bool) -> (String, Seen) {
    let seen: Seen = Arc::default();
    let app = axum::Router::new()
        .route(
            "/v1/checkout/sessions",
            post(move |State(seen): State<Seen>, headers: HeaderMap, body: String| async move {
                let auth = headers["authorization"].to_str().unwrap().to_string();
                seen.lock().unwrap().push((auth, body));
                if fail {
                    (StatusCode::BAD_REQUEST, axum::Json(json!({"error": {"type": "invalid_request_error", "message": "No such price"}})))
                } else {
                    (StatusCode::OK, axum::Json(json!({"id": "cs_test_123", "object": "checkout.session", "url": "https://checkout.stripe.com/c/pay/cs_test_123"})))
                }
            }),
        )
        .with_state(seen.clone());
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (base, seen)
}

#[tokio::test]
async fn checkout_goes_to_stripe_when_a_key_is_configured() {
    let (base, seen) = fake_stripe(false).await;
    let s = TestServer::with_config(|c| {
        c.stripe_secret_key = Some("sk_test_abc".into());
        c.stripe_api_base = base.clone();
    })
    .await;
    let r = s
        .post(
            "/v1/consumer-billing/checkout",
            s.owner(),
            json!({"planId": "pro", "yearly": true, "successUrl": "https://app.example/ok", "cancelUrl": "https://app.example/no"}),
        )
        .await
        .expect(200);
    assert_eq!(r.data()["sessionId"], "cs_test_123");
    assert_eq!(
        r.data()["url"],
        "https://checkout.stripe.com/c/pay/cs_test_123"
    );
    let calls = seen.lock().unwrap().clone();
    assert_eq!(calls.len(), 1);
    let (auth, form) = &calls[0];
    use base64::Engine;
    assert_eq!(
        auth,
        &format!(
            "Basic {}",
            base64::engine::general_purpose::STANDARD.encode("sk_test_abc:")
        )
    );
    assert!(form.contains("mode=subscription"), "{form}");
    assert!(form.contains("recurring%5D%5Binterval%5D=year"), "{form}");
    assert!(form.contains("unit_amount%5D=49000"), "{form}");
    // The key never comes back to the client.
    assert!(!r.body.to_string().contains("sk_test_abc"));
}

#[tokio::test]
async fn stripe_failures_are_502_provider_errors() {
    let (base, _) = fake_stripe(true).await;
    let s = TestServer::with_config(|c| {
        c.stripe_secret_key = Some("sk_test_abc".into());
        c.stripe_api_base = base;
    })
    .await;
    let r = s
        .post(
            "/v1/consumer-billing/checkout",
            s.owner(),
            json!({"planId": "creator", "successUrl": "https://a.example/ok", "cancelUrl": "https://a.example/no"}),
        )
        .await
        .expect(502);
    assert_eq!(r.error_code(), "PROVIDER_ERROR");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("No such price")
    );
    let _: Value = r.body;
}
