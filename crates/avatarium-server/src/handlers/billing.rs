//! Billing (002): plans and quotas kept locally; checkout goes to Stripe only
//! when a Stripe key is configured.

use axum::extract::State;
use chrono::{Datelike, Months, TimeZone, Utc};
use serde::Deserialize;
use serde_json::{Value, json};
use utoipa::ToSchema;

use avatarium_core::plans::{self, PLANS, Plan};

use crate::error::{ApiError, ApiResult, Envelope};
use crate::extract::{ApiJson, AuthUser};
use crate::handlers::public::month_start;
use crate::state::AppState;

/// All subscription plans with prices, avatar limits and session quotas.
#[utoipa::path(get, path = "/v1/consumer-billing/plans", tag = "billing",
    responses((status = 200, description = "Plans", body = [Plan])))]
pub async fn list_plans() -> Envelope<&'static [Plan]> {
    Envelope(PLANS)
}

/// The account's plan and live usage.
#[utoipa::path(get, path = "/v1/consumer-billing/subscription", tag = "billing", security(("bearer" = [])),
    responses((status = 200, description = "Plan and usage"), (status = 401, description = "No or bad token")))]
pub async fn get_subscription(
    State(state): State<AppState>,
    user: AuthUser,
) -> ApiResult<Envelope<Value>> {
    let account = state
        .store
        .account(&user.account_id)
        .await?
        .ok_or_else(|| ApiError::unauthorized("This account no longer exists"))?;
    let plan = plans::by_id(&account.plan_id).unwrap_or(&PLANS[0]);
    let period_start = month_start();
    let now = Utc::now();
    let next_month = Utc
        .with_ymd_and_hms(now.year(), now.month(), 1, 0, 0, 0)
        .single()
        .and_then(|d| d.checked_add_months(Months::new(1)))
        .expect("next month exists");
    let avatars = state.store.count_avatars(&account.id).await?;
    let sessions = state
        .store
        .count_sessions_since(&account.id, &period_start)
        .await?;
    Ok(Envelope(json!({
        "planId": plan.id,
        "plan": plan,
        "status": "active",
        "currentPeriodStart": period_start,
        "currentPeriodEnd": avatarium_core::time::to_iso(next_month),
        "usage": {
            "avatars": avatars,
            "avatarLimit": plan.avatar_limit,
            "sessionsThisMonth": sessions,
            "sessionQuota": plan.monthly_session_quota,
        },
        "checkoutAvailable": state.config.stripe_secret_key.is_some(),
    })))
}

#[derive(Deserialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct CheckoutRequest {
    plan_id: String,
    #[serde(default)]
    yearly: bool,
    success_url: String,
    cancel_url: String,
}

#[derive(Deserialize)]
struct StripeSession {
    id: String,
    url: Option<String>,
}

/// Create a Stripe checkout session for a paid plan.
#[utoipa::path(post, path = "/v1/consumer-billing/checkout", tag = "billing", security(("bearer" = [])),
    request_body = CheckoutRequest,
    responses((status = 200, description = "`{sessionId, url}` of the Stripe checkout"),
              (status = 400, description = "Unknown plan, bad URLs, or no Stripe key configured"),
              (status = 502, description = "Stripe failed")))]
pub async fn create_checkout(
    State(state): State<AppState>,
    user: AuthUser,
    ApiJson(req): ApiJson<CheckoutRequest>,
) -> ApiResult<Envelope<Value>> {
    let plan = plans::by_id(&req.plan_id)
        .filter(|p| plans::purchasable(p.id))
        .ok_or_else(|| ApiError::bad_request("planId must be one of: creator, pro"))?;
    for (field, url) in [
        ("successUrl", &req.success_url),
        ("cancelUrl", &req.cancel_url),
    ] {
        if !(url.starts_with("https://") || url.starts_with("http://")) {
            return Err(ApiError::bad_request(format!(
                "{field} must be an http(s) URL"
            )));
        }
    }
    let Some(key) = &state.config.stripe_secret_key else {
        return Err(ApiError::bad_request(
            "Checkout is not available: this local server has no Stripe key configured \
             (set AVATARIUM_STRIPE_SECRET_KEY). Local plans and quotas apply meanwhile.",
        ));
    };
    let (amount, interval) = if req.yearly {
        (plan.price_yearly, "year")
    } else {
        (plan.price_monthly, "month")
    };
    let amount = amount.expect("purchasable plans have prices").to_string();
    let form = [
        ("mode", "subscription"),
        ("success_url", req.success_url.as_str()),
        ("cancel_url", req.cancel_url.as_str()),
        ("client_reference_id", user.account_id.as_str()),
        ("line_items[0][quantity]", "1"),
        ("line_items[0][price_data][currency]", plan.currency),
        ("line_items[0][price_data][unit_amount]", amount.as_str()),
        ("line_items[0][price_data][recurring][interval]", interval),
        ("line_items[0][price_data][product_data][name]", plan.name),
        ("metadata[planId]", plan.id),
    ];
    let url = format!(
        "{}/v1/checkout/sessions",
        state.config.stripe_api_base.trim_end_matches('/')
    );
    let res = state
        .http
        .post(url)
        .basic_auth(key, Some(""))
        .form(&form)
        .send()
        .await
        .map_err(|e| ApiError::Provider(format!("Stripe is unreachable: {}", e.without_url())))?;
    if !res.status().is_success() {
        let status = res.status();
        let detail: Value = res.json().await.unwrap_or(Value::Null);
        let msg = detail["error"]["message"].as_str().unwrap_or("no details");
        return Err(ApiError::Provider(format!(
            "Stripe answered {status}: {msg}"
        )));
    }
    let session: StripeSession = res
        .json()
        .await
        .map_err(|e| ApiError::Provider(format!("Stripe sent an unexpected answer: {e}")))?;
    Ok(Envelope(
        json!({ "sessionId": session.id, "url": session.url }),
    ))
}
