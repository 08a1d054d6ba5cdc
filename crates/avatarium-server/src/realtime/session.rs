//! One realtime session: its clock, what it shows and says, and the
//! channels its sockets listen on.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use tokio::sync::{broadcast, watch};
use utoipa::ToSchema;

use avatarium_core::model::AvatarRecord;
use avatarium_core::presets::AvatarPreset;
use avatarium_core::store::Thread;
use avatarium_lipsync::Timeline;
use avatarium_render::Renderer;

use super::input::AudioInput;
use super::media::MediaPeer;

/// 003's quality levels.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Quality {
    Low,
    #[default]
    Medium,
    High,
}

/// Render size (square, px) and frame rate of each quality: the one place
/// they are set.
pub const QUALITY_TABLE: [(Quality, u32, u32); 3] = [
    (Quality::Low, 256, 15),
    (Quality::Medium, 512, 25),
    (Quality::High, 768, 30),
];

impl Quality {
    fn row(self) -> (u32, u32) {
        QUALITY_TABLE
            .iter()
            .find(|(q, ..)| *q == self)
            .map(|(_, size, fps)| (*size, *fps))
            .expect("every quality is in the table")
    }

    /// Width and height of the frames, in pixels.
    pub fn size(self) -> u32 {
        self.row().0
    }

    pub fn fps(self) -> u32 {
        self.row().1
    }

    pub fn frame_interval(self) -> Duration {
        Duration::from_secs_f64(1.0 / f64::from(self.fps()))
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Self::Low => "low",
            Self::Medium => "medium",
            Self::High => "high",
        }
    }
}

/// What the session shows.
#[derive(Clone, Debug)]
pub enum SessionAvatar {
    Preset(&'static AvatarPreset),
    /// One of the account's avatars: its soul, knowledge and model.
    Consumer(Box<AvatarRecord>),
}

impl SessionAvatar {
    pub fn id(&self) -> &str {
        match self {
            Self::Preset(p) => &p.id,
            Self::Consumer(a) => &a.id,
        }
    }
}

/// Who speaks: a TTS provider and its voice (None: the provider's default).
#[derive(Clone, Debug, PartialEq)]
pub struct VoiceChoice {
    pub provider: String,
    pub voice: Option<String>,
    pub speed: Option<f32>,
}

/// One realtime session.
pub struct Session {
    pub id: String,
    pub account_id: String,
    pub quality: Quality,
    pub avatar: SessionAvatar,
    pub voice: VoiceChoice,
    /// The speech-to-text provider for its audio turns.
    pub stt_provider: String,
    /// Where its turns are stored (a public session of a consumer avatar,
    /// else a conversation of the account).
    pub thread: Thread,
    /// Clock zero: every clock instant is ms since this.
    pub created: Instant,
    /// Clock zero as Unix seconds, for frame and audio timestamps.
    pub created_unix: f64,
    pub created_at: String,
    render: OnceLock<(Arc<Renderer>, u64)>,
    render_error: Mutex<Option<String>>,
    stopped: watch::Sender<bool>,
    generation: watch::Sender<u64>,
    /// Held while speaking: answers and speak tasks play one after another.
    pub(crate) floor: tokio::sync::Mutex<()>,
    events: broadcast::Sender<Arc<str>>,
    pub(crate) frames: watch::Sender<Option<Arc<str>>>,
    sockets: AtomicUsize,
    speaking: AtomicBool,
    listening: AtomicBool,
    /// The mouth's current timeline and its clock origin, re-applied when
    /// the stage becomes ready after speech began.
    mouth: Mutex<Option<(Timeline, f64)>>,
    last_active: Mutex<Instant>,
    frame_ids: AtomicU64,
    pub(crate) input: tokio::sync::Mutex<AudioInput>,
    /// Utterances are transcribed one at a time, in order.
    pub(crate) stt_order: tokio::sync::Mutex<()>,
    /// What the user said in turns cancelled before they were stored (a
    /// pause cut their sentence in two): the next turn begins with it.
    carried: Mutex<Vec<String>>,
    /// The WebRTC peer of `streaming.start`, when the client asked for one.
    media: Mutex<Option<Arc<MediaPeer>>>,
}

pub struct NewSession {
    pub id: String,
    pub account_id: String,
    pub quality: Quality,
    pub avatar: SessionAvatar,
    pub voice: VoiceChoice,
    pub stt_provider: String,
    pub thread: Thread,
}

impl Session {
    pub fn new(n: NewSession) -> Self {
        let now = chrono::Utc::now();
        Self {
            id: n.id,
            account_id: n.account_id,
            quality: n.quality,
            avatar: n.avatar,
            voice: n.voice,
            stt_provider: n.stt_provider,
            thread: n.thread,
            created: Instant::now(),
            created_unix: now.timestamp_micros() as f64 / 1e6,
            created_at: now.to_rfc3339_opts(chrono::SecondsFormat::Millis, true),
            render: OnceLock::new(),
            render_error: Mutex::new(None),
            stopped: watch::channel(false).0,
            generation: watch::channel(0).0,
            floor: tokio::sync::Mutex::new(()),
            events: broadcast::channel(1024).0,
            frames: watch::channel(None).0,
            sockets: AtomicUsize::new(0),
            speaking: AtomicBool::new(false),
            listening: AtomicBool::new(false),
            mouth: Mutex::new(None),
            last_active: Mutex::new(Instant::now()),
            frame_ids: AtomicU64::new(0),
            input: tokio::sync::Mutex::new(AudioInput::default()),
            stt_order: tokio::sync::Mutex::new(()),
            carried: Mutex::new(Vec::new()),
            media: Mutex::new(None),
        }
    }

    /// The session clock: ms since creation.
    pub fn clock_ms(&self) -> f64 {
        self.clock_at(Instant::now())
    }

    pub fn clock_at(&self, at: Instant) -> f64 {
        at.saturating_duration_since(self.created).as_secs_f64() * 1000.0
    }

    /// The wall-clock Unix seconds of a clock instant.
    pub fn wall_secs(&self, t_ms: f64) -> f64 {
        self.created_unix + t_ms / 1000.0
    }

    /// The `Instant` of a clock instant.
    pub fn instant_of(&self, t_ms: f64) -> Instant {
        self.created + Duration::from_secs_f64(t_ms.max(0.0) / 1000.0)
    }

    pub fn duration_secs(&self) -> f64 {
        (self.created.elapsed().as_secs_f64() * 10.0).round() / 10.0
    }

    // ----- events -------------------------------------------------------

    /// Sends an event to every socket of the session (none attached: lost,
    /// like a broadcast nobody tunes into).
    pub fn emit(&self, event: Value) {
        self.emit_text(Arc::from(event.to_string()));
    }

    /// [`Self::emit`] for an event already serialised.
    pub fn emit_text(&self, event: Arc<str>) {
        let _ = self.events.send(event);
    }

    pub fn subscribe_events(&self) -> broadcast::Receiver<Arc<str>> {
        self.events.subscribe()
    }

    pub fn emit_error(&self, code: &str, message: &str) {
        self.emit(crate::handlers::conversations::ws_error(code, message));
    }

    pub fn emit_status(&self, status: &str) {
        let message = match status {
            "listening" => "Avatar is now listening...",
            "speaking" => "Avatar is speaking...",
            _ => "Avatar is idle",
        };
        self.emit(json!({ "type": "status", "status": status, "message": message }));
    }

    /// What the avatar is doing when it is not speaking.
    pub fn resting_status(&self) -> &'static str {
        if self.is_listening() {
            "listening"
        } else {
            "idle"
        }
    }

    pub fn current_status(&self) -> &'static str {
        if self.is_speaking() {
            "speaking"
        } else {
            self.resting_status()
        }
    }

    pub fn next_frame_id(&self) -> u64 {
        self.frame_ids.fetch_add(1, Ordering::Relaxed) + 1
    }

    // ----- state --------------------------------------------------------

    pub fn is_speaking(&self) -> bool {
        self.speaking.load(Ordering::Relaxed)
    }

    pub(crate) fn set_speaking(&self, on: bool) {
        self.speaking.store(on, Ordering::Relaxed);
    }

    pub fn is_listening(&self) -> bool {
        self.listening.load(Ordering::Relaxed)
    }

    pub(crate) fn set_listening(&self, on: bool) {
        self.listening.store(on, Ordering::Relaxed);
    }

    pub fn touch(&self) {
        *self.last_active.lock().expect("activity lock") = Instant::now();
    }

    /// How long nothing has happened with no socket attached.
    pub fn idle_for(&self) -> Duration {
        if self.sockets() > 0 {
            return Duration::ZERO;
        }
        self.last_active.lock().expect("activity lock").elapsed()
    }

    pub fn sockets(&self) -> usize {
        self.sockets.load(Ordering::Relaxed)
    }

    pub(crate) fn attach(&self) {
        self.sockets.fetch_add(1, Ordering::Relaxed);
        self.touch();
    }

    pub(crate) fn detach(&self) {
        self.sockets.fetch_sub(1, Ordering::Relaxed);
        self.touch();
    }

    pub fn is_stopped(&self) -> bool {
        *self.stopped.borrow()
    }

    pub fn subscribe_stopped(&self) -> watch::Receiver<bool> {
        self.stopped.subscribe()
    }

    /// Marks the session stopped and cancels whatever it was doing; its
    /// sockets close.
    pub(crate) fn mark_stopped(&self) -> bool {
        let was = self.stopped.send_replace(true);
        self.cancel();
        self.stop_mouth();
        if let Some(peer) = self.take_media() {
            close_peer(peer);
        }
        if let Some((r, stage)) = self.render.get() {
            r.remove_stage(*stage);
        }
        !was
    }

    // ----- cancellation -------------------------------------------------

    /// The generation of the session's speech: bumped by every interrupt,
    /// so work started before one knows it is stale.
    pub fn generation(&self) -> u64 {
        *self.generation.borrow()
    }

    fn cancel(&self) -> u64 {
        let mut next = 0;
        self.generation.send_modify(|g| {
            *g += 1;
            next = *g;
        });
        next
    }

    /// Resolves once work of generation `gen` is stale (interrupted or the
    /// session stopped).
    pub async fn cancelled(&self, generation: u64) {
        let mut rx = self.generation.subscribe();
        let _ = rx.wait_for(|g| *g != generation).await;
    }

    pub fn is_cancelled(&self, generation: u64) -> bool {
        self.generation() != generation
    }

    /// Barge-in: stops audio and mouth at once and cancels the answer in
    /// progress (LLM, TTS, queued speech). Returns whether the avatar was
    /// speaking.
    pub fn interrupt(&self) -> bool {
        let was_speaking = self.speaking.swap(false, Ordering::Relaxed);
        self.cancel();
        self.stop_mouth();
        if let Some(peer) = self.media() {
            peer.clear_audio();
        }
        was_speaking
    }

    /// Keeps the words of a turn that was cancelled before it was stored.
    pub(crate) fn carry(&self, text: String) {
        self.carried.lock().expect("carry lock").push(text);
    }

    /// `text` preceded by whatever earlier cancelled turns said.
    pub(crate) fn with_carried(&self, text: String) -> String {
        let mut carried = std::mem::take(&mut *self.carried.lock().expect("carry lock"));
        if carried.is_empty() {
            return text;
        }
        carried.push(text);
        carried.join(" ")
    }

    // ----- WebRTC ---------------------------------------------------------

    /// The session's peer connection while it is open.
    pub fn media(&self) -> Option<Arc<MediaPeer>> {
        self.media
            .lock()
            .expect("media lock")
            .clone()
            .filter(|p| p.is_open())
    }

    /// Makes `peer` the session's peer connection; one it replaces (a
    /// client that negotiated again) is closed.
    pub(crate) fn set_media(&self, peer: Arc<MediaPeer>) {
        if let Some(old) = self.media.lock().expect("media lock").replace(peer) {
            close_peer(old);
        }
    }

    pub(crate) fn take_media(&self) -> Option<Arc<MediaPeer>> {
        self.media.lock().expect("media lock").take()
    }

    // ----- rendering ----------------------------------------------------

    /// The renderer and stage, once the avatar is loaded.
    pub fn stage(&self) -> Option<(&Arc<Renderer>, u64)> {
        self.render.get().map(|(r, s)| (r, *s))
    }

    pub(crate) fn set_stage(&self, renderer: Arc<Renderer>, stage: u64) {
        if self.render.set((renderer, stage)).is_err() {
            return;
        }
        let pending = self.mouth.lock().expect("mouth lock").clone();
        if let (Some((tl, origin)), Some((r, stage))) = (pending, self.stage()) {
            let _ = r.speak(stage, tl, origin);
        }
    }

    pub fn render_error(&self) -> Option<String> {
        self.render_error.lock().expect("render lock").clone()
    }

    pub(crate) fn set_render_error(&self, message: String) {
        *self.render_error.lock().expect("render lock") = Some(message.clone());
        self.emit_error(
            "RENDERER_UNAVAILABLE",
            &format!("No video for this session: {message}. Audio and chat still work."),
        );
    }

    /// Plays a viseme timeline whose audio starts at clock `origin_ms`.
    pub(crate) fn speak_mouth(&self, timeline: Timeline, origin_ms: f64) {
        if let Some((r, stage)) = self.stage() {
            let _ = r.speak(stage, timeline.clone(), origin_ms);
        }
        *self.mouth.lock().expect("mouth lock") = Some((timeline, origin_ms));
    }

    pub(crate) fn stop_mouth(&self) {
        if self.mouth.lock().expect("mouth lock").take().is_some()
            && let Some((r, stage)) = self.stage()
        {
            let _ = r.stop_speaking(stage);
        }
    }
}

/// Closes a peer connection in the background (closing sends DTLS alerts
/// and waits on its driver).
fn close_peer(peer: Arc<MediaPeer>) {
    match tokio::runtime::Handle::try_current() {
        Ok(rt) => {
            rt.spawn(async move { peer.close().await });
        }
        Err(_) => tracing::debug!("no runtime to close a peer connection on"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn session() -> Session {
        Session::new(NewSession {
            id: "s".into(),
            account_id: "a".into(),
            quality: Quality::Low,
            avatar: SessionAvatar::Preset(
                avatarium_core::presets::by_id("aria-001").expect("shipped"),
            ),
            voice: VoiceChoice {
                provider: "local".into(),
                voice: None,
                speed: None,
            },
            stt_provider: "local".into(),
            thread: Thread::Conversation("c".into()),
        })
    }

    #[test]
    fn a_cancelled_turns_words_open_the_next_turn() {
        let s = session();
        assert_eq!(s.with_carried("Hello.".into()), "Hello.");
        s.carry("So my question is".into());
        s.carry("about prices".into());
        assert_eq!(
            s.with_carried("for teams?".into()),
            "So my question is about prices for teams?"
        );
        assert_eq!(s.with_carried("Next.".into()), "Next.");
    }

    #[test]
    fn interrupts_make_work_stale_and_the_clock_runs() {
        let s = session();
        let g = s.generation();
        assert!(!s.is_cancelled(g));
        s.interrupt();
        assert!(s.is_cancelled(g));
        let t = s.clock_ms();
        assert!(t >= 0.0);
        let wall = s.wall_secs(t);
        assert!((wall - s.created_unix - t / 1000.0).abs() < 1e-5);
        assert!(s.mark_stopped());
        assert!(!s.mark_stopped());
        assert!(s.is_stopped());
    }
}
