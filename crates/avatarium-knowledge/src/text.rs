/// Cleans extracted text so that chunking and embedding see a predictable
/// shape: `\n` line breaks only, single spaces inside lines, no trailing
/// spaces, at most one blank line (a paragraph break) in a row, and no
/// control or invisible formatting characters.
pub fn normalize_text(s: &str) -> String {
    let mut cleaned = String::with_capacity(s.len());
    let mut chars = s.chars().peekable();
    while let Some(c) = chars.next() {
        match c {
            '\r' => {
                if chars.peek() != Some(&'\n') {
                    cleaned.push('\n');
                }
            }
            '\n' | '\u{85}' | '\u{2028}' => cleaned.push('\n'),
            // Form feeds separate PDF pages; a page break is at least a paragraph break.
            '\u{0c}' | '\u{2029}' => cleaned.push_str("\n\n"),
            // Invisible characters that would otherwise split or glue words
            // differently from what a reader sees.
            '\u{ad}' | '\u{200b}' | '\u{2060}' | '\u{feff}' => {}
            // Bidi overrides can make stored text read differently from how it displays.
            '\u{202a}'..='\u{202e}' | '\u{2066}'..='\u{2069}' => {}
            c if c.is_whitespace() => cleaned.push(' '),
            c if c.is_control() => {}
            c => cleaned.push(c),
        }
    }

    let mut out = String::with_capacity(cleaned.len());
    let mut pending_blank = false;
    for line in cleaned.split('\n') {
        let mut words = line.split(' ').filter(|w| !w.is_empty()).peekable();
        if words.peek().is_none() {
            pending_blank = !out.is_empty();
            continue;
        }
        if !out.is_empty() {
            out.push_str(if pending_blank { "\n\n" } else { "\n" });
        }
        pending_blank = false;
        let mut first = true;
        for word in words {
            if !first {
                out.push(' ');
            }
            out.push_str(word);
            first = false;
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn unifies_newlines_and_spaces() {
        assert_eq!(
            normalize_text("  a\t b  \r\nc\rd\u{a0}e\u{2028}f  "),
            "a b\nc\nd e\nf"
        );
    }

    #[test]
    fn keeps_single_paragraph_breaks() {
        assert_eq!(normalize_text("\n\na\n\n\n \n\t\nb\n\n"), "a\n\nb");
        assert_eq!(normalize_text("page 1\u{0c}page 2"), "page 1\n\npage 2");
    }

    #[test]
    fn strips_control_and_invisible_chars() {
        assert_eq!(
            normalize_text("\u{feff}he\u{0}l\u{7f}lo\u{200b} w\u{ad}orld\u{202e}"),
            "hello world"
        );
    }

    #[test]
    fn is_idempotent() {
        let once = normalize_text(" x \n\n\n y\r\n z ");
        assert_eq!(normalize_text(&once), once);
    }

    #[test]
    fn empty_and_blank() {
        assert_eq!(normalize_text(""), "");
        assert_eq!(normalize_text(" \n\t\r\n "), "");
    }
}
