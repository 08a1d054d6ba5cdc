use encoding_rs::Encoding;

use crate::chunk::markdown_headings;
use crate::{Extracted, KnowledgeError, extract_html, normalize_text, pdf};

/// The document formats we can pull text out of.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum DocKind {
    Text,
    Markdown,
    Html,
    Pdf,
}

impl DocKind {
    fn mime(self) -> &'static str {
        match self {
            DocKind::Text => "text/plain",
            DocKind::Markdown => "text/markdown",
            DocKind::Html => "text/html",
            DocKind::Pdf => "application/pdf",
        }
    }

    pub(crate) fn from_extension(ext: &str) -> Option<Self> {
        match ext.to_ascii_lowercase().as_str() {
            "txt" | "text" => Some(DocKind::Text),
            "md" | "markdown" | "mdown" | "mkd" => Some(DocKind::Markdown),
            "html" | "htm" | "xhtml" => Some(DocKind::Html),
            "pdf" => Some(DocKind::Pdf),
            _ => None,
        }
    }

    pub(crate) fn from_content_type(content_type: &str) -> Option<Self> {
        match mime_essence(content_type).as_str() {
            "text/plain" => Some(DocKind::Text),
            "text/markdown" | "text/x-markdown" => Some(DocKind::Markdown),
            "text/html" | "application/xhtml+xml" => Some(DocKind::Html),
            "application/pdf" | "application/x-pdf" => Some(DocKind::Pdf),
            _ => None,
        }
    }

    /// Content sniffing, for servers and browsers that label files
    /// `application/octet-stream`.
    pub(crate) fn sniff(bytes: &[u8]) -> Option<Self> {
        bytes.starts_with(b"%PDF-").then_some(DocKind::Pdf)
    }
}

/// Extracts the text of an uploaded file.
///
/// The format comes from the file name's extension (`txt`, `md`/`markdown`,
/// `html`/`htm`, `pdf`), else from `content_type`; a PDF signature in the
/// bytes wins over both, because uploads are often mislabelled. The title is
/// the document's own (HTML `<title>`/`<h1>`, Markdown `# heading`, PDF
/// metadata), else the file name without its extension.
///
/// PDF parsing is CPU-bound: call this from `spawn_blocking` in async code.
pub fn extract_file(
    filename: &str,
    content_type: Option<&str>,
    bytes: &[u8],
) -> Result<Extracted, KnowledgeError> {
    let (stem, ext) = split_file_name(filename);
    let kind = DocKind::sniff(bytes)
        .or_else(|| ext.and_then(DocKind::from_extension))
        .or_else(|| content_type.and_then(DocKind::from_content_type))
        .ok_or_else(|| {
            KnowledgeError::Unsupported(match (ext, content_type) {
                (Some(ext), _) => format!(".{}", ext.to_ascii_lowercase()),
                (None, Some(ct)) if !ct.trim().is_empty() => mime_essence(ct),
                _ => "unknown".to_owned(),
            })
        })?;
    let stem = stem.trim();
    let fallback_title = (!stem.is_empty()).then(|| stem.to_owned());
    extract_bytes(
        kind,
        bytes,
        content_type.and_then(charset_param),
        fallback_title,
    )
}

/// Shared by uploads and fetched pages once the format is known.
pub(crate) fn extract_bytes(
    kind: DocKind,
    bytes: &[u8],
    charset: Option<&str>,
    fallback_title: Option<String>,
) -> Result<Extracted, KnowledgeError> {
    let (title, text) = match kind {
        DocKind::Text => (None, normalize_text(&decode_text(bytes, charset, false))),
        DocKind::Markdown => {
            let text = normalize_text(&decode_text(bytes, charset, false));
            let title = markdown_headings(&text)
                .find(|&(level, _)| level == 1)
                .map(|(_, heading)| heading.to_owned());
            (title, text)
        }
        DocKind::Html => {
            let extracted = extract_html(&decode_text(bytes, charset, true));
            (extracted.title, extracted.text)
        }
        DocKind::Pdf => {
            let (title, text) = pdf::extract_pdf(bytes)?;
            (title, normalize_text(&text))
        }
    };
    if text.is_empty() {
        return Err(KnowledgeError::Empty);
    }
    Ok(Extracted {
        title: title.or(fallback_title),
        text,
        mime: kind.mime().to_owned(),
    })
}

/// Splits `dir/name.ext` into `("name", Some("ext"))`; dot files have no extension.
pub(crate) fn split_file_name(filename: &str) -> (&str, Option<&str>) {
    let base = filename.rsplit(['/', '\\']).next().unwrap_or(filename);
    match base.rsplit_once('.') {
        Some((stem, ext)) if !stem.is_empty() && !ext.is_empty() => (stem, Some(ext)),
        _ => (base, None),
    }
}

pub(crate) fn mime_essence(content_type: &str) -> String {
    content_type
        .split(';')
        .next()
        .unwrap_or("")
        .trim()
        .to_ascii_lowercase()
}

pub(crate) fn charset_param(content_type: &str) -> Option<&str> {
    content_type.split(';').skip(1).find_map(|param| {
        let (key, value) = param.split_once('=')?;
        key.trim()
            .eq_ignore_ascii_case("charset")
            .then(|| value.trim().trim_matches(['"', '\'']))
    })
}

/// Decodes bytes to text: a byte-order mark wins, then the declared charset,
/// then (for HTML) a `<meta charset>` near the top, then UTF-8. Invalid
/// sequences become U+FFFD rather than failing the whole document.
pub(crate) fn decode_text(bytes: &[u8], charset: Option<&str>, html: bool) -> String {
    if let Some((encoding, bom_len)) = Encoding::for_bom(bytes) {
        return encoding
            .decode_without_bom_handling(&bytes[bom_len..])
            .0
            .into_owned();
    }
    let declared = charset
        .and_then(|label| Encoding::for_label(label.as_bytes()))
        .or_else(|| if html { meta_charset(bytes) } else { None });
    match declared {
        Some(encoding) => encoding.decode_without_bom_handling(bytes).0.into_owned(),
        None => String::from_utf8_lossy(bytes).into_owned(),
    }
}

/// A simplified version of the HTML encoding prescan: good enough for
/// `<meta charset="...">` and the `http-equiv` form, which cover real pages.
fn meta_charset(bytes: &[u8]) -> Option<&'static Encoding> {
    let head = &bytes[..bytes.len().min(1024)];
    let head = String::from_utf8_lossy(head).to_ascii_lowercase();
    let mut rest = head.as_str();
    while let Some(pos) = rest.find("<meta") {
        rest = &rest[pos + 5..];
        let tag = &rest[..rest.find('>').unwrap_or(rest.len())];
        if let Some(at) = tag.find("charset=") {
            let value = tag[at + 8..].trim_start_matches(['"', '\'', ' ']);
            let end = value
                .find(|c: char| !(c.is_ascii_alphanumeric() || "-_:.".contains(c)))
                .unwrap_or(value.len());
            // A page can't be UTF-16 if its ASCII meta tag was readable.
            return Encoding::for_label(&value.as_bytes()[..end]).map(|e| e.output_encoding());
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn file_name_parts() {
        assert_eq!(split_file_name("notes.TXT"), ("notes", Some("TXT")));
        assert_eq!(split_file_name("a/b\\c.tar.gz"), ("c.tar", Some("gz")));
        assert_eq!(split_file_name(".bashrc"), (".bashrc", None));
        assert_eq!(split_file_name("README"), ("README", None));
        assert_eq!(split_file_name("trailing."), ("trailing.", None));
    }

    #[test]
    fn content_type_parsing() {
        assert_eq!(
            DocKind::from_content_type("Text/HTML; charset=UTF-8"),
            Some(DocKind::Html)
        );
        assert_eq!(
            charset_param("text/html; foo=bar; Charset=\"iso-8859-1\""),
            Some("iso-8859-1")
        );
        assert_eq!(charset_param("text/html"), None);
        assert_eq!(DocKind::from_content_type("image/png"), None);
    }

    #[test]
    fn decoding() {
        assert_eq!(decode_text(b"caf\xe9", Some("latin1"), false), "café");
        assert_eq!(decode_text(b"caf\xe9", None, false), "caf\u{fffd}");
        assert_eq!(decode_text(b"\xef\xbb\xbfhi", Some("latin1"), false), "hi");
        assert_eq!(decode_text(b"\xff\xfeh\0i\0", None, false), "hi");
        let page =
            b"<html><head><meta charset=\"windows-1252\"></head><body>\x93q\x94</body></html>";
        assert!(decode_text(page, None, true).contains("\u{201c}q\u{201d}"));
        let page =
            b"<meta http-equiv=\"Content-Type\" content=\"text/html; charset=ISO-8859-1\">\xe9";
        assert!(decode_text(page, None, true).ends_with('é'));
    }
}
