//! Turning a reply into what the avatar says aloud, and reading the mood it
//! should say it in. Models answer in markdown with links and emoji; a TTS
//! engine would read those out symbol by symbol.

use crate::text::{strip_heading, strip_list_marker, table_row, tokenize};

/// Plain text for TTS: markdown reduced to its words (headings, list items
/// and table rows become sentences so the voice pauses), links reduced to
/// their text, images, code blocks, URLs and emoji removed, whitespace
/// collapsed. Sentence punctuation stays, since it drives prosody.
pub fn speakable(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut parts: Vec<String> = Vec::new();
    let mut paragraph = String::new();
    let mut in_fence = false;
    let end_paragraph = |paragraph: &mut String, parts: &mut Vec<String>| {
        if !paragraph.trim().is_empty() {
            parts.push(paragraph.trim().to_string());
        }
        paragraph.clear();
    };
    for raw in text.lines() {
        let line = raw.trim();
        if line.starts_with("```") || line.starts_with("~~~") {
            end_paragraph(&mut paragraph, &mut parts);
            in_fence = !in_fence;
            continue;
        }
        // Code read aloud is noise; the surrounding prose explains it.
        if in_fence {
            continue;
        }
        if line.is_empty() || is_rule(line) || is_link_definition(line) {
            end_paragraph(&mut paragraph, &mut parts);
            continue;
        }
        let standalone = if line.starts_with('|') {
            Some(table_row(line).unwrap_or_default())
        } else if let Some(h) = strip_heading(line) {
            Some(h.to_string())
        } else {
            strip_list_marker(line).map(str::to_string)
        };
        match standalone {
            Some(s) => {
                end_paragraph(&mut paragraph, &mut parts);
                if !s.trim().is_empty() {
                    parts.push(s);
                }
            }
            None => {
                let line = line.trim_start_matches('>').trim_start();
                if !paragraph.is_empty() {
                    paragraph.push(' ');
                }
                paragraph.push_str(line);
            }
        }
    }
    end_paragraph(&mut paragraph, &mut parts);

    let spoken: Vec<String> = parts
        .iter()
        .map(|p| tidy(&strip_inline(p)))
        .filter(|p| p.chars().any(char::is_alphanumeric))
        .map(|p| terminate(&p))
        .collect();
    tidy(&spoken.join(" "))
}

/// The reply as shown in the transcript: markdown kept, line endings and
/// runs of blank lines normalised, trailing spaces and outer blank space
/// trimmed.
pub fn display_text(text: &str) -> String {
    let text = text.replace("\r\n", "\n").replace('\r', "\n");
    let mut out = String::new();
    let mut blank_run = 0;
    for line in text.lines() {
        let line = line.trim_end();
        if line.is_empty() {
            blank_run += 1;
            if blank_run > 1 {
                continue;
            }
        } else {
            blank_run = 0;
        }
        out.push_str(line);
        out.push('\n');
    }
    out.trim().to_string()
}

fn is_rule(line: &str) -> bool {
    let compact: String = line.chars().filter(|c| !c.is_whitespace()).collect();
    compact.len() >= 3
        && ["-", "*", "_", "="]
            .iter()
            .any(|m| compact.chars().all(|c| c.to_string() == *m))
}

/// `[1]: https://example.com "Title"`
fn is_link_definition(line: &str) -> bool {
    line.starts_with('[')
        && line.contains("]:")
        && line.find("]:").is_some_and(|i| !line[1..i].contains(']'))
}

/// Ends a block with a full stop unless it already ends a sentence, so
/// headings and list items are spoken as sentences.
fn terminate(s: &str) -> String {
    let s = s.trim_end_matches([',', ';', ':', ' ']);
    if s.ends_with(['.', '!', '?', '…']) {
        s.to_string()
    } else {
        format!("{s}.")
    }
}

fn strip_inline(s: &str) -> String {
    let chars: Vec<char> = s.chars().collect();
    let n = chars.len();
    let mut out = String::with_capacity(s.len());
    let mut i = 0;
    while i < n {
        let c = chars[i];
        let prev = if i > 0 { Some(chars[i - 1]) } else { None };
        let next = chars.get(i + 1).copied();
        match c {
            '\\' if next.is_some_and(|d| d.is_ascii_punctuation()) => {
                out.push(chars[i + 1]);
                i += 2;
                continue;
            }
            '!' if next == Some('[') => {
                // Images carry nothing worth saying.
                if let Some((_, end)) = link_at(&chars, i + 1) {
                    i = end;
                    continue;
                }
            }
            '[' => {
                if let Some((label, end)) = link_at(&chars, i) {
                    out.push_str(&label);
                    i = end;
                    continue;
                }
            }
            '<' => {
                if let Some(end) = tag_end(&chars, i) {
                    out.push(' ');
                    i = end;
                    continue;
                }
            }
            '`' => {
                i += 1;
                continue;
            }
            '*' | '_' => {
                let outer_prev = prev.is_none_or(|p| !p.is_alphanumeric());
                let outer_next = next.is_none_or(|d| !d.is_alphanumeric());
                let spaced =
                    prev.is_none_or(char::is_whitespace) && next.is_none_or(char::is_whitespace);
                // Emphasis sits on a word edge; snake_case and 5*3 do not.
                if (outer_prev || outer_next) && !spaced {
                    i += 1;
                    continue;
                }
            }
            '~' if next == Some('~') || prev == Some('~') => {
                i += 1;
                continue;
            }
            '~' if next.is_some_and(|d| d.is_ascii_digit()) => {
                out.push_str("about ");
                i += 1;
                continue;
            }
            _ => {}
        }
        if prev.is_none_or(|p| !p.is_alphanumeric())
            && let Some(end) = url_end(&chars, i)
        {
            i = end;
            continue;
        }
        if is_pictograph(c) {
            out.push(' ');
        } else {
            out.push(c);
        }
        i += 1;
    }
    out
}

/// `[label](target)` or `[label][ref]` starting at `start`: the label
/// (inline markup left for the caller) and the index after the link.
fn link_at(chars: &[char], start: usize) -> Option<(String, usize)> {
    if chars.get(start) != Some(&'[') {
        return None;
    }
    let mut depth = 0;
    let mut close = None;
    for (k, &c) in chars.iter().enumerate().skip(start) {
        match c {
            '[' => depth += 1,
            ']' => {
                depth -= 1;
                if depth == 0 {
                    close = Some(k);
                    break;
                }
            }
            '\n' => return None,
            _ => {}
        }
    }
    let close = close?;
    let (open, shut) = match chars.get(close + 1) {
        Some('(') => ('(', ')'),
        Some('[') => ('[', ']'),
        _ => return None,
    };
    let mut depth = 0;
    for (k, &c) in chars.iter().enumerate().skip(close + 1) {
        if c == open {
            depth += 1;
        } else if c == shut {
            depth -= 1;
            if depth == 0 {
                let label: String = chars[start + 1..close].iter().collect();
                let label = strip_inline(&label);
                return Some((label, k + 1));
            }
        }
    }
    None
}

/// HTML tags and `<https://…>` autolinks; a lone `<` as in "x < 3" is kept.
fn tag_end(chars: &[char], start: usize) -> Option<usize> {
    let first = *chars.get(start + 1)?;
    if !(first.is_ascii_alphabetic() || first == '/' || first == '!') {
        return None;
    }
    for (k, &c) in chars.iter().enumerate().skip(start + 1).take(400) {
        match c {
            '>' => return Some(k + 1),
            '<' | '\n' => return None,
            _ => {}
        }
    }
    None
}

/// A bare URL starting at `start`; trailing sentence punctuation is left
/// in place so the sentence still ends.
fn url_end(chars: &[char], start: usize) -> Option<usize> {
    let rest: String = chars[start..chars.len().min(start + 8)]
        .iter()
        .collect::<String>()
        .to_lowercase();
    if !(rest.starts_with("http://") || rest.starts_with("https://") || rest.starts_with("www.")) {
        return None;
    }
    let mut end = start;
    while end < chars.len() && !chars[end].is_whitespace() {
        end += 1;
    }
    while end > start
        && matches!(
            chars[end - 1],
            '.' | ',' | ';' | ':' | '!' | '?' | ')' | ']' | '"' | '\''
        )
    {
        end -= 1;
    }
    Some(end)
}

/// Emoji and other pictographs, plus the joiners and selectors that glue
/// them together.
fn is_pictograph(c: char) -> bool {
    matches!(
        u32::from(c),
        0x1F000..=0x1FBFF
            | 0x2600..=0x27BF
            | 0x2B00..=0x2BFF
            | 0x2190..=0x21FF
            | 0x2300..=0x23FF
            | 0x25A0..=0x25FF
            | 0x2022
            | 0x2139
            | 0x24C2
            | 0x3030
            | 0x303D
            | 0x3297
            | 0x3299
            | 0x200D
            | 0x20E3
            | 0xFE00..=0xFE0F
            | 0xE0020..=0xE007F
    )
}

/// Collapses whitespace and repairs the punctuation that removals leave
/// behind ("see ." → "see.", "()" → "", "!!!" → "!").
fn tidy(s: &str) -> String {
    let mut out = String::with_capacity(s.len());
    for c in s.chars() {
        let c = if c.is_whitespace() { ' ' } else { c };
        if c == ' ' && (out.is_empty() || out.ends_with(' ')) {
            continue;
        }
        if matches!(c, '.' | ',' | '!' | '?' | ';' | ':' | ')' | ']') && out.ends_with(' ') {
            out.pop();
        }
        if matches!(c, ')' | ']') && (out.ends_with('(') || out.ends_with('[')) {
            out.pop();
            continue;
        }
        if matches!(c, '.' | ',' | ';' | ':') && out.ends_with(['.', ',', ';', ':', '!', '?']) {
            // Keep the stronger mark; "..." is an ellipsis worth keeping.
            if c == '.' && out.ends_with('.') {
                out.push(c);
            } else if matches!(c, '.') && out.ends_with([',', ';', ':']) {
                out.pop();
                out.push('.');
            }
            continue;
        }
        if matches!(c, '!' | '?') && out.ends_with(c) {
            continue;
        }
        out.push(c);
    }
    let out = out.replace("....", "...");
    out.trim_matches(|c: char| c.is_whitespace() || matches!(c, ',' | ';' | ':'))
        .trim_start_matches(['.', '!', '?'])
        .trim()
        .to_string()
}

const ANGRY: &[&str] = &[
    "angry",
    "furious",
    "outrageous",
    "unacceptable",
    "infuriating",
    "annoyed",
    "annoying",
    "frustrated",
    "frustrating",
    "ridiculous",
    "how dare",
    "fed up",
    "mad at",
    "livid",
    "hate",
];
const SAD: &[&str] = &[
    "sorry",
    "unfortunately",
    "sadly",
    "afraid",
    "apologize",
    "apologise",
    "apologies",
    "regret",
    "sad",
    "disappointed",
    "disappointing",
    "too bad",
    "heartbroken",
    "condolences",
    "unable to",
];
const SURPRISED: &[&str] = &[
    "wow",
    "whoa",
    "woah",
    "oh my",
    "no way",
    "incredible",
    "unbelievable",
    "surprising",
    "surprised",
    "can't believe",
    "omg",
    "really?",
];
const HAPPY: &[&str] = &[
    "great",
    "glad",
    "happy",
    "wonderful",
    "excellent",
    "awesome",
    "love",
    "delighted",
    "welcome",
    "congratulations",
    "congrats",
    "fantastic",
    "perfect",
    "enjoy",
    "pleasure",
    "excited",
    "amazing",
    "brilliant",
    "yay",
    "thanks",
    "thank you",
    "nice",
    "good news",
    "hooray",
    "lovely",
    "hi",
    "hello",
    "hey",
];
const THINKING: &[&str] = &[
    "hmm",
    "let me think",
    "let me see",
    "let me check",
    "i wonder",
    "perhaps",
    "maybe",
    "not sure",
    "i think",
    "good question",
    "it depends",
    "depends on",
    "possibly",
    "thinking",
];
const NEGATIONS: &[&str] = &[
    "not", "never", "no", "isn't", "wasn't", "aren't", "don't", "doesn't", "didn't",
];

/// The mood to animate a reply with: `neutral`, `happy`, `sad`, `angry`,
/// `surprised` or `thinking`, from cue words and exclamation marks. A
/// negated happy word ("not great") counts as sad. Ties go to the stronger
/// feeling, in the order above reversed, so the result is deterministic.
pub fn detect_emotion(text: &str) -> &'static str {
    let lower = text.to_lowercase().replace(['’', '‘'], "'");
    let tokens: Vec<String> = tokenize(&lower)
        .into_iter()
        .map(|t| {
            if t.starts_with("hmm") || t == "hm" {
                "hmm".to_string()
            } else {
                t
            }
        })
        .collect();
    let padded = format!(" {} ", tokens.join(" "));
    let count = |cues: &[&str]| -> (f32, f32) {
        let mut plain = 0.0;
        let mut negated = 0.0;
        for cue in cues {
            if cue.ends_with('?') {
                if lower.contains(cue) {
                    plain += 1.0;
                }
                continue;
            }
            let needle = format!(" {cue} ");
            let mut from = 0;
            while let Some(pos) = padded[from..].find(&needle) {
                let at = from + pos;
                let before = padded[..at].split_whitespace().next_back().unwrap_or("");
                if NEGATIONS.contains(&before) {
                    negated += 1.0;
                } else {
                    plain += 1.0;
                }
                from = at + needle.len() - 1;
            }
        }
        (plain, negated)
    };
    let (angry, _) = count(ANGRY);
    let (sad, _) = count(SAD);
    let (surprised, _) = count(SURPRISED);
    let (happy, unhappy) = count(HAPPY);
    let (thinking, _) = count(THINKING);
    let exclaims = text.matches('!').count().min(2) as f32;
    let mut scores = [
        ("angry", angry * 2.0),
        ("sad", sad * 1.5 + unhappy * 1.5),
        ("surprised", surprised * 1.5),
        ("happy", happy),
        ("thinking", thinking),
    ];
    if exclaims > 0.0 {
        let target = if surprised > 0.0 {
            2
        } else if angry > 0.0 {
            0
        } else if sad + unhappy > 0.0 {
            1
        } else {
            3
        };
        scores[target].1 += 0.5 * exclaims;
    }
    let mut best = ("neutral", 0.0f32);
    for (name, score) in scores {
        if score > best.1 {
            best = (name, score);
        }
    }
    best.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strips_markdown_to_sentences() {
        let md = "# Our plans\n\n**Basic** costs *$10*/month and __Pro__ costs `$30`.\n\n- Email support\n- 2 seats\n\n```rust\nfn main() {}\n```\n> Quoted ~~old~~ text";
        assert_eq!(
            speakable(md),
            "Our plans. Basic costs $10/month and Pro costs $30. Email support. 2 seats. Quoted old text."
        );
        assert_eq!(
            speakable("1. First\n2. Second step!"),
            "First. Second step!"
        );
        assert_eq!(
            speakable("| Plan | Price |\n|---|---|\n| Pro | $30 |"),
            "Plan: Price. Pro: $30."
        );
        assert_eq!(
            speakable("snake_case and 5*3 stay, 5 * 3 too"),
            "snake_case and 5*3 stay, 5 * 3 too."
        );
    }

    #[test]
    fn links_images_and_urls_go() {
        assert_eq!(
            speakable(
                "See [our pricing page](https://acme.com/pricing) or ![logo](logo.png) the [docs][1].\n\n[1]: https://docs.acme.com"
            ),
            "See our pricing page or the docs."
        );
        assert_eq!(
            speakable("Visit https://acme.com/a?b=1. Or www.acme.com, or <https://x.y>!"),
            "Visit. Or, or!"
        );
        assert_eq!(
            speakable("Write to hi@acme.com (https://acme.com) today."),
            "Write to hi@acme.com today."
        );
        assert_eq!(
            speakable("Line<br>break and <b>bold</b>; 2 < 3"),
            "Line break and bold; 2 < 3."
        );
    }

    #[test]
    fn emoji_and_pictographs_go() {
        assert_eq!(
            speakable("Great news 🎉🎉! We're open ✅ today 👍🏽"),
            "Great news! We're open today."
        );
        assert_eq!(
            speakable("Family 👨‍👩‍👧 time ❤️ and flags 🇵🇹."),
            "Family time and flags."
        );
        assert_eq!(speakable("Wait... really?? Yes!!!"), "Wait... really? Yes!");
        assert_eq!(speakable("  \n\n  "), "");
        assert_eq!(
            speakable("Café — naïve, ~5 minutes"),
            "Café — naïve, about 5 minutes."
        );
    }

    #[test]
    fn display_text_keeps_markdown() {
        assert_eq!(
            display_text("\r\n  **Hi**  \r\n\r\n\r\n\r\n- a\n"),
            "**Hi**\n\n- a"
        );
    }

    #[test]
    fn detects_emotion_from_cues() {
        assert_eq!(detect_emotion("Great! I'm glad you asked."), "happy");
        assert_eq!(
            detect_emotion("Sorry, unfortunately we're closed on Sundays."),
            "sad"
        );
        assert_eq!(detect_emotion("Wow, that's a lot!"), "surprised");
        assert_eq!(detect_emotion("Hmm, let me think about that."), "thinking");
        assert_eq!(
            detect_emotion("This is unacceptable, I'm furious."),
            "angry"
        );
        assert_eq!(detect_emotion("Basic costs 10 dollars a month."), "neutral");
        assert_eq!(detect_emotion("That's not great."), "sad");
        assert_eq!(detect_emotion("We open at nine!"), "happy");
        assert_eq!(detect_emotion(""), "neutral");
    }
}
