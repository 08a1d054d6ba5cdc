use std::panic::{AssertUnwindSafe, catch_unwind};

use pdf_extract::{Document, Object, PlainTextOutput, decode_text_string, output_doc_page};

use crate::KnowledgeError;
use crate::html::collapse_whitespace;

/// Returns the document-info title (if any) and the text of every page, with
/// pages separated by form feeds (which `normalize_text` turns into
/// paragraph breaks).
pub(crate) fn extract_pdf(bytes: &[u8]) -> Result<(Option<String>, String), KnowledgeError> {
    // pdf-extract unwraps freely on malformed input; a bad upload must fail
    // that one request, not take a server worker down with it.
    match catch_unwind(AssertUnwindSafe(|| load(bytes))) {
        Ok(Ok(doc)) => extract_pages(&doc),
        Ok(Err(e)) => Err(e),
        Err(_) => Err(damaged()),
    }
}

fn damaged() -> KnowledgeError {
    KnowledgeError::Parse("the PDF is damaged or uses features that are not supported".to_owned())
}

fn load(bytes: &[u8]) -> Result<Document, KnowledgeError> {
    let mut doc = Document::load_mem(bytes).map_err(|e| {
        tracing::debug!(error = %e, "PDF failed to load");
        KnowledgeError::Parse("the file is not a valid PDF".to_owned())
    })?;
    // Many PDFs are "encrypted" only to set permissions, with an empty user
    // password; those open fine. Anything else needs a password we don't have.
    if doc.is_encrypted() && doc.decrypt("").is_err() {
        return Err(KnowledgeError::Parse(
            "the PDF is password-protected".to_owned(),
        ));
    }
    Ok(doc)
}

fn extract_pages(doc: &Document) -> Result<(Option<String>, String), KnowledgeError> {
    let title = catch_unwind(AssertUnwindSafe(|| info_title(doc))).unwrap_or(None);
    let pages: Vec<u32> = doc.get_pages().into_keys().collect();
    let mut text = String::new();
    let mut failed = 0;
    // Page by page, so one page the extractor chokes on costs that page
    // rather than the whole document.
    for &page in &pages {
        let mut page_text = String::new();
        let result = catch_unwind(AssertUnwindSafe(|| {
            output_doc_page(doc, &mut PlainTextOutput::new(&mut page_text), page)
        }));
        match result {
            Ok(Ok(())) => {
                text.push_str(&page_text);
                text.push('\u{0c}');
            }
            Ok(Err(e)) => {
                tracing::debug!(page, error = %e, "PDF page text extraction failed");
                failed += 1;
            }
            Err(_) => {
                tracing::debug!(page, "PDF page text extraction panicked");
                failed += 1;
            }
        }
    }
    if failed > 0 && failed == pages.len() {
        return Err(damaged());
    }
    Ok((title, text))
}

fn info_title(doc: &Document) -> Option<String> {
    let deref = |obj: &'_ Object| -> Option<Object> {
        match obj {
            Object::Reference(id) => doc.get_object(*id).ok().cloned(),
            other => Some(other.clone()),
        }
    };
    let info = deref(doc.trailer.get(b"Info").ok()?)?;
    let title = deref(info.as_dict().ok()?.get(b"Title").ok()?)?;
    let title = collapse_whitespace(&decode_text_string(&title).ok()?);
    (!title.is_empty()).then_some(title)
}
