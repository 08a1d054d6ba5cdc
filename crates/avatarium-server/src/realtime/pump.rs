//! The frame pump: one thread that ticks every session with a socket, renders
//! all the sessions due at a tick in one pass of the shared renderer, and
//! hands the frames to a few encoder threads (JPEG, base64, the event's
//! JSON), which publish each as the session's latest frame. A session that
//! falls behind skips frames; nothing queues.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Condvar, Mutex, Weak};
use std::time::{Duration, Instant};

use base64::Engine as _;
use serde_json::json;

use avatarium_render::{Frame, RenderError, Renderer};

use super::Inner;
use super::session::Session;

/// JPEG quality of the frames.
pub const JPEG_QUALITY: u8 = 80;
/// The render-ahead never exceeds this.
const MAX_LEAD_MS: f64 = 120.0;

/// Wakes the pump when sessions, sockets or stages change.
#[derive(Default)]
pub struct Wake {
    flag: Mutex<bool>,
    cv: Condvar,
}

impl Wake {
    pub fn notify(&self) {
        *self.flag.lock().expect("wake lock") = true;
        self.cv.notify_all();
    }

    fn wait(&self, timeout: Duration) {
        let guard = self.flag.lock().expect("wake lock");
        let (mut guard, _) = self
            .cv
            .wait_timeout_while(guard, timeout, |woken| !*woken)
            .expect("wake lock");
        *guard = false;
    }
}

struct Slot {
    next_due: Instant,
    /// A frame of this session is being encoded: the next one is skipped
    /// rather than queued behind it.
    encoding: Arc<AtomicBool>,
}

struct EncodeJob {
    frame: Frame,
    session: Arc<Session>,
    frame_id: u64,
    /// When the pass that rendered it began.
    pass_started: Instant,
    encoding: Arc<AtomicBool>,
    rt: Weak<Inner>,
}

/// Starts the pump for `rt` on `renderer`. It ends when the realtime state
/// is dropped.
pub fn start(rt: Weak<Inner>, renderer: Arc<Renderer>, wake: Arc<Wake>) {
    let workers = std::thread::available_parallelism()
        .map_or(2, |n| n.get())
        .clamp(1, 4);
    let (tx, rx) = mpsc::channel::<EncodeJob>();
    let rx = Arc::new(Mutex::new(rx));
    for i in 0..workers {
        let rx = rx.clone();
        std::thread::Builder::new()
            .name(format!("avatarium-jpeg-{i}"))
            .spawn(move || {
                loop {
                    let job = rx.lock().expect("encoder queue").recv();
                    match job {
                        Ok(job) => encode(job),
                        Err(_) => break,
                    }
                }
            })
            .expect("spawning an encoder thread");
    }
    std::thread::Builder::new()
        .name("avatarium-frame-pump".into())
        .spawn(move || run(rt, renderer, wake, tx))
        .expect("spawning the frame pump");
}

fn encode(job: EncodeJob) {
    // A session with a connected WebRTC peer gets its frames as H.264 on
    // the peer's video track; its sockets carry events only. Until the peer
    // connects (or if it never does) the sockets keep their JPEGs.
    if let Some(peer) = job
        .session
        .media()
        .filter(|p| p.state() == super::media::PeerState::Connected)
    {
        let sent = peer.push_frame(job.frame, job.pass_started);
        job.encoding.store(false, Ordering::Release);
        if let Some(rt) = job.rt.upgrade() {
            let counter = if sent {
                &rt.frames_sent
            } else {
                &rt.frames_skipped
            };
            counter.fetch_add(1, Ordering::Relaxed);
        }
        return;
    }
    let jpeg = job.frame.to_jpeg(JPEG_QUALITY);
    let event = json!({
        "type": "frame",
        "data": base64::engine::general_purpose::STANDARD.encode(&jpeg),
        "frame_id": job.frame_id,
        "timestamp": job.session.wall_secs(job.frame.t_ms),
    })
    .to_string();
    job.session.frames.send_replace(Some(Arc::from(event)));
    job.encoding.store(false, Ordering::Release);
    if let Some(rt) = job.rt.upgrade() {
        rt.frames_sent.fetch_add(1, Ordering::Relaxed);
        rt.observe_pipeline(job.pass_started.elapsed());
    }
}

fn run(
    rt: Weak<Inner>,
    renderer: Arc<Renderer>,
    wake: Arc<Wake>,
    encoders: mpsc::Sender<EncodeJob>,
) {
    let mut slots: HashMap<String, Slot> = HashMap::new();
    loop {
        // Hold the state only while working, never while asleep, so a
        // dropped server lets the pump end.
        let pause = {
            let Some(inner) = rt.upgrade() else { return };
            tick(&inner, &rt, &renderer, &encoders, &mut slots)
        };
        match pause {
            Pause::Idle => wake.wait(Duration::from_millis(250)),
            Pause::Until(t) => {
                let now = Instant::now();
                if t > now {
                    // Short sleeps: new sessions get their first frame soon.
                    wake.wait((t - now).min(Duration::from_millis(50)));
                }
            }
        }
    }
}

enum Pause {
    Idle,
    Until(Instant),
}

fn tick(
    inner: &Arc<Inner>,
    rt: &Weak<Inner>,
    renderer: &Arc<Renderer>,
    encoders: &mpsc::Sender<EncodeJob>,
    slots: &mut HashMap<String, Slot>,
) -> Pause {
    let active: Vec<Arc<Session>> = inner
        .sessions
        .read()
        .expect("sessions lock")
        .values()
        .filter(|s| s.sockets() > 0 && !s.is_stopped() && s.render_error().is_none())
        .filter(|s| s.stage().is_some_and(|(r, _)| Arc::ptr_eq(r, renderer)))
        .cloned()
        .collect();
    slots.retain(|id, _| active.iter().any(|s| &s.id == id));
    if active.is_empty() {
        return Pause::Idle;
    }
    let now = Instant::now();
    for s in &active {
        slots.entry(s.id.clone()).or_insert_with(|| Slot {
            next_due: now,
            encoding: Arc::new(AtomicBool::new(false)),
        });
    }
    let earliest = active
        .iter()
        .map(|s| slots[&s.id].next_due)
        .min()
        .expect("not empty");
    if earliest > now + Duration::from_millis(1) {
        return Pause::Until(earliest);
    }
    // Everyone due within half the shortest frame interval renders in this
    // pass, and is then scheduled from the same instant: sessions of one
    // rate fall into step and share passes.
    let tick = active
        .iter()
        .map(|s| s.quality.frame_interval())
        .min()
        .expect("not empty");
    let window = now + tick / 2;
    let due: Vec<&Arc<Session>> = active
        .iter()
        .filter(|s| slots[&s.id].next_due <= window)
        .collect();
    let lead = inner.render_lead_ms();
    let requests: Vec<(u64, f64)> = due
        .iter()
        .map(|s| {
            let (_, stage) = s.stage().expect("filtered on stage");
            (stage, s.clock_at(now) + lead)
        })
        .collect();
    let pass_started = Instant::now();
    match renderer.render(&requests) {
        Ok(frames) => {
            for (frame, s) in frames.into_iter().zip(&due) {
                let slot = &slots[&s.id];
                if slot.encoding.swap(true, Ordering::AcqRel) {
                    inner.frames_skipped.fetch_add(1, Ordering::Relaxed);
                    continue;
                }
                let job = EncodeJob {
                    frame,
                    session: Arc::clone(s),
                    frame_id: s.next_frame_id(),
                    pass_started,
                    encoding: slot.encoding.clone(),
                    rt: rt.clone(),
                };
                if encoders.send(job).is_err() {
                    return Pause::Idle;
                }
            }
        }
        Err(RenderError::UnknownStage(stage)) => {
            // Its session stopped (and removed the stage) during the pass,
            // or the stage is gone: leave that session out from now on.
            for s in &due {
                if s.stage().is_some_and(|(_, st)| st == stage) && !s.is_stopped() {
                    s.set_render_error("its stage was lost".into());
                }
            }
        }
        Err(e) => {
            tracing::warn!(error = %e, "frame pass failed");
            return Pause::Until(Instant::now() + Duration::from_millis(100));
        }
    }
    let after = Instant::now();
    for s in &due {
        let slot = slots.get_mut(&s.id).expect("slot");
        let interval = s.quality.frame_interval();
        let mut next = earliest + interval;
        if next <= after {
            // Behind: skip the frames whose time has passed.
            let behind = after.duration_since(next);
            let missed = (behind.as_secs_f64() / interval.as_secs_f64()).floor() as u32 + 1;
            inner
                .frames_skipped
                .fetch_add(u64::from(missed), Ordering::Relaxed);
            next += interval * missed;
        }
        slot.next_due = next;
    }
    Pause::Until(slots.values().map(|s| s.next_due).min().unwrap_or(after))
}

/// Exponential average of how long a frame takes from the start of its
/// pass to being ready to send: the render-ahead.
pub(super) fn next_lead(current_ms: f64, sample: Duration) -> f64 {
    let sample = (sample.as_secs_f64() * 1000.0).min(MAX_LEAD_MS);
    if current_ms <= 0.0 {
        sample
    } else {
        0.9 * current_ms + 0.1 * sample
    }
}
