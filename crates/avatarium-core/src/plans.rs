//! Subscription plans, kept locally in place of the hosted Stripe products.

use serde::Serialize;
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct Plan {
    pub id: &'static str,
    pub name: &'static str,
    pub description: &'static str,
    /// US cents per month; `None` for custom pricing.
    pub price_monthly: Option<u32>,
    pub price_yearly: Option<u32>,
    pub currency: &'static str,
    /// `None` means unlimited.
    pub avatar_limit: Option<u32>,
    pub monthly_session_quota: Option<u32>,
    pub features: &'static [&'static str],
}

pub const PLANS: &[Plan] = &[
    Plan {
        id: "free",
        name: "Free",
        description: "Try Avatarium with one avatar.",
        price_monthly: Some(0),
        price_yearly: Some(0),
        currency: "usd",
        avatar_limit: Some(1),
        monthly_session_quota: Some(100),
        features: &["1 avatar", "100 conversations / month", "Offline voice"],
    },
    Plan {
        id: "creator",
        name: "Creator",
        description: "For creators with a few avatars.",
        price_monthly: Some(1900),
        price_yearly: Some(19000),
        currency: "usd",
        avatar_limit: Some(3),
        monthly_session_quota: Some(1000),
        features: &[
            "3 avatars",
            "1,000 conversations / month",
            "Knowledge base",
            "Embeds",
        ],
    },
    Plan {
        id: "pro",
        name: "Pro",
        description: "For businesses serving visitors every day.",
        price_monthly: Some(4900),
        price_yearly: Some(49000),
        currency: "usd",
        avatar_limit: Some(10),
        monthly_session_quota: Some(10000),
        features: &[
            "10 avatars",
            "10,000 conversations / month",
            "Analytics",
            "Priority voices",
        ],
    },
    Plan {
        id: "enterprise",
        name: "Enterprise",
        description: "Custom limits and support.",
        price_monthly: None,
        price_yearly: None,
        currency: "usd",
        avatar_limit: None,
        monthly_session_quota: None,
        features: &["Unlimited avatars", "Custom quotas", "SSO", "Support"],
    },
    Plan {
        id: "local",
        name: "Local owner",
        description: "The owner of this install: everything runs on your machine, without limits.",
        price_monthly: Some(0),
        price_yearly: Some(0),
        currency: "usd",
        avatar_limit: None,
        monthly_session_quota: None,
        features: &["Unlimited avatars", "Unlimited conversations", "Offline"],
    },
];

pub fn by_id(id: &str) -> Option<&'static Plan> {
    PLANS.iter().find(|p| p.id == id)
}

/// Plans that can be bought at checkout.
pub fn purchasable(id: &str) -> bool {
    matches!(id, "creator" | "pro")
}
