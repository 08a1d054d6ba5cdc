//! Timestamps are stored and served as RFC 3339 UTC strings with milliseconds,
//! which sort lexicographically in SQLite exactly as they sort in time.

use chrono::{DateTime, SecondsFormat, Utc};

pub fn to_iso(t: DateTime<Utc>) -> String {
    t.to_rfc3339_opts(SecondsFormat::Millis, true)
}

pub fn now_iso() -> String {
    to_iso(Utc::now())
}

pub fn parse_iso(s: &str) -> Option<DateTime<Utc>> {
    DateTime::parse_from_rfc3339(s)
        .ok()
        .map(|t| t.with_timezone(&Utc))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn iso_round_trips_and_sorts() {
        let a = now_iso();
        let b = to_iso(Utc::now() + chrono::Duration::milliseconds(5));
        assert!(a < b);
        assert_eq!(to_iso(parse_iso(&a).unwrap()), a);
        assert!(a.ends_with('Z'));
    }
}
