//! WebRTC media for a session (003's `streaming.start`): the client's SDP
//! offer in, an answer out, then the avatar as a live H.264 video track and
//! an Opus voice track over one peer connection (webrtc-rs).
//!
//! Both tracks are stamped from the session clock: a frame showing clock
//! instant `t` and the audio heard at `t` carry RTP timestamps of the same
//! instant, and each leaves at that instant (video is rendered and encoded
//! a little ahead, then held), so the sender reports map both streams to
//! the same wall clock and the receiver keeps them in sync.
//!
//! Signalling is one round trip without trickle ICE, as 003 has it: the
//! answer is returned once this side's candidates are gathered (loopback
//! and host addresses, plus STUN/TURN from `ice_servers` when configured).

use std::collections::VecDeque;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use serde_json::Value;
use tokio::sync::{mpsc, watch};

use avatarium_media::{
    H264Encoder, OPUS_FRAME_SAMPLES, OPUS_RATE, OpusEncoder, h264_is_keyframe, resample_to_48k,
};
use avatarium_render::Frame;
use rtc::interceptor::Registry;
use rtc::media_stream::MediaStreamTrack;
use rtc::peer_connection::configuration::media_engine::MIME_TYPE_H264;
use rtc::rtp;
use rtc::rtp::packetizer::Payloader;
use rtc::rtp_transceiver::rtp_sender::{
    RTCPFeedback, RTCRtpCodec, RTCRtpCodecParameters, RTCRtpCodingParameters,
    RTCRtpEncodingParameters, RtpCodecKind,
};
use webrtc::media_stream::track_local::TrackLocal;
use webrtc::media_stream::track_local::static_rtp::TrackLocalStaticRTP;
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCIceServer, RTCPeerConnectionState,
    RTCSessionDescription, SettingEngineBuilder, register_default_interceptors,
};
use webrtc::rtp_transceiver::RtpSender;

/// RTP payload size: fits a 1280-byte path MTU with SRTP and headers.
const RTP_MTU: usize = 1200;
/// A keyframe at least this often, so a receiver that lost one (or joined
/// late) recovers without RTCP feedback.
const KEYFRAME_EVERY_MS: f64 = 2000.0;
/// A peer not connected this long after its answer is closed.
pub const CONNECT_TIMEOUT: Duration = Duration::from_secs(20);
/// How long the answer waits for this side's candidates.
const GATHER_TIMEOUT: Duration = Duration::from_secs(5);
/// Opus packet duration on the session clock.
const AUDIO_TICK_MS: f64 = 20.0;
const OPUS_BITRATE: i32 = 32_000;
const VIDEO_CLOCK: f64 = 90.0; // RTP units per ms
const AUDIO_CLOCK: f64 = OPUS_RATE as f64 / 1000.0;

/// Why an offer was refused: the client's fault (400) or ours (500).
#[derive(Debug)]
pub enum OfferError {
    Bad(String),
    Internal(String),
}

impl std::fmt::Display for OfferError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Bad(m) | Self::Internal(m) => f.write_str(m),
        }
    }
}

fn internal(e: impl std::fmt::Display) -> OfferError {
    OfferError::Internal(e.to_string())
}

/// What an offer asks for, read before webrtc-rs sees it so a client gets
/// a clear reason instead of a negotiation failure.
#[derive(Debug, Default, PartialEq)]
pub struct OfferShape {
    pub video_h264: bool,
    pub has_video: bool,
    pub audio_opus: bool,
    pub has_audio: bool,
}

/// Checks an offer's text and what media it can receive.
pub fn inspect_offer(sdp: &str) -> Result<OfferShape, OfferError> {
    let sdp = sdp.trim_start();
    if !sdp.starts_with("v=0") {
        return Err(OfferError::Bad(
            "sdp.sdp is not a session description (it must begin with \"v=0\")".into(),
        ));
    }
    let mut shape = OfferShape::default();
    let mut kind = "";
    for line in sdp.lines().map(str::trim) {
        if let Some(m) = line.strip_prefix("m=") {
            kind = m.split_whitespace().next().unwrap_or("");
            match kind {
                "video" => shape.has_video = true,
                "audio" => shape.has_audio = true,
                _ => {}
            }
        } else if let Some(map) = line.strip_prefix("a=rtpmap:") {
            let codec = map
                .split_whitespace()
                .nth(1)
                .unwrap_or("")
                .to_ascii_lowercase();
            match kind {
                "video" if codec.starts_with("h264/90000") => shape.video_h264 = true,
                "audio" if codec.starts_with("opus/48000") => shape.audio_opus = true,
                _ => {}
            }
        }
    }
    if !shape.has_video && !shape.has_audio {
        return Err(OfferError::Bad(
            "The offer has no audio or video section: add recvonly transceivers for video and audio".into(),
        ));
    }
    if shape.has_video && !shape.video_h264 {
        return Err(OfferError::Bad(
            "Unsupported offer: the avatar's video is H.264 (packetization-mode=1) and the \
             offer's video section lists no H264 codec"
                .into(),
        ));
    }
    if shape.has_audio && !shape.audio_opus {
        return Err(OfferError::Bad(
            "Unsupported offer: the avatar's voice is Opus and the offer's audio section \
             lists no opus/48000 codec"
                .into(),
        ));
    }
    Ok(shape)
}

/// ICE servers from the configuration's 003-style list
/// (`{urls: string | [string], username?, credential?}`).
pub fn ice_servers(config: &[Value]) -> Vec<RTCIceServer> {
    config
        .iter()
        .filter_map(|v| {
            let urls: Vec<String> = match &v["urls"] {
                Value::String(s) => vec![s.clone()],
                Value::Array(a) => a
                    .iter()
                    .filter_map(|u| u.as_str().map(String::from))
                    .collect(),
                _ => return None,
            };
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            Some(RTCIceServer {
                urls,
                username: text("username"),
                credential: text("credential"),
            })
        })
        .collect()
}

fn h264_codec(pm1_profile: &str) -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: MIME_TYPE_H264.to_owned(),
        clock_rate: 90_000,
        channels: 0,
        sdp_fmtp_line: format!(
            "level-asymmetry-allowed=1;packetization-mode=1;profile-level-id={pm1_profile}"
        ),
        rtcp_feedback: ["nack", "nack pli", "ccm fir"]
            .iter()
            .map(|f| {
                let (typ, parameter) = f.split_once(' ').unwrap_or((f, ""));
                RTCPFeedback {
                    typ: typ.into(),
                    parameter: parameter.into(),
                }
            })
            .collect(),
    }
}

fn opus_codec() -> RTCRtpCodec {
    RTCRtpCodec {
        mime_type: "audio/opus".into(),
        clock_rate: OPUS_RATE,
        channels: 2,
        sdp_fmtp_line: "minptime=10;useinbandfec=1".into(),
        rtcp_feedback: vec![],
    }
}

/// The only codecs this side offers to send: OpenH264's constrained
/// baseline (two profile ids browsers use for it) and Opus.
fn media_engine() -> Result<MediaEngine, OfferError> {
    let mut m = MediaEngine::default();
    for (pt, profile) in [(102, "42e01f"), (106, "42001f")] {
        m.register_codec(
            RTCRtpCodecParameters {
                rtp_codec: h264_codec(profile),
                payload_type: pt,
            },
            RtpCodecKind::Video,
        )
        .map_err(internal)?;
    }
    m.register_codec(
        RTCRtpCodecParameters {
            rtp_codec: opus_codec(),
            payload_type: 111,
        },
        RtpCodecKind::Audio,
    )
    .map_err(internal)?;
    Ok(m)
}

/// Connection state as the session sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PeerState {
    Connecting,
    Connected,
    /// Closed, failed or disconnected for good: the tasks end.
    Closed,
}

/// Speech scheduled on the session clock, at 48 kHz.
#[derive(Default)]
struct AudioPlan {
    segments: VecDeque<(f64, Vec<f32>)>,
}

impl AudioPlan {
    fn push(&mut self, start_ms: f64, samples: Vec<f32>) {
        self.segments.push_back((start_ms, samples));
    }

    /// The samples heard during `[t_ms, t_ms + 20 ms)`; silence where
    /// nothing is scheduled. Drops what has fully played.
    fn take(&mut self, t_ms: f64, out: &mut [f32]) {
        out.fill(0.0);
        let from = (t_ms * AUDIO_CLOCK).round() as i64;
        let until = from + out.len() as i64;
        for (start, samples) in &self.segments {
            let s0 = (start * AUDIO_CLOCK).round() as i64;
            let s1 = s0 + samples.len() as i64;
            let (a, b) = (from.max(s0), until.min(s1));
            for k in a..b {
                out[(k - from) as usize] += samples[(k - s0) as usize];
            }
        }
        self.segments
            .retain(|(start, s)| (start * AUDIO_CLOCK).round() as i64 + s.len() as i64 > until);
        for x in out.iter_mut() {
            *x = x.clamp(-1.0, 1.0);
        }
    }
}

/// A frame for the video track, with when its render pass began.
struct VideoJob {
    frame: Frame,
    pass_started: Instant,
}

/// Reports how long a frame took from its render pass to being ready to
/// send, so the pump renders far enough ahead.
pub type PipelineObserver = Arc<dyn Fn(Duration) + Send + Sync>;

/// One session's peer connection and its two tracks.
pub struct MediaPeer {
    pc: Arc<dyn PeerConnection>,
    state: watch::Sender<PeerState>,
    frames: mpsc::Sender<VideoJob>,
    audio: Mutex<AudioPlan>,
    /// Clock zero of the session: RTP timestamps and send instants derive
    /// from it.
    clock_zero: Instant,
    closing: AtomicBool,
}

struct Handler {
    state: watch::Sender<PeerState>,
    gathered: watch::Sender<bool>,
}

#[async_trait::async_trait]
impl PeerConnectionEventHandler for Handler {
    async fn on_ice_gathering_state_change(&self, state: RTCIceGatheringState) {
        if state == RTCIceGatheringState::Complete {
            self.gathered.send_replace(true);
        }
    }

    async fn on_connection_state_change(&self, state: RTCPeerConnectionState) {
        tracing::debug!(%state, "peer connection");
        let next = match state {
            RTCPeerConnectionState::Connected => PeerState::Connected,
            RTCPeerConnectionState::Failed | RTCPeerConnectionState::Closed => PeerState::Closed,
            _ => return,
        };
        self.state.send_if_modified(|s| {
            // Closed is final.
            let change = *s != next && *s != PeerState::Closed;
            if change {
                *s = next;
            }
            change
        });
    }
}

/// The tracks a negotiation produced.
struct Sending {
    track: Arc<TrackLocalStaticRTP>,
    sender: Arc<dyn RtpSender>,
    ssrc: u32,
}

async fn add_track(
    pc: &Arc<dyn PeerConnection>,
    kind: RtpCodecKind,
    codec: RTCRtpCodec,
    session_id: &str,
) -> Result<Sending, OfferError> {
    let ssrc = rand::random::<u32>();
    let track = Arc::new(TrackLocalStaticRTP::new(MediaStreamTrack::new(
        format!("avatarium-{session_id}"),
        format!("avatarium-{kind}"),
        format!("avatar {kind}"),
        kind,
        vec![RTCRtpEncodingParameters {
            rtp_coding_parameters: RTCRtpCodingParameters {
                ssrc: Some(ssrc),
                ..Default::default()
            },
            codec,
            ..Default::default()
        }],
    )));
    let sender = pc
        .add_track(track.clone() as Arc<dyn TrackLocal>)
        .await
        .map_err(internal)?;
    Ok(Sending {
        track,
        sender,
        ssrc,
    })
}

async fn negotiated_payload_type(s: &Sending) -> Option<u8> {
    s.sender
        .get_parameters()
        .await
        .ok()?
        .rtp_parameters
        .codecs
        .first()
        .map(|c| c.payload_type)
}

/// Answers `offer` for a session whose clock began at `clock_zero`.
/// Returns the peer and the answer's SDP.
pub async fn answer(
    session_id: &str,
    clock_zero: Instant,
    offer: String,
    ice: Vec<RTCIceServer>,
    observe: PipelineObserver,
) -> Result<(Arc<MediaPeer>, String), OfferError> {
    let shape = inspect_offer(&offer)?;
    let offer = RTCSessionDescription::offer(offer)
        .map_err(|e| OfferError::Bad(format!("The SDP offer could not be parsed: {e}")))?;
    let mut media = media_engine()?;
    let registry = register_default_interceptors(Registry::new(), &mut media).map_err(internal)?;
    let settings = SettingEngineBuilder::new()
        .with_include_loopback_candidate(true)
        .build();
    let (state, _) = watch::channel(PeerState::Connecting);
    let (gathered, mut gathered_rx) = watch::channel(false);
    let handler = Arc::new(Handler {
        state: state.clone(),
        gathered,
    });
    let pc: Arc<dyn PeerConnection> = Arc::new(
        PeerConnectionBuilder::new()
            .with_configuration(RTCConfigurationBuilder::new().with_ice_servers(ice).build())
            .with_media_engine(media)
            .with_setting_engine(settings)
            .with_interceptor_registry(registry)
            .with_handler(handler)
            // Loopback for clients on this machine (the default: the server
            // is local), every other interface for clients on the network.
            .with_udp_addrs(vec!["127.0.0.1:0".to_string(), "0.0.0.0:0".to_string()])
            .build()
            .await
            .map_err(internal)?,
    );
    let negotiated = match negotiate(&pc, &shape, offer, session_id, &mut gathered_rx).await {
        Ok(n) => n,
        Err(e) => {
            let _ = pc.close().await;
            return Err(e);
        }
    };
    let (frames, frames_rx) = mpsc::channel(2);
    let peer = Arc::new(MediaPeer {
        pc,
        state,
        frames,
        audio: Mutex::new(AudioPlan::default()),
        clock_zero,
        closing: AtomicBool::new(false),
    });
    if let Some((v, pt)) = negotiated.video {
        tokio::spawn(video_loop(Arc::downgrade(&peer), v, pt, frames_rx, observe));
    }
    if let Some((a, pt)) = negotiated.audio {
        tokio::spawn(audio_loop(Arc::downgrade(&peer), a, pt));
    }
    Ok((peer, negotiated.sdp))
}

/// What a negotiation agreed: the answer and each track with its payload
/// type.
struct Negotiated {
    sdp: String,
    video: Option<(Sending, u8)>,
    audio: Option<(Sending, u8)>,
}

/// Adds the tracks the offer can receive, answers it and waits for this
/// side's candidates. The caller closes `pc` on error.
async fn negotiate(
    pc: &Arc<dyn PeerConnection>,
    shape: &OfferShape,
    offer: RTCSessionDescription,
    session_id: &str,
    gathered: &mut watch::Receiver<bool>,
) -> Result<Negotiated, OfferError> {
    let video = match shape.has_video {
        true => Some(add_track(pc, RtpCodecKind::Video, h264_codec("42e01f"), session_id).await?),
        false => None,
    };
    let audio = match shape.has_audio {
        true => Some(add_track(pc, RtpCodecKind::Audio, opus_codec(), session_id).await?),
        false => None,
    };
    pc.set_remote_description(offer)
        .await
        .map_err(|e| OfferError::Bad(format!("The SDP offer was refused: {e}")))?;
    let answer = pc
        .create_answer(None)
        .await
        .map_err(|e| OfferError::Bad(format!("No answer fits this offer: {e}")))?;
    pc.set_local_description(answer).await.map_err(internal)?;
    // Non-trickle: the answer carries every candidate gathered in time.
    let _ = tokio::time::timeout(GATHER_TIMEOUT, gathered.wait_for(|g| *g)).await;
    let local = pc
        .local_description()
        .await
        .ok_or_else(|| internal("no local description after answering"))?;
    let video = match video {
        Some(v) => {
            let pt = negotiated_payload_type(&v).await.ok_or_else(|| {
                OfferError::Bad(
                    "Unsupported offer: no H.264 packetization-mode=1 codec was agreed for video"
                        .into(),
                )
            })?;
            Some((v, pt))
        }
        None => None,
    };
    let audio = match audio {
        Some(a) => negotiated_payload_type(&a).await.map(|pt| (a, pt)),
        None => None,
    };
    Ok(Negotiated {
        sdp: local.sdp,
        video,
        audio,
    })
}

impl MediaPeer {
    pub fn state(&self) -> PeerState {
        *self.state.borrow()
    }

    pub fn subscribe_state(&self) -> watch::Receiver<PeerState> {
        self.state.subscribe()
    }

    /// Whether frames should go to this peer (connecting or connected).
    pub fn is_open(&self) -> bool {
        self.state() != PeerState::Closed
    }

    fn instant_of(&self, t_ms: f64) -> Instant {
        self.clock_zero + Duration::from_secs_f64(t_ms.max(0.0) / 1000.0)
    }

    /// Hands a rendered frame to the video track. False when it was
    /// dropped: not connected, or the encoder is still busy with earlier
    /// frames.
    pub fn push_frame(&self, frame: Frame, pass_started: Instant) -> bool {
        self.state() == PeerState::Connected
            && self
                .frames
                .try_send(VideoJob {
                    frame,
                    pass_started,
                })
                .is_ok()
    }

    /// Schedules speech to be heard from clock `start_ms`.
    pub fn schedule_audio(&self, start_ms: f64, samples: &[i16], sample_rate: u32) {
        if !self.is_open() {
            return;
        }
        let pcm = resample_to_48k(samples, sample_rate);
        self.audio.lock().expect("audio plan").push(start_ms, pcm);
    }

    /// Barge-in: what was scheduled and not yet sent is dropped.
    pub fn clear_audio(&self) {
        self.audio.lock().expect("audio plan").segments.clear();
    }

    /// Closes the peer connection (once); the tracks' tasks end.
    pub async fn close(&self) {
        if self.closing.swap(true, Ordering::AcqRel) {
            return;
        }
        self.state.send_replace(PeerState::Closed);
        if let Err(e) = self.pc.close().await {
            tracing::debug!(error = %e, "closing a peer connection");
        }
    }
}

/// Resolves when the peer is closed (or dropped).
async fn closed(mut rx: watch::Receiver<PeerState>) {
    let _ = rx.wait_for(|s| *s == PeerState::Closed).await;
}

fn rtp_packet(pt: u8, seq: u16, ts: u32, ssrc: u32, marker: bool, payload: Bytes) -> rtp::Packet {
    rtp::Packet {
        header: rtp::Header {
            version: 2,
            marker,
            payload_type: pt,
            sequence_number: seq,
            timestamp: ts,
            ssrc,
            ..Default::default()
        },
        payload,
    }
}

async fn video_loop(
    peer: std::sync::Weak<MediaPeer>,
    out: Sending,
    pt: u8,
    mut jobs: mpsc::Receiver<VideoJob>,
    observe: PipelineObserver,
) {
    let Some(state) = peer.upgrade().map(|p| p.subscribe_state()) else {
        return;
    };
    let mut encoder: Option<H264Encoder> = None;
    let mut payloader = rtp::codec::h264::H264Payloader::default();
    let mut seq: u16 = rand::random();
    let base: u32 = rand::random();
    let mut last_key = f64::NEG_INFINITY;
    let mut ended = std::pin::pin!(closed(state));
    loop {
        let job = tokio::select! {
            _ = &mut ended => break,
            job = jobs.recv() => match job { Some(j) => j, None => break },
        };
        let t = job.frame.t_ms;
        let key = t - last_key >= KEYFRAME_EVERY_MS;
        let enc = encoder.take();
        let encoded = tokio::task::spawn_blocking(move || {
            let mut enc = match enc {
                Some(e) if e.width() == job.frame.width && e.height() == job.frame.height => e,
                _ => {
                    let (w, h) = (job.frame.width, job.frame.height);
                    // About 0.15 bit per pixel per frame at 25 fps: a talking
                    // head on a flat backdrop stays sharp.
                    let bitrate = (f64::from(w * h) * 3.75).clamp(250_000.0, 4_000_000.0) as u32;
                    H264Encoder::new(w, h, 25.0, bitrate)?
                }
            };
            let au = enc.encode_rgba(&job.frame.rgba, key)?;
            Ok::<_, avatarium_media::MediaError>((enc, au, job.pass_started))
        })
        .await;
        let (enc, au, pass_started) = match encoded {
            Ok(Ok(x)) => x,
            Ok(Err(e)) => {
                tracing::warn!(error = %e, "H.264 encoding failed; the video track stops");
                break;
            }
            Err(_) => break,
        };
        encoder = Some(enc);
        observe(pass_started.elapsed());
        if au.is_empty() {
            continue;
        }
        if h264_is_keyframe(&au) {
            last_key = t;
        }
        let Some(p) = peer.upgrade() else { break };
        let due = tokio::time::Instant::from_std(p.instant_of(t));
        drop(p);
        tokio::select! {
            _ = &mut ended => break,
            _ = tokio::time::sleep_until(due) => {}
        }
        let payloads = match payloader.payload(RTP_MTU, &Bytes::from(au)) {
            Ok(p) => p,
            Err(e) => {
                tracing::warn!(error = %e, "H.264 packetization failed");
                continue;
            }
        };
        let ts = base.wrapping_add((t * VIDEO_CLOCK).round() as u32);
        let n = payloads.len();
        for (i, payload) in payloads.into_iter().enumerate() {
            let pkt = rtp_packet(pt, seq, ts, out.ssrc, i + 1 == n, payload);
            seq = seq.wrapping_add(1);
            if let Err(e) = out.track.write_rtp(pkt).await {
                tracing::debug!(error = %e, "video RTP write");
            }
        }
    }
}

async fn audio_loop(peer: std::sync::Weak<MediaPeer>, out: Sending, pt: u8) {
    let Some(p) = peer.upgrade() else { return };
    let state = p.subscribe_state();
    let clock_zero = p.clock_zero;
    drop(p);
    let mut encoder = match OpusEncoder::new(OPUS_BITRATE) {
        Ok(e) => e,
        Err(e) => {
            tracing::warn!(error = %e, "no Opus encoder; the audio track stays silent");
            return;
        }
    };
    let clock = |at: Instant| at.saturating_duration_since(clock_zero).as_secs_f64() * 1000.0;
    let mut seq: u16 = rand::random();
    let base: u32 = rand::random();
    let mut pcm = vec![0.0f32; OPUS_FRAME_SAMPLES];
    // Packets start on the 20 ms grid of the session clock.
    let mut t = (clock(Instant::now()) / AUDIO_TICK_MS).ceil() * AUDIO_TICK_MS;
    let mut ended = std::pin::pin!(closed(state.clone()));
    loop {
        let due = clock_zero + Duration::from_secs_f64(t / 1000.0);
        tokio::select! {
            _ = &mut ended => break,
            _ = tokio::time::sleep_until(tokio::time::Instant::from_std(due)) => {}
        }
        // A stall (a busy machine) skips ahead rather than bursting late audio.
        let now = clock(Instant::now());
        if now - t > 200.0 {
            t = (now / AUDIO_TICK_MS).floor() * AUDIO_TICK_MS;
        }
        if *state.borrow() != PeerState::Connected {
            t += AUDIO_TICK_MS;
            continue;
        }
        let Some(p) = peer.upgrade() else { break };
        p.audio.lock().expect("audio plan").take(t, &mut pcm);
        let packet = match encoder.encode(&pcm) {
            Ok(b) => b,
            Err(e) => {
                tracing::warn!(error = %e, "Opus encoding failed");
                t += AUDIO_TICK_MS;
                continue;
            }
        };
        let ts = base.wrapping_add((t * AUDIO_CLOCK).round() as u32);
        let pkt = rtp_packet(pt, seq, ts, out.ssrc, false, Bytes::from(packet));
        seq = seq.wrapping_add(1);
        if let Err(e) = out.track.write_rtp(pkt).await {
            tracing::debug!(error = %e, "audio RTP write");
        }
        drop(p);
        t += AUDIO_TICK_MS;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CHROME_LIKE: &str = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n\
        m=audio 9 UDP/TLS/RTP/SAVPF 111\r\na=rtpmap:111 opus/48000/2\r\n\
        m=video 9 UDP/TLS/RTP/SAVPF 96 102\r\na=rtpmap:96 VP8/90000\r\na=rtpmap:102 H264/90000\r\n";

    #[test]
    fn offers_are_read_for_what_they_can_receive() {
        let s = inspect_offer(CHROME_LIKE).unwrap();
        assert!(s.has_audio && s.audio_opus && s.has_video && s.video_h264);
        let vp8_only = CHROME_LIKE.replace("a=rtpmap:102 H264/90000\r\n", "");
        let e = inspect_offer(&vp8_only).unwrap_err().to_string();
        assert!(e.contains("H.264"), "{e}");
        let no_opus = CHROME_LIKE.replace("opus/48000/2", "PCMU/8000");
        assert!(
            inspect_offer(&no_opus)
                .unwrap_err()
                .to_string()
                .contains("Opus")
        );
        assert!(matches!(inspect_offer("hello"), Err(OfferError::Bad(_))));
        let empty = "v=0\r\no=- 1 2 IN IP4 127.0.0.1\r\ns=-\r\nt=0 0\r\n";
        assert!(
            inspect_offer(empty)
                .unwrap_err()
                .to_string()
                .contains("no audio or video")
        );
    }

    #[test]
    fn the_audio_plan_places_speech_on_the_clock_and_forgets_what_played() {
        let mut plan = AudioPlan::default();
        // 30 ms of 0.5 starting at clock 25 ms.
        plan.push(25.0, vec![0.5; (30.0 * AUDIO_CLOCK) as usize]);
        let mut out = vec![0.0; OPUS_FRAME_SAMPLES];
        plan.take(0.0, &mut out);
        assert!(out.iter().all(|&x| x == 0.0));
        plan.take(20.0, &mut out);
        let first = out.iter().position(|&x| x != 0.0).unwrap();
        assert_eq!(first, (5.0 * AUDIO_CLOCK) as usize);
        assert_eq!(plan.segments.len(), 1);
        plan.take(40.0, &mut out);
        let last = out.iter().rposition(|&x| x != 0.0).unwrap();
        assert_eq!(last + 1, (15.0 * AUDIO_CLOCK) as usize);
        assert!(plan.segments.is_empty(), "played speech is dropped");
    }

    #[test]
    fn ice_servers_come_from_the_003_list() {
        let list = ice_servers(&[
            serde_json::json!({"urls": "stun:stun.example.org:3478"}),
            serde_json::json!({"urls": ["turn:t.example.org"], "username": "u", "credential": "p"}),
            serde_json::json!({"nope": 1}),
        ]);
        assert_eq!(list.len(), 2);
        assert_eq!(list[1].urls, vec!["turn:t.example.org".to_string()]);
        assert_eq!(list[1].credential, "p");
    }
}
