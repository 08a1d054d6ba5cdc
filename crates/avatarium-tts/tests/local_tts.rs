//! The espeak-ng voice end to end (real libespeak-ng, no network).

use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use async_trait::async_trait;
use avatarium_lipsync::{Timeline, Viseme, WordTiming};
use avatarium_tts::align::{CharTiming, Timing, audio_model, speech_span, visemes_for};
use avatarium_tts::local::LocalTts;
use avatarium_tts::sentences::{concat, split_sentences, synthesize_stream};
use avatarium_tts::wav::{decode_wav, encode_wav};
use avatarium_tts::{Speech, SpeechRequest, TtsEngine, TtsError, Voice};
use futures::StreamExt;

fn req(text: &str) -> SpeechRequest {
    SpeechRequest {
        text: text.into(),
        ..Default::default()
    }
}

fn voiced(text: &str, voice: &str) -> SpeechRequest {
    SpeechRequest {
        text: text.into(),
        voice: Some(voice.into()),
        ..Default::default()
    }
}

async fn say(text: &str) -> Speech {
    LocalTts::new()
        .synthesize(&req(text))
        .await
        .expect("synthesis")
}

/// Ordered, contiguous, non-empty cues from 0 to the end of the audio,
/// starting and ending with silence.
fn assert_well_formed(tl: &Timeline, duration_ms: u32) {
    let cues = &tl.cues;
    assert!(!cues.is_empty());
    assert_eq!(cues[0].start, 0);
    assert_eq!(cues.last().unwrap().end, duration_ms);
    for c in cues {
        assert!(c.start < c.end, "empty cue {c:?}");
    }
    for w in cues.windows(2) {
        assert_eq!(w[0].end, w[1].start, "gap or overlap at {:?}", w);
    }
    assert_eq!(cues[0].viseme, Viseme::Sil);
    assert_eq!(cues.last().unwrap().viseme, Viseme::Sil);
}

fn words(speech: &[WordTiming]) -> Vec<&str> {
    speech.iter().map(|w| w.word.as_str()).collect()
}

#[tokio::test]
async fn hello_world() {
    let s = say("Hello world").await;
    assert_eq!(s.sample_rate, 22050);
    assert!(!s.samples.is_empty());
    assert!(
        (500..=3000).contains(&s.duration_ms()),
        "{} ms",
        s.duration_ms()
    );
    assert!(
        s.samples.iter().any(|&x| x.unsigned_abs() > 3000),
        "audible"
    );
    assert_well_formed(&s.visemes, s.duration_ms());
    assert_eq!(words(&s.words), ["Hello", "world"]);
    assert!(s.words[0].start < s.words[0].end && s.words[0].end <= s.words[1].start);
    assert!(s.words[1].end <= s.duration_ms());
    assert_eq!(
        (s.provider.as_str(), s.voice_id.as_str(), s.viseme_source),
        ("local", "en-us", "engine")
    );
}

#[tokio::test]
async fn text_is_plain_text_not_ssml() {
    // As SSML the break would add five seconds of silence.
    let s = say("One <break time=\"5s\"/> two & three.").await;
    assert!(s.duration_ms() < 4000, "{} ms", s.duration_ms());
    assert!(s.words.iter().any(|w| w.word == "two"));
}

#[tokio::test]
async fn lips_close_on_p_b_m() {
    let s = say("Bob bought a big map").await;
    assert_well_formed(&s.visemes, s.duration_ms());
    assert_eq!(words(&s.words), ["Bob", "bought", "a", "big", "map"]);
    for w in s.words.iter().filter(|w| w.word != "a") {
        // The lips close a little before the release the engine marks.
        let pp = s
            .visemes
            .cues
            .iter()
            .any(|c| c.viseme == Viseme::PP && c.start < w.end && c.end + 60 > w.start);
        assert!(pp, "no PP around {w:?}: {:?}", s.visemes.cues);
    }
    let n_pp = s
        .visemes
        .cues
        .iter()
        .filter(|c| c.viseme == Viseme::PP)
        .count();
    assert!(n_pp >= 4, "{n_pp} PP cues");
}

#[tokio::test]
async fn silence_between_sentences() {
    let s = say("Hello. Goodbye.").await;
    assert_well_formed(&s.visemes, s.duration_ms());
    let (hello, bye) = (&s.words[0], &s.words[1]);
    assert_eq!(words(&s.words), ["Hello", "Goodbye"]);
    let pause = s
        .visemes
        .cues
        .iter()
        .find(|c| c.viseme == Viseme::Sil && c.start >= hello.start + 100 && c.end <= bye.end);
    let pause = pause.expect("a silence between the sentences");
    assert!(pause.end - pause.start >= 100, "{pause:?}");
}

#[tokio::test]
async fn word_timings_follow_the_text() {
    let s = say("The 3 quick brown foxes, of the forest, jumped over 1990 lazy dogs!").await;
    assert_eq!(
        words(&s.words),
        [
            "The", "3", "quick", "brown", "foxes", "of", "the", "forest", "jumped", "over", "1990",
            "lazy", "dogs"
        ]
    );
    for w in s.words.windows(2) {
        assert!(w[0].start <= w[1].start && w[0].end <= w[1].start, "{w:?}");
    }
    for w in &s.words {
        assert!(w.start < w.end, "{w:?}");
    }
}

#[tokio::test]
async fn voices_and_languages() {
    let tts = LocalTts::new();
    let voices: Vec<Voice> = tts.voices().await;
    let has = |id: &str| voices.iter().any(|v| v.id == id);
    for id in [
        "en-us", "en-gb", "de", "fr-fr", "es", "it", "pt-br", "en-us+f3", "en-gb+m3",
    ] {
        assert!(has(id), "missing {id}");
    }
    assert!(voices.len() > 50, "{}", voices.len());
    assert!(voices.iter().all(|v| v.provider == "local" && v.offline));
    let f3 = voices.iter().find(|v| v.id == "en-us+f3").unwrap();
    assert_eq!(f3.gender.as_deref(), Some("female"));
    assert_eq!(tts.id(), "local");
    assert_eq!(tts.default_voice(), "en-us");

    let de = tts
        .synthesize(&voiced("Grüße aus München, ich bin hier.", "de"))
        .await
        .unwrap();
    assert_eq!(
        words(&de.words),
        ["Grüße", "aus", "München", "ich", "bin", "hier"]
    );
    assert_well_formed(&de.visemes, de.duration_ms());
    assert_eq!(de.voice_id, "de");
    // German G2P: "ich" has the ich-Laut, which English rules never make.
    let g = tts.phonemize("ich", Some("de")).await.unwrap();
    assert!(g[0].1.iter().any(|p| p.contains('ç')), "{g:?}");
    let e = tts.phonemize("ich", Some("en-us")).await.unwrap();
    assert!(!e[0].1.iter().any(|p| p.contains('ç')), "{e:?}");

    // Languages are accepted by the tags espeak files them under too.
    assert_eq!(
        tts.synthesize(&voiced("Bonjour.", "fr"))
            .await
            .unwrap()
            .voice_id,
        "fr-fr"
    );
    for (voice, text) in [
        ("fr", "Bonjour à tous."),
        ("es", "Buenos días, señor."),
        ("en-gb+f3", "Good morning."),
    ] {
        let s = tts.synthesize(&voiced(text, voice)).await.unwrap();
        assert!(s.duration_ms() > 300, "{voice}");
        assert_well_formed(&s.visemes, s.duration_ms());
    }
    // Variant ids are matched case-insensitively and reported canonically.
    let s = tts
        .synthesize(&voiced("Hi there.", "EN-US+F3"))
        .await
        .unwrap();
    assert_eq!(s.voice_id, "en-us+f3");
}

#[tokio::test]
async fn unknown_voices_and_empty_text_are_refused() {
    let tts = LocalTts::new();
    for voice in ["xx-nope", "en-us+nosuchvariant", "+f3", "de+"] {
        let err = tts.synthesize(&voiced("Hello", voice)).await.unwrap_err();
        assert!(matches!(err, TtsError::UnknownVoice(_)), "{voice}: {err:?}");
    }
    for text in ["", "   \n\t "] {
        let err = tts.synthesize(&req(text)).await.unwrap_err();
        assert!(matches!(err, TtsError::BadRequest(_)), "{err:?}");
    }
    assert!(!tts.has_voice("klingon").await);
    assert!(tts.has_voice("fr").await);
}

#[tokio::test]
async fn speed_changes_duration() {
    let tts = LocalTts::new();
    let text = "The rain in Spain stays mainly in the plain.";
    let fast = tts
        .synthesize(&SpeechRequest {
            speed: Some(2.0),
            ..req(text)
        })
        .await
        .unwrap();
    let slow = tts
        .synthesize(&SpeechRequest {
            speed: Some(0.5),
            ..req(text)
        })
        .await
        .unwrap();
    assert!(
        fast.duration_ms() * 2 < slow.duration_ms(),
        "{} vs {}",
        fast.duration_ms(),
        slow.duration_ms()
    );
    let high = tts
        .synthesize(&SpeechRequest {
            pitch: Some(1.8),
            ..req(text)
        })
        .await
        .unwrap();
    assert_ne!(
        high.samples,
        tts.synthesize(&req(text)).await.unwrap().samples
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn concurrent_requests_are_serialised() {
    let tts = Arc::new(LocalTts::new());
    let tasks: Vec<_> = (0..24)
        .map(|i| {
            let tts = tts.clone();
            tokio::spawn(async move {
                let voice = ["en-us", "en-gb", "de", "en-us+m3"][i % 4];
                let text = format!("Request number {i} is here.");
                let s = tts.synthesize(&voiced(&text, voice)).await.unwrap();
                (i, s)
            })
        })
        .collect();
    for t in tasks {
        let (i, s) = t.await.unwrap();
        assert!(s.duration_ms() > 500, "{i}");
        assert_eq!(s.words.len(), 5, "{i}: {:?}", s.words);
        assert_well_formed(&s.visemes, s.duration_ms());
    }
    // Requests do not leak into each other: the same request after all that
    // gives the same speech (espeak's pitch flutter runs on across
    // requests, which moves pitch periods, and with them the closing pause,
    // by a few ms).
    let a = tts.synthesize(&req("Same again.")).await.unwrap();
    let b = tts.synthesize(&req("Same again.")).await.unwrap();
    assert!(
        a.duration_ms().abs_diff(b.duration_ms()) <= 50,
        "{} vs {}",
        a.duration_ms(),
        b.duration_ms()
    );
    assert_eq!(words(&a.words), words(&b.words));
    assert_eq!(a.words[0], b.words[0]);
}

#[test]
fn sentences_are_split_sensibly() {
    let cases: &[(&str, &[&str])] = &[
        (
            "Hello world. How are you? I'm fine!",
            &["Hello world.", "How are you?", "I'm fine!"],
        ),
        (
            "Dr. Smith met Mrs. Jones at 3.30 p.m. today.",
            &["Dr. Smith met Mrs. Jones at 3.30 p.m. today."],
        ),
        (
            "Pi is 3.14159. That is all.",
            &["Pi is 3.14159.", "That is all."],
        ),
        (
            "Well... maybe. Wait… what? Fine.",
            &["Well... maybe.", "Wait… what?", "Fine."],
        ),
        (
            "I waited... Then it came.",
            &["I waited...", "Then it came."],
        ),
        (
            "See https://example.com/a.b?c=d. Then go.",
            &["See https://example.com/a.b?c=d.", "Then go."],
        ),
        (
            "Use e.g. apples, i.e. fruit. OK.",
            &["Use e.g. apples, i.e. fruit.", "OK."],
        ),
        (
            "J. R. R. Tolkien wrote it. He said \"Go!\" Then left.",
            &[
                "J. R. R. Tolkien wrote it.",
                "He said \"Go!\"",
                "Then left.",
            ],
        ),
        (
            "Apples, pears, etc. Those are fruit.",
            &["Apples, pears, etc.", "Those are fruit."],
        ),
        ("No. 5 is here.", &["No. 5 is here."]),
        (
            "Title line\n\nFirst paragraph.\nStill it",
            &["Title line", "First paragraph.", "Still it"],
        ),
        ("你好。我很好！", &["你好。", "我很好！"]),
        ("  ", &[]),
        ("No terminator at the end", &["No terminator at the end"]),
    ];
    for (text, want) in cases {
        assert_eq!(split_sentences(text), *want, "{text:?}");
    }
    let long = "This clause goes on and on, ".repeat(20) + "and ends.";
    let parts = split_sentences(&long);
    assert!(parts.len() >= 3, "{parts:?}");
    assert!(parts.iter().all(|p| p.chars().count() <= 250), "{parts:?}");
    assert!(
        parts[..parts.len() - 1].iter().all(|p| p.ends_with(',')),
        "{parts:?}"
    );
    assert_eq!(parts.join(" "), long.trim());
    let no_commas = "word ".repeat(150);
    assert!(
        split_sentences(&no_commas)
            .iter()
            .all(|p| p.chars().count() <= 250)
    );
}

/// Counts finished syntheses, to see how far ahead of the consumer the
/// stream runs.
struct Counting {
    inner: LocalTts,
    done: AtomicUsize,
}

#[async_trait]
impl TtsEngine for Counting {
    fn id(&self) -> &str {
        "counting"
    }
    fn default_voice(&self) -> &str {
        "en-us"
    }
    async fn voices(&self) -> Vec<Voice> {
        Vec::new()
    }
    async fn synthesize(&self, req: &SpeechRequest) -> Result<Speech, TtsError> {
        let s = self.inner.synthesize(req).await;
        self.done.fetch_add(1, Ordering::SeqCst);
        s
    }
}

#[tokio::test]
async fn streams_sentence_by_sentence() {
    let engine = Counting {
        inner: LocalTts::new(),
        done: AtomicUsize::new(0),
    };
    let text = "First sentence here. Second one follows. A third comes next. And the fourth ends it. Fifth!";
    let mut stream = Box::pin(synthesize_stream(&engine, req(text)));
    let first = stream.next().await.unwrap().unwrap();
    assert!(
        engine.done.load(Ordering::SeqCst) <= 2,
        "the first part waited for the rest"
    );
    assert_eq!(words(&first.words), ["First", "sentence", "here"]);
    let mut parts = vec![first];
    while let Some(p) = stream.next().await {
        parts.push(p.unwrap());
    }
    assert_eq!(parts.len(), 5);
    assert_eq!(words(&parts[4].words), ["Fifth"]);

    let lens: Vec<u32> = parts.iter().map(Speech::duration_ms).collect();
    let joined = concat(parts);
    assert_eq!(joined.sample_rate, 22050);
    assert!(joined.duration_ms().abs_diff(lens.iter().sum()) <= 5);
    assert_well_formed(&joined.visemes, joined.duration_ms());
    assert_eq!(joined.words.len(), 16);
    assert!(joined.words.windows(2).all(|w| w[0].end <= w[1].start));
    assert!(
        joined.words[3].start >= lens[0],
        "second sentence shifted: {:?}",
        joined.words[3]
    );

    let mut empty = Box::pin(synthesize_stream(&engine, req("  ")));
    assert!(matches!(
        empty.next().await,
        Some(Err(TtsError::BadRequest(_)))
    ));
    assert!(empty.next().await.is_none());
}

#[tokio::test]
async fn wav_round_trip() {
    let s = say("Round trip.").await;
    let bytes = encode_wav(&s.samples, s.sample_rate);
    assert_eq!(&bytes[..4], b"RIFF");
    assert_eq!(bytes.len(), 44 + s.samples.len() * 2);
    let (samples, rate) = decode_wav(&bytes).unwrap();
    assert_eq!(rate, s.sample_rate);
    assert_eq!(samples, s.samples);
}

#[tokio::test]
async fn visemes_for_audio_without_them() {
    let text = "Please bring my umbrella to the office tomorrow.";
    let s = say(text).await;
    let dur = s.duration_ms();
    let span = speech_span(&s.samples, s.sample_rate).unwrap();
    assert!(
        span.0 < 150 && span.1 + 100 > s.words.last().unwrap().end && span.1 <= dur,
        "{span:?}"
    );

    // Word alignment from an engine (here the local voice's own).
    let (tl, w, source) = visemes_for(
        &s.samples,
        s.sample_rate,
        Some(text),
        Timing::Words(s.words.clone()),
        Some("en"),
    )
    .await;
    assert_eq!(source, "alignment");
    assert_well_formed(&tl, dur);
    assert_eq!(words(&w), words(&s.words));
    for (fitted, truth) in w.iter().zip(&s.words) {
        assert!(
            fitted.start.abs_diff(truth.start) <= 30,
            "{fitted:?} vs {truth:?}"
        );
    }
    assert!(tl.cues.iter().any(|c| c.viseme == Viseme::PP));

    // Character alignment (ElevenLabs style): spread each word over its letters.
    let mut chars = Vec::new();
    for (i, wt) in s.words.iter().enumerate() {
        if i > 0 {
            chars.push(CharTiming {
                ch: ' ',
                start_ms: s.words[i - 1].end,
                end_ms: wt.start,
            });
        }
        let n = wt.word.chars().count() as u32;
        for (k, ch) in wt.word.chars().enumerate() {
            let k = k as u32;
            let step = (wt.end - wt.start) / n;
            chars.push(CharTiming {
                ch,
                start_ms: wt.start + k * step,
                end_ms: wt.start + (k + 1) * step,
            });
        }
    }
    let (tl, w, source) = visemes_for(
        &s.samples,
        s.sample_rate,
        Some(text),
        Timing::Chars(chars),
        None,
    )
    .await;
    assert_eq!(source, "alignment");
    assert_well_formed(&tl, dur);
    assert_eq!(w.len(), 8);

    // Text only: phonemes fitted to the speech part of the audio.
    let (tl, w, source) = visemes_for(
        &s.samples,
        s.sample_rate,
        Some(text),
        Timing::None,
        Some("en-US"),
    )
    .await;
    assert_eq!(source, "g2p");
    assert_well_formed(&tl, dur);
    assert_eq!(w.len(), 8);
    assert!(
        w[0].start >= span.0 && w.last().unwrap().end <= span.1 + 1,
        "{w:?} in {span:?}"
    );

    // Neither: the audio estimator.
    let (tl, w, source) = visemes_for(&s.samples, s.sample_rate, None, Timing::None, None).await;
    assert_eq!(source, "audio");
    assert!(w.is_empty());
    assert_eq!(tl.cues.first().unwrap().start, 0);
    assert_eq!(tl.cues.last().unwrap().end, dur);
    // The shipped model must load: a change to the model's format in
    // avatarium-lipsync needs a retrain (examples/train_audio_visemes.rs).
    assert!(
        audio_model().is_some(),
        "data/audio_viseme_model.json does not load"
    );
    {
        let kinds: std::collections::HashSet<Viseme> = tl.cues.iter().map(|c| c.viseme).collect();
        assert!(
            kinds.len() >= 5,
            "the model should see several mouth shapes: {kinds:?}"
        );
    }

    // No audio at all.
    let (tl, w, _) = visemes_for(&[], 22050, None, Timing::None, None).await;
    assert!(tl.cues.is_empty() && w.is_empty());
}

#[tokio::test]
async fn text_only_alignment_finds_a_pause_the_text_does_not_mark() {
    // Another voice, faster, with a hesitation in the middle and silence
    // before: as a cloud engine without timings might send it.
    let tts = LocalTts::new();
    let other = |text: &str| SpeechRequest {
        speed: Some(1.3),
        ..voiced(text, "en-gb+f3")
    };
    let a = tts
        .synthesize(&other("Hello there my friend"))
        .await
        .unwrap();
    let b = tts.synthesize(&other("how are you today")).await.unwrap();
    let rate = a.sample_rate;
    let mut audio = vec![0i16; rate as usize * 4 / 10];
    audio.extend(&a.samples);
    let gap_start = (audio.len() as u64 * 1000 / u64::from(rate)) as u32;
    audio.extend(vec![0i16; rate as usize]);
    let gap_end = (audio.len() as u64 * 1000 / u64::from(rate)) as u32;
    audio.extend(&b.samples);
    let total = (audio.len() as u64 * 1000 / u64::from(rate)) as u32;

    let text = "Hello there my friend how are you today";
    let (tl, w, source) = visemes_for(&audio, rate, Some(text), Timing::None, Some("en")).await;
    assert_eq!(source, "g2p");
    assert_well_formed(&tl, total);
    assert_eq!(w.len(), 8);
    assert!(w[0].start >= 350, "{:?}", w[0]);
    assert!(
        w[3].end <= gap_start + 50 && w[4].start + 50 >= gap_end,
        "{w:?}"
    );
    let silent_gap = tl
        .cues
        .iter()
        .any(|c| c.viseme == Viseme::Sil && c.start <= gap_start + 100 && c.end + 100 >= gap_end);
    assert!(silent_gap, "{:?}", tl.cues);
}

#[tokio::test]
async fn phonemize_gives_words_and_ipa() {
    let words = LocalTts::new()
        .phonemize("Hello, wonderful world of the 21st century!", None)
        .await
        .unwrap();
    let names: Vec<&str> = words.iter().map(|(w, _)| w.as_str()).collect();
    assert_eq!(
        names,
        [
            "Hello,",
            "wonderful",
            "world",
            "of",
            "the",
            "21st",
            "century!"
        ]
    );
    assert_eq!(words[0].1, ["h", "ə", "l", "oʊ"]);
    assert!(words.iter().all(|(_, p)| !p.is_empty()), "{words:?}");
    assert!(
        LocalTts::new()
            .phonemize("  ", None)
            .await
            .unwrap()
            .is_empty()
    );
    assert!(matches!(
        LocalTts::new().phonemize("x", Some("nope")).await,
        Err(TtsError::UnknownVoice(_))
    ));
}
