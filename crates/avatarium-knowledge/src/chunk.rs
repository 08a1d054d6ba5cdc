use serde::{Deserialize, Serialize};

use crate::normalize_text;

/// The chunk size [`chunk`] uses when given `0`.
pub const DEFAULT_CHUNK_CHARS: usize = 800;

/// Share of the target size repeated at the start of the next chunk, so a
/// fact that straddles a boundary is still retrievable from one chunk.
const OVERLAP_PERCENT: usize = 15;

/// A retrieval unit of a document.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Chunk {
    /// Position in the document, from 0.
    pub index: usize,
    pub text: String,
    /// The nearest Markdown heading (`# ...` to `###### ...`) above the chunk.
    /// Chunks never span two headings.
    pub heading: Option<String>,
}

/// Splits text into chunks of about `target_chars` characters (`0` means
/// [`DEFAULT_CHUNK_CHARS`]), with about 15% overlap between neighbours.
/// Apart from the last chunk of a section, chunks hold between half and one
/// and a half times the target.
///
/// Chunks end at paragraph or sentence ends where possible, else between
/// words; a sentence longer than the target is split between words. Only a
/// run of non-space characters longer than the target itself (a URL or data
/// blob, not a word) is ever cut. Heading lines are not repeated in the
/// chunk text: they are carried in [`Chunk::heading`].
pub fn chunk(text: &str, target_chars: usize) -> Vec<Chunk> {
    let target = if target_chars == 0 {
        DEFAULT_CHUNK_CHARS
    } else {
        target_chars
    };
    let text = normalize_text(text);
    let mut packer = Packer::new(target);
    for section in sections(&text) {
        packer.section(section.heading, &section.body);
    }
    let mut chunks = packer.chunks;
    // A document made only of headings still deserves to be searchable.
    if chunks.is_empty() && !text.is_empty() {
        chunks.push(Chunk {
            index: 0,
            text,
            heading: None,
        });
    }
    chunks
}

/// Yields `(level, text)` for each ATX heading outside fenced code blocks
/// (where `# ` starts a shell or Python comment, not a heading).
pub(crate) fn markdown_headings(text: &str) -> impl Iterator<Item = (usize, &str)> {
    lines_with_headings(text).filter_map(|(_, heading)| heading)
}

fn lines_with_headings(text: &str) -> impl Iterator<Item = (&str, Option<(usize, &str)>)> {
    let mut in_fence = false;
    text.lines().map(move |line| {
        let trimmed = line.trim_start();
        if trimmed.starts_with("```") || trimmed.starts_with("~~~") {
            in_fence = !in_fence;
            return (line, None);
        }
        (line, if in_fence { None } else { atx_heading(line) })
    })
}

fn atx_heading(line: &str) -> Option<(usize, &str)> {
    let rest = line.trim_start_matches(' ');
    if line.len() - rest.len() > 3 {
        return None;
    }
    let level = rest.bytes().take_while(|&b| b == b'#').count();
    if !(1..=6).contains(&level) {
        return None;
    }
    let after = &rest[level..];
    if !after.starts_with([' ', '\t']) {
        return None;
    }
    let mut text = after.trim();
    // Optional closing sequence: `## Title ##`.
    let unclosed = text.trim_end_matches('#');
    if unclosed.ends_with([' ', '\t']) {
        text = unclosed.trim_end();
    }
    (!text.is_empty()).then_some((level, text))
}

struct Section<'a> {
    heading: Option<&'a str>,
    body: String,
}

fn sections(text: &str) -> Vec<Section<'_>> {
    let mut sections = vec![Section {
        heading: None,
        body: String::new(),
    }];
    for (line, heading) in lines_with_headings(text) {
        if let Some((_, heading)) = heading {
            sections.push(Section {
                heading: Some(heading),
                body: String::new(),
            });
            continue;
        }
        let body = &mut sections.last_mut().expect("never empty").body;
        body.push_str(line);
        body.push('\n');
    }
    sections
}

/// What joins a unit to the one before it in the chunk text.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Sep {
    /// The two pieces of a token too long for any chunk.
    Glue,
    Space,
    Line,
    Paragraph,
}

impl Sep {
    fn as_str(self) -> &'static str {
        match self {
            Sep::Glue => "",
            Sep::Space => " ",
            Sep::Line => "\n",
            Sep::Paragraph => "\n\n",
        }
    }

    fn of_whitespace(c: char) -> Sep {
        if c == '\n' { Sep::Line } else { Sep::Space }
    }
}

/// The smallest piece the packer moves around: a sentence, or part of one
/// that is too long for a chunk.
#[derive(Debug, Clone, Copy)]
struct Unit<'a> {
    sep: Sep,
    text: &'a str,
    chars: usize,
}

impl<'a> Unit<'a> {
    fn new(sep: Sep, text: &'a str) -> Self {
        Unit {
            sep,
            text,
            chars: text.chars().count(),
        }
    }
}

struct Packer {
    target: usize,
    overlap: usize,
    chunks: Vec<Chunk>,
}

impl Packer {
    fn new(target: usize) -> Self {
        Packer {
            target,
            overlap: target * OVERLAP_PERCENT / 100,
            chunks: Vec::new(),
        }
    }

    fn section(&mut self, heading: Option<&str>, body: &str) {
        let mut units = Vec::new();
        for (i, paragraph) in body
            .split("\n\n")
            .filter(|p| !p.trim().is_empty())
            .enumerate()
        {
            let first = units.len();
            split_sentences(paragraph.trim(), self.target, &mut units);
            if i > 0
                && let Some(unit) = units.get_mut(first)
            {
                unit.sep = Sep::Paragraph;
            }
        }

        // Greedy packing. A chunk under half the target takes the next
        // sentence even if that overshoots, rather than leaving a fragment
        // or cutting the sentence; chunks thus stay within 0.5x-1.5x the
        // target. After a chunk is emitted, `current` restarts with the
        // overlap and always receives the unit that did not fit, so it never
        // holds only repeated text.
        let mut current: Vec<Unit> = Vec::new();
        let mut len = 0;
        for unit in units {
            let added = if current.is_empty() {
                unit.chars
            } else {
                unit.sep.as_str().len() + unit.chars
            };
            if !current.is_empty() && len + added > self.target && len >= self.target / 2 {
                self.emit(heading, &current);
                current = self.overlap_tail(&current);
                len = joined_len(&current);
            }
            len += if current.is_empty() {
                unit.chars
            } else {
                unit.sep.as_str().len() + unit.chars
            };
            current.push(unit);
        }
        if !current.is_empty() {
            self.emit(heading, &current);
        }
    }

    fn emit(&mut self, heading: Option<&str>, units: &[Unit]) {
        let mut text = String::new();
        for (i, unit) in units.iter().enumerate() {
            if i > 0 {
                text.push_str(unit.sep.as_str());
            }
            text.push_str(unit.text);
        }
        self.chunks.push(Chunk {
            index: self.chunks.len(),
            text,
            heading: heading.map(str::to_owned),
        });
    }

    /// The end of a finished chunk to repeat at the start of the next one:
    /// whole trailing sentences if they fit the overlap budget, else the
    /// trailing words of the last sentence.
    fn overlap_tail<'a>(&self, units: &[Unit<'a>]) -> Vec<Unit<'a>> {
        let mut taken = 0;
        let mut len = 0;
        for unit in units.iter().rev() {
            let with_sep = if taken == 0 {
                unit.chars
            } else {
                unit.chars + unit.sep.as_str().len()
            };
            if len + with_sep > self.overlap || taken + 1 >= units.len() {
                break;
            }
            len += with_sep;
            taken += 1;
        }
        if taken > 0 {
            return units[units.len() - taken..].to_vec();
        }
        let Some(last) = units.last() else {
            return Vec::new();
        };
        // `after` counts the characters behind the whitespace at `i`.
        let mut start = last.text.len();
        for (after, (i, c)) in last.text.char_indices().rev().enumerate() {
            if c == ' ' || c == '\n' {
                if after > self.overlap {
                    break;
                }
                start = i + 1;
            }
        }
        if start >= last.text.len() {
            return Vec::new();
        }
        vec![Unit::new(last.sep, &last.text[start..])]
    }
}

fn joined_len(units: &[Unit]) -> usize {
    units
        .iter()
        .enumerate()
        .map(|(i, u)| u.chars + if i > 0 { u.sep.as_str().len() } else { 0 })
        .sum()
}

/// Lines that are structure rather than wrapped prose: each starts a unit.
fn is_structural_line(line: &str) -> bool {
    let line = line.trim_start();
    if line.starts_with(['|', '>'])
        || line.starts_with("- ")
        || line.starts_with("* ")
        || line.starts_with("+ ")
        || line.starts_with("```")
        || line.starts_with("~~~")
    {
        return true;
    }
    let digits = line.bytes().take_while(u8::is_ascii_digit).count();
    digits > 0 && (line[digits..].starts_with(". ") || line[digits..].starts_with(") "))
}

/// Closing quotes and brackets that belong to the sentence they end.
const CLOSERS: &[char] = &['"', '\'', ')', ']', '}', '»', '”', '’', '」', '』'];

/// Breaks a paragraph into sentence units, then breaks any unit longer than
/// `target` between words.
fn split_sentences<'a>(paragraph: &'a str, target: usize, out: &mut Vec<Unit<'a>>) {
    let mut start = 0;
    let mut sep = Sep::Space;
    let mut push = |end: usize, next_sep: Sep, start: &mut usize, sep: &mut Sep| {
        let piece = &paragraph[*start..end];
        if !piece.is_empty() {
            split_long(Unit::new(*sep, piece), target, out);
        }
        *sep = next_sep;
    };

    let mut chars = paragraph.char_indices().peekable();
    while let Some((i, c)) = chars.next() {
        match c {
            '\n' => {
                let line_end = i;
                let prev_line_start = paragraph[..line_end].rfind('\n').map_or(0, |p| p + 1);
                let next_line = paragraph[i + 1..].lines().next().unwrap_or("");
                if is_structural_line(&paragraph[prev_line_start..line_end])
                    || is_structural_line(next_line)
                {
                    push(i, Sep::Line, &mut start, &mut sep);
                    start = i + 1;
                }
            }
            '.' | '!' | '?' | '…' | '。' | '！' | '？' => {
                let mut end = i + c.len_utf8();
                while let Some(&(j, next)) = chars.peek() {
                    if matches!(next, '.' | '!' | '?' | '…') || CLOSERS.contains(&next) {
                        end = j + next.len_utf8();
                        chars.next();
                    } else {
                        break;
                    }
                }
                // `1. ` opening a unit is a list number, not a sentence.
                let piece = &paragraph[start..i];
                if c == '.' && !piece.is_empty() && piece.bytes().all(|b| b.is_ascii_digit()) {
                    continue;
                }
                match paragraph[end..].chars().next() {
                    Some(ws @ (' ' | '\n')) => {
                        push(end, Sep::of_whitespace(ws), &mut start, &mut sep);
                        start = end + 1;
                        // The whitespace is consumed as the separator.
                        chars.next();
                    }
                    // CJK full stops are not followed by a space.
                    Some(_) if matches!(c, '。' | '！' | '？') => {
                        push(end, Sep::Glue, &mut start, &mut sep);
                        start = end;
                    }
                    _ => {}
                }
            }
            _ => {}
        }
    }
    push(paragraph.len(), Sep::Space, &mut start, &mut sep);
}

/// Splits a unit longer than `target` at word boundaries; only a single
/// non-space run longer than `target` is cut mid-run.
fn split_long<'a>(unit: Unit<'a>, target: usize, out: &mut Vec<Unit<'a>>) {
    if unit.chars <= target {
        out.push(unit);
        return;
    }
    let text = unit.text;
    let mut piece_start = 0;
    let mut piece_chars = 0;
    let mut piece_sep = unit.sep;
    let mut word_start = 0;
    let mut word_chars = 0;
    // Walk words; `(word_start, ws)` pairs mark where each word begins and
    // the whitespace that preceded it.
    let mut words: Vec<(usize, usize, Sep)> = Vec::new(); // (start, end, sep before)
    let mut prev_sep = Sep::Space;
    for (i, c) in text.char_indices() {
        if c == ' ' || c == '\n' {
            if word_chars > 0 {
                words.push((word_start, i, prev_sep));
            }
            prev_sep = Sep::of_whitespace(c);
            word_start = i + 1;
            word_chars = 0;
        } else {
            word_chars += 1;
        }
    }
    if word_chars > 0 {
        words.push((word_start, text.len(), prev_sep));
    }

    let mut piece_end = 0;
    for (ws, we, sep) in words {
        let chars = text[ws..we].chars().count();
        let added = if piece_chars == 0 { chars } else { chars + 1 };
        if piece_chars > 0 && piece_chars + added > target {
            out.push(Unit::new(piece_sep, &text[piece_start..piece_end]));
            piece_start = ws;
            piece_chars = 0;
            piece_sep = sep;
        }
        if chars > target {
            // Flush what we have, then cut the oversized run into target-sized slices.
            if piece_chars > 0 {
                out.push(Unit::new(piece_sep, &text[piece_start..piece_end]));
                piece_sep = sep;
            }
            let mut slice_start = ws;
            let mut count = 0;
            for (i, _) in text[ws..we].char_indices() {
                if count == target {
                    out.push(Unit::new(piece_sep, &text[slice_start..ws + i]));
                    piece_sep = Sep::Glue;
                    slice_start = ws + i;
                    count = 0;
                }
                count += 1;
            }
            piece_start = slice_start;
            piece_end = we;
            piece_chars = count;
            continue;
        }
        if piece_chars == 0 {
            piece_start = ws;
            piece_chars = chars;
        } else {
            piece_chars += chars + 1;
        }
        piece_end = we;
    }
    if piece_chars > 0 {
        out.push(Unit::new(piece_sep, &text[piece_start..piece_end]));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn texts<'a>(units: &[Unit<'a>]) -> Vec<&'a str> {
        units.iter().map(|u| u.text).collect()
    }

    #[test]
    fn headings() {
        assert_eq!(atx_heading("# Title"), Some((1, "Title")));
        assert_eq!(atx_heading("   ### Deep ###"), Some((3, "Deep")));
        assert_eq!(atx_heading("## C#"), Some((2, "C#")));
        assert_eq!(atx_heading("#hashtag"), None);
        assert_eq!(atx_heading("####### seven"), None);
        assert_eq!(atx_heading("    # indented code"), None);
        assert_eq!(atx_heading("#"), None);
        let doc = "# A\n```\n# comment\n```\n## B";
        assert_eq!(
            markdown_headings(doc).collect::<Vec<_>>(),
            vec![(1, "A"), (2, "B")]
        );
    }

    #[test]
    fn sentences() {
        let mut units = Vec::new();
        split_sentences(
            "One. Two? \"Three!\" Four… e.g.x Five\nwrapped. 六。七。",
            100,
            &mut units,
        );
        assert_eq!(
            texts(&units),
            vec![
                "One.",
                "Two?",
                "\"Three!\"",
                "Four…",
                "e.g.x Five\nwrapped.",
                "六。",
                "七。"
            ]
        );
        assert_eq!(units[1].sep, Sep::Space);
    }

    #[test]
    fn list_lines_are_units() {
        let mut units = Vec::new();
        split_sentences("Intro line\n- a\n- b\n1. c", 100, &mut units);
        assert_eq!(texts(&units), vec!["Intro line", "- a", "- b", "1. c"]);
        assert!(units[1..].iter().all(|u| u.sep == Sep::Line));
    }

    #[test]
    fn long_units_split_between_words() {
        let mut units = Vec::new();
        split_long(Unit::new(Sep::Space, "aaa bbb ccc ddd"), 7, &mut units);
        assert_eq!(texts(&units), vec!["aaa bbb", "ccc ddd"]);
        let mut units = Vec::new();
        split_long(Unit::new(Sep::Space, "ab 0123456789 cd"), 4, &mut units);
        assert_eq!(texts(&units), vec!["ab", "0123", "4567", "89", "cd"]);
        assert_eq!(units[2].sep, Sep::Glue);
    }
}
