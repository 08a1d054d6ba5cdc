use ego_tree::iter::Edge;
use scraper::{Html, Node};

use crate::{Extracted, normalize_text};

/// Elements whose content is never reading matter: code, styling, navigation,
/// embedded media and form widgets. `title` is read separately.
const SKIPPED: &[&str] = &[
    "audio", "button", "canvas", "embed", "iframe", "map", "math", "nav", "noscript", "object",
    "script", "select", "style", "svg", "template", "textarea", "title", "video",
];

/// Elements that end a paragraph.
const PARAGRAPH_BLOCKS: &[&str] = &[
    "address",
    "article",
    "aside",
    "blockquote",
    "details",
    "dl",
    "fieldset",
    "figure",
    "footer",
    "header",
    "hr",
    "main",
    "p",
    "pre",
    "section",
    "table",
];

/// Elements that only end a line.
const LINE_BLOCKS: &[&str] = &[
    "br",
    "caption",
    "dd",
    "div",
    "dt",
    "figcaption",
    "form",
    "li",
    "summary",
    "tr",
];

/// Converts an HTML document to plain text with Markdown-style headings
/// (`## Heading`) so that [`crate::chunk`] can attach them to chunks.
///
/// The title is the `<title>` element, else the first `<h1>`. Scripts,
/// styles, navigation and hidden elements are dropped.
pub fn extract_html(html: &str) -> Extracted {
    let document = Html::parse_document(html);
    let mut sink = Sink::default();
    let mut title: Option<String> = None;
    let mut first_h1: Option<String> = None;
    // Counts open nodes inside a skipped element; nesting is tracked by
    // counting rather than recursion because hostile pages can nest
    // deeply enough to overflow the stack.
    let mut skip_depth = 0usize;
    let mut pre_depth = 0usize;
    let mut heading: Option<(usize, usize)> = None; // (level, start offset in sink.out)
    let mut heading_depth = 0usize;
    let mut lists: Vec<List> = Vec::new();
    let mut cells_in_row = 0usize;

    for edge in document.tree.root().traverse() {
        if skip_depth > 0 {
            match edge {
                Edge::Open(_) => skip_depth += 1,
                Edge::Close(_) => skip_depth -= 1,
            }
            continue;
        }
        match edge {
            Edge::Open(node) => match node.value() {
                Node::Text(text) => sink.text(text, pre_depth > 0),
                Node::Element(el) => {
                    let name = el.name();
                    if name == "title" && title.is_none() {
                        let text: String = node
                            .children()
                            .filter_map(|c| c.value().as_text().map(|t| &**t))
                            .collect();
                        title = non_empty(collapse_whitespace(&text));
                    }
                    let hidden = el.attr("hidden").is_some()
                        || el.attr("aria-hidden") == Some("true")
                        || el.attr("role") == Some("navigation");
                    if hidden || SKIPPED.contains(&name) {
                        skip_depth = 1;
                        continue;
                    }
                    if let Some(level) = heading_level(name) {
                        heading_depth += 1;
                        if heading_depth == 1 {
                            sink.gap(Gap::Para);
                            sink.flush();
                            heading = Some((level, sink.out.len()));
                        }
                        continue;
                    }
                    match name {
                        "pre" => pre_depth += 1,
                        "ul" | "ol" | "menu" => {
                            // A nested list continues its parent item's lines.
                            sink.gap(if lists.is_empty() {
                                Gap::Para
                            } else {
                                Gap::Line
                            });
                            lists.push(List {
                                next_number: (name == "ol").then(|| {
                                    el.attr("start").and_then(|s| s.parse().ok()).unwrap_or(1)
                                }),
                                items: 0,
                            });
                            continue;
                        }
                        "li" => {
                            let (bullet, follows_item) = match lists.last_mut() {
                                Some(list) => {
                                    list.items += 1;
                                    let bullet = match &mut list.next_number {
                                        Some(n) => {
                                            let bullet = format!("{n}. ");
                                            *n = n.saturating_add(1);
                                            bullet
                                        }
                                        None => "- ".to_owned(),
                                    };
                                    (bullet, list.items > 1)
                                }
                                None => ("- ".to_owned(), false),
                            };
                            if follows_item {
                                // Blocks inside the previous item must not
                                // spread the list into paragraphs.
                                sink.gap = Gap::Line;
                            } else {
                                sink.gap(Gap::Line);
                            }
                            sink.literal(&bullet);
                            sink.item_start = true;
                            continue;
                        }
                        "tr" => cells_in_row = 0,
                        "td" | "th" => {
                            if cells_in_row > 0 {
                                sink.literal(" | ");
                            }
                            cells_in_row += 1;
                        }
                        _ => {}
                    }
                    if PARAGRAPH_BLOCKS.contains(&name) {
                        sink.gap(Gap::Para);
                    } else if LINE_BLOCKS.contains(&name) {
                        sink.gap(Gap::Line);
                    }
                }
                _ => {}
            },
            Edge::Close(node) => {
                let Some(el) = node.value().as_element() else {
                    continue;
                };
                let name = el.name();
                if heading_level(name).is_some() {
                    heading_depth = heading_depth.saturating_sub(1);
                    if heading_depth == 0
                        && let Some((level, start)) = heading.take()
                    {
                        let text = collapse_whitespace(&sink.out.split_off(start));
                        if !text.is_empty() {
                            if level == 1 && first_h1.is_none() {
                                first_h1 = Some(text.clone());
                            }
                            sink.out.push_str(&"#".repeat(level));
                            sink.out.push(' ');
                            sink.out.push_str(&text);
                        }
                        sink.gap = Gap::Para;
                    }
                    continue;
                }
                if matches!(name, "li" | "ul" | "ol" | "menu") {
                    // An empty item must not glue its bullet to what follows.
                    sink.item_start = false;
                }
                match name {
                    "pre" => pre_depth = pre_depth.saturating_sub(1),
                    "ul" | "ol" | "menu" => {
                        lists.pop();
                        sink.gap(if lists.is_empty() {
                            Gap::Para
                        } else {
                            Gap::Line
                        });
                        continue;
                    }
                    _ => {}
                }
                if PARAGRAPH_BLOCKS.contains(&name) {
                    sink.gap(Gap::Para);
                } else if LINE_BLOCKS.contains(&name) {
                    sink.gap(Gap::Line);
                }
            }
        }
    }

    Extracted {
        title: title.or(first_h1),
        text: normalize_text(&sink.out),
        mime: "text/html".to_owned(),
    }
}

fn heading_level(name: &str) -> Option<usize> {
    match name {
        "h1" => Some(1),
        "h2" => Some(2),
        "h3" => Some(3),
        "h4" => Some(4),
        "h5" => Some(5),
        "h6" => Some(6),
        _ => None,
    }
}

pub(crate) fn collapse_whitespace(s: &str) -> String {
    s.split_whitespace().collect::<Vec<_>>().join(" ")
}

fn non_empty(s: String) -> Option<String> {
    if s.is_empty() { None } else { Some(s) }
}

struct List {
    /// `None` for bullet lists.
    next_number: Option<u32>,
    items: usize,
}

/// Pending separation before the next word; a stronger gap absorbs a weaker one.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
enum Gap {
    #[default]
    None,
    Space,
    Line,
    Para,
}

#[derive(Default)]
struct Sink {
    out: String,
    gap: Gap,
    /// Right after a list bullet: a `<p>` inside `<li>` must not push the
    /// item's text away from its bullet.
    item_start: bool,
}

impl Sink {
    fn gap(&mut self, gap: Gap) {
        if self.item_start && gap > Gap::Space {
            return;
        }
        self.gap = self.gap.max(gap);
    }

    fn flush(&mut self) {
        if !self.out.is_empty() {
            match self.gap {
                Gap::None => {}
                Gap::Space => {
                    if !self.out.ends_with([' ', '\n']) {
                        self.out.push(' ');
                    }
                }
                Gap::Line => self.out.push('\n'),
                Gap::Para => self.out.push_str("\n\n"),
            }
        }
        self.gap = Gap::None;
    }

    fn literal(&mut self, s: &str) {
        self.flush();
        self.out.push_str(s);
    }

    fn text(&mut self, s: &str, preformatted: bool) {
        if preformatted {
            if !s.is_empty() {
                self.flush();
                self.out.push_str(s);
                self.item_start = false;
            }
            return;
        }
        if s.starts_with(char::is_whitespace) {
            self.gap(Gap::Space);
        }
        let mut wrote = false;
        for word in s.split_whitespace() {
            if wrote {
                self.gap(Gap::Space);
            }
            self.flush();
            self.out.push_str(word);
            self.item_start = false;
            wrote = true;
        }
        if wrote && s.ends_with(char::is_whitespace) {
            self.gap(Gap::Space);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn drops_code_and_navigation() {
        let page = r#"<!doctype html><html><head><title> My  Page </title>
            <style>body { color: red }</style><script>var secret = 1;</script></head>
            <body><nav><a href="/">Home</a> <a href="/about">About</a></nav>
            <div role="navigation">Skip me</div>
            <h1>Welcome</h1><p>First <b>bold</b> paragraph.</p>
            <p hidden>Invisible</p><noscript>Enable JS</noscript>
            <svg><title>icon</title><text>svg text</text></svg>
            <p>Second
               paragraph.</p></body></html>"#;
        let e = extract_html(page);
        assert_eq!(e.title.as_deref(), Some("My Page"));
        assert_eq!(
            e.text,
            "# Welcome\n\nFirst bold paragraph.\n\nSecond paragraph."
        );
        assert_eq!(e.mime, "text/html");
    }

    #[test]
    fn title_falls_back_to_first_h1() {
        let e = extract_html("<h2>Intro</h2><h1>The <i>Real</i> Title</h1><p>x</p>");
        assert_eq!(e.title.as_deref(), Some("The Real Title"));
        assert_eq!(e.text, "## Intro\n\n# The Real Title\n\nx");
        assert_eq!(extract_html("<p>no title</p>").title, None);
    }

    #[test]
    fn lists_tables_and_breaks() {
        let e = extract_html(
            "<ul><li><p>one</p></li><li>two</li></ul>\
             <ol start=3><li>three</li><li>four</li></ol>\
             <table><tr><th>a</th><th>b</th></tr><tr><td>1</td><td>2</td></tr></table>\
             <p>line<br>break</p><pre>keep\n  lines</pre>\
             <ul><li>a<ul><li>b</li></ul></li><li>c</li><li></li></ul><p>end</p>",
        );
        assert_eq!(
            e.text,
            "- one\n- two\n\n3. three\n4. four\n\na | b\n1 | 2\n\nline\nbreak\n\nkeep\nlines\n\n- a\n- b\n- c\n-\n\nend"
        );
    }

    #[test]
    fn deep_nesting_does_not_overflow() {
        let depth = 8_000;
        let html = format!("{}deep{}", "<div>".repeat(depth), "</div>".repeat(depth));
        assert_eq!(extract_html(&html).text, "deep");
    }
}
