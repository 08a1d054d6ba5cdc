//! Persona presets: personality templates by industry vertical, shipped in
//! `data/personas.json` and compiled into the binary.

use std::sync::LazyLock;

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

#[derive(Debug, Clone, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "camelCase", deny_unknown_fields)]
pub struct Persona {
    pub id: String,
    pub name: String,
    pub vertical: String,
    pub description: String,
    pub personality: String,
    pub traits: Vec<String>,
    pub tone: String,
    pub greeting: String,
    pub system_prompt: String,
    pub suggested_avatar: String,
    pub voice_gender: String,
    pub sample_questions: Vec<String>,
}

static PERSONAS: LazyLock<Vec<Persona>> = LazyLock::new(|| {
    serde_json::from_str(include_str!("../data/personas.json"))
        .expect("data/personas.json is valid (checked by tests)")
});

pub fn all() -> &'static [Persona] {
    &PERSONAS
}

pub fn by_id(id: &str) -> Option<&'static Persona> {
    all().iter().find(|p| p.id == id)
}

pub fn by_vertical(vertical: &str) -> impl Iterator<Item = &'static Persona> {
    all()
        .iter()
        .filter(move |p| p.vertical.eq_ignore_ascii_case(vertical))
}

pub fn verticals() -> Vec<&'static str> {
    let mut v: Vec<&str> = all().iter().map(|p| p.vertical.as_str()).collect();
    v.sort_unstable();
    v.dedup();
    v
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[test]
    fn presets_cover_the_required_verticals() {
        assert!(all().len() >= 12, "only {} personas", all().len());
        for v in ["sales", "support", "education", "healthcare"] {
            assert!(by_vertical(v).count() >= 1, "no persona for {v}");
        }
        let ids: HashSet<_> = all().iter().map(|p| &p.id).collect();
        assert_eq!(ids.len(), all().len(), "duplicate persona ids");
        let sales = by_id("sales-rep").expect("sales-rep exists");
        assert_eq!(sales.vertical, "sales");
    }

    #[test]
    fn every_persona_is_complete_and_uses_a_shipped_avatar() {
        for p in all() {
            for (field, value) in [
                ("name", &p.name),
                ("personality", &p.personality),
                ("greeting", &p.greeting),
                ("systemPrompt", &p.system_prompt),
            ] {
                assert!(!value.trim().is_empty(), "{}: empty {field}", p.id);
            }
            assert!(
                crate::presets::by_id(&p.suggested_avatar).is_some(),
                "{}: unknown avatar {}",
                p.id,
                p.suggested_avatar
            );
        }
    }
}
