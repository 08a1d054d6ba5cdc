//! Realtime avatar sessions (003): a session renders its avatar, listens
//! to the user (audio with voice activity detection, or text), answers
//! through the conversation engine and speaks sentence by sentence, with
//! the mouth moving on the same clock as the audio.
//!
//! - [`session`]: one session's clock, state and channels;
//! - [`pump`]: the frame pump, one per server over the one shared renderer;
//! - [`speech`]: sentences → TTS → scheduled `audio` events and visemes;
//! - [`turn`]: STT → LLM → speech, stored as far as it was heard;
//! - [`socket`]: the session WebSocket;
//! - [`input`]: the user's audio and the VAD;
//! - [`media`]: WebRTC video and voice for `streaming.start`.

pub mod input;
pub mod media;
pub mod pump;
pub mod session;
pub mod socket;
pub mod speech;
pub mod turn;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, OnceLock, RwLock};
use std::time::{Duration, Instant};

use serde_json::{Value, json};

use avatarium_core::presets;
use avatarium_core::store::{NewConversation, NewSession as NewStoredSession, Thread};
use avatarium_llm::analysis;
use avatarium_render::{ModelSource, Renderer, RendererOptions};
use avatarium_tts::cloud as tts_cloud;
use avatarium_tts::local::LocalTts;

pub use session::{Quality, Session, SessionAvatar, VoiceChoice};

use crate::error::{ApiError, ApiResult};
use crate::state::AppState;

/// At most this many sessions are live at once.
pub const MAX_SESSIONS: usize = 64;
/// A session with no socket and no activity for this long is stopped.
pub const IDLE_TIMEOUT: Duration = Duration::from_secs(30 * 60);
/// Finished avatar.speak tasks stay readable this long.
pub const TASK_RETENTION: Duration = Duration::from_secs(10 * 60);

/// The realtime sessions of a server, the shared renderer and its pump.
#[derive(Clone, Default)]
pub struct Realtime(Arc<Inner>);

#[derive(Default)]
pub struct Inner {
    sessions: RwLock<HashMap<String, Arc<Session>>>,
    tasks: Mutex<HashMap<String, SpeakTask>>,
    /// This server's renderer, once the first session asked for one.
    renderer: tokio::sync::OnceCell<Result<Arc<Renderer>, String>>,
    wake: Arc<pump::Wake>,
    /// Render-ahead: how long a frame takes from its pass to being sent,
    /// averaged (f64 ms as bits).
    lead_ms: AtomicU64,
    pub frames_sent: AtomicU64,
    pub frames_skipped: AtomicU64,
}

impl Inner {
    fn render_lead_ms(&self) -> f64 {
        f64::from_bits(self.lead_ms.load(Ordering::Relaxed))
    }

    fn observe_pipeline(&self, took: Duration) {
        let next = pump::next_lead(self.render_lead_ms(), took);
        self.lead_ms.store(next.to_bits(), Ordering::Relaxed);
    }
}

/// The process's renderer: one Bevy app and graphics device, shared by
/// every server in the process (a server process has one; a test process
/// runs many).
fn shared_renderer() -> Result<Arc<Renderer>, String> {
    static SHARED: OnceLock<Result<Arc<Renderer>, String>> = OnceLock::new();
    SHARED
        .get_or_init(|| {
            let started = Instant::now();
            let r = Renderer::start(RendererOptions::default())
                .map(Arc::new)
                .map_err(|e| e.to_string());
            match &r {
                Ok(r) => tracing::info!(adapter = %r.adapter(), ms = started.elapsed().as_millis() as u64, "renderer started"),
                Err(e) => tracing::warn!(error = %e, "no renderer: sessions run without video"),
            }
            r
        })
        .clone()
}

/// An avatar.speak task.
#[derive(Clone, Debug)]
pub struct SpeakTask {
    pub id: String,
    pub session_id: String,
    pub account_id: String,
    pub status: &'static str,
    pub text: String,
    pub duration_estimate: f64,
    pub created_at: String,
    pub duration: Option<f64>,
    pub spoken: Option<String>,
    pub error: Option<String>,
    finished: Option<Instant>,
}

impl SpeakTask {
    pub fn new(session: &Session, text: String, duration_estimate: f64) -> Self {
        Self {
            id: format!("task_{}", uuid::Uuid::new_v4().simple()),
            session_id: session.id.clone(),
            account_id: session.account_id.clone(),
            status: "processing",
            text,
            duration_estimate,
            created_at: avatarium_core::time::now_iso(),
            duration: None,
            spoken: None,
            error: None,
            finished: None,
        }
    }

    pub fn to_json(&self) -> Value {
        let mut v = json!({
            "task_id": self.id,
            "status": self.status,
            "session_id": self.session_id,
            "duration_estimate": self.duration_estimate,
            "created_at": self.created_at,
        });
        if let Some(d) = self.duration {
            v["duration"] = json!((d * 100.0).round() / 100.0);
        }
        if let Some(s) = &self.spoken {
            v["spoken_text"] = json!(s);
        }
        if let Some(e) = &self.error {
            v["error"] = json!(e);
        }
        v
    }
}

impl Realtime {
    pub fn get(&self, id: &str) -> Option<Arc<Session>> {
        self.0
            .sessions
            .read()
            .expect("sessions lock")
            .get(id)
            .cloned()
    }

    pub fn exists(&self, id: &str) -> bool {
        self.0
            .sessions
            .read()
            .expect("sessions lock")
            .contains_key(id)
    }

    /// Live sessions of an account, oldest first.
    pub fn of_account(&self, account_id: &str) -> Vec<Arc<Session>> {
        let mut v: Vec<_> = self
            .0
            .sessions
            .read()
            .expect("sessions lock")
            .values()
            .filter(|s| s.account_id == account_id)
            .cloned()
            .collect();
        v.sort_by_key(|s| s.created);
        v
    }

    pub fn count(&self) -> usize {
        self.0.sessions.read().expect("sessions lock").len()
    }

    /// The render-ahead of the frame pump (0 without one).
    pub fn render_lead_ms(&self) -> f64 {
        self.0.render_lead_ms()
    }

    pub fn frames_sent(&self) -> u64 {
        self.0.frames_sent.load(Ordering::Relaxed)
    }

    pub fn frames_skipped(&self) -> u64 {
        self.0.frames_skipped.load(Ordering::Relaxed)
    }

    /// The renderer's adapter, once started.
    pub fn adapter(&self) -> Option<Result<String, String>> {
        self.0.renderer.get().map(|r| {
            r.as_ref()
                .map(|r| r.adapter().to_string())
                .map_err(Clone::clone)
        })
    }

    /// 003's `services.gpu`: the renderer's adapter as far as known.
    pub fn gpu_status(&self) -> &'static str {
        match self.0.renderer.get() {
            None => "not_started",
            Some(Err(_)) => "unavailable",
            Some(Ok(r)) if r.is_software() => "software",
            Some(Ok(_)) => "available",
        }
    }

    pub(crate) fn wake_pump(&self) {
        self.0.wake.notify();
    }

    /// The renderer, started on first use, and its pump.
    async fn renderer(&self) -> Result<Arc<Renderer>, String> {
        self.0
            .renderer
            .get_or_init(|| async {
                let r = tokio::task::spawn_blocking(shared_renderer)
                    .await
                    .map_err(|e| e.to_string())
                    .and_then(|r| r);
                if let Ok(r) = &r {
                    pump::start(Arc::downgrade(&self.0), r.clone(), self.0.wake.clone());
                }
                r
            })
            .await
            .clone()
    }

    fn insert(&self, session: Arc<Session>) -> ApiResult<()> {
        let mut map = self.0.sessions.write().expect("sessions lock");
        if map.len() >= MAX_SESSIONS {
            return Err(ApiError::Unavailable(format!(
                "This server runs at most {MAX_SESSIONS} sessions at once; stop one first"
            )));
        }
        map.insert(session.id.clone(), session);
        Ok(())
    }

    fn remove(&self, id: &str) -> Option<Arc<Session>> {
        self.0.sessions.write().expect("sessions lock").remove(id)
    }

    // ----- avatar.speak tasks ---------------------------------------------

    fn prune_tasks(map: &mut HashMap<String, SpeakTask>) {
        map.retain(|_, t| t.finished.is_none_or(|f| f.elapsed() < TASK_RETENTION));
    }

    pub fn add_task(&self, task: SpeakTask) {
        let mut map = self.0.tasks.lock().expect("tasks lock");
        Self::prune_tasks(&mut map);
        map.insert(task.id.clone(), task);
    }

    pub fn task(&self, id: &str) -> Option<SpeakTask> {
        let mut map = self.0.tasks.lock().expect("tasks lock");
        Self::prune_tasks(&mut map);
        map.get(id).cloned()
    }

    pub fn finish_task(&self, id: &str, update: impl FnOnce(&mut SpeakTask)) {
        if let Some(t) = self.0.tasks.lock().expect("tasks lock").get_mut(id) {
            update(t);
            t.finished = Some(Instant::now());
        }
    }
}

/// What `streaming.new` (and 004's access token) asks for.
pub struct SessionRequest {
    pub account_id: String,
    pub quality: Quality,
    pub avatar_id: Option<String>,
    pub voice_id: Option<String>,
    pub stt_provider: Option<String>,
}

/// A preset, or one of the account's avatars by id or short id.
async fn resolve_avatar(state: &AppState, account_id: &str, id: &str) -> ApiResult<SessionAvatar> {
    if let Some(p) = presets::by_id(id) {
        return Ok(SessionAvatar::Preset(p));
    }
    let avatar = match state.store.avatar(account_id, id).await? {
        Some(a) => Some(a),
        None => state
            .store
            .avatar_by_short_id(id)
            .await?
            .filter(|a| a.account_id == account_id),
    };
    avatar
        .map(|a| SessionAvatar::Consumer(Box::new(a)))
        .ok_or_else(|| {
            ApiError::not_found(format!(
                "avatar_id '{id}' is neither a preset nor one of your avatars"
            ))
        })
}

fn preset_of(avatar: &SessionAvatar) -> &'static presets::AvatarPreset {
    let id = match avatar {
        SessionAvatar::Preset(p) => return p,
        SessionAvatar::Consumer(a) => a.settings.avatar_preset.as_deref(),
    };
    id.and_then(presets::by_id)
        .or_else(|| presets::by_id(presets::DEFAULT_PRESET))
        .expect("the default preset ships")
}

/// The provider and voice a session speaks with: a cloud voice when the
/// id names one whose provider has a key here, a local voice by its id,
/// else the avatar's own voice.
pub async fn voice_for(
    state: &AppState,
    avatar: &SessionAvatar,
    voice_id: Option<&str>,
) -> VoiceChoice {
    let local = |voice: Option<String>| VoiceChoice {
        provider: "local".into(),
        voice,
        speed: None,
    };
    if let Some(v) = voice_id.map(str::trim).filter(|v| !v.is_empty()) {
        if let Some(p) = tts_cloud::CLOUD_PROVIDERS.iter().find(|p| {
            state.tts_configured(p) && tts_cloud::static_voices(p).iter().any(|x| x.id == v)
        }) {
            return VoiceChoice {
                provider: p.to_string(),
                voice: Some(v.to_string()),
                speed: None,
            };
        }
        if LocalTts::shared().has_voice(v).await {
            return local(Some(v.to_string()));
        }
        tracing::info!(
            voice = v,
            "voice not available here; the avatar's own voice speaks"
        );
    }
    if let SessionAvatar::Consumer(a) = avatar {
        let s = &a.settings;
        if let (Some(p), Some(v)) = (s.tts_provider.as_deref(), s.voice_id.as_deref())
            && p != "local"
            && state.tts_configured(p)
        {
            return VoiceChoice {
                provider: p.to_string(),
                voice: Some(v.to_string()),
                speed: None,
            };
        }
        if let Some(v) = s.voice_id.as_deref()
            && LocalTts::shared().has_voice(v).await
        {
            return local(Some(v.to_string()));
        }
    }
    local(Some(preset_of(avatar).voice_id.clone()))
}

/// The model a session shows: a consumer avatar's uploaded model when
/// there is one, else its preset's shipped model.
async fn model_of(state: &AppState, avatar: &SessionAvatar) -> Option<ModelSource> {
    if let SessionAvatar::Consumer(a) = avatar {
        let path = state.config.models_dir().join(&a.id).join("model.glb");
        if let Ok(bytes) = tokio::fs::read(&path).await {
            return Some(ModelSource::new(a.name.clone(), bytes));
        }
    }
    let p = preset_of(avatar);
    crate::assets::AvatarAssets::get(&p.file)
        .map(|f| ModelSource::new(p.id.clone(), f.data.into_owned()))
}

/// Where the session's turns are stored: a session of the consumer avatar
/// (so its analytics count them), else a conversation of the account.
async fn open_thread(
    state: &AppState,
    account_id: &str,
    avatar: &SessionAvatar,
    session_id: &str,
) -> ApiResult<Thread> {
    match avatar {
        SessionAvatar::Consumer(a) => {
            let s = state
                .store
                .create_session(NewStoredSession {
                    avatar_id: a.id.clone(),
                    account_id: a.account_id.clone(),
                    visitor_name: None,
                    visitor_email: None,
                    source: Some("streaming".into()),
                })
                .await?;
            Ok(Thread::Session(s.id))
        }
        SessionAvatar::Preset(p) => {
            let chosen = state.choose_provider(None, None, None)?;
            let (_, prompt) = crate::engine::preset_persona(&p.id).expect("a preset has a persona");
            let conv = state
                .store
                .create_conversation(NewConversation {
                    account_id: account_id.to_string(),
                    avatar_id: Some(p.id.clone()),
                    consumer_avatar_id: None,
                    provider: chosen.id,
                    model: chosen.model,
                    system_prompt: prompt,
                    byok: false,
                    source: "streaming".into(),
                    metadata: Some(json!({ "streamingSessionId": session_id }).to_string()),
                })
                .await?;
            Ok(Thread::Conversation(conv.id))
        }
    }
}

/// Creates a session: its thread, its voice, and (in the background) its
/// stage on the shared renderer.
pub async fn create_session(state: &AppState, req: SessionRequest) -> ApiResult<Arc<Session>> {
    if state.realtime.count() >= MAX_SESSIONS {
        return Err(ApiError::Unavailable(format!(
            "This server runs at most {MAX_SESSIONS} sessions at once; stop one first"
        )));
    }
    let avatar_id = req
        .avatar_id
        .as_deref()
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .unwrap_or("avatar_1");
    let avatar = resolve_avatar(state, &req.account_id, avatar_id).await?;
    let stt_provider = match req.stt_provider.as_deref().map(str::trim) {
        None | Some("") => turn::default_stt_provider(state),
        Some(p) => {
            let p = p.to_ascii_lowercase();
            if p != "local"
                && !avatarium_stt::cloud::providers_info()
                    .iter()
                    .any(|i| i.id == p)
            {
                return Err(ApiError::bad_request(format!(
                    "Unknown speech-to-text provider '{p}'; see GET /v1/stt/providers"
                )));
            }
            p
        }
    };
    let voice = voice_for(state, &avatar, req.voice_id.as_deref()).await;
    let id = uuid::Uuid::new_v4().to_string();
    let thread = open_thread(state, &req.account_id, &avatar, &id).await?;
    let session = Arc::new(Session::new(session::NewSession {
        id,
        account_id: req.account_id,
        quality: req.quality,
        avatar,
        voice,
        stt_provider,
        thread,
    }));
    state.realtime.insert(session.clone())?;
    state
        .metrics
        .active_sessions
        .fetch_add(1, Ordering::Relaxed);
    state.metrics.total_sessions.fetch_add(1, Ordering::Relaxed);
    tokio::spawn(setup_stage(state.clone(), session.clone()));
    Ok(session)
}

/// 003's `streaming.start`: answers the client's SDP offer with a peer
/// connection that carries the session's video and voice. The session's
/// WebSocket keeps carrying its events; while the peer is connected it
/// counts as a viewer (the pump renders for it, the session is not idle).
pub async fn start_media(
    state: &AppState,
    session: &Arc<Session>,
    offer: String,
) -> ApiResult<String> {
    let weak = Arc::downgrade(&state.realtime.0);
    let observe: media::PipelineObserver = Arc::new(move |took| {
        if let Some(inner) = weak.upgrade() {
            inner.observe_pipeline(took);
        }
    });
    let ice = media::ice_servers(&state.config.ice_servers);
    let (peer, answer) = media::answer(&session.id, session.created, offer, ice, observe)
        .await
        .map_err(|e| match e {
            media::OfferError::Bad(m) => ApiError::BadRequest(m),
            media::OfferError::Internal(m) => ApiError::Internal(anyhow::anyhow!(m)),
        })?;
    if session.is_stopped() {
        peer.close().await;
        return Err(ApiError::SessionNotFound(session.id.clone()));
    }
    session.set_media(peer.clone());
    let (session, rt) = (session.clone(), state.realtime.clone());
    tokio::spawn(async move {
        let mut state = peer.subscribe_state();
        let settled = tokio::time::timeout(
            media::CONNECT_TIMEOUT,
            state.wait_for(|s| *s != media::PeerState::Connecting),
        )
        .await
        .map(|r| r.is_ok_and(|s| *s == media::PeerState::Connected));
        let connected = match settled {
            Ok(connected) => connected,
            Err(_) => {
                // ICE never completed: give the session back to its sockets.
                tracing::info!(session = %session.id, "peer connection timed out");
                peer.close().await;
                false
            }
        };
        if connected {
            session.attach();
            rt.wake_pump();
            let _ = state.wait_for(|s| *s == media::PeerState::Closed).await;
            session.detach();
        }
        tracing::debug!(session = %session.id, "peer connection ended");
    });
    Ok(answer)
}

/// Loads the session's avatar onto the shared renderer (starting it on
/// first use). Without a renderer the session goes on without video.
async fn setup_stage(state: AppState, session: Arc<Session>) {
    let Some(model) = model_of(&state, &session.avatar).await else {
        session.set_render_error("the avatar's model is missing".into());
        return;
    };
    let renderer = match state.realtime.renderer().await {
        Ok(r) => r,
        Err(e) => return session.set_render_error(e),
    };
    let size = session.quality.size();
    let r = renderer.clone();
    let added = tokio::task::spawn_blocking(move || r.add_stage(model, size, size)).await;
    match added {
        Ok(Ok(info)) => {
            if session.is_stopped() {
                renderer.remove_stage(info.id);
                return;
            }
            for w in &info.warnings {
                tracing::debug!(session = %session.id, warning = %w, "avatar rig");
            }
            session.set_stage(renderer, info.id);
            // Stopped meanwhile: its stop found no stage to remove.
            if session.is_stopped() {
                if let Some((r, stage)) = session.stage() {
                    r.remove_stage(stage);
                }
                return;
            }
            state.realtime.wake_pump();
        }
        Ok(Err(e)) => session.set_render_error(e.to_string()),
        Err(e) => session.set_render_error(e.to_string()),
    }
}

/// Stops a session: its sockets close, its speech ends, its stage goes and
/// its thread is closed. Returns the session's duration in seconds.
pub async fn stop_session(state: &AppState, id: &str) -> Option<f64> {
    let session = state.realtime.remove(id)?;
    let duration = session.duration_secs();
    if session.mark_stopped() {
        state
            .metrics
            .active_sessions
            .fetch_sub(1, Ordering::Relaxed);
    }
    let state = state.clone();
    tokio::spawn(async move {
        if let Err(e) = close_thread(&state, &session).await {
            tracing::warn!(session = %session.id, error = %e, "closing a session's thread");
        }
    });
    Some(duration)
}

async fn close_thread(state: &AppState, session: &Session) -> ApiResult<()> {
    match &session.thread {
        Thread::Conversation(id) => {
            state
                .store
                .end_conversation(&session.account_id, id)
                .await?;
        }
        Thread::Session(id) => {
            let records = state.store.messages(&session.thread).await?;
            let turns = crate::engine::turns(&records);
            let a = analysis::analyse(&turns);
            let summary = json!({
                "sessionId": id,
                "summary": a.summary,
                "topics": a.topics,
                "sentiment": a.sentiment,
                "questionCount": a.question_count,
                "messageCount": records.len(),
                "method": "extractive",
                "source": "streaming",
            });
            state.store.end_session(id, &summary.to_string()).await?;
        }
    }
    Ok(())
}

/// Stops sessions nobody has used for [`IDLE_TIMEOUT`].
pub async fn reap_idle(state: &AppState) {
    let idle: Vec<String> = state
        .realtime
        .0
        .sessions
        .read()
        .expect("sessions lock")
        .values()
        .filter(|s| s.idle_for() > IDLE_TIMEOUT)
        .map(|s| s.id.clone())
        .collect();
    for id in idle {
        tracing::info!(session = %id, "stopping an idle realtime session");
        stop_session(state, &id).await;
    }
}

/// Speaks `text` in the session as task `task_id` (avatar.speak), after
/// whatever it is saying now.
pub async fn run_speak_task(
    state: AppState,
    session: Arc<Session>,
    task_id: String,
    text: String,
    voice: VoiceChoice,
) {
    let generation = session.generation();
    let floor = tokio::select! {
        biased;
        _ = session.cancelled(generation) => None,
        f = session.floor.lock() => Some(f),
    };
    let Some(_floor) = floor else {
        state.realtime.finish_task(&task_id, |t| {
            t.status = "interrupted";
            t.duration = Some(0.0);
            t.spoken = Some(String::new());
        });
        return;
    };
    let (tx, rx) = tokio::sync::mpsc::channel(64);
    for s in avatarium_tts::sentences::split_sentences(&text) {
        let _ = tx.try_send(s);
    }
    drop(tx);
    let job = speech::SpeakJob {
        state: &state,
        session: &session,
        voice,
        generation,
        latency_from: None,
        task_id: Some(task_id.clone()),
    };
    let spoken = speech::speak(job, rx).await;
    let status = if spoken.interrupted {
        "interrupted"
    } else if spoken.failed.is_some() || spoken.first_audio.is_none() {
        "failed"
    } else {
        "completed"
    };
    if !spoken.heard.is_empty() {
        session.emit(json!({
            "type": "chat",
            "role": "agent",
            "content": spoken.heard,
            "interrupted": spoken.interrupted,
            "task_id": task_id,
        }));
    }
    state.realtime.finish_task(&task_id, |t| {
        t.status = status;
        t.duration = Some(spoken.duration_s);
        t.spoken = Some(spoken.heard.clone());
        t.error = spoken
            .failed
            .clone()
            .or_else(|| (status == "failed").then(|| "Nothing could be spoken".to_string()));
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn qualities_map_to_size_and_rate() {
        assert_eq!((Quality::Low.size(), Quality::Low.fps()), (256, 15));
        assert_eq!((Quality::Medium.size(), Quality::Medium.fps()), (512, 25));
        assert_eq!((Quality::High.size(), Quality::High.fps()), (768, 30));
        let q: Quality = serde_json::from_str("\"high\"").unwrap();
        assert_eq!(q, Quality::High);
        assert!(serde_json::from_str::<Quality>("\"ultra\"").is_err());
    }
}
