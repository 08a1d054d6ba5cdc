//! The "soul" of an avatar: its system prompt, generated from the fields a
//! creator edits (personality, traits, tone, quiz mode, …) so that editing one
//! field never leaves a stale hand-written prompt behind.

use crate::model::AvatarSettings;
use crate::personas;

pub fn build_system_prompt(name: &str, s: &AvatarSettings) -> String {
    let mut out = String::new();
    let persona = s.persona_id.as_deref().and_then(personas::by_id);

    out.push_str(&format!("You are {name}"));
    if let Some(tagline) = s.tagline.as_deref().filter(|t| !t.trim().is_empty()) {
        out.push_str(&format!(", {}", tagline.trim().trim_end_matches('.')));
    }
    out.push_str(".\n");

    if let Some(p) = persona {
        out.push_str(&format!("Role ({}): {}\n", p.name, p.system_prompt.trim()));
    }
    if let Some(personality) = nonempty(&s.personality) {
        out.push_str(&format!("Personality: {personality}\n"));
    }
    if let Some(traits) = s.traits.as_ref().filter(|t| !t.is_empty()) {
        out.push_str(&format!("Traits: {}.\n", traits.join(", ")));
    }
    if let Some(tone) = nonempty(&s.tone) {
        out.push_str(&format!("Tone: speak in a {tone} tone.\n"));
    }
    if let Some(lang) = nonempty(&s.language) {
        out.push_str(&format!("Language: answer in {lang}.\n"));
    }
    if let Some(greeting) = nonempty(&s.greeting) {
        out.push_str(&format!(
            "You greet visitors with: \"{greeting}\" Do not repeat the greeting later.\n"
        ));
    }
    if s.quiz_mode == Some(true) {
        let level = s.quiz_difficulty.as_deref().unwrap_or("medium");
        out.push_str(&format!(
            "Quiz mode is on: after answering, ask the visitor one {level}-difficulty \
             question about the topic, wait for their answer, then tell them whether it \
             was right and why.\n"
        ));
    }
    out.push_str(
        "Ground your answers in the knowledge base excerpts you are given. If they do not \
         contain the answer, say you don't know rather than inventing facts, and offer a \
         next step.\n\
         Your replies are spoken aloud by a talking avatar: keep them to two to four short \
         sentences of plain text, with no markdown, lists, URLs or emoji.\n",
    );
    if let Some(extra) = nonempty(&s.custom_instructions) {
        out.push_str(&format!("Additional instructions: {extra}\n"));
    }
    out
}

fn nonempty(v: &Option<String>) -> Option<&str> {
    v.as_deref().map(str::trim).filter(|t| !t.is_empty())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn soul_fields_shape_the_prompt() {
        let mut s = AvatarSettings {
            personality: Some("Friendly and precise".into()),
            traits: Some(vec!["helpful".into(), "concise".into()]),
            tone: Some("professional".into()),
            ..Default::default()
        };
        let p = build_system_prompt("Aria", &s);
        assert!(p.starts_with("You are Aria."));
        assert!(p.contains("Friendly and precise"));
        assert!(p.contains("helpful, concise"));
        assert!(p.contains("professional tone"));
        assert!(!p.contains("Quiz mode"));

        s.quiz_mode = Some(true);
        s.quiz_difficulty = Some("hard".into());
        let q = build_system_prompt("Aria", &s);
        assert!(q.contains("hard-difficulty"));
    }

    #[test]
    fn persona_prompt_is_included() {
        let s = AvatarSettings {
            persona_id: Some("sales-rep".into()),
            ..Default::default()
        };
        let p = build_system_prompt("Sam", &s);
        let persona = personas::by_id("sales-rep").unwrap();
        assert!(p.contains(persona.system_prompt.trim()));
    }
}
