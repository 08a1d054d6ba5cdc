mod common;

use avatarium_knowledge::{KnowledgeError, SourceKind, extract_file, extract_html};

#[test]
fn plain_text() {
    let e = extract_file(
        "notes.txt",
        Some("text/plain"),
        b"Hello \t there\r\n\r\n\r\n\r\nWorld  again\x07\n",
    )
    .unwrap();
    assert_eq!(e.text, "Hello there\n\nWorld again");
    assert_eq!(e.title.as_deref(), Some("notes"));
    assert_eq!(e.mime, "text/plain");
}

#[test]
fn invalid_utf8_is_decoded_lossily() {
    let e = extract_file("broken.txt", None, b"caf\xe9 ok\xff end").unwrap();
    assert_eq!(e.text, "caf\u{fffd} ok\u{fffd} end");
}

#[test]
fn declared_charset_and_bom_are_honoured() {
    let e = extract_file(
        "latin.txt",
        Some("text/plain; charset=ISO-8859-1"),
        b"caf\xe9",
    )
    .unwrap();
    assert_eq!(e.text, "café");
    let utf16: Vec<u8> = [0xff, 0xfe]
        .into_iter()
        .chain("héllo".encode_utf16().flat_map(u16::to_le_bytes))
        .collect();
    assert_eq!(extract_file("w.txt", None, &utf16).unwrap().text, "héllo");
}

#[test]
fn markdown_title_from_first_h1() {
    let md = "Intro line.\n\n# Getting Started\n\nRun it.\n\n## Install\n\n```sh\n# not a heading\n```\n";
    let e = extract_file("guide.MD", None, md.as_bytes()).unwrap();
    assert_eq!(e.title.as_deref(), Some("Getting Started"));
    assert_eq!(e.mime, "text/markdown");
    assert!(e.text.contains("## Install"));

    let e = extract_file("notes.markdown", None, b"## Only a subheading\n\ntext").unwrap();
    assert_eq!(e.title.as_deref(), Some("notes"));
}

#[test]
fn html_drops_code_and_finds_title() {
    let html = br#"<html><head><title>Avatar Guide</title>
        <style>.x { display: none }</style>
        <script>window.secret = "do not index";</script></head>
        <body><nav>Home | Blog</nav><h1>Guide</h1>
        <p>Avatars speak with <em>your</em> voice.</p>
        <script type="application/ld+json">{"also": "hidden"}</script></body></html>"#;
    let e = extract_file("guide.html", Some("text/html"), html).unwrap();
    assert_eq!(e.title.as_deref(), Some("Avatar Guide"));
    assert_eq!(e.mime, "text/html");
    assert_eq!(e.text, "# Guide\n\nAvatars speak with your voice.");
    for hidden in ["secret", "display", "Home", "also"] {
        assert!(
            !e.text.contains(hidden),
            "{hidden} leaked into {:?}",
            e.text
        );
    }

    let e = extract_file("index.htm", None, b"<p>No title here</p>").unwrap();
    assert_eq!(e.title.as_deref(), Some("index"));
}

#[test]
fn html_title_falls_back_to_h1() {
    let e = extract_html("<body><h1> Main   Topic </h1><p>Body</p></body>");
    assert_eq!(e.title.as_deref(), Some("Main Topic"));
    assert_eq!(e.text, "# Main Topic\n\nBody");
}

#[test]
fn kind_from_content_type_when_no_extension() {
    let e = extract_file(
        "upload",
        Some("text/html; charset=utf-8"),
        b"<title>T</title><p>x</p>",
    )
    .unwrap();
    assert_eq!(e.mime, "text/html");
    assert_eq!(e.title.as_deref(), Some("T"));
}

#[test]
fn pdf_text_comes_back() {
    let pdf = common::make_pdf(
        &[
            &[
                "Avatars answer from the knowledge base.",
                "Second line here.",
            ],
            &["Page two has more text."],
        ],
        None,
    );
    let e = extract_file("report.pdf", Some("application/pdf"), &pdf).unwrap();
    assert_eq!(e.mime, "application/pdf");
    assert_eq!(e.title.as_deref(), Some("report"));
    assert_eq!(
        e.text,
        "Avatars answer from the knowledge base.\nSecond line here.\n\nPage two has more text."
    );
}

#[test]
fn pdf_title_from_metadata_and_sniffed_without_extension() {
    let pdf = common::make_pdf(&[&["Some content."]], Some("Quarterly Report"));
    let e = extract_file("scan.bin", Some("application/octet-stream"), &pdf).unwrap();
    assert_eq!(e.mime, "application/pdf");
    assert_eq!(e.title.as_deref(), Some("Quarterly Report"));
    assert_eq!(e.text, "Some content.");
}

#[test]
fn broken_pdf_is_a_parse_error() {
    let err = extract_file("bad.pdf", None, b"%PDF-1.4\nthis is not really a pdf").unwrap_err();
    assert!(matches!(err, KnowledgeError::Parse(_)), "{err:?}");
    let err = extract_file("bad.pdf", None, b"not even a header").unwrap_err();
    assert!(matches!(err, KnowledgeError::Parse(_)), "{err:?}");
    // A truncated real PDF may or may not yield text, but must not panic.
    let pdf = common::make_pdf(&[&["Some content."]], None);
    let _ = extract_file("cut.pdf", None, &pdf[..pdf.len() / 2]);
}

#[test]
fn pdf_without_text_is_empty() {
    let pdf = common::make_pdf(&[&[]], None);
    assert_eq!(
        extract_file("blank.pdf", None, &pdf).unwrap_err(),
        KnowledgeError::Empty
    );
}

#[test]
fn unsupported_types() {
    assert_eq!(
        extract_file("photo.PNG", Some("image/png"), b"\x89PNG").unwrap_err(),
        KnowledgeError::Unsupported(".png".into())
    );
    assert_eq!(
        extract_file("archive", Some("application/zip; x=y"), b"PK").unwrap_err(),
        KnowledgeError::Unsupported("application/zip".into())
    );
    assert_eq!(
        extract_file("mystery", None, b"??").unwrap_err(),
        KnowledgeError::Unsupported("unknown".into())
    );
    let message = extract_file("doc.docx", None, b"PK")
        .unwrap_err()
        .to_string();
    assert!(
        message.contains(".docx") && message.contains("PDF"),
        "{message}"
    );
}

#[test]
fn empty_documents() {
    for (name, bytes) in [
        ("empty.txt", &b""[..]),
        ("blank.md", b" \n\t\r\n "),
        ("code.html", b"<script>only()</script><style>p{}</style>"),
        ("controls.txt", b"\x00\x01\x02"),
    ] {
        assert_eq!(
            extract_file(name, None, bytes).unwrap_err(),
            KnowledgeError::Empty,
            "{name}"
        );
    }
    assert_eq!(
        KnowledgeError::Empty.to_string(),
        "no text could be extracted from the document"
    );
}

#[test]
fn source_kind_serde() {
    assert_eq!(serde_json::to_string(&SourceKind::Url).unwrap(), "\"url\"");
    assert_eq!(
        serde_json::from_str::<SourceKind>("\"file\"").unwrap(),
        SourceKind::File
    );
    assert_eq!(SourceKind::Text.to_string(), "text");
}
