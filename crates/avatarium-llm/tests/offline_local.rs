//! The offline provider through the `ChatProvider` trait, as the server
//! uses it when no API key or network is available.

use std::sync::Arc;

use avatarium_llm::local::LocalProvider;
use avatarium_llm::{
    ChatProvider, ChatRequest, Message, Passage, Persona, ProviderConfig, ProviderKind,
};
use futures::StreamExt;

fn provider() -> Arc<dyn ChatProvider> {
    let cfg = ProviderConfig::new("local", ProviderKind::Local, "", "avatarium-local");
    avatarium_llm::build(cfg, reqwest::Client::new())
}

fn persona() -> Persona {
    Persona {
        name: "Ava".into(),
        tagline: Some("The friendly guide to Acme Cloud".into()),
        personality: Some("You are upbeat and concise.".into()),
        greeting: Some("Hello! I'm Ava, ask me anything about Acme Cloud.".into()),
    }
}

fn pricing_faq() -> Passage {
    Passage {
        title: "Pricing FAQ".into(),
        text: "Basic costs 10 dollars a month, Pro costs 30 dollars a month. Both plans include email support. Our office is in Lisbon.".into(),
        relevance: 1.0,
    }
}

fn request(messages: Vec<Message>, knowledge: Vec<Passage>) -> ChatRequest {
    ChatRequest {
        messages,
        knowledge,
        persona: Some(persona()),
        ..Default::default()
    }
}

async fn reply(messages: Vec<Message>, knowledge: Vec<Passage>) -> String {
    provider()
        .complete(request(messages, knowledge))
        .await
        .expect("local never fails")
}

fn is_dont_know(reply: &str) -> bool {
    let l = reply.to_lowercase();
    l.contains("not sure") || l.contains("don't know")
}

#[tokio::test]
async fn identifies_as_local() {
    let p = provider();
    assert_eq!(p.id(), "local");
    assert_eq!(p.default_model(), "avatarium-local");
    assert_eq!(LocalProvider::new().id(), "local");
}

#[tokio::test]
async fn answers_pricing_from_knowledge() {
    let a = reply(
        vec![Message::user("What are your pricing plans?")],
        vec![pricing_faq()],
    )
    .await;
    assert!(a.contains("10 dollars"), "{a}");
    assert!(a.contains("30 dollars"), "{a}");
    assert!(!a.contains("Lisbon"), "{a}");
    assert!(!is_dont_know(&a), "{a}");
}

#[tokio::test]
async fn answers_from_the_right_passage() {
    let hours = Passage {
        title: "Opening hours".into(),
        text: "We are open Monday to Friday from 9 a.m. to 6 p.m. On Saturdays we open at 10. We are closed on Sundays and public holidays.".into(),
        relevance: 0.8,
    };
    let a = reply(
        vec![Message::user("When are you open on Saturday?")],
        vec![pricing_faq(), hours.clone()],
    )
    .await;
    assert!(a.contains("Saturdays we open at 10"), "{a}");
    assert!(!a.contains("dollars"), "{a}");
    let a = reply(
        vec![Message::user("Where can I find you?")],
        vec![hours, pricing_faq()],
    )
    .await;
    assert_eq!(a, "Our office is in Lisbon.");
}

#[tokio::test]
async fn admits_not_knowing_without_inventing() {
    for q in [
        "Do you deliver to Canada?",
        "Can I bring my dog?",
        "What's your refund policy?",
    ] {
        let a = reply(vec![Message::user(q)], vec![pricing_faq()]).await;
        assert!(is_dont_know(&a), "{q}: {a}");
        assert!(!a.chars().any(|c| c.is_ascii_digit()), "{q}: {a}");
        assert!(!a.contains("Lisbon"), "{q}: {a}");
    }
    let a = reply(vec![Message::user("What are your pricing plans?")], vec![]).await;
    assert!(is_dont_know(&a), "{a}");
    // Same question, same reply.
    let b = reply(vec![Message::user("What are your pricing plans?")], vec![]).await;
    assert_eq!(a, b);
}

#[tokio::test]
async fn greets_with_the_persona_greeting() {
    for g in ["hi", "Hello!", "hey there", "Good morning, Ava"] {
        assert_eq!(
            reply(vec![Message::user(g)], vec![pricing_faq()]).await,
            "Hello! I'm Ava, ask me anything about Acme Cloud.",
            "{g}"
        );
    }
    let plain = ChatRequest {
        messages: vec![Message::user("hello")],
        persona: Some(Persona {
            name: "Max".into(),
            ..Default::default()
        }),
        ..Default::default()
    };
    assert_eq!(
        provider().complete(plain).await.unwrap(),
        "Hi, I'm Max. How can I help?"
    );
}

#[tokio::test]
async fn introduces_itself() {
    let a = reply(vec![Message::user("Who are you?")], vec![]).await;
    assert!(a.contains("Ava"), "{a}");
    assert!(a.contains("friendly guide to Acme Cloud"), "{a}");
    let a = reply(vec![Message::user("what's your name")], vec![]).await;
    assert!(a.starts_with("I'm Ava"), "{a}");
    let a = reply(vec![Message::user("What can you do?")], vec![]).await;
    assert!(a.contains("Ava") && a.contains("questions"), "{a}");
}

#[tokio::test]
async fn handles_thanks_and_goodbye() {
    let a = reply(vec![Message::user("Thanks a lot!")], vec![pricing_faq()]).await;
    assert!(a.starts_with("You're welcome!"), "{a}");
    let a = reply(vec![Message::user("ok bye")], vec![pricing_faq()]).await;
    assert!(a.to_lowercase().contains("goodbye"), "{a}");
}

#[tokio::test]
async fn streams_small_chunks_that_add_up() {
    let req = request(
        vec![Message::user("What are your pricing plans?")],
        vec![pricing_faq()],
    );
    let full = provider().complete(req.clone()).await.unwrap();
    let mut stream = provider().stream(req).await.unwrap();
    let mut chunks = Vec::new();
    while let Some(c) = stream.next().await {
        chunks.push(c.unwrap());
    }
    assert!(chunks.len() >= 5, "{chunks:?}");
    assert!(
        chunks
            .iter()
            .all(|c| (1..=3).contains(&c.split_whitespace().count())),
        "{chunks:?}"
    );
    assert_eq!(chunks.concat(), full);
}

#[tokio::test]
async fn follow_ups_reuse_the_previous_question() {
    let prices = Passage {
        title: "Pricing FAQ".into(),
        text: "Basic costs 10 dollars a month. Pro costs 30 dollars a month.".into(),
        relevance: 0.6,
    };
    let apps = Passage {
        title: "Apps".into(),
        text: "The Pro app runs on Windows and macOS. Updates are free.".into(),
        relevance: 0.9,
    };
    let knowledge = vec![apps, prices];
    let first = reply(
        vec![Message::user("How much does Basic cost?")],
        knowledge.clone(),
    )
    .await;
    assert!(first.starts_with("Basic costs 10 dollars"), "{first}");

    let follow_up = vec![
        Message::user("How much does Basic cost?"),
        Message::assistant(first),
        Message::user("And the Pro one?"),
    ];
    let a = reply(follow_up, knowledge.clone()).await;
    assert!(a.starts_with("Pro costs 30 dollars a month."), "{a}");
    assert!(!a.contains("10 dollars"), "{a}");

    // A new intent is not drowned by the previous one.
    let switch = vec![
        Message::user("What are your pricing plans?"),
        Message::assistant("Basic costs 10 dollars a month, Pro costs 30 dollars a month."),
        Message::user("Where are you?"),
    ];
    assert_eq!(
        reply(switch, vec![pricing_faq()]).await,
        "Our office is in Lisbon."
    );

    // Alone, the same words are about the app.
    let a = reply(vec![Message::user("And the Pro one?")], knowledge).await;
    assert!(a.starts_with("The Pro app"), "{a}");
}

#[tokio::test]
async fn greeting_then_question_is_answered() {
    let a = reply(
        vec![Message::user("Hi Ava, how much is Pro?")],
        vec![pricing_faq()],
    )
    .await;
    assert!(a.starts_with("Hi! "), "{a}");
    assert!(a.contains("30 dollars"), "{a}");
}
