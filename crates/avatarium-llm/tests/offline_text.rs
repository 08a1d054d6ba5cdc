//! Speech preparation, emotion, session analysis and search helpers through
//! the crate's public API.

use avatarium_llm::analysis::{analyse, parse_llm_analysis};
use avatarium_llm::speakable::{detect_emotion, display_text, speakable};
use avatarium_llm::text::{fts_document, fts5_query, sentences};
use avatarium_llm::{Message, local};

#[test]
fn speakable_strips_markdown_urls_and_emoji() {
    let reply = "## Plans 💡\n\nOur **Pro** plan costs *$30/month* — see [pricing](https://acme.com/pricing).\n\n* Unlimited avatars\n* `API` access\n\nMore at https://acme.com 🚀";
    assert_eq!(
        speakable(reply),
        "Plans. Our Pro plan costs $30/month — see pricing. Unlimited avatars. API access. More at."
    );
    assert_eq!(
        display_text("  **Pro** costs $30.  \n"),
        "**Pro** costs $30."
    );
}

#[test]
fn emotions_follow_cues() {
    assert_eq!(
        detect_emotion("You're welcome! Glad I could help."),
        "happy"
    );
    assert_eq!(
        detect_emotion("I'm sorry, unfortunately that's not possible."),
        "sad"
    );
    assert_eq!(detect_emotion("Wow, really?"), "surprised");
    assert_eq!(detect_emotion("Hmm, let me think."), "thinking");
    assert_eq!(detect_emotion("Our office is in Lisbon."), "neutral");
}

#[test]
fn analysis_of_sessions() {
    let happy = vec![
        Message::user("How much does the Pro plan cost?"),
        Message::assistant("Pro costs 30 dollars a month."),
        Message::user("Do you have a yearly price?"),
        Message::assistant("I'm not sure about that."),
        Message::user("OK, thanks, that was really helpful!"),
    ];
    let a = analyse(&happy);
    assert_eq!(a.topics.first().map(String::as_str), Some("pricing"));
    assert_eq!(a.sentiment, "positive");
    assert_eq!(a.question_count, 2);
    assert!(a.summary.contains("pricing"), "{}", a.summary);

    let angry = vec![
        Message::user("Your app is useless and support is terrible."),
        Message::assistant("I'm sorry to hear that."),
        Message::user("I want a refund now"),
    ];
    let a = analyse(&angry);
    assert_eq!(a.sentiment, "negative");
    assert_eq!(a.question_count, 0);
    assert!(a.topics.contains(&"refunds".to_string()), "{:?}", a.topics);

    let parsed = parse_llm_analysis(
        "```json\n{\"summary\":\"Asked about prices.\",\"topics\":[\"pricing\"],\"sentiment\":\"neutral\"}\n```",
    );
    assert_eq!(
        parsed,
        Some((
            "Asked about prices.".into(),
            vec!["pricing".into()],
            "neutral".into()
        ))
    );
}

#[test]
fn search_helpers_agree() {
    let doc = fts_document("Our offices are located in Lisbon; pricing starts at $10.");
    let query = fts5_query("Where is your location?").unwrap();
    // Every alphabetic query stem is a prefix of some document token it should find.
    assert!(doc.split(' ').any(|t| t.starts_with("locat")), "{doc}");
    assert!(query.contains("\"locat\"*"), "{query}");
    assert!(query.contains("\"offic\"*"), "{query}");
    assert_eq!(
        sentences("Dr. Lee costs $10.50, e.g. for 3.5 hours... Call us! Ok."),
        vec![
            "Dr. Lee costs $10.50, e.g. for 3.5 hours... Call us!",
            "Ok."
        ]
    );
    let msgs = vec![
        Message::user("What does Basic cost?"),
        Message::user("and Pro?"),
    ];
    assert_eq!(
        local::contextual_question(&msgs),
        "What does Basic cost? and Pro?"
    );
}
