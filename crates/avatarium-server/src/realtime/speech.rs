//! Speaking: sentences in, synthesised one by one, each sent as an `audio`
//! event when its turn on the session clock comes, with the mouth's
//! timeline anchored at the same instant. What was actually heard is kept,
//! so an interrupted answer is stored as far as it got.

use std::sync::Arc;
use std::time::Instant;

use base64::Engine as _;
use futures::StreamExt;
use serde_json::json;
use tokio::sync::mpsc;

use avatarium_lipsync::{Cue, Timeline, Viseme, WordTiming};
use avatarium_llm::speakable;
use avatarium_tts::{Speech, SpeechRequest, sentences, wav};

use super::session::{Session, VoiceChoice};
use crate::state::AppState;

/// Cuts streamed text into sentences as soon as each is complete: a
/// sentence is complete once the text after it has begun (so "Dr." followed
/// by " Smith" is not cut).
#[derive(Default)]
pub struct SentenceSplitter {
    pending: String,
}

impl SentenceSplitter {
    pub fn push(&mut self, delta: &str) -> Vec<String> {
        self.pending.push_str(delta);
        let mut parts = sentences::split_sentences(&self.pending);
        if parts.len() < 2 {
            return Vec::new();
        }
        let last = parts.pop().expect("two or more");
        // Keep the unfinished sentence with the whitespace it ends in, so
        // the next delta joins it correctly.
        let trailing = self.pending.ends_with(char::is_whitespace);
        self.pending = last;
        if trailing {
            self.pending.push(' ');
        }
        parts
    }

    pub fn finish(&mut self) -> Vec<String> {
        sentences::split_sentences(&std::mem::take(&mut self.pending))
    }
}

/// One sentence that was sent to the client, on the session clock.
struct Played {
    /// As stored and shown.
    display: String,
    /// As spoken (word timings index its words).
    spoken: String,
    start_ms: f64,
    duration_ms: f64,
    words: Vec<WordTiming>,
}

/// The answer being spoken: its mouth timeline (origin at the first
/// sentence's start), and what has been sent.
#[derive(Default)]
struct Playout {
    origin: Option<f64>,
    timeline: Timeline,
    /// Clock ms at which the audio scheduled so far ends.
    cursor: f64,
    played: Vec<Played>,
}

impl Playout {
    /// Appends a sentence's cues at clock `start_ms`; the timeline stays
    /// one piece (gaps are silence), so the mouth never resets mid-answer.
    fn schedule(&mut self, start_ms: f64, visemes: &Timeline) -> (Timeline, f64) {
        let origin = *self.origin.get_or_insert(start_ms);
        let offset = (start_ms - origin).max(0.0).round() as u32;
        let end = self.timeline.cues.last().map_or(0, |c| c.end);
        if offset > end {
            self.timeline.cues.push(Cue {
                viseme: Viseme::Sil,
                start: end,
                end: offset,
            });
        }
        for c in &visemes.cues {
            let (start, stop) = (c.start + offset, c.end + offset);
            let floor = self.timeline.cues.last().map_or(0, |l| l.end);
            let start = start.max(floor);
            if stop > start {
                self.timeline.cues.push(Cue {
                    viseme: c.viseme,
                    start,
                    end: stop,
                });
            }
        }
        (self.timeline.clone(), origin)
    }

    /// What the listener heard by clock `at_ms`: whole sentences that had
    /// finished, plus the words of the current one that had begun.
    fn heard_until(&self, at_ms: f64) -> String {
        let mut out: Vec<String> = Vec::new();
        for p in &self.played {
            if p.start_ms + p.duration_ms <= at_ms {
                out.push(p.display.clone());
                continue;
            }
            if p.start_ms <= at_ms {
                let begun = p
                    .words
                    .iter()
                    .filter(|w| p.start_ms + f64::from(w.start) < at_ms)
                    .count();
                let partial = first_words(&p.spoken, begun);
                if !partial.is_empty() {
                    out.push(partial);
                }
            }
            break;
        }
        out.join(" ")
    }

    fn all_text(&self) -> String {
        self.played
            .iter()
            .map(|p| p.display.as_str())
            .collect::<Vec<_>>()
            .join(" ")
    }
}

/// The first `n` words of `text` (tokens with a letter or digit; the local
/// voice times exactly those), with their punctuation.
fn first_words(text: &str, n: usize) -> String {
    if n == 0 {
        return String::new();
    }
    let mut seen = 0;
    let mut out = Vec::new();
    for token in text.split_whitespace() {
        if seen == n {
            break;
        }
        out.push(token);
        if token.chars().any(char::is_alphanumeric) {
            seen += 1;
        }
    }
    out.join(" ")
}

/// How a spoken piece ended.
#[derive(Debug, Default)]
pub struct Spoken {
    /// What the listener heard: the whole text, or the part before the
    /// interruption.
    pub heard: String,
    pub interrupted: bool,
    /// Seconds of audio sent.
    pub duration_s: f64,
    /// When the first audio went out.
    pub first_audio: Option<Instant>,
    /// A synthesis failure that left nothing to hear.
    pub failed: Option<String>,
}

/// Context of one piece of speech.
pub struct SpeakJob<'a> {
    pub state: &'a AppState,
    pub session: &'a Arc<Session>,
    pub voice: VoiceChoice,
    /// The generation it belongs to: an interrupt makes it stale.
    pub generation: u64,
    /// Where turn latency is counted from (end of the user's input).
    pub latency_from: Option<Instant>,
    /// avatar.speak's task, named on the audio events.
    pub task_id: Option<String>,
}

/// Speaks `sentences` (display text, one sentence per item) as they come.
/// The caller holds the session's floor.
pub async fn speak(job: SpeakJob<'_>, sentences: mpsc::Receiver<String>) -> Spoken {
    let SpeakJob {
        state,
        session,
        voice,
        generation,
        latency_from,
        task_id,
    } = job;
    let mut out = Spoken::default();
    let engine = match state.tts_engine(&voice.provider, None) {
        Ok(e) => e,
        Err(e) => {
            session.emit_error("TTS_ERROR", &e.to_string());
            out.failed = Some(e.to_string());
            return out;
        }
    };
    let requests = futures::stream::unfold(sentences, |mut rx| async move {
        rx.recv().await.map(|s| (s, rx))
    })
    .map(|display: String| {
        let engine = engine.clone();
        let req = SpeechRequest {
            text: speakable::speakable(&display),
            voice: voice.voice.clone(),
            speed: voice.speed,
            pitch: None,
        };
        async move {
            if req.text.trim().is_empty() {
                return (display, req.text, None);
            }
            let speech = engine.synthesize(&req).await;
            (display, req.text, Some(speech))
        }
    })
    // The next sentence is synthesised while this one plays.
    .buffered(2);
    let mut requests = std::pin::pin!(requests);
    let mut plan = Playout::default();
    let cancelled = session.cancelled(generation);
    let mut cancelled = std::pin::pin!(cancelled);
    loop {
        let next = tokio::select! {
            biased;
            _ = &mut cancelled => return interrupted(session, plan, out),
            next = requests.next() => next,
        };
        let Some((display, spoken, speech)) = next else {
            break;
        };
        let speech: Speech = match speech {
            None => continue,
            Some(Ok(s)) if !s.samples.is_empty() && s.sample_rate > 0 => s,
            Some(Ok(_)) => continue,
            Some(Err(e)) => {
                let message = crate::handlers::tts::tts_error(e).to_string();
                session.emit_error("TTS_ERROR", &message);
                if plan.played.is_empty() {
                    out.failed = Some(message);
                }
                continue;
            }
        };
        let duration_ms = f64::from(speech.duration_ms());
        // The frame pump renders `lead` ms ahead of the clock: frames up to
        // now + lead are already on their way, with the mouth at rest. That
        // is right for the speech's leading silence; the first mouth shape
        // must fall after them, so the audio starts later by whatever the
        // silence does not cover.
        let now = session.clock_ms();
        let lead = state.realtime.render_lead_ms();
        let silent = f64::from(leading_silence_ms(&speech.visemes));
        let start = plan.cursor.max(now + (lead - silent).max(0.0));
        let (timeline, origin) = plan.schedule(start, &speech.visemes);
        session.speak_mouth(timeline, origin);
        if let Some(peer) = session.media() {
            peer.schedule_audio(start, &speech.samples, speech.sample_rate);
        }
        plan.cursor = start + duration_ms;
        // The event is ready before its instant, so it leaves on time.
        let mut event = json!({
            "type": "audio",
            "data": base64::engine::general_purpose::STANDARD
                .encode(wav::encode_wav(&speech.samples, speech.sample_rate)),
            "duration": (duration_ms / 10.0).round() / 100.0,
            "sample_rate": speech.sample_rate,
            "timestamp": session.wall_secs(start),
            "text": display,
        });
        if let Some(t) = &task_id {
            event["task_id"] = json!(t);
        }
        let event: Arc<str> = Arc::from(event.to_string());
        let due = tokio::time::Instant::from_std(session.instant_of(start));
        tokio::select! {
            biased;
            _ = &mut cancelled => return interrupted(session, plan, out),
            _ = tokio::time::sleep_until(due) => {}
        }
        session.emit_text(event);
        if out.first_audio.is_none() {
            let now = Instant::now();
            out.first_audio = Some(now);
            session.set_speaking(true);
            session.emit_status("speaking");
            if let Some(from) = latency_from {
                state.metrics.record_turn(now.duration_since(from));
            }
        }
        session.touch();
        plan.played.push(Played {
            display,
            spoken,
            start_ms: start,
            duration_ms,
            words: speech.words,
        });
    }
    // Everything is scheduled: wait for the audio to play out.
    if plan.cursor > session.clock_ms() {
        let end = tokio::time::Instant::from_std(session.instant_of(plan.cursor));
        tokio::select! {
            biased;
            _ = &mut cancelled => return interrupted(session, plan, out),
            _ = tokio::time::sleep_until(end) => {}
        }
    }
    out.heard = plan.all_text();
    out.duration_s = plan.played.iter().map(|p| p.duration_ms).sum::<f64>() / 1000.0;
    if out.first_audio.is_some() {
        session.set_speaking(false);
        session.emit_status(session.resting_status());
    }
    out
}

/// How long a timeline keeps the mouth at rest before its first shape
/// starts to form (the blend moves towards a shape a little before its
/// cue).
fn leading_silence_ms(timeline: &Timeline) -> u32 {
    let p = avatarium_lipsync::blend::BlendParams::default();
    let early = (p.ramp_ms / 2.0 + p.anticipation_ms).ceil() as u32;
    timeline
        .cues
        .iter()
        .find(|c| c.viseme != Viseme::Sil)
        .map_or(0, |c| c.start.saturating_sub(early))
}

fn interrupted(session: &Session, plan: Playout, mut out: Spoken) -> Spoken {
    // The interrupt itself stopped the mouth and told the clients.
    let at = session.clock_ms();
    out.heard = plan.heard_until(at);
    out.interrupted = true;
    out.duration_s = plan
        .played
        .iter()
        .map(|p| (at - p.start_ms).clamp(0.0, p.duration_ms))
        .sum::<f64>()
        / 1000.0;
    out
}

/// Seconds `text` takes to say at `speed` with the local voice's rate:
/// its words at 175 per minute, plus a pause per sentence.
pub fn estimate_seconds(text: &str, speed: Option<f32>) -> f64 {
    let words = text
        .split_whitespace()
        .filter(|w| w.chars().any(char::is_alphanumeric))
        .count() as f64;
    let sentences = sentences::split_sentences(text).len() as f64;
    let rate = f64::from(avatarium_tts::local::BASE_RATE_WPM) / 60.0;
    let secs = (words / rate + 0.3 * sentences) / f64::from(speed.unwrap_or(1.0).clamp(0.5, 2.0));
    (secs * 10.0).round() / 10.0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sentences_are_cut_once_the_next_begins() {
        let mut s = SentenceSplitter::default();
        let mut out = Vec::new();
        for d in [
            "Hello",
            " there.",
            " Dr.",
            " Smith is",
            " in. ",
            "Bye",
            " now!",
        ] {
            out.extend(s.push(d));
        }
        assert_eq!(out, vec!["Hello there.", "Dr. Smith is in."]);
        assert_eq!(s.finish(), vec!["Bye now!"]);
        assert!(s.finish().is_empty());
    }

    #[test]
    fn words_keep_their_spacing_across_deltas() {
        let mut s = SentenceSplitter::default();
        let mut out = s.push("One two. Three ");
        out.extend(s.push("four."));
        out.extend(s.finish());
        assert_eq!(out, vec!["One two.", "Three four."]);
    }

    fn cue(v: Viseme, start: u32, end: u32) -> Cue {
        Cue {
            viseme: v,
            start,
            end,
        }
    }

    #[test]
    fn sentences_merge_into_one_timeline_with_silent_gaps() {
        let mut p = Playout::default();
        let a = Timeline {
            cues: vec![cue(Viseme::Aa, 0, 100), cue(Viseme::Sil, 100, 120)],
        };
        let (tl, origin) = p.schedule(1_000.0, &a);
        assert_eq!(origin, 1_000.0);
        assert_eq!(tl.cues.len(), 2);
        let b = Timeline {
            cues: vec![cue(Viseme::PP, 0, 50)],
        };
        let (tl, origin) = p.schedule(1_200.0, &b);
        assert_eq!(origin, 1_000.0);
        let shape: Vec<_> = tl.cues.iter().map(|c| (c.viseme, c.start, c.end)).collect();
        assert_eq!(
            shape,
            vec![
                (Viseme::Aa, 0, 100),
                (Viseme::Sil, 100, 120),
                (Viseme::Sil, 120, 200),
                (Viseme::PP, 200, 250)
            ]
        );
    }

    #[test]
    fn an_interrupted_answer_keeps_what_was_heard() {
        let w = |word: &str, start, end| WordTiming {
            word: word.into(),
            start,
            end,
        };
        let mut p = Playout::default();
        p.played.push(Played {
            display: "First one.".into(),
            spoken: "First one.".into(),
            start_ms: 0.0,
            duration_ms: 1_000.0,
            words: vec![w("first", 0, 400), w("one", 400, 900)],
        });
        p.played.push(Played {
            display: "Second, longer sentence here.".into(),
            spoken: "Second, longer sentence here.".into(),
            start_ms: 1_000.0,
            duration_ms: 2_000.0,
            words: vec![
                w("second", 0, 500),
                w("longer", 500, 1_000),
                w("sentence", 1_000, 1_500),
                w("here", 1_500, 2_000),
            ],
        });
        assert_eq!(p.heard_until(500.0), "First one.");
        assert_eq!(p.heard_until(1_000.0), "First one.");
        assert_eq!(p.heard_until(1_600.0), "First one. Second, longer");
        assert_eq!(
            p.heard_until(5_000.0),
            "First one. Second, longer sentence here."
        );
    }

    #[test]
    fn estimates_follow_the_voice_rate() {
        let one = estimate_seconds("one two three four five six seven.", None);
        assert!((2.0..3.0).contains(&one), "{one}");
        let fast = estimate_seconds("one two three four five six seven.", Some(2.0));
        assert!(fast < one);
    }
}
