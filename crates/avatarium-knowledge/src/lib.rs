//! Knowledge-base ingestion for Avatarium: turning uploaded files, pasted text
//! and web pages into clean text, and that text into retrieval-sized chunks.
//!
//! Everything here is synchronous and CPU-bound except [`fetch_url`]; callers
//! on an async runtime should run [`extract_file`] (PDF parsing in particular)
//! inside `spawn_blocking`.

mod chunk;
mod error;
mod extract;
mod fetch;
mod html;
mod ip;
mod pdf;
mod text;

use serde::{Deserialize, Serialize};

pub use chunk::{Chunk, DEFAULT_CHUNK_CHARS, chunk};
pub use error::KnowledgeError;
pub use extract::extract_file;
pub use fetch::{FetchPolicy, fetch_url};
pub use html::extract_html;
pub use text::normalize_text;

/// Where a knowledge-base document came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum SourceKind {
    Text,
    Url,
    File,
}

impl SourceKind {
    /// The same spelling serde uses, for storing the kind in a text column.
    pub fn as_str(self) -> &'static str {
        match self {
            SourceKind::Text => "text",
            SourceKind::Url => "url",
            SourceKind::File => "file",
        }
    }
}

impl std::fmt::Display for SourceKind {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// Text pulled out of a document, already passed through [`normalize_text`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extracted {
    pub title: Option<String>,
    pub text: String,
    /// The kind of document the text came from (`text/plain`, `text/markdown`,
    /// `text/html` or `application/pdf`), not the declared content type.
    pub mime: String,
}
