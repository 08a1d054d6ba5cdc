//! End-of-session analysis: what the visitor wanted and how they felt.
//! [`analyse`] works offline from the transcript alone; when a model is
//! configured the server can send [`analysis_prompt`] and read the answer
//! with [`parse_llm_analysis`], falling back to [`analyse`] if that fails.

use std::collections::HashMap;

use serde::{Deserialize, Serialize};

use crate::text::{self, stem, tokenize};
use crate::{Message, Role};

#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "camelCase")]
pub struct SessionAnalysis {
    pub summary: String,
    pub topics: Vec<String>,
    /// `positive`, `neutral` or `negative`: the visitor's mood.
    pub sentiment: String,
    pub question_count: usize,
}

const MAX_TOPICS: usize = 5;

/// Analyses a conversation without a model: topics from the concept
/// lexicon (then frequent content words), sentiment from a small lexicon,
/// questions by punctuation and opening word, and a two-sentence summary.
pub fn analyse(turns: &[Message]) -> SessionAnalysis {
    let visitor: Vec<&str> = turns
        .iter()
        .filter(|m| m.role == Role::User)
        .map(|m| m.content.trim())
        .filter(|m| !m.is_empty())
        .collect();
    let question_count = visitor.iter().filter(|m| is_question(m)).count();
    let (topics, concepts) = topics(&visitor);
    SessionAnalysis {
        summary: summary(turns, &visitor, question_count, &concepts, &topics),
        topics,
        sentiment: sentiment(&visitor).to_string(),
        question_count,
    }
}

const QUESTION_OPENERS: &[&str] = &[
    "what", "when", "where", "who", "whom", "whose", "why", "which", "how", "is", "are", "am",
    "was", "were", "do", "does", "did", "can", "could", "will", "would", "should", "shall", "may",
    "might", "have", "has", "had", "must", "isn't", "aren't", "don't", "doesn't", "didn't",
    "can't", "won't", "what's", "where's", "who's", "how's", "when's",
];

/// A message asks something when one of its sentences ends with `?` or
/// opens with a wh-word or an auxiliary verb ("can I pay by card").
pub fn is_question(message: &str) -> bool {
    text::sentences(message).iter().any(|s| {
        s.trim_end_matches(['"', '\'', ')', ' ']).ends_with('?')
            || tokenize(s)
                .first()
                .is_some_and(|w| QUESTION_OPENERS.contains(&w.as_str()))
    })
}

/// Words that are frequent in chats but never a topic.
const NOT_TOPICS: &[&str] = &[
    "hi",
    "hello",
    "hey",
    "thanks",
    "thank",
    "bye",
    "goodbye",
    "good",
    "morning",
    "afternoon",
    "evening",
    "great",
    "cool",
    "nice",
    "awesome",
    "perfect",
    "ok",
    "okay",
    "yes",
    "no",
    "want",
    "wanted",
    "wonder",
    "think",
    "see",
    "look",
    "looking",
    "help",
    "make",
    "find",
    "ask",
    "question",
    "questions",
    "info",
    "information",
    "lot",
    "bit",
    "time",
    "day",
    "today",
    "name",
    "guy",
    "guys",
    "someone",
    "anyone",
    "everyone",
    "best",
    "new",
    "sorry",
    "well",
    "right",
    "still",
    "already",
    "actually",
    "maybe",
    "possible",
    "able",
    "work",
    "works",
    "take",
];

/// Concept groups first (by how many messages touch them, then first
/// mention), then the most frequent remaining content words, in the surface
/// form the visitor used most. Returns the topics and the concept groups
/// among them.
fn topics(visitor: &[&str]) -> (Vec<String>, Vec<&'static str>) {
    let mut concept_hits: Vec<(&'static str, usize, usize)> = Vec::new();
    let mut order = 0;
    for m in visitor {
        for c in text::concepts(m) {
            match concept_hits.iter_mut().find(|(n, _, _)| *n == c) {
                Some(e) => e.1 += 1,
                None => {
                    concept_hits.push((c, 1, order));
                    order += 1;
                }
            }
        }
    }
    concept_hits.sort_by(|a, b| b.1.cmp(&a.1).then(a.2.cmp(&b.2)));
    let concepts: Vec<&'static str> = concept_hits
        .iter()
        .map(|(n, _, _)| *n)
        .take(MAX_TOPICS)
        .collect();
    let mut topics: Vec<String> = concepts.iter().map(|c| c.to_string()).collect();

    // Words the concept groups already stand for are not topics again.
    let covered: Vec<String> = concepts
        .iter()
        .flat_map(|c| text::expand_terms(&[c.to_string()]))
        .map(|(t, _)| t)
        .collect();
    let mut counts: HashMap<String, (usize, usize, HashMap<String, usize>)> = HashMap::new();
    let mut seen = 0;
    for m in visitor {
        for tok in tokenize(m) {
            if text::is_stopword(&tok)
                || text::is_numeric(&tok)
                || tok.chars().count() < 3
                || NOT_TOPICS.contains(&tok.as_str())
                || tok.contains('\'')
            {
                continue;
            }
            let s = stem(&tok);
            if covered.contains(&s) || !text::concepts(&tok).is_empty() {
                continue;
            }
            let e = counts.entry(s).or_insert_with(|| {
                seen += 1;
                (0, seen, HashMap::new())
            });
            e.0 += 1;
            *e.2.entry(tok).or_default() += 1;
        }
    }
    let mut words: Vec<(usize, usize, String)> = counts
        .into_values()
        .map(|(n, first, forms)| {
            let mut forms: Vec<(String, usize)> = forms.into_iter().collect();
            forms.sort_by(|a, b| b.1.cmp(&a.1).then(a.0.cmp(&b.0)));
            (n, first, forms.remove(0).0)
        })
        .collect();
    words.sort_by(|a, b| b.0.cmp(&a.0).then(a.1.cmp(&b.1)));
    for (_, _, w) in words {
        if topics.len() == MAX_TOPICS {
            break;
        }
        if !topics.contains(&w) {
            topics.push(w);
        }
    }
    (topics, concepts)
}

const POSITIVE: &[(&str, f32)] = &[
    ("thanks", 1.0),
    ("thank you", 1.0),
    ("thx", 1.0),
    ("great", 1.0),
    ("love", 1.5),
    ("awesome", 1.5),
    ("perfect", 1.0),
    ("excellent", 1.5),
    ("helpful", 1.0),
    ("amazing", 1.5),
    ("wonderful", 1.5),
    ("nice", 0.5),
    ("cool", 0.5),
    ("appreciate", 1.0),
    ("glad", 1.0),
    ("happy", 1.0),
    ("fantastic", 1.5),
    ("brilliant", 1.5),
    ("lovely", 1.0),
    ("good", 0.5),
];
const NEGATIVE: &[(&str, f32)] = &[
    ("angry", 2.0),
    ("terrible", 2.0),
    ("awful", 2.0),
    ("useless", 2.0),
    ("horrible", 2.0),
    ("worst", 2.0),
    ("hate", 2.0),
    ("scam", 2.0),
    ("unacceptable", 2.0),
    ("ridiculous", 1.5),
    ("furious", 2.0),
    ("bad", 1.0),
    ("annoyed", 1.5),
    ("annoying", 1.5),
    ("frustrated", 1.5),
    ("frustrating", 1.5),
    ("disappointed", 1.5),
    ("disappointing", 1.5),
    ("broken", 1.0),
    ("rude", 1.5),
    ("poor", 1.0),
    ("waste", 1.5),
    ("sucks", 2.0),
    ("stupid", 1.5),
    ("refund now", 2.0),
    ("not working", 1.5),
    ("doesn't work", 1.5),
    ("does not work", 1.5),
    ("never again", 2.0),
    ("complaint", 1.0),
];
const NEGATORS: &[&str] = &[
    "not", "never", "no", "isn't", "wasn't", "aren't", "don't", "doesn't", "didn't", "hardly",
];

/// The visitor's mood from a small weighted lexicon; a negated word ("not
/// helpful") counts for the other side. Greetings are not praise.
fn sentiment(visitor: &[&str]) -> &'static str {
    let mut score = 0.0f32;
    for m in visitor {
        let tokens = tokenize(&m.to_lowercase().replace(['’', '‘'], "'"));
        let padded = format!(" {} ", tokens.join(" "));
        let padded = padded
            .replace(" good morning ", " ")
            .replace(" good afternoon ", " ")
            .replace(" good evening ", " ")
            .replace(" good night ", " ");
        for (lexicon, sign) in [(POSITIVE, 1.0f32), (NEGATIVE, -1.0f32)] {
            for (cue, weight) in lexicon {
                let needle = format!(" {cue} ");
                let mut from = 0;
                while let Some(pos) = padded[from..].find(&needle) {
                    let at = from + pos;
                    let before = padded[..at].split_whitespace().next_back().unwrap_or("");
                    let negated = !cue.contains(' ') && NEGATORS.contains(&before);
                    score += if negated {
                        -sign * weight
                    } else {
                        sign * weight
                    };
                    from = at + needle.len() - 1;
                }
            }
        }
    }
    if score >= 1.0 {
        "positive"
    } else if score <= -1.0 {
        "negative"
    } else {
        "neutral"
    }
}

/// How a concept group reads in a sentence.
fn topic_phrase(concept: &str) -> &str {
    match concept {
        "pricing" => "pricing",
        "hours" => "opening hours",
        "location" => "the location",
        "contact" => "contact details",
        "refunds" => "refunds and returns",
        "shipping" => "shipping and delivery",
        "booking" => "bookings",
        "account" => "account access",
        "features" => "product features",
        "warranty" => "warranty and repairs",
        "payment" => "payment methods",
        "cancellation" => "cancellation",
        "privacy" => "privacy and data",
        "company" => "the company",
        "careers" => "jobs",
        "discounts" => "discounts",
        "menu" => "the menu",
        "stock" => "product availability",
        other => other,
    }
}

fn join_list(items: &[String]) -> String {
    match items {
        [] => String::new(),
        [one] => one.clone(),
        [init @ .., last] => format!("{} and {last}", init.join(", ")),
    }
}

fn snippet(s: &str, max: usize) -> String {
    let s = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if s.chars().count() <= max {
        return s;
    }
    let cut: String = s.chars().take(max).collect();
    let cut = cut
        .rsplit_once(' ')
        .map_or(cut.as_str(), |(a, _)| a)
        .trim_end_matches([',', ';', ':', '.']);
    format!("{cut}…")
}

fn is_dont_know(reply: &str) -> bool {
    let l = reply.to_lowercase().replace('’', "'");
    [
        "not sure",
        "don't know",
        "do not know",
        "no information",
        "isn't in what",
        "not covered",
    ]
    .iter()
    .any(|c| l.contains(c))
}

fn summary(
    turns: &[Message],
    visitor: &[&str],
    questions: usize,
    concepts: &[&'static str],
    topics: &[String],
) -> String {
    if visitor.is_empty() {
        return "The visitor did not say anything.".into();
    }
    let subjects: Vec<String> = if concepts.is_empty() {
        topics.iter().take(3).cloned().collect()
    } else {
        concepts
            .iter()
            .take(3)
            .map(|c| topic_phrase(c).to_string())
            .collect()
    };
    let first = if subjects.is_empty() {
        match visitor.iter().find(|m| is_question(m)) {
            Some(q) => format!("The visitor asked: “{}”", snippet(q, 100)),
            None => "The visitor only exchanged pleasantries".into(),
        }
    } else if questions > 1 {
        format!(
            "The visitor asked {questions} questions about {}",
            join_list(&subjects)
        )
    } else if questions == 1 {
        format!("The visitor asked about {}", join_list(&subjects))
    } else {
        format!("The visitor talked about {}", join_list(&subjects))
    };

    // Only the avatar's answers to questions say what was explained.
    let mut answered: Vec<&str> = Vec::new();
    let mut unanswered = 0;
    let mut last_was_question = false;
    for m in turns {
        match m.role {
            Role::User => last_was_question = is_question(&m.content),
            Role::Assistant if last_was_question => {
                if is_dont_know(&m.content) {
                    unanswered += 1;
                } else if !m.content.trim().is_empty() {
                    answered.push(m.content.trim());
                }
                last_was_question = false;
            }
            _ => {}
        }
    }
    let explained = answered
        .first()
        .and_then(|a| text::sentences(a).into_iter().next())
        .map(|s| snippet(&s, 120));
    let second = match (explained, unanswered) {
        (Some(e), 0) => format!("; the avatar explained “{e}”"),
        (Some(e), n) => format!(
            "; the avatar explained “{e}” but could not answer {n} question{}",
            if n == 1 { "" } else { "s" }
        ),
        (None, n) if n > 0 => "; the avatar could not answer from its knowledge".to_string(),
        _ => String::new(),
    };
    let s = format!("{first}{second}");
    if s.ends_with(['.', '!', '?', '”']) {
        s
    } else {
        format!("{s}.")
    }
}

/// Longest transcript sent for analysis; beyond it the middle is dropped,
/// since openings and endings say most about a visit.
const MAX_TRANSCRIPT_CHARS: usize = 12_000;

/// Messages asking a model for the same analysis as a JSON object
/// `{"summary", "topics", "sentiment"}`.
pub fn analysis_prompt(turns: &[Message]) -> Vec<Message> {
    let mut transcript = String::new();
    for m in turns {
        let who = match m.role {
            Role::User => "Visitor",
            Role::Assistant => "Avatar",
            Role::System => continue,
        };
        transcript.push_str(&format!("{who}: {}\n", m.content.trim()));
    }
    if transcript.chars().count() > MAX_TRANSCRIPT_CHARS {
        let chars: Vec<char> = transcript.chars().collect();
        let half = MAX_TRANSCRIPT_CHARS / 2;
        let head: String = chars[..half].iter().collect();
        let tail: String = chars[chars.len() - half..].iter().collect();
        transcript = format!("{head}\n[… middle of the conversation omitted …]\n{tail}");
    }
    vec![
        Message::system(
            "You analyse conversations between a website visitor and an AI avatar that represents a business. \
             Reply with only a JSON object, no prose and no code fence, of the form \
             {\"summary\": string, \"topics\": [string], \"sentiment\": \"positive\" | \"neutral\" | \"negative\"}. \
             summary: at most two sentences on what the visitor wanted and what the avatar answered. \
             topics: up to 5 short lowercase labels such as \"pricing\", \"opening hours\", \"shipping\". \
             sentiment: the visitor's overall mood.",
        ),
        Message::user(format!("Conversation:\n\n{}", transcript.trim_end())),
    ]
}

/// Reads a model's analysis: the first JSON object in `text` (code fences
/// and chatter around it tolerated), with `summary` required, `topics` as
/// an array or a comma-separated string, and `sentiment` normalised to
/// `positive`/`neutral`/`negative` (anything else is `neutral`).
pub fn parse_llm_analysis(text: &str) -> Option<(String, Vec<String>, String)> {
    let value = first_json_object(text)?;
    let obj = value.as_object()?;
    let get = |k: &str| {
        obj.iter()
            .find(|(key, _)| key.eq_ignore_ascii_case(k))
            .map(|(_, v)| v)
    };
    let summary = get("summary")?.as_str()?.trim().to_string();
    if summary.is_empty() {
        return None;
    }
    let raw_topics: Vec<String> = match get("topics") {
        Some(serde_json::Value::Array(items)) => items
            .iter()
            .filter_map(|v| v.as_str().map(str::to_string))
            .collect(),
        Some(serde_json::Value::String(s)) => s.split([',', ';']).map(str::to_string).collect(),
        _ => Vec::new(),
    };
    let mut topics: Vec<String> = Vec::new();
    for t in raw_topics {
        let t = t
            .trim()
            .trim_matches(['"', '\'', '.', '#'])
            .trim()
            .to_lowercase();
        if !t.is_empty() && !topics.contains(&t) && topics.len() < MAX_TOPICS {
            topics.push(t);
        }
    }
    let sentiment = match get("sentiment")
        .and_then(|v| v.as_str())
        .map(|s| s.trim().to_lowercase())
    {
        Some(s) if s.starts_with("pos") => "positive",
        Some(s) if s.starts_with("neg") => "negative",
        _ => "neutral",
    };
    Some((summary, topics, sentiment.to_string()))
}

fn first_json_object(text: &str) -> Option<serde_json::Value> {
    let mut from = 0;
    while let Some(rel) = text[from..].find('{') {
        let start = from + rel;
        let mut stream =
            serde_json::Deserializer::from_str(&text[start..]).into_iter::<serde_json::Value>();
        if let Some(Ok(v)) = stream.next()
            && v.is_object()
        {
            return Some(v);
        }
        from = start + 1;
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn convo(pairs: &[(&str, &str)]) -> Vec<Message> {
        pairs
            .iter()
            .flat_map(|(u, a)| [Message::user(*u), Message::assistant(*a)])
            .collect()
    }

    #[test]
    fn pricing_conversation() {
        let turns = convo(&[
            ("Hi!", "Hello! I'm Ava."),
            (
                "What are your pricing plans?",
                "Basic costs 10 dollars a month, Pro costs 30 dollars a month.",
            ),
            (
                "And when are you open on weekends?",
                "I'm not sure about that — it isn't in what I've been taught.",
            ),
            ("Great, thanks!", "You're welcome!"),
        ]);
        let a = analyse(&turns);
        assert_eq!(a.topics[..2], ["pricing".to_string(), "hours".to_string()]);
        assert_eq!(a.sentiment, "positive");
        assert_eq!(a.question_count, 2);
        assert_eq!(
            a.summary,
            "The visitor asked 2 questions about pricing and opening hours; the avatar explained “Basic costs 10 dollars a month, Pro costs 30 dollars a month.” but could not answer 1 question."
        );
        let json = serde_json::to_value(&a).unwrap();
        assert!(json.get("questionCount").is_some());
    }

    #[test]
    fn topics_fall_back_to_frequent_words() {
        let turns = convo(&[
            ("Do you repair bicycles?", "I don't know."),
            (
                "My bicycle chain is rusty, can you look at the chain?",
                "I'm not sure.",
            ),
        ]);
        let a = analyse(&turns);
        assert_eq!(a.topics, ["warranty", "bicycle", "chain", "rusty"]);
        assert_eq!(a.question_count, 2);
    }

    #[test]
    fn sentiment_cases() {
        let s = |m: &[&str]| sentiment(m);
        assert_eq!(
            s(&["This is terrible and useless. I want a refund now!"]),
            "negative"
        );
        assert_eq!(s(&["I love it, thanks so much"]), "positive");
        assert_eq!(s(&["Good morning", "Where is the office?"]), "neutral");
        assert_eq!(s(&["That was not helpful"]), "negative");
        assert_eq!(s(&[]), "neutral");
    }

    #[test]
    fn questions_are_counted() {
        assert!(is_question("where are you"));
        assert!(is_question("Hi. Can I pay by card"));
        assert!(is_question("Pricing?"));
        assert!(!is_question("I want the Pro plan."));
        assert!(!is_question("Thanks!"));
        assert_eq!(analyse(&[]).question_count, 0);
        assert_eq!(analyse(&[]).summary, "The visitor did not say anything.");
        assert_eq!(
            analyse(&[Message::user("hello")]).summary,
            "The visitor only exchanged pleasantries."
        );
    }

    #[test]
    fn prompt_and_parsing() {
        let p = analysis_prompt(&convo(&[("What does Pro cost?", "30 dollars.")]));
        assert_eq!(p[0].role, Role::System);
        assert!(
            p[1].content
                .contains("Visitor: What does Pro cost?\nAvatar: 30 dollars.")
        );
        let parsed = parse_llm_analysis(
            "Sure! ```json\n{\"summary\": \"Asked about Pro.\", \"topics\": [\"Pricing\", \" pricing \", \"plans\"], \"sentiment\": \"Positive\"}\n```",
        );
        assert_eq!(
            parsed,
            Some((
                "Asked about Pro.".into(),
                vec!["pricing".into(), "plans".into()],
                "positive".into()
            ))
        );
        let parsed = parse_llm_analysis(
            "{\"Summary\": \"x\", \"topics\": \"a, b\", \"sentiment\": \"mixed\"}",
        );
        assert_eq!(
            parsed,
            Some(("x".into(), vec!["a".into(), "b".into()], "neutral".into()))
        );
        assert_eq!(parse_llm_analysis("no json {here"), None);
        assert_eq!(parse_llm_analysis("{\"topics\": []}"), None);
    }
}
