//! Text utilities shared by the offline provider, the knowledge-base search
//! and the session analysis: tokenising, stemming, intent expansion, FTS5
//! query building, sentence splitting and overlap scoring.
//!
//! # Knowledge-base search contract
//!
//! The server's FTS5 table must index [`fts_document`] of each chunk (not the
//! raw text), with the default `unicode61` tokenizer and no `porter` stage.
//! [`fts5_query`] then emits stems with a prefix `*`, so `"locat"*` finds a
//! chunk that said "located" or "locations": both sides went through the same
//! Snowball stemmer, and the prefix absorbs what the stemmer leaves unequal.

use std::collections::HashSet;
use std::sync::LazyLock;

use rust_stemmers::{Algorithm, Stemmer};

/// Weight of a term the visitor actually used.
pub const ORIGINAL_WEIGHT: f32 = 1.0;
/// Weight of a term only reached through a concept group.
pub const RELATED_WEIGHT: f32 = 0.6;

static STEMMER: LazyLock<Stemmer> = LazyLock::new(|| Stemmer::create(Algorithm::English));

fn is_currency(c: char) -> bool {
    matches!(c, '$' | '€' | '£' | '¥')
}

fn normalise_apostrophe(c: char) -> char {
    match c {
        '\u{2019}' | '\u{2018}' | '\u{02BC}' | '`' => '\'',
        _ => c,
    }
}

/// Lowercase words, numbers (`10`, `3.5`, `1,000`), money (`$30`, `€9.99`)
/// and percentages (`30%`); everything else separates tokens. Internal
/// apostrophes stay so contractions can be recognised as stopwords.
pub fn tokenize(text: &str) -> Vec<String> {
    let chars: Vec<char> = text.chars().map(normalise_apostrophe).collect();
    let n = chars.len();
    let mut out = Vec::new();
    let mut i = 0;
    while i < n {
        let c = chars[i];
        if is_currency(c) {
            if i + 1 < n && chars[i + 1].is_ascii_digit() {
                let mut tok = c.to_string();
                i += 1;
                read_word(&chars, &mut i, &mut tok);
                out.push(tok);
            } else {
                out.push(c.to_string());
                i += 1;
            }
        } else if c.is_alphanumeric() {
            let mut tok = String::new();
            read_word(&chars, &mut i, &mut tok);
            out.push(tok);
        } else {
            i += 1;
        }
    }
    out
}

fn read_word(chars: &[char], i: &mut usize, tok: &mut String) {
    let n = chars.len();
    while *i < n {
        let c = chars[*i];
        let next = chars.get(*i + 1).copied();
        let last = tok.chars().last();
        if c.is_alphanumeric() {
            tok.extend(c.to_lowercase());
            *i += 1;
        } else if c == '\''
            && last.is_some_and(char::is_alphabetic)
            && next.is_some_and(char::is_alphabetic)
        {
            tok.push('\'');
            *i += 1;
        } else if c == '.'
            && last.is_some_and(|l| l.is_ascii_digit())
            && next.is_some_and(|d| d.is_ascii_digit())
        {
            tok.push('.');
            *i += 1;
        } else if c == ','
            && last.is_some_and(|l| l.is_ascii_digit())
            && (1..=3).all(|k| chars.get(*i + k).is_some_and(char::is_ascii_digit))
            && !chars.get(*i + 4).is_some_and(char::is_ascii_digit)
        {
            // Only a thousands separator ("1,000"), never a list ("10,20").
            tok.push(',');
            *i += 1;
        } else {
            break;
        }
    }
    if *i < n && chars[*i] == '%' && tok.chars().last().is_some_and(|l| l.is_ascii_digit()) {
        tok.push('%');
        *i += 1;
    }
}

/// Whether a token carries a number (a price, a percentage, a time like `10am`).
pub fn is_numeric(token: &str) -> bool {
    token.chars().any(|c| c.is_ascii_digit())
}

/// English Snowball stem of one lowercase token; numbers, money and other
/// non-words are returned unchanged.
pub fn stem(word: &str) -> String {
    let lower = word.to_lowercase();
    if lower.is_empty() || !lower.chars().all(|c| c.is_alphabetic() || c == '\'') {
        return lower;
    }
    STEMMER.stem(&lower).into_owned()
}

#[rustfmt::skip]
const STOPWORDS: &[&str] = &[
    "a", "about", "above", "after", "again", "against", "all", "also", "am", "an", "and", "any", "anything", "are",
    "aren't", "as", "at", "be", "because", "been", "before", "being", "below", "between", "both", "but", "by",
    "can", "can't", "cannot", "could", "couldn't", "did", "didn't", "do", "does", "doesn't", "doing", "don't",
    "down", "during", "each", "else", "etc", "even", "ever", "every", "few", "for", "from", "further", "get",
    "gets", "getting", "give", "go", "going", "got", "had", "hadn't", "has", "hasn't", "have", "haven't", "having",
    "he", "he'd", "he'll", "he's", "hello", "her", "here", "here's", "hers", "herself", "hey", "hi", "him",
    "himself", "his", "how", "how's", "i", "i'd", "i'll", "i'm", "i've", "if", "in", "into", "is", "isn't", "it",
    "it's", "its", "itself", "just", "know", "let", "let's", "like", "many", "may", "me", "might", "more", "most",
    "much", "must", "mustn't", "my", "myself", "need", "no", "nor", "not", "now", "of", "off", "ok", "okay", "on",
    "once", "one", "ones", "only", "or", "other", "ought", "our", "ours", "ourselves", "out", "over", "own",
    "please", "really", "same", "say", "shall", "shan't", "she", "she'd", "she'll", "she's", "should", "shouldn't",
    "so", "some", "something", "such", "sure", "tell", "than", "thank", "thanks", "that", "that's", "the", "their",
    "theirs", "them", "themselves", "then", "there", "there's", "these", "they", "they'd", "they'll", "they're",
    "they've", "thing", "things", "this", "those", "through", "to", "too", "under", "until", "up", "us", "use",
    "very", "want", "was", "wasn't", "way", "we", "we'd", "we'll", "we're", "we've", "were", "weren't", "what",
    "what's", "when", "when's", "where", "where's", "which", "while", "who", "who's", "whom", "why", "why's",
    "will", "with", "won't", "would", "wouldn't", "yeah", "yes", "yet", "you", "you'd", "you'll", "you're",
    "you've", "your", "yours", "yourself", "yourselves",
];

static STOPWORD_SET: LazyLock<HashSet<&'static str>> =
    LazyLock::new(|| STOPWORDS.iter().copied().collect());

/// Function words and conversational filler ("please", "tell", "know") that
/// say nothing about what the visitor wants to know.
pub fn is_stopword(word: &str) -> bool {
    let w = word.to_lowercase();
    let w = w.replace(['\u{2019}', '\u{2018}'], "'");
    STOPWORD_SET.contains(w.as_str())
}

/// Stems of the meaningful tokens of `text`, first occurrence first.
pub fn content_terms(text: &str) -> Vec<String> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for tok in tokenize(text) {
        if is_stopword(&tok) || is_noise(&tok) {
            continue;
        }
        let s = stem(&tok);
        if seen.insert(s.clone()) {
            out.push(s);
        }
    }
    out
}

// A lone letter is almost always debris from splitting ("e-mail", "Plan B").
fn is_noise(tok: &str) -> bool {
    let mut chars = tok.chars();
    matches!((chars.next(), chars.next()), (Some(c), None) if c.is_alphabetic())
}

/// Intents visitors ask businesses about. Words that are also stopwords
/// (`where`, `when`, `much`) and phrases (`how much`) only trigger their
/// group; they are never searched for themselves.
#[rustfmt::skip]
const CONCEPTS: &[(&str, &[&str])] = &[
    ("pricing", &[
        "price", "prices", "pricing", "cost", "costs", "fee", "fees", "charge", "charges", "dollar", "dollars",
        "$", "€", "£", "usd", "eur", "euro", "euros", "pay", "plan", "plans", "tier", "tiers", "subscription",
        "month", "monthly", "year", "yearly", "annual", "annually", "cheap", "cheaper", "expensive", "afford",
        "affordable", "budget", "quote", "rate", "rates", "how much",
    ]),
    ("hours", &[
        "open", "opening", "opens", "close", "closed", "closing", "closes", "hours", "hour", "time", "times",
        "weekend", "weekends", "weekday", "weekdays", "monday", "tuesday", "wednesday", "thursday", "friday",
        "saturday", "sunday", "today", "tomorrow", "tonight", "holiday", "holidays", "schedule", "when",
    ]),
    ("location", &[
        "address", "located", "location", "locations", "directions", "direction", "office", "offices", "store",
        "stores", "shop", "shops", "branch", "branches", "map", "parking", "city", "street", "near", "nearby",
        "visit", "headquarters", "country", "where",
    ]),
    ("contact", &[
        "email", "mail", "phone", "telephone", "call", "reach", "contact", "support", "helpdesk", "talk", "speak",
        "human", "agent", "representative", "whatsapp",
    ]),
    ("refunds", &[
        "refund", "refunds", "refunded", "return", "returns", "returning", "money", "exchange", "reimburse",
        "reimbursement", "guarantee",
    ]),
    ("shipping", &[
        "ship", "shipping", "shipped", "shipment", "delivery", "deliver", "delivered", "courier", "track",
        "tracking", "parcel", "dispatch", "dispatched", "postage", "post", "arrive", "arrival", "international",
        "worldwide", "freight", "order", "orders",
    ]),
    ("booking", &[
        "book", "booking", "bookings", "appointment", "appointments", "reserve", "reservation", "reservations",
        "slot", "slots", "availability", "available", "meeting", "consultation", "session", "sessions", "schedule",
    ]),
    ("account", &[
        "account", "accounts", "login", "log", "signin", "sign", "signup", "password", "passwords", "register",
        "registration", "username", "profile", "reset", "locked", "verify", "verification",
    ]),
    ("features", &[
        "feature", "features", "product", "products", "function", "functionality", "capability", "capabilities",
        "integrate", "integration", "integrations", "include", "includes", "included", "service", "services",
        "tool", "tools", "option", "options",
    ]),
    ("warranty", &[
        "warranty", "warranties", "guarantee", "repair", "repairs", "broken", "defect", "defective", "damage",
        "damaged", "fix", "faulty", "replacement", "replace",
    ]),
    ("payment", &[
        "payment", "payments", "pay", "paying", "card", "cards", "credit", "debit", "visa", "mastercard", "paypal",
        "invoice", "invoices", "bank", "transfer", "cash", "checkout", "billing", "bill", "installment",
        "instalment", "crypto", "bitcoin",
    ]),
    ("cancellation", &[
        "cancel", "cancels", "cancelled", "canceled", "cancellation", "unsubscribe", "terminate", "termination",
        "quit", "stop", "downgrade", "pause",
    ]),
    ("privacy", &[
        "privacy", "private", "data", "secure", "security", "gdpr", "encrypt", "encrypted", "encryption",
        "personal", "cookie", "cookies", "confidential", "delete",
    ]),
    ("company", &[
        "company", "team", "founder", "founders", "founded", "history", "story", "mission", "owner", "staff",
        "values",
    ]),
    ("careers", &[
        "job", "jobs", "career", "careers", "hiring", "hire", "vacancy", "vacancies", "position", "positions",
        "apply", "application", "internship", "recruit", "recruiting", "salary",
    ]),
    ("discounts", &[
        "discount", "discounts", "coupon", "coupons", "promo", "promotion", "code", "sale", "sales", "offer",
        "offers", "deal", "deals", "voucher", "student", "cheaper",
    ]),
    ("menu", &[
        "menu", "food", "dish", "dishes", "vegan", "vegetarian", "gluten", "allergy", "allergies", "allergen",
        "drink", "drinks", "breakfast", "lunch", "dinner", "meal", "meals",
    ]),
    ("stock", &[
        "stock", "inventory", "available", "availability", "size", "sizes", "colour", "color", "colours", "colors",
        "variant", "variants", "model", "models", "sold",
    ]),
    // Internal: only tells the scorer that numbers in an answer matter.
    ("quantity", &[
        "number", "amount", "quantity", "total", "count", "capacity", "many", "much", "how many",
    ]),
];

/// Groups that describe what the visitor wanted rather than how they asked.
const INTERNAL_CONCEPTS: &[&str] = &["quantity"];

struct Member {
    stem: String,
    cue_only: bool,
}

struct Lexicon {
    groups: Vec<(&'static str, Vec<Member>)>,
}

impl Lexicon {
    fn groups_of<'a>(&'a self, term: &'a str) -> impl Iterator<Item = usize> + 'a {
        self.groups
            .iter()
            .enumerate()
            .filter(move |(_, (_, members))| members.iter().any(|m| m.stem == term))
            .map(|(i, _)| i)
    }

    fn is_cue_only(&self, term: &str) -> bool {
        self.groups
            .iter()
            .any(|(_, members)| members.iter().any(|m| m.cue_only && m.stem == term))
    }

    fn index(&self, name: &str) -> Option<usize> {
        self.groups.iter().position(|(n, _)| *n == name)
    }
}

static LEXICON: LazyLock<Lexicon> = LazyLock::new(|| Lexicon {
    groups: CONCEPTS
        .iter()
        .map(|(name, words)| {
            let mut members: Vec<Member> = Vec::new();
            for w in *words {
                let cue_only = w.contains(' ') || is_stopword(w);
                let s = if w.contains(' ') {
                    (*w).to_string()
                } else {
                    stem(w)
                };
                if !members.iter().any(|m| m.stem == s) {
                    members.push(Member { stem: s, cue_only });
                }
            }
            (*name, members)
        })
        .collect(),
});

/// Names of every concept group, in lexicon order (internal ones excluded).
pub fn concept_names() -> Vec<&'static str> {
    CONCEPTS
        .iter()
        .map(|(n, _)| *n)
        .filter(|n| !INTERNAL_CONCEPTS.contains(n))
        .collect()
}

/// Expands stemmed terms (as [`content_terms`] returns them) with the other
/// members of every concept group they belong to: the terms themselves weigh
/// [`ORIGINAL_WEIGHT`], the rest [`RELATED_WEIGHT`]. A term in two groups
/// pulls in both; a term reached twice keeps its highest weight.
pub fn expand_terms(terms: &[String]) -> Vec<(String, f32)> {
    expand(terms)
}

fn expand(terms: &[String]) -> Vec<(String, f32)> {
    let lex = &*LEXICON;
    let mut out: Vec<(String, f32)> = Vec::new();
    let mut groups: Vec<usize> = Vec::new();
    for t in terms {
        if !lex.is_cue_only(t) && !is_stopword(t) {
            push_weighted(&mut out, t, ORIGINAL_WEIGHT);
        }
        for g in lex.groups_of(t) {
            if !groups.contains(&g) {
                groups.push(g);
            }
        }
    }
    for g in groups {
        for m in lex.groups[g].1.iter().filter(|m| !m.cue_only) {
            push_weighted(&mut out, &m.stem, RELATED_WEIGHT);
        }
    }
    out
}

fn push_weighted(out: &mut Vec<(String, f32)>, term: &str, weight: f32) {
    if let Some(e) = out.iter_mut().find(|(t, _)| t == term) {
        e.1 = e.1.max(weight);
    } else {
        out.push((term.to_string(), weight));
    }
}

/// Content terms of a question plus the intent cues that stopwords carry
/// ("where" → location, "how much" → pricing), expanded with
/// [`expand_terms`].
pub fn question_terms(question: &str) -> Vec<(String, f32)> {
    expand(&question_stems(question))
}

fn question_stems(question: &str) -> Vec<String> {
    let lex = &*LEXICON;
    let tokens = tokenize(question);
    let mut terms: Vec<String> = Vec::new();
    let mut add = |t: String| {
        if !terms.contains(&t) {
            terms.push(t);
        }
    };
    for (i, tok) in tokens.iter().enumerate() {
        if tok == "how"
            && let Some(next) = tokens.get(i + 1)
        {
            let phrase = format!("how {next}");
            if lex.is_cue_only(&phrase) {
                add(phrase);
            }
        }
        if is_stopword(tok) {
            if lex.is_cue_only(tok) {
                add(tok.clone());
            }
        } else if !is_noise(tok) {
            add(stem(tok));
        }
    }
    terms
}

/// Concept groups a text touches, in order of first mention.
pub fn concepts(text: &str) -> Vec<&'static str> {
    let lex = &*LEXICON;
    let mut out = Vec::new();
    for t in question_stems(text) {
        for g in lex.groups_of(&t) {
            let name = lex.groups[g].0;
            if !INTERNAL_CONCEPTS.contains(&name) && !out.contains(&name) {
                out.push(name);
            }
        }
    }
    out
}

/// What the FTS5 table indexes in place of a chunk's raw text: its stemmed
/// tokens, stopwords included so phrase positions stay meaningful.
pub fn fts_document(text: &str) -> String {
    tokenize(text)
        .iter()
        .map(|t| stem(t))
        .collect::<Vec<_>>()
        .join(" ")
}

/// Most terms one MATCH expression carries; enough for two or three intents.
const MAX_FTS_TERMS: usize = 64;

/// An FTS5 `MATCH` expression for a visitor's question: the expanded stems
/// as quoted strings OR-ed together, alphabetic ones with a prefix `*`
/// (see the module docs for the matching `fts_document`). Every term is
/// reduced to letters and digits and quoted, so nothing the visitor types can
/// become an FTS operator, column filter or syntax error. `None` when no
/// searchable term is left.
pub fn fts5_query(question: &str) -> Option<String> {
    let mut parts: Vec<String> = Vec::new();
    for (term, _) in question_terms(question) {
        let cleaned: String = term
            .chars()
            .map(|c| if c.is_alphanumeric() { c } else { ' ' })
            .collect::<String>()
            .split_whitespace()
            .collect::<Vec<_>>()
            .join(" ");
        if cleaned.is_empty() {
            continue;
        }
        // Numbers stay exact: "10"* would also find "100" and "10th".
        let prefix = cleaned.chars().count() >= 3 && cleaned.chars().all(char::is_alphabetic);
        let quoted = format!(
            "\"{}\"{}",
            cleaned.replace('"', "\"\""),
            if prefix { "*" } else { "" }
        );
        if !parts.contains(&quoted) {
            parts.push(quoted);
        }
        if parts.len() == MAX_FTS_TERMS {
            break;
        }
    }
    (!parts.is_empty()).then(|| parts.join(" OR "))
}

// Words after which a full stop never ends a sentence.
const ABBREVIATIONS: &[&str] = &[
    "e.g", "i.e", "eg", "ie", "dr", "mr", "mrs", "ms", "prof", "st", "jr", "sr", "vs", "approx",
    "fig", "cf", "ca", "mt", "ave", "dept", "no", "nr", "tel",
];

/// Splits text into sentences. Full stops inside "e.g.", "Dr.", "$10.50",
/// "3.5" or URLs, ellipses, and stops followed by a lowercase word do not
/// end a sentence; blank lines, headings and list items always do. Markdown
/// list markers and heading hashes are dropped, code blocks skipped.
pub fn sentences(text: &str) -> Vec<String> {
    let mut out = Vec::new();
    for block in blocks(text) {
        split_block(&block, &mut out);
    }
    out
}

fn blocks(text: &str) -> Vec<String> {
    let mut blocks = Vec::new();
    let mut cur = String::new();
    let mut in_fence = false;
    let flush = |cur: &mut String, blocks: &mut Vec<String>| {
        let t = cur.trim();
        if !t.is_empty() {
            blocks.push(t.to_string());
        }
        cur.clear();
    };
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            flush(&mut cur, &mut blocks);
            in_fence = !in_fence;
            continue;
        }
        if in_fence {
            continue;
        }
        if line.is_empty() || is_rule(line) {
            flush(&mut cur, &mut blocks);
            continue;
        }
        if line.starts_with('|') {
            flush(&mut cur, &mut blocks);
            if let Some(row) = table_row(line) {
                blocks.push(row);
            }
            continue;
        }
        if let Some(heading) = strip_heading(line) {
            flush(&mut cur, &mut blocks);
            if !heading.is_empty() {
                blocks.push(heading.to_string());
            }
            continue;
        }
        if let Some(item) = strip_list_marker(line) {
            flush(&mut cur, &mut blocks);
            cur.push_str(item);
            continue;
        }
        let line = line.strip_prefix('>').map(str::trim_start).unwrap_or(line);
        if !cur.is_empty() {
            cur.push(' ');
        }
        cur.push_str(line);
    }
    flush(&mut cur, &mut blocks);
    blocks
}

fn is_rule(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3
        && (compact.chars().all(|c| c == '-')
            || compact.chars().all(|c| c == '*')
            || compact.chars().all(|c| c == '_'))
}

/// `| Basic | $10 |` reads as "Basic: $10"; separator rows vanish.
pub(crate) fn table_row(line: &str) -> Option<String> {
    let cells: Vec<&str> = line
        .trim()
        .trim_matches('|')
        .split('|')
        .map(str::trim)
        .filter(|c| !c.is_empty())
        .collect();
    if cells.is_empty()
        || cells
            .iter()
            .all(|c| c.chars().all(|ch| matches!(ch, '-' | ':' | ' ')))
    {
        return None;
    }
    Some(if cells.len() == 2 {
        format!("{}: {}", cells[0], cells[1])
    } else {
        cells.join(", ")
    })
}

pub(crate) fn strip_heading(line: &str) -> Option<&str> {
    let hashes = line.chars().take_while(|&c| c == '#').count();
    if (1..=6).contains(&hashes) {
        let rest = &line[hashes..];
        if rest.is_empty() || rest.starts_with(' ') {
            return Some(rest.trim().trim_end_matches('#').trim());
        }
    }
    None
}

pub(crate) fn strip_list_marker(line: &str) -> Option<&str> {
    for m in ["- ", "* ", "+ ", "• ", "– ", "· "] {
        if let Some(rest) = line.strip_prefix(m) {
            let rest = rest.trim_start();
            // A task-list box is markup too.
            let rest = ["[ ] ", "[x] ", "[X] "]
                .iter()
                .find_map(|b| rest.strip_prefix(b))
                .unwrap_or(rest);
            return Some(rest.trim_start());
        }
    }
    let digits = line.chars().take_while(char::is_ascii_digit).count();
    if (1..=3).contains(&digits) {
        let rest = &line[digits..];
        if let Some(r) = rest.strip_prefix(". ").or_else(|| rest.strip_prefix(") ")) {
            return Some(r.trim_start());
        }
    }
    None
}

fn is_terminator(c: char) -> bool {
    matches!(c, '.' | '!' | '?' | '…')
}

fn is_closer(c: char) -> bool {
    matches!(c, '"' | '\'' | '”' | '’' | ')' | ']' | '»')
}

fn split_block(block: &str, out: &mut Vec<String>) {
    let chars: Vec<char> = block.chars().collect();
    let n = chars.len();
    let mut start = 0;
    let mut i = 0;
    let push = |from: usize, to: usize, out: &mut Vec<String>| {
        let s: String = chars[from..to].iter().collect();
        let s = s.trim();
        if !s.is_empty() {
            out.push(s.to_string());
        }
    };
    while i < n {
        if !is_terminator(chars[i]) {
            i += 1;
            continue;
        }
        let run_start = i;
        while i < n && is_terminator(chars[i]) {
            i += 1;
        }
        let run: String = chars[run_start..i].iter().collect();
        while i < n && is_closer(chars[i]) {
            i += 1;
        }
        if i >= n || !chars[i].is_whitespace() {
            continue;
        }
        let mut j = i;
        while j < n && chars[j].is_whitespace() {
            j += 1;
        }
        if j >= n {
            break;
        }
        let ellipsis = run.contains("..") || run.contains('…');
        let abbreviation = run == "." && is_abbreviation(&word_before(&chars, run_start));
        if !(ellipsis || abbreviation || chars[j].is_lowercase()) {
            push(start, i, out);
            start = j;
            i = j;
        }
    }
    push(start, n, out);
}

fn word_before(chars: &[char], end: usize) -> String {
    let mut s = end;
    while s > 0 && !chars[s - 1].is_whitespace() {
        s -= 1;
    }
    chars[s..end]
        .iter()
        .collect::<String>()
        .trim_start_matches(|c: char| !c.is_alphanumeric())
        .to_lowercase()
}

fn is_abbreviation(word: &str) -> bool {
    if ABBREVIATIONS.contains(&word) {
        return true;
    }
    // "We close at 6 p.m. On Sundays…": times end sentences as often as not.
    if word == "a.m" || word == "p.m" {
        return false;
    }
    // Initials ("J. Smith") and dotted acronyms ("U.S").
    let mut chars = word.chars();
    match (chars.next(), chars.next()) {
        (Some(c), None) => c.is_alphabetic(),
        _ => {
            word.contains('.')
                && word
                    .split('.')
                    .all(|p| p.chars().count() == 1 && p.chars().all(char::is_alphabetic))
        }
    }
}

/// Stems of the pricing and quantity groups, used to decide whether numbers
/// in a sentence are part of an answer.
static QUANTITATIVE: LazyLock<HashSet<String>> = LazyLock::new(|| {
    let lex = &*LEXICON;
    ["pricing", "quantity"]
        .iter()
        .filter_map(|n| lex.index(n))
        .flat_map(|g| lex.groups[g].1.iter().map(|m| m.stem.clone()))
        .collect()
});

/// Whether (expanded) question terms ask for an amount: a price, a number.
pub fn is_quantitative(terms: &[(String, f32)]) -> bool {
    terms
        .iter()
        .any(|(t, _)| is_numeric(t) || t.starts_with(is_currency) || QUANTITATIVE.contains(t))
}

/// Related matches add evidence but several of them must not outweigh the
/// words the visitor actually used.
const RELATED_CAP: f32 = 1.2;
/// What a number is worth in a sentence that answers "how much".
const NUMBER_BONUS: f32 = 0.35;
/// Terms at or above this weight count as asked for (originals and, for
/// follow-ups, carried-over originals are below it on purpose).
const PRIMARY_WEIGHT: f32 = 0.99;

/// How well a sentence answers question terms from [`question_terms`] /
/// [`expand_terms`], in [0, 1): weighted overlap of stems, normalised by how
/// many terms the visitor used (damped, so long questions are not punished
/// for every word a sentence lacks) and squashed smoothly so better matches
/// always score higher. Sentences holding numbers get a bonus when the
/// question asks how much; a sentence matched by a single related term only
/// is discounted, since that is weak evidence.
pub fn overlap_score(question_terms: &[(String, f32)], sentence: &str) -> f32 {
    let tokens = tokenize(sentence);
    let stems: HashSet<String> = tokens
        .iter()
        .filter(|t| !is_stopword(t) && !is_noise(t))
        .map(|t| stem(t))
        .collect();
    let mut primary = 0.0f32;
    let mut related = 0.0f32;
    let mut asked = 0.0f32;
    for (term, w) in question_terms {
        if *w >= PRIMARY_WEIGHT {
            asked += *w;
        }
        if stems.contains(term) {
            if *w >= PRIMARY_WEIGHT {
                primary += *w;
            } else {
                related += *w;
            }
        }
    }
    let related = related.min(RELATED_CAP);
    let mut raw = primary + related;
    if raw <= 0.0 {
        return 0.0;
    }
    if tokens.iter().any(|t| is_numeric(t)) && is_quantitative(question_terms) {
        raw += NUMBER_BONUS;
    }
    let norm = if asked <= 1.0 {
        1.0
    } else {
        1.0 + 0.5 * (asked - 1.0)
    };
    let mut score = 1.0 - (-1.6 * raw / norm).exp();
    if primary <= 0.0 && related < RELATED_WEIGHT * 1.5 {
        score *= 0.75;
    }
    score.clamp(0.0, 1.0)
}

/// FNV-1a: a stable hash for choosing among phrasings (std's hasher may
/// change between releases, and replies should not).
pub fn stable_hash(text: &str) -> u64 {
    let mut h: u64 = 0xcbf2_9ce4_8422_2325;
    for b in text.bytes() {
        h ^= u64::from(b);
        h = h.wrapping_mul(0x0100_0000_01b3);
    }
    h
}

#[cfg(test)]
mod tests {
    use super::*;

    fn terms(ws: &[&str]) -> Vec<String> {
        ws.iter().map(|w| w.to_string()).collect()
    }

    #[test]
    fn tokenize_keeps_numbers_money_and_percentages() {
        assert_eq!(
            tokenize("Pro costs $30 (30% off), or €9.99 — 1,000 users; 3.5 stars. What's new?"),
            terms(&[
                "pro", "costs", "$30", "30%", "off", "or", "€9.99", "1,000", "users", "3.5",
                "stars", "what's", "new"
            ])
        );
        assert_eq!(tokenize("10,20 and 10."), terms(&["10", "20", "and", "10"]));
        assert_eq!(tokenize("It’s $ only"), terms(&["it's", "$", "only"]));
        assert!(tokenize("  ...  ").is_empty());
    }

    #[test]
    fn stem_is_snowball_and_leaves_numbers_alone() {
        assert_eq!(stem("pricing"), "price");
        assert_eq!(stem("Costs"), "cost");
        assert_eq!(stem("located"), stem("location"));
        assert_eq!(stem("$30"), "$30");
        assert_eq!(stem("3.5"), "3.5");
    }

    #[test]
    fn content_terms_drop_stopwords_and_dedupe() {
        assert_eq!(
            content_terms("What are your pricing plans? Plans and prices!"),
            terms(&["price", "plan"])
        );
        assert_eq!(
            content_terms("Can you tell me what's up?"),
            Vec::<String>::new()
        );
        assert!(is_stopword("What’s"));
        assert!(!is_stopword("price"));
    }

    #[test]
    fn expansion_weights_originals_over_related() {
        let e = expand_terms(&content_terms("pricing"));
        let w = |t: &str| e.iter().find(|(x, _)| x == t).map(|(_, w)| *w);
        assert_eq!(w("price"), Some(ORIGINAL_WEIGHT));
        assert_eq!(w("cost"), Some(RELATED_WEIGHT));
        assert_eq!(w("dollar"), Some(RELATED_WEIGHT));
        assert_eq!(w("month"), Some(RELATED_WEIGHT));
        assert_eq!(w("lisbon"), None);
        // Cues trigger a group without being searched for.
        let q = question_terms("Where are you?");
        assert!(q.iter().any(|(t, _)| t == "address"));
        assert!(!q.iter().any(|(t, _)| t == "where"));
        let q = question_terms("How much is Pro?");
        assert!(q.iter().any(|(t, w)| t == "pro" && *w == ORIGINAL_WEIGHT));
        assert!(q.iter().any(|(t, _)| t == "cost"));
        assert!(!q.iter().any(|(t, _)| t.contains(' ')));
    }

    #[test]
    fn lexicon_is_large_and_consistently_stemmed() {
        assert!(concept_names().len() >= 15);
        // Members are matched against stems, so inflections must land together.
        let pricing = &LEXICON.groups[LEXICON.index("pricing").unwrap()].1;
        for w in ["prices", "costs", "monthly", "dollars", "subscriptions"] {
            assert!(pricing.iter().any(|m| m.stem == stem(w)), "{w}");
        }
        assert_eq!(
            concepts("How much is it and when do you open?"),
            vec!["pricing", "hours"]
        );
        assert_eq!(concepts("Where is your office?"), vec!["location"]);
        assert!(concepts("hello there").is_empty());
    }

    #[test]
    fn fts_query_is_quoted_prefixed_and_injection_safe() {
        let q = fts5_query("What are your pricing plans?").unwrap();
        assert!(q.starts_with("\"price\"* OR \"plan\"*"), "{q}");
        assert!(q.contains("\"cost\"*"));
        let q = fts5_query("price\" OR title:* NEAR(a b) -x ^y {col}: AND NOT").unwrap();
        for part in q.split(" OR ") {
            assert!(part.starts_with('"'), "{part}");
            let inner = part.trim_end_matches('*');
            assert!(inner.ends_with('"'), "{part}");
            assert!(!inner[1..inner.len() - 1].contains('"'));
            assert!(
                inner[1..inner.len() - 1]
                    .chars()
                    .all(|c| c.is_alphanumeric() || c == ' ')
            );
        }
        assert!(fts5_query("what is the?").is_none());
        assert!(fts5_query("\"*()").is_none());
        assert_eq!(
            fts5_query("$30 plan").unwrap().split(" OR ").next(),
            Some("\"30\"")
        );
        assert_eq!(
            fts_document("Basic costs $10 a month."),
            "basic cost $10 a month"
        );
    }

    #[test]
    fn sentences_respect_abbreviations_numbers_urls_and_ellipses() {
        let s = sentences(
            "Basic costs $10.50 a month, e.g. for 3.5 users. Dr. Smith runs it... really well! See https://x.com/a.b?c=1 now. Done?",
        );
        assert_eq!(
            s,
            vec![
                "Basic costs $10.50 a month, e.g. for 3.5 users.",
                "Dr. Smith runs it... really well!",
                "See https://x.com/a.b?c=1 now.",
                "Done?"
            ]
        );
        let s = sentences(
            "## Plans\n- Basic: $10\n- Pro: $30\n\n1. First step.\nstill first\n```\ncode();\n```\n| Plan | Price |\n|---|---|\n| Pro | $30 |",
        );
        assert_eq!(
            s,
            vec![
                "Plans",
                "Basic: $10",
                "Pro: $30",
                "First step. still first",
                "Plan: Price",
                "Pro: $30"
            ]
        );
        assert_eq!(
            sentences("He said \"yes.\" Then left."),
            vec!["He said \"yes.\"", "Then left."]
        );
        assert!(sentences("   ").is_empty());
    }

    #[test]
    fn overlap_prefers_answering_sentences() {
        let q = question_terms("What are your pricing plans?");
        let a = overlap_score(
            &q,
            "Basic costs 10 dollars a month, Pro costs 30 dollars a month.",
        );
        let b = overlap_score(&q, "Both plans include email support.");
        let c = overlap_score(&q, "Our office is in Lisbon.");
        assert!(a > b && b > c, "{a} {b} {c}");
        assert_eq!(c, 0.0);
        assert!((0.0..=1.0).contains(&a));
        let loc = question_terms("Where are you located?");
        assert!(overlap_score(&loc, "Our office is in Lisbon.") > 0.4);
        // Numbers only help when they come with a match.
        assert_eq!(overlap_score(&q, "We have 12 cats."), 0.0);
        assert!(is_quantitative(&question_terms("How many seats?")));
        assert!(!is_quantitative(&question_terms("Where is the office?")));
    }
}
