//! Identifiers and secrets handed to users.

use rand::Rng;
use rand::distr::Alphanumeric;
use sha2::{Digest, Sha256};

pub const API_KEY_PREFIX: &str = "av_live_";
/// How much of a key stays visible after creation: enough to tell keys apart,
/// far too little to guess the rest.
pub const API_KEY_VISIBLE_CHARS: usize = API_KEY_PREFIX.len() + 6;

const SHORT_ID_ALPHABET: &[u8] =
    b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";

pub fn uuid() -> String {
    uuid::Uuid::new_v4().to_string()
}

/// 11 URL-safe characters, like the hosted service's short ids (66 bits).
pub fn short_id() -> String {
    let mut rng = rand::rng();
    (0..11)
        .map(|_| SHORT_ID_ALPHABET[rng.random_range(0..SHORT_ID_ALPHABET.len())] as char)
        .collect()
}

/// A new `av_live_` key: 32 alphanumeric characters, about 190 bits.
pub fn new_api_key() -> String {
    let body: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(32)
        .map(char::from)
        .collect();
    format!("{API_KEY_PREFIX}{body}")
}

pub fn hash_api_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

pub fn api_key_visible_prefix(key: &str) -> String {
    key.chars().take(API_KEY_VISIBLE_CHARS).collect()
}

pub fn looks_like_api_key(s: &str) -> bool {
    s.len() == API_KEY_PREFIX.len() + 32
        && s.starts_with(API_KEY_PREFIX)
        && s[API_KEY_PREFIX.len()..]
            .bytes()
            .all(|b| b.is_ascii_alphanumeric())
}

/// Random bytes for signing secrets.
pub fn random_secret() -> [u8; 32] {
    rand::rng().random()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn short_ids_are_11_url_safe_chars_and_differ() {
        let a = short_id();
        assert_eq!(a.len(), 11);
        assert!(a.bytes().all(|b| SHORT_ID_ALPHABET.contains(&b)));
        assert_ne!(a, short_id());
    }

    #[test]
    fn api_keys_have_the_documented_shape() {
        let k = new_api_key();
        assert!(looks_like_api_key(&k), "{k}");
        assert!(!looks_like_api_key("av_live_short"));
        assert!(!looks_like_api_key(&k.replace("av_live_", "av_test_")));
        assert_eq!(api_key_visible_prefix(&k).len(), API_KEY_VISIBLE_CHARS);
        assert_eq!(hash_api_key(&k).len(), 64);
        assert_ne!(hash_api_key(&k), hash_api_key(&new_api_key()));
    }
}
