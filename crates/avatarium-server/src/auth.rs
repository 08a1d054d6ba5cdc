//! Credentials: local JWTs (standing in for Firebase ID tokens), `av_live_`
//! API keys, and argon2 password hashes.

use std::time::Duration;

use argon2::Argon2;
use argon2::password_hash::{
    PasswordHash, PasswordHasher, PasswordVerifier, SaltString, rand_core::OsRng,
};
use axum::extract::{Request, State};
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use avatarium_core::config::KeyTier;
use avatarium_core::ids;

use crate::error::ApiError;
use crate::state::AppState;

const ISSUER: &str = "avatarium-local";

/// The kind of a realtime session's access token.
pub const SESSION_TOKEN: &str = "session";
/// How long a realtime session's access token lasts (004: short-lived).
pub const SESSION_TOKEN_TTL: Duration = Duration::from_secs(3600);

#[derive(Debug, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: u64,
    pub exp: u64,
    pub iss: String,
    /// `user` for account tokens; `ws` for a conversation's socket (`sid`
    /// names it); `session` for a realtime session's access token (`sub`
    /// and `sid` name the session).
    pub typ: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

#[derive(Clone)]
pub struct TokenKeys {
    encoding: EncodingKey,
    decoding: DecodingKey,
    validation: Validation,
}

pub struct IssuedToken {
    pub token: String,
    pub expires_at: chrono::DateTime<chrono::Utc>,
}

impl TokenKeys {
    pub fn new(secret: &[u8]) -> Self {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.set_issuer(&[ISSUER]);
        validation.leeway = 5;
        Self {
            encoding: EncodingKey::from_secret(secret),
            decoding: DecodingKey::from_secret(secret),
            validation,
        }
    }

    pub fn issue(
        &self,
        account_id: &str,
        typ: &str,
        sid: Option<String>,
        ttl: Duration,
    ) -> IssuedToken {
        let now = chrono::Utc::now();
        let expires_at =
            now + chrono::Duration::from_std(ttl).unwrap_or(chrono::Duration::days(30));
        let claims = Claims {
            sub: account_id.to_string(),
            iat: now.timestamp() as u64,
            exp: expires_at.timestamp() as u64,
            iss: ISSUER.into(),
            typ: typ.into(),
            sid,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
            .expect("HS256 encoding of plain claims cannot fail");
        IssuedToken { token, expires_at }
    }

    /// An access token scoped to one realtime session: it opens that
    /// session's WebSocket and nothing else.
    pub fn issue_session(&self, session_id: &str) -> IssuedToken {
        self.issue(
            session_id,
            SESSION_TOKEN,
            Some(session_id.to_string()),
            SESSION_TOKEN_TTL,
        )
    }

    /// Whether `token` is a live access token of exactly this session.
    pub fn verify_session(&self, token: &str, session_id: &str) -> bool {
        self.verify(token).is_some_and(|c| {
            c.typ == SESSION_TOKEN && c.sub == session_id && c.sid.as_deref() == Some(session_id)
        })
    }

    pub fn verify(&self, token: &str) -> Option<Claims> {
        jsonwebtoken::decode::<Claims>(token, &self.decoding, &self.validation)
            .ok()
            .map(|d| d.claims)
    }
}

/// Hashes off the async runtime: argon2 is deliberately slow.
pub async fn hash_password(password: String) -> anyhow::Result<String> {
    tokio::task::spawn_blocking(move || {
        let salt = SaltString::generate(&mut OsRng);
        Argon2::default()
            .hash_password(password.as_bytes(), &salt)
            .map(|h| h.to_string())
            .map_err(|e| anyhow::anyhow!("argon2: {e}"))
    })
    .await?
}

/// Verifies against `hash`, or against a throwaway hash when the account does
/// not exist, so a wrong email costs the same time as a wrong password.
pub async fn verify_password(password: String, hash: Option<String>) -> anyhow::Result<bool> {
    static DUMMY: std::sync::LazyLock<String> = std::sync::LazyLock::new(|| {
        Argon2::default()
            .hash_password(b"not-a-real-password", &SaltString::generate(&mut OsRng))
            .expect("argon2 hashes a constant")
            .to_string()
    });
    tokio::task::spawn_blocking(move || {
        let real = hash.is_some();
        let stored = hash.unwrap_or_else(|| DUMMY.clone());
        let parsed = PasswordHash::new(&stored).map_err(|e| anyhow::anyhow!("stored hash: {e}"))?;
        let ok = Argon2::default()
            .verify_password(password.as_bytes(), &parsed)
            .is_ok();
        Ok(real && ok)
    })
    .await?
}

/// Who is calling, once credentials have been checked.
#[derive(Clone, Debug)]
pub enum Principal {
    User { account_id: String },
    ApiKey { account_id: String, key_id: String },
}

/// The outcome of reading the `Authorization` header, left in the request's
/// extensions for the extractors: a public endpoint ignores a bad token, a
/// protected one turns it into 401.
#[derive(Clone, Debug)]
pub enum Auth {
    Missing,
    Invalid(String),
    Valid(Principal),
}

fn bearer(req: &Request) -> Option<&str> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.split_once(' ')?;
    scheme.eq_ignore_ascii_case("bearer").then(|| token.trim())
}

/// Resolves credentials for every request. Keys are looked up on each call so
/// a revoked key fails at once; key traffic is charged to the key's tier.
pub async fn resolve(State(state): State<AppState>, mut req: Request, next: Next) -> Response {
    let mut rate = None;
    let auth = match bearer(&req) {
        None => Auth::Missing,
        Some(token) if token.starts_with(ids::API_KEY_PREFIX) => {
            if !ids::looks_like_api_key(token) {
                Auth::Invalid("Malformed API key".into())
            } else {
                match state.store.active_api_key(&ids::hash_api_key(token)).await {
                    Err(e) => return ApiError::from(e).into_response(),
                    Ok(None) => Auth::Invalid("API key is invalid or has been revoked".into()),
                    Ok(Some(key)) => {
                        let tier = KeyTier::parse(&key.tier).unwrap_or(KeyTier::Free);
                        match state.limiters.check_key(tier, &key.id) {
                            Err(e) => return e.into_response(),
                            Ok(info) => rate = Some(info),
                        }
                        Auth::Valid(Principal::ApiKey {
                            account_id: key.account_id,
                            key_id: key.id,
                        })
                    }
                }
            }
        }
        Some(token) => match state.tokens.verify(token) {
            Some(claims) if claims.typ == "user" => Auth::Valid(Principal::User {
                account_id: claims.sub,
            }),
            Some(_) => Auth::Invalid("This token is not valid for this endpoint".into()),
            None => Auth::Invalid("Token is invalid or expired".into()),
        },
    };
    req.extensions_mut().insert(auth);
    let res = next.run(req).await;
    match rate {
        Some(info) => (info, res).into_response(),
        None => res,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_round_trip_and_reject_tampering() {
        let keys = TokenKeys::new(&[7u8; 32]);
        let t = keys.issue("acc-1", "user", None, Duration::from_secs(60));
        let claims = keys.verify(&t.token).unwrap();
        assert_eq!(claims.sub, "acc-1");
        assert_eq!(claims.typ, "user");
        assert!(TokenKeys::new(&[8u8; 32]).verify(&t.token).is_none());
        let mut tampered = t.token.clone();
        tampered.pop();
        assert!(keys.verify(&tampered).is_none());
    }

    #[test]
    fn session_tokens_open_only_their_session() {
        let keys = TokenKeys::new(&[7u8; 32]);
        let t = keys.issue_session("s-1").token;
        assert!(keys.verify_session(&t, "s-1"));
        assert!(!keys.verify_session(&t, "s-2"));
        let user = keys
            .issue("s-1", "user", None, Duration::from_secs(60))
            .token;
        assert!(!keys.verify_session(&user, "s-1"));
        let ws = keys
            .issue("acc", "ws", Some("s-1".into()), Duration::from_secs(60))
            .token;
        assert!(!keys.verify_session(&ws, "s-1"));
    }

    #[test]
    fn expired_tokens_are_refused() {
        let keys = TokenKeys::new(&[7u8; 32]);
        let claims = Claims {
            sub: "a".into(),
            iat: 1,
            exp: 2,
            iss: ISSUER.into(),
            typ: "user".into(),
            sid: None,
        };
        let token = jsonwebtoken::encode(&Header::default(), &claims, &keys.encoding).unwrap();
        assert!(keys.verify(&token).is_none());
    }

    #[tokio::test]
    async fn passwords_verify() {
        let h = hash_password("correct horse".into()).await.unwrap();
        assert!(h.starts_with("$argon2id$"));
        assert!(
            verify_password("correct horse".into(), Some(h.clone()))
                .await
                .unwrap()
        );
        assert!(!verify_password("wrong".into(), Some(h)).await.unwrap());
        assert!(!verify_password("anything".into(), None).await.unwrap());
    }
}
