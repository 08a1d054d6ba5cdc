//! The offline provider: with no API key and no network an avatar still
//! answers, by picking the sentences of its retrieved knowledge that best
//! match the question, or by saying honestly that it does not know. Replies
//! are deterministic, short enough to speak, and never contain a fact that
//! is not in the request.

use async_trait::async_trait;

use crate::text::{self, overlap_score, question_terms, sentences};
use crate::{
    ChatProvider, ChatRequest, Message, Passage, Persona, ProviderError, Role, TextStream,
};

#[derive(Default)]
pub struct LocalProvider;

impl LocalProvider {
    pub fn new() -> Self {
        Self
    }
}

#[async_trait]
impl ChatProvider for LocalProvider {
    fn id(&self) -> &str {
        "local"
    }

    fn default_model(&self) -> &str {
        "avatarium-local"
    }

    async fn stream(&self, req: ChatRequest) -> Result<TextStream, ProviderError> {
        let chunks = chunk_reply(&compose_reply(&req));
        Ok(Box::pin(futures::stream::iter(chunks.into_iter().map(Ok))))
    }
}

/// Lowest score (see [`text::overlap_score`], scaled by passage relevance)
/// a sentence needs before the avatar will say it.
const ANSWER_THRESHOLD: f32 = 0.4;
/// Further sentences must be at least this fraction of the best one.
const RELATIVE_THRESHOLD: f32 = 0.65;
const MAX_SENTENCES: usize = 3;
/// Roughly fifteen seconds of speech.
const MAX_ANSWER_CHARS: usize = 320;
/// How much a follow-up borrows from the question before it.
const CARRY_OVER: f32 = 0.5;

/// Things visitors say that are not questions for the knowledge base.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SmallTalk {
    Greeting,
    Identity,
    Capabilities,
    HowAreYou,
    Thanks,
    Goodbye,
    Acknowledgement,
}

/// The whole reply the local provider gives to `req`.
pub fn compose_reply(req: &ChatRequest) -> String {
    let persona = req.persona.as_ref();
    let message = req.last_user_message().unwrap_or("").trim();
    let name = persona_name(persona);
    if let Some(name) = introduced_name(message) {
        return format!("Nice to meet you, {name}! How can I help you today?");
    }
    match small_talk(message, name) {
        Some(SmallTalk::Greeting) => return greeting(persona),
        Some(SmallTalk::Identity) => return introduction(persona),
        Some(SmallTalk::Capabilities) => {
            return format!(
                "{} I can answer your questions from what I've been taught, so just ask!",
                short_introduction(persona)
            );
        }
        Some(SmallTalk::HowAreYou) => {
            return "I'm doing great, thanks for asking! How can I help you today?".into();
        }
        Some(SmallTalk::Thanks) => {
            return "You're welcome! Is there anything else I can help with?".into();
        }
        Some(SmallTalk::Goodbye) => return "Goodbye, and thanks for stopping by!".into(),
        Some(SmallTalk::Acknowledgement) => {
            return "Great! Is there anything else you'd like to know?".into();
        }
        None => {}
    }
    let (greeted, question) = strip_greeting(message, name);
    let previous = previous_question(&req.messages);
    match answer(question, previous, &req.knowledge) {
        Some(a) if greeted => format!("Hi! {a}"),
        Some(a) => a,
        None => dont_know(question),
    }
}

/// The text to search the knowledge base with: the last question, plus the
/// one before it when the last is a terse follow-up ("and the Pro one?").
pub fn contextual_question(messages: &[Message]) -> String {
    let Some(last) = messages.iter().rev().find(|m| m.role == Role::User) else {
        return String::new();
    };
    let current = last.content.trim();
    match previous_question(messages) {
        Some(prev) if is_follow_up(current) => format!("{prev} {current}"),
        _ => current.to_string(),
    }
}

fn persona_name(persona: Option<&Persona>) -> Option<&str> {
    persona.map(|p| p.name.trim()).filter(|n| !n.is_empty())
}

fn non_empty(s: &Option<String>) -> Option<&str> {
    s.as_deref().map(str::trim).filter(|s| !s.is_empty())
}

fn with_stop(s: &str) -> String {
    let s = s.trim();
    if s.ends_with(['.', '!', '?', '…']) {
        s.to_string()
    } else {
        format!("{s}.")
    }
}

fn greeting(persona: Option<&Persona>) -> String {
    if let Some(g) = persona.and_then(|p| non_empty(&p.greeting)) {
        return g.to_string();
    }
    match persona_name(persona) {
        Some(name) => format!("Hi, I'm {name}. How can I help?"),
        None => "Hi! How can I help?".into(),
    }
}

/// A persona's personality is usually written as instructions ("You are a
/// cheerful guide…"); its first sentence, turned around, introduces it.
fn personality_line(persona: &Persona) -> Option<String> {
    let first = sentences(non_empty(&persona.personality)?)
        .into_iter()
        .next()?;
    if first.len() > 160 {
        return None;
    }
    let lower = first.to_lowercase();
    let rest = ["you are ", "you're ", "you’re ", "i am ", "i'm ", "i’m "]
        .iter()
        .find(|p| lower.starts_with(*p))
        .map(|p| &first[p.len()..])?;
    Some(with_stop(&format!("I'm {}", rest.trim())))
}

fn introduction(persona: Option<&Persona>) -> String {
    let Some(p) = persona else {
        return "I'm a virtual assistant, here to answer your questions.".into();
    };
    let name = persona_name(persona);
    if let Some(tagline) = non_empty(&p.tagline) {
        return match name {
            Some(n) => format!("I'm {n}. {}", with_stop(tagline)),
            None => with_stop(tagline),
        };
    }
    match (name, personality_line(p)) {
        (Some(n), Some(line)) => {
            let rest = &line["I'm ".len()..];
            let article = ["a ", "an ", "the ", "your "]
                .iter()
                .any(|a| rest.to_lowercase().starts_with(a));
            if article {
                format!("I'm {n}, {rest}")
            } else {
                format!("I'm {n}. {line}")
            }
        }
        (None, Some(line)) => line,
        (Some(n), None) => format!("I'm {n}, and I'm here to answer your questions."),
        (None, None) => "I'm a virtual assistant, here to answer your questions.".into(),
    }
}

fn short_introduction(persona: Option<&Persona>) -> String {
    match (
        persona_name(persona),
        persona.and_then(|p| non_empty(&p.tagline)),
    ) {
        (Some(n), Some(t)) => format!("I'm {n}. {}", with_stop(t)),
        (Some(n), None) => format!("I'm {n}."),
        (None, Some(t)) => with_stop(t),
        (None, None) => "I'm a virtual assistant.".into(),
    }
}

const DONT_KNOW: [&str; 3] = [
    "I'm not sure about that — it isn't in what I've been taught. Could you ask me something else, or leave your email so someone can follow up?",
    "I don't know the answer to that one, and I'd rather not guess. Is there something else I can help you with?",
    "Sorry, I'm not sure — that isn't covered in what I've learned. You could leave your email and someone from the team will follow up.",
];

fn dont_know(question: &str) -> String {
    let key = normalise(question).join(" ");
    DONT_KNOW[(text::stable_hash(&key) % DONT_KNOW.len() as u64) as usize].to_string()
}

/// Lowercase words with apostrophes dropped ("what's" → "whats"), for
/// matching fixed phrases.
fn normalise(message: &str) -> Vec<String> {
    message
        .to_lowercase()
        .replace(['\'', '’', '‘'], "")
        .split(|c: char| !c.is_alphanumeric())
        .filter(|w| !w.is_empty())
        .map(str::to_string)
        .collect()
}

const GREETING_WORDS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "heya",
    "hiya",
    "howdy",
    "greetings",
    "yo",
    "hallo",
    "hola",
    "morning",
    "afternoon",
    "evening",
];
const GREETING_FILLER: &[&str] = &[
    "there", "everyone", "all", "again", "friend", "folks", "guys", "good", "you", "and",
];

const IDENTITY: &[&str] = &[
    "who are you",
    "who are u",
    "whats your name",
    "what is your name",
    "your name",
    "what are you",
    "what are you called",
    "who is this",
    "who am i talking to",
    "who am i talking with",
    "who am i speaking to",
    "who am i speaking with",
    "tell me about yourself",
    "introduce yourself",
    "are you a bot",
    "are you a robot",
    "are you human",
    "are you a human",
    "are you real",
    "are you an ai",
    "are you a person",
    "what should i call you",
    "do you have a name",
];
const CAPABILITIES: &[&str] = &[
    "what can you do",
    "what do you do",
    "how can you help",
    "how can you help me",
    "what can you help with",
    "what can you help me with",
    "what do you know",
    "what can i ask",
    "what can i ask you",
    "help",
    "what are you for",
    "what can you tell me",
    "how do you work",
];
const HOW_ARE_YOU: &[&str] = &[
    "how are you",
    "how are you doing",
    "how are you today",
    "hows it going",
    "how is it going",
    "how do you do",
    "how are things",
    "whats up",
    "sup",
    "how have you been",
];
const BYE_PHRASES: &[&str] = &[
    "have a nice day",
    "have a good day",
    "have a great day",
    "have a nice evening",
    "talk to you later",
    "see you later",
    "see you soon",
    "see you",
    "see ya",
    "take care",
    "good night",
    "goodnight",
    "good bye",
    "goodbye",
    "bye bye",
    "byebye",
    "bye",
    "farewell",
    "cya",
    "thats all",
    "that is all",
    "im done",
    "gotta go",
    "later",
];
const THANKS_PHRASES: &[&str] = &[
    "i appreciate it",
    "appreciate it",
    "much appreciated",
    "appreciated",
    "thank you",
    "thanks",
    "thank",
    "thx",
    "ty",
    "cheers",
];
const CLOSING_FILLER: &[&str] = &[
    "so",
    "much",
    "a",
    "lot",
    "very",
    "for",
    "the",
    "your",
    "you",
    "help",
    "that",
    "this",
    "great",
    "ok",
    "okay",
    "perfect",
    "awesome",
    "cool",
    "nice",
    "again",
    "really",
    "all",
    "everything",
    "info",
    "information",
    "helps",
    "helped",
    "helpful",
    "thats",
    "good",
    "brilliant",
    "lovely",
    "and",
    "oh",
    "well",
    "then",
    "now",
    "alright",
    "got",
    "it",
    "understood",
    "fine",
    "super",
    "excellent",
    "amazing",
    "wonderful",
    "many",
    "kind",
    "its",
    "was",
    "is",
    "tons",
    "guys",
    "sounds",
    "makes",
    "sense",
    "i",
    "see",
    "ah",
    "right",
    "sure",
    "yes",
    "yeah",
    "no",
    "nope",
];

fn name_words(name: Option<&str>) -> Vec<String> {
    name.map(normalise).unwrap_or_default()
}

/// Drops a leading "hi" / "good morning, Ava" so the rest can be answered.
/// Returns whether there was one, and the rest of the message.
fn strip_greeting<'a>(message: &'a str, name: Option<&str>) -> (bool, &'a str) {
    let names = name_words(name);
    let mut greeted = false;
    let mut rest = message.trim_start();
    loop {
        let word_end = rest
            .find(|c: char| !c.is_alphanumeric() && c != '\'' && c != '’')
            .unwrap_or(rest.len());
        if word_end == 0 {
            break;
        }
        let word = rest[..word_end].to_lowercase();
        let is_greeting = GREETING_WORDS.contains(&word.as_str());
        let is_filler =
            greeted && (GREETING_FILLER.contains(&word.as_str()) || names.contains(&word));
        let good_greeting = word == "good"
            && normalise(&rest[word_end..])
                .first()
                .is_some_and(|w| ["morning", "afternoon", "evening", "day"].contains(&w.as_str()));
        if !(is_greeting || is_filler || good_greeting) {
            break;
        }
        greeted |= is_greeting || good_greeting;
        rest = rest[word_end..].trim_start_matches(|c: char| !c.is_alphanumeric());
    }
    if greeted {
        (true, rest)
    } else {
        (false, message)
    }
}

/// Classifies a message as small talk, or `None` when it should be answered
/// from knowledge.
pub fn small_talk(message: &str, persona_name: Option<&str>) -> Option<SmallTalk> {
    let words = normalise(message);
    if words.is_empty() {
        return Some(SmallTalk::Greeting);
    }
    let (greeted, rest) = strip_greeting(message, persona_name);
    let names = name_words(persona_name);
    let mut rest: Vec<String> = normalise(rest);
    while rest
        .last()
        .is_some_and(|w| w == "please" || names.contains(w))
    {
        rest.pop();
    }
    if rest.is_empty() {
        return greeted.then_some(SmallTalk::Greeting);
    }
    let phrase = rest.join(" ");
    if IDENTITY.contains(&phrase.as_str()) {
        return Some(SmallTalk::Identity);
    }
    if CAPABILITIES.contains(&phrase.as_str()) {
        return Some(SmallTalk::Capabilities);
    }
    if HOW_ARE_YOU.contains(&phrase.as_str()) {
        return Some(SmallTalk::HowAreYou);
    }
    let mut padded = format!(" {phrase} ");
    let bye = remove_phrases(BYE_PHRASES, &mut padded);
    let thanks = remove_phrases(THANKS_PHRASES, &mut padded);
    let leftover = padded
        .split_whitespace()
        .any(|w| !CLOSING_FILLER.contains(&w) && !names.iter().any(|n| n == w));
    if leftover {
        return None;
    }
    Some(if bye {
        SmallTalk::Goodbye
    } else if thanks {
        SmallTalk::Thanks
    } else {
        SmallTalk::Acknowledgement
    })
}

/// Removes every whole-word occurrence of `phrases` from a space-padded
/// string; true when any was there.
fn remove_phrases(phrases: &[&str], padded: &mut String) -> bool {
    let mut found = false;
    for p in phrases {
        let needle = format!(" {p} ");
        while padded.contains(&needle) {
            *padded = padded.replacen(&needle, " ", 1);
            found = true;
        }
    }
    found
}

/// "My name is Sam" / "I'm Sam" deserves a greeting, not a search.
fn introduced_name(message: &str) -> Option<String> {
    let words: Vec<&str> = message
        .split_whitespace()
        .map(|w| w.trim_matches(|c: char| !c.is_alphanumeric()))
        .filter(|w| !w.is_empty())
        .collect();
    let lower: Vec<String> = words.iter().map(|w| w.to_lowercase()).collect();
    let start = match lower
        .iter()
        .map(String::as_str)
        .collect::<Vec<_>>()
        .as_slice()
    {
        ["my", "name", "is", ..] => 3,
        ["call", "me", ..] => 2,
        ["hi" | "hello" | "hey", "my", "name", "is", ..] => 4,
        _ => return None,
    };
    let name_words = &words[start..];
    let ok = (1..=2).contains(&name_words.len())
        && name_words.iter().all(|w| {
            w.chars().all(char::is_alphabetic) && w.chars().next().is_some_and(char::is_uppercase)
        });
    ok.then(|| name_words.join(" "))
}

/// Too short to stand alone: few content words, or an opener that leans on
/// what was said before.
fn is_follow_up(question: &str) -> bool {
    let words = normalise(question);
    if words.is_empty() {
        return false;
    }
    let leans = matches!(
        words
            .iter()
            .map(String::as_str)
            .take(2)
            .collect::<Vec<_>>()
            .as_slice(),
        ["and", ..] | ["what" | "how", "about"] | ["also", ..] | ["same", ..] | ["or", ..]
    );
    let content = text::content_terms(question).len();
    (content <= 1 && words.len() <= 4) || (leans && content <= 3)
}

fn previous_question(messages: &[Message]) -> Option<&str> {
    messages
        .iter()
        .filter(|m| m.role == Role::User)
        .rev()
        .skip(1)
        .map(|m| m.content.trim())
        .find(|m| small_talk(m, None).is_none() && !text::content_terms(m).is_empty())
}

struct Candidate {
    passage: usize,
    index: usize,
    text: String,
    stems: Vec<String>,
    /// The visitor's own terms (not related or carried-over ones) it holds.
    asked: Vec<String>,
    score: f32,
}

/// A knowledge base written as FAQ ("Q: … A: …") shows the answer part.
fn strip_answer_label(s: &str) -> &str {
    for label in ["A:", "A.", "Answer:", "A -"] {
        if let Some(rest) = s.strip_prefix(label) {
            return rest.trim_start();
        }
    }
    s
}

fn answer(question: &str, previous: Option<&str>, knowledge: &[Passage]) -> Option<String> {
    let current = question_terms(question);
    let mut terms = current.clone();
    let carried = match previous {
        Some(prev) if is_follow_up(question) => {
            for (t, w) in question_terms(prev) {
                if !terms.iter().any(|(x, _)| *x == t) {
                    terms.push((t, w * CARRY_OVER));
                }
            }
            true
        }
        _ => false,
    };
    if terms.is_empty() {
        return None;
    }
    // A follow-up must still be about what was just asked: "and Pro?" may
    // borrow "cost" from before, but never answer with the Basic plan alone,
    // and "where are you?" after a price question is about the office.
    let must_match_current = carried && !current.is_empty();
    let primary: Vec<String> = current
        .iter()
        .filter(|(_, w)| *w >= text::ORIGINAL_WEIGHT)
        .map(|(t, _)| t.clone())
        .collect();

    let mut candidates: Vec<Candidate> = Vec::new();
    for (pi, p) in knowledge.iter().enumerate() {
        let relevance = if p.relevance.is_finite() {
            p.relevance.clamp(0.0, 1.0)
        } else {
            0.0
        };
        // The retriever's scale is its own business; relevance orders
        // passages but never silences a sentence that clearly matches.
        let weight = 0.6 + 0.4 * relevance;
        let title_score = overlap_score(&current, &p.title);
        for (si, s) in sentences(&p.text).into_iter().enumerate() {
            let s = strip_answer_label(&s).to_string();
            // Questions in the knowledge base are prompts, not answers.
            if s.ends_with('?') || text::tokenize(&s).len() < 3 {
                continue;
            }
            if must_match_current && overlap_score(&current, &s) <= 0.0 {
                continue;
            }
            let base = overlap_score(&terms, &s);
            if base <= 0.0 {
                continue;
            }
            let score = (base + 0.15 * title_score * (1.0 - base)) * weight;
            let stems = text::content_terms(&s);
            let asked = primary
                .iter()
                .filter(|t| stems.contains(t))
                .cloned()
                .collect();
            candidates.push(Candidate {
                passage: pi,
                index: si,
                text: s,
                stems,
                asked,
                score,
            });
        }
    }
    candidates.sort_by(|a, b| {
        b.score
            .total_cmp(&a.score)
            .then(a.passage.cmp(&b.passage))
            .then(a.index.cmp(&b.index))
    });
    let top = candidates.first()?;
    let best = top.score;
    if best < ANSWER_THRESHOLD {
        return None;
    }
    // A sentence that only has part of what the best one matched answers
    // less of the question ("How much is Basic?" → not the Pro price too).
    let narrower = |c: &Candidate| {
        !top.asked.is_empty()
            && c.asked.len() < top.asked.len()
            && c.asked.iter().all(|t| top.asked.contains(t))
    };
    let floor = ANSWER_THRESHOLD.max(best * RELATIVE_THRESHOLD);
    let mut chosen: Vec<(usize, &Candidate)> = Vec::new();
    let mut length = 0;
    for (rank, c) in candidates.iter().enumerate() {
        if chosen.len() == MAX_SENTENCES || c.score < floor {
            break;
        }
        if narrower(c)
            || chosen
                .iter()
                .any(|(_, k)| near_duplicate(&k.stems, &c.stems))
        {
            continue;
        }
        if !chosen.is_empty() && length + c.text.len() > MAX_ANSWER_CHARS {
            continue;
        }
        length += c.text.len() + 1;
        chosen.push((rank, c));
    }
    // Passages in the order of their best sentence; each passage's
    // sentences in their own order, so the answer reads as written.
    let passage_rank = |p: usize| {
        chosen
            .iter()
            .filter(|(_, c)| c.passage == p)
            .map(|(r, _)| *r)
            .min()
    };
    let mut ordered: Vec<&Candidate> = chosen.iter().map(|(_, c)| *c).collect();
    ordered.sort_by_key(|c| (passage_rank(c.passage), c.index));
    Some(
        ordered
            .iter()
            .map(|c| with_stop(&c.text))
            .collect::<Vec<_>>()
            .join(" "),
    )
}

fn near_duplicate(a: &[String], b: &[String]) -> bool {
    if a.is_empty() || b.is_empty() {
        return a == b;
    }
    let shared = a.iter().filter(|t| b.contains(t)).count();
    let union = a.len() + b.len() - shared;
    shared as f32 / union as f32 >= 0.8
}

/// Splits a reply into deltas of one to three words, the way a model streams
/// them; the deltas concatenate to exactly `reply`.
pub fn chunk_reply(reply: &str) -> Vec<String> {
    let mut words: Vec<&str> = Vec::new();
    let mut start = 0;
    let mut in_space = false;
    for (i, c) in reply.char_indices() {
        if c.is_whitespace() {
            in_space = true;
        } else if in_space {
            words.push(&reply[start..i]);
            start = i;
            in_space = false;
        }
    }
    if start < reply.len() {
        words.push(&reply[start..]);
    }
    const SIZES: [usize; 5] = [1, 2, 3, 2, 1];
    let mut chunks = Vec::new();
    let mut i = 0;
    let mut k = 0;
    while i < words.len() {
        let n = SIZES[k % SIZES.len()].min(words.len() - i);
        chunks.push(words[i..i + n].concat());
        i += n;
        k += 1;
    }
    chunks
}

#[cfg(test)]
mod tests {
    use super::*;

    fn persona() -> Persona {
        Persona {
            name: "Ava".into(),
            tagline: Some("Your guide to Acme".into()),
            personality: Some(
                "You are a cheerful guide to Acme's products. Keep answers short.".into(),
            ),
            greeting: Some("Hello! I'm Ava from Acme.".into()),
        }
    }

    fn ask(messages: Vec<Message>, knowledge: Vec<Passage>) -> String {
        compose_reply(&ChatRequest {
            messages,
            knowledge,
            persona: Some(persona()),
            ..Default::default()
        })
    }

    fn pricing() -> Passage {
        Passage {
            title: "Pricing FAQ".into(),
            text: "Basic costs 10 dollars a month, Pro costs 30 dollars a month. Both plans include email support. Our office is in Lisbon.".into(),
            relevance: 1.0,
        }
    }

    #[test]
    fn classifies_small_talk() {
        use SmallTalk::*;
        let c = |m: &str| small_talk(m, Some("Ava"));
        assert_eq!(c("hi"), Some(Greeting));
        assert_eq!(c("Good morning, Ava!"), Some(Greeting));
        assert_eq!(c("hey there"), Some(Greeting));
        assert_eq!(c("Who are you?"), Some(Identity));
        assert_eq!(c("hi, what's your name?"), Some(Identity));
        assert_eq!(c("What can you do?"), Some(Capabilities));
        assert_eq!(c("how are you"), Some(HowAreYou));
        assert_eq!(c("Thanks a lot!"), Some(Thanks));
        assert_eq!(c("thank you so much, that helps"), Some(Thanks));
        assert_eq!(c("ok thanks, bye!"), Some(Goodbye));
        assert_eq!(c("Have a nice day"), Some(Goodbye));
        assert_eq!(c("cool"), Some(Acknowledgement));
        assert_eq!(c("Hi, what are your prices?"), None);
        assert_eq!(c("thanks, and where is your office?"), None);
        assert_eq!(c("what can you do about my refund?"), None);
        assert_eq!(
            strip_greeting("Hello Ava, where are you?", Some("Ava")),
            (true, "where are you?")
        );
        assert_eq!(
            strip_greeting("Hilton hotel?", None),
            (false, "Hilton hotel?")
        );
    }

    #[test]
    fn introductions_use_the_persona() {
        assert_eq!(
            introduction(Some(&persona())),
            "I'm Ava. Your guide to Acme."
        );
        let p = Persona {
            tagline: None,
            ..persona()
        };
        assert_eq!(
            introduction(Some(&p)),
            "I'm Ava, a cheerful guide to Acme's products."
        );
        let p = Persona {
            name: "Bo".into(),
            ..Default::default()
        };
        assert_eq!(
            introduction(Some(&p)),
            "I'm Bo, and I'm here to answer your questions."
        );
        assert_eq!(greeting(Some(&p)), "Hi, I'm Bo. How can I help?");
        assert_eq!(greeting(None), "Hi! How can I help?");
        assert_eq!(
            introduced_name("My name is Sam Lee."),
            Some("Sam Lee".into())
        );
        assert_eq!(introduced_name("my name is not important to you"), None);
    }

    #[test]
    fn answers_from_the_best_sentences() {
        let a = ask(
            vec![Message::user("What are your pricing plans?")],
            vec![pricing()],
        );
        assert!(a.contains("10 dollars") && a.contains("30 dollars"), "{a}");
        assert!(!a.contains("Lisbon"), "{a}");
        let a = ask(
            vec![Message::user("Where is your office?")],
            vec![pricing()],
        );
        assert_eq!(a, "Our office is in Lisbon.");
        let a = ask(
            vec![Message::user("Hi! Where are you located?")],
            vec![pricing()],
        );
        assert_eq!(a, "Hi! Our office is in Lisbon.");
    }

    #[test]
    fn faq_questions_are_not_echoed() {
        let faq = Passage {
            title: "FAQ".into(),
            text: "Q: Do you ship to Canada?\nA: Yes, we ship to Canada within 5 days.".into(),
            relevance: 0.7,
        };
        let a = ask(vec![Message::user("Do you ship to Canada?")], vec![faq]);
        assert_eq!(a, "Yes, we ship to Canada within 5 days.");
    }

    #[test]
    fn says_it_does_not_know_without_evidence() {
        for q in [
            "Do you ship to Canada?",
            "Do you offer gift cards?",
            "What is the meaning of life?",
        ] {
            let a = ask(vec![Message::user(q)], vec![pricing()]);
            assert!(DONT_KNOW.contains(&a.as_str()), "{q}: {a}");
            assert!(!a.chars().any(|c| c.is_ascii_digit()));
        }
        let a = ask(vec![Message::user("What are your pricing plans?")], vec![]);
        assert!(DONT_KNOW.contains(&a.as_str()));
        // Deterministic, and not always the same phrasing.
        let replies: std::collections::HashSet<String> = (0..12)
            .map(|i| dont_know(&format!("question {i}")))
            .collect();
        assert!(replies.len() > 1);
        assert_eq!(dont_know("Do you ship?"), dont_know("do you ship"));
    }

    #[test]
    fn chunks_concatenate_to_the_reply() {
        let r = "Basic costs 10 dollars a month,  Pro costs 30.\nBoth plans include support.";
        let chunks = chunk_reply(r);
        assert_eq!(chunks.concat(), r);
        assert!(chunks.len() > 3);
        assert!(
            chunks
                .iter()
                .all(|c| (1..=3).contains(&c.split_whitespace().count()))
        );
        assert!(chunk_reply("").is_empty());
    }

    #[test]
    fn follow_ups_lean_on_the_previous_question() {
        assert!(is_follow_up("and the Pro one?"));
        assert!(!is_follow_up(
            "Which payment methods do you accept for the annual enterprise plan?"
        ));
        let msgs = vec![
            Message::user("How much does Basic cost?"),
            Message::assistant("Basic costs 10 dollars a month."),
            Message::user("and Pro?"),
        ];
        assert_eq!(
            contextual_question(&msgs),
            "How much does Basic cost? and Pro?"
        );
        assert_eq!(contextual_question(&msgs[..1]), "How much does Basic cost?");
    }
}
