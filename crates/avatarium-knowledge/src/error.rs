/// Why a document could not be ingested.
///
/// The `Display` text is meant for end users (it ends up in API error
/// messages), so variants carry only details that are safe to show.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KnowledgeError {
    /// Not a format we read; carries the extension (`.docx`) or content type.
    #[error(
        "unsupported file type ({0}); supported are plain text (.txt), Markdown (.md), HTML (.html) and PDF (.pdf)"
    )]
    Unsupported(String),
    /// The document parsed but holds no text (blank file, scanned PDF, script-only page).
    #[error("no text could be extracted from the document")]
    Empty,
    /// The download exceeded [`crate::FetchPolicy::max_bytes`].
    #[error("the document is larger than the limit of {}", human_size(*limit))]
    TooLarge { limit: usize },
    /// Refused by the fetch policy (scheme, or a non-public address) before
    /// any connection was made to that address.
    #[error("this URL is not allowed: {0}")]
    Blocked(String),
    /// DNS, connection or HTTP failure, including non-2xx statuses.
    #[error("could not fetch the URL: {0}")]
    Fetch(String),
    /// The whole fetch took longer than [`crate::FetchPolicy::timeout`].
    #[error("fetching the URL timed out")]
    Timeout,
    /// Malformed input: an invalid URL or a damaged/encrypted PDF. The
    /// message stands on its own, e.g. "the PDF is password-protected".
    #[error("{0}")]
    Parse(String),
}

fn human_size(bytes: usize) -> String {
    const KIB: usize = 1024;
    const MIB: usize = 1024 * 1024;
    if bytes >= MIB && bytes.is_multiple_of(MIB) {
        format!("{} MiB", bytes / MIB)
    } else if bytes >= MIB {
        format!("{:.1} MiB", bytes as f64 / MIB as f64)
    } else if bytes >= KIB && bytes.is_multiple_of(KIB) {
        format!("{} KiB", bytes / KIB)
    } else {
        format!("{bytes} bytes")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_are_readable() {
        assert_eq!(
            KnowledgeError::TooLarge {
                limit: 5 * 1024 * 1024
            }
            .to_string(),
            "the document is larger than the limit of 5 MiB"
        );
        assert_eq!(
            KnowledgeError::TooLarge { limit: 1024 }.to_string(),
            "the document is larger than the limit of 1 KiB"
        );
        assert_eq!(
            KnowledgeError::TooLarge { limit: 1000 }.to_string(),
            "the document is larger than the limit of 1000 bytes"
        );
        assert!(
            KnowledgeError::Unsupported(".docx".into())
                .to_string()
                .starts_with("unsupported file type (.docx)")
        );
    }
}
