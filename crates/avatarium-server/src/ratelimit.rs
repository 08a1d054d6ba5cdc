//! Rate limits, on `governor`'s GCRA: per client address for the documents'
//! per-action limits, per key for 001's tiers.

use std::collections::HashMap;
use std::hash::Hash;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::time::Duration;

use axum::http::HeaderValue;
use axum::response::{IntoResponseParts, ResponseParts};
use governor::clock::{Clock, DefaultClock};
use governor::middleware::StateInformationMiddleware;
use governor::state::keyed::DefaultKeyedStateStore;
use governor::{Quota, RateLimiter};

use avatarium_core::config::{KeyTier, Limit, RateLimits};

use crate::error::ApiError;

type Keyed<K> = RateLimiter<K, DefaultKeyedStateStore<K>, DefaultClock, StateInformationMiddleware>;

pub struct KeyedLimit<K: Hash + Eq + Clone> {
    limiter: Keyed<K>,
    limit: Limit,
}

/// What a client may still do, sent as `X-RateLimit-*` headers.
#[derive(Clone, Copy, Debug)]
pub struct RateInfo {
    pub limit: u32,
    pub remaining: u32,
    /// Unix time at which the full budget is back.
    pub reset: u64,
}

impl<K: Hash + Eq + Clone> KeyedLimit<K> {
    pub fn new(limit: Limit) -> Self {
        let count = NonZeroU32::new(limit.count.max(1)).expect("max(1) is non-zero");
        let period = (limit.per / count.get()).max(Duration::from_nanos(1));
        let quota = Quota::with_period(period)
            .expect("period is non-zero")
            .allow_burst(count);
        Self {
            limiter: RateLimiter::keyed(quota).with_middleware::<StateInformationMiddleware>(),
            limit,
        }
    }

    pub fn check(&self, key: &K) -> Result<RateInfo, ApiError> {
        let now = chrono::Utc::now().timestamp() as u64;
        let per_cell = self.limit.per.as_secs_f64() / f64::from(self.limit.count.max(1));
        match self.limiter.check_key(key) {
            Ok(snapshot) => {
                let remaining = snapshot.remaining_burst_capacity();
                let used = self.limit.count.saturating_sub(remaining);
                Ok(RateInfo {
                    limit: self.limit.count,
                    remaining,
                    reset: now + (f64::from(used) * per_cell).ceil() as u64,
                })
            }
            Err(not_until) => Err(ApiError::RateLimited {
                limit: self.limit.count,
                window: self.limit.per.as_secs(),
                retry_after: not_until.wait_time_from(DefaultClock::default().now()),
            }),
        }
    }

    fn forget_idle(&self) {
        self.limiter.retain_recent();
    }
}

impl IntoResponseParts for RateInfo {
    type Error = std::convert::Infallible;

    fn into_response_parts(self, mut res: ResponseParts) -> Result<ResponseParts, Self::Error> {
        let h = res.headers_mut();
        h.insert("x-ratelimit-limit", HeaderValue::from(self.limit));
        h.insert("x-ratelimit-remaining", HeaderValue::from(self.remaining));
        h.insert("x-ratelimit-reset", HeaderValue::from(self.reset));
        Ok(res)
    }
}

pub struct Limiters {
    pub avatar_create: KeyedLimit<IpAddr>,
    pub session_create: KeyedLimit<IpAddr>,
    pub password_attempts: KeyedLimit<IpAddr>,
    pub api_chat: KeyedLimit<IpAddr>,
    pub api_access_token: KeyedLimit<IpAddr>,
    pub api_health: KeyedLimit<IpAddr>,
    pub avatar_speak: KeyedLimit<IpAddr>,
    keys: HashMap<KeyTier, KeyedLimit<String>>,
}

impl Limiters {
    pub fn new(cfg: &RateLimits) -> Self {
        let tiers = [
            KeyTier::Free,
            KeyTier::Creator,
            KeyTier::Pro,
            KeyTier::Enterprise,
            KeyTier::Local,
        ];
        Self {
            avatar_create: KeyedLimit::new(cfg.avatar_create),
            session_create: KeyedLimit::new(cfg.session_create),
            password_attempts: KeyedLimit::new(cfg.password_attempts),
            api_chat: KeyedLimit::new(cfg.api_chat),
            api_access_token: KeyedLimit::new(cfg.api_access_token),
            api_health: KeyedLimit::new(cfg.api_health),
            avatar_speak: KeyedLimit::new(cfg.avatar_speak),
            keys: tiers
                .into_iter()
                .map(|t| {
                    (
                        t,
                        KeyedLimit::new(Limit::per_minute(cfg.key_tier_per_minute(t))),
                    )
                })
                .collect(),
        }
    }

    pub fn check_key(&self, tier: KeyTier, key_id: &str) -> Result<RateInfo, ApiError> {
        self.keys[&tier].check(&key_id.to_string())
    }

    /// Drops the state of clients that have been quiet long enough to have
    /// their full budget back, so memory does not grow with every address.
    pub fn forget_idle(&self) {
        for l in [
            &self.avatar_create,
            &self.session_create,
            &self.password_attempts,
            &self.api_chat,
            &self.api_access_token,
            &self.api_health,
            &self.avatar_speak,
        ] {
            l.forget_idle();
        }
        for l in self.keys.values() {
            l.forget_idle();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_runs_out_and_reports_retry_after() {
        let l = KeyedLimit::new(Limit {
            count: 3,
            per: Duration::from_secs(300),
        });
        let ip = IpAddr::from([127, 0, 0, 1]);
        let remaining: Vec<u32> = (0..3).map(|_| l.check(&ip).unwrap().remaining).collect();
        assert_eq!(remaining, vec![2, 1, 0]);
        match l.check(&ip) {
            Err(ApiError::RateLimited {
                retry_after, limit, ..
            }) => {
                assert_eq!(limit, 3);
                assert!(retry_after > Duration::from_secs(90), "{retry_after:?}");
            }
            other => panic!("expected a rate limit, got {other:?}"),
        }
        // Another address has its own budget.
        assert!(l.check(&IpAddr::from([127, 0, 0, 2])).is_ok());
    }
}
