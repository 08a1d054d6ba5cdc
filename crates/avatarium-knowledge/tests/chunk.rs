use std::collections::HashSet;

use avatarium_knowledge::{Chunk, DEFAULT_CHUNK_CHARS, chunk};

const WORDS: &[&str] = &[
    "avatar",
    "voice",
    "knowledge",
    "retrieval",
    "studio",
    "model",
    "answer",
    "question",
    "local",
    "desktop",
    "speech",
    "lip",
    "sync",
    "embedding",
    "context",
    "document",
    "paragraph",
    "render",
    "frame",
    "audio",
];

/// Deterministic prose: numbered sentences of varying length, so every
/// sentence is unique and can be looked up in the chunks.
fn prose(sentences: usize, per_paragraph: usize) -> (String, Vec<String>) {
    let mut state: u32 = 7;
    let mut next = move || {
        state = state.wrapping_mul(1_103_515_245).wrapping_add(12_345);
        (state >> 16) as usize
    };
    let mut all = Vec::new();
    let mut text = String::new();
    for i in 0..sentences {
        let len = 4 + next() % 22;
        let body: Vec<&str> = (0..len).map(|_| WORDS[next() % WORDS.len()]).collect();
        let sentence = format!("Sentence {i} says {}.", body.join(" "));
        if i > 0 {
            text.push_str(if i % per_paragraph == 0 { "\n\n" } else { " " });
        }
        text.push_str(&sentence);
        all.push(sentence);
    }
    (text, all)
}

fn len(c: &Chunk) -> usize {
    c.text.chars().count()
}

#[test]
fn sizes_are_around_the_target() {
    let (text, _) = prose(300, 5);
    for target in [200, 500, 800, 1500] {
        let chunks = chunk(&text, target);
        assert!(chunks.len() > 2, "target {target}");
        for (i, c) in chunks.iter().enumerate() {
            assert_eq!(c.index, i);
            assert!(
                len(c) <= target + target / 2,
                "chunk {i} has {} chars for target {target}",
                len(c)
            );
            if i + 1 < chunks.len() {
                assert!(
                    len(c) >= target / 2,
                    "chunk {i} has only {} chars for target {target}",
                    len(c)
                );
            }
        }
    }
}

#[test]
fn zero_target_means_default() {
    let (text, _) = prose(200, 4);
    assert_eq!(chunk(&text, 0), chunk(&text, DEFAULT_CHUNK_CHARS));
}

#[test]
fn neighbours_overlap() {
    let (text, _) = prose(200, 4);
    let target = 600;
    let chunks = chunk(&text, target);
    for pair in chunks.windows(2) {
        let (prev, next) = (&pair[0].text, &pair[1].text);
        // The longest suffix of `prev` that `next` starts with.
        let overlap = (1..=prev.len().min(next.len()))
            .rev()
            .filter(|&n| prev.is_char_boundary(prev.len() - n) && next.is_char_boundary(n))
            .find(|&n| prev[prev.len() - n..] == next[..n])
            .unwrap_or(0);
        assert!(overlap >= 10, "no overlap between {prev:?} and {next:?}");
        assert!(overlap <= target / 4, "overlap of {overlap} is too large");
    }
}

#[test]
fn every_sentence_is_in_some_chunk() {
    let (text, sentences) = prose(250, 3);
    let chunks = chunk(&text, 400);
    for sentence in &sentences {
        assert!(
            chunks.iter().any(|c| c.text.contains(sentence.as_str())),
            "lost: {sentence}"
        );
    }
}

#[test]
fn no_chunk_splits_a_word() {
    let (text, _) = prose(250, 3);
    let words: HashSet<&str> = text.split_whitespace().collect();
    for target in [60, 300, 800] {
        for c in chunk(&text, target) {
            for word in c.text.split_whitespace() {
                assert!(
                    words.contains(word),
                    "split word {word:?} at target {target}"
                );
            }
        }
    }
}

#[test]
fn long_sentence_is_split_between_words() {
    let sentence = WORDS
        .iter()
        .cycle()
        .take(400)
        .copied()
        .collect::<Vec<_>>()
        .join(" ");
    let chunks = chunk(&sentence, 300);
    assert!(chunks.len() > 5);
    for c in &chunks {
        assert!(len(c) <= 300 + 150);
        assert!(
            c.text.split(' ').all(|w| WORDS.contains(&w)),
            "{:?}",
            c.text
        );
    }
}

#[test]
fn headings_are_carried() {
    let (body_a, _) = prose(40, 4);
    let (body_b, _) = prose(10, 4);
    let doc = format!(
        "Preface without heading.\n\n# Installation\n\n{body_a}\n\n## Hardware ##\n\n{body_b}\n\n\
         ```sh\n# a comment, not a heading\nrun --fast\n```\n\n## Empty section\n\n### Last\n\nThe end."
    );
    let chunks = chunk(&doc, 500);
    assert_eq!(chunks[0].heading, None);
    assert_eq!(chunks[0].text, "Preface without heading.");
    let headings: Vec<Option<&str>> = chunks.iter().map(|c| c.heading.as_deref()).collect();
    let install = headings
        .iter()
        .filter(|h| **h == Some("Installation"))
        .count();
    assert!(install >= 3, "{headings:?}");
    assert!(headings.contains(&Some("Hardware")));
    assert!(!headings.contains(&Some("Empty section")));
    assert_eq!(headings.last(), Some(&Some("Last")));
    assert_eq!(chunks.last().unwrap().text, "The end.");
    // Heading lines live in `heading`, not in the text; fenced comments stay text.
    assert!(chunks.iter().all(|c| !c.text.contains("# Installation")));
    let code = chunks
        .iter()
        .find(|c| c.text.contains("# a comment"))
        .unwrap();
    assert_eq!(code.heading.as_deref(), Some("Hardware"));
    // A chunk never mixes two sections.
    assert!(
        chunks
            .iter()
            .all(|c| !(c.text.contains("Preface") && c.text.contains("Sentence")))
    );
}

#[test]
fn tiny_input_is_one_chunk() {
    let chunks = chunk("  Just one   short line.\n", 800);
    assert_eq!(
        chunks,
        vec![Chunk {
            index: 0,
            text: "Just one short line.".into(),
            heading: None
        }]
    );
    assert_eq!(chunk("# Title only", 800).len(), 1);
    assert!(chunk("", 800).is_empty());
    assert!(chunk(" \n\n ", 800).is_empty());
}

#[test]
fn lists_keep_their_lines() {
    let doc = "Steps:\n- open the studio\n- pick an avatar\n- start talking";
    let chunks = chunk(doc, 800);
    assert_eq!(chunks.len(), 1);
    assert_eq!(chunks[0].text, doc);
}

#[test]
fn unicode_is_counted_in_chars() {
    let sentence = "Ünïcödé wörds ärë cöüntëd cörrëctly. ";
    let text = sentence.repeat(100);
    for c in chunk(&text, 200) {
        assert!(len(&c) <= 300, "{}", len(&c));
    }
    let cjk = "这是一个句子。".repeat(200);
    let chunks = chunk(&cjk, 100);
    assert!(chunks.len() > 5);
    assert!(chunks.iter().all(|c| len(c) <= 150));
}
