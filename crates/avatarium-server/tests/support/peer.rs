//! A receiving WebRTC peer for tests and benchmarks, playing the browser:
//! its own webrtc-rs peer connection offering what a browser offers (VP8
//! first, H.264, Opus, …), receive-only, that depacketises and decodes
//! what arrives: H.264 frames to RGB, Opus to PCM.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::{Bytes, BytesMut};
use tokio::sync::watch;

use avatarium_media::{H264Decoder, OpusDecoder};
use rtc::interceptor::Registry;
use rtc::rtp::packetizer::Depacketizer;
use rtc::rtp_transceiver::rtp_sender::RtpCodecKind;
use rtc::rtp_transceiver::{RTCRtpTransceiverDirection, RTCRtpTransceiverInit};
use webrtc::media_stream::track_remote::{TrackRemote, TrackRemoteEvent};
use webrtc::peer_connection::{
    MediaEngine, PeerConnection, PeerConnectionBuilder, PeerConnectionEventHandler,
    RTCConfigurationBuilder, RTCIceGatheringState, RTCPeerConnectionState, RTCSessionDescription,
    SettingEngineBuilder, register_default_interceptors,
};

/// A decoded video frame and when it was decoded.
pub struct VideoFrame {
    pub decoded_at: Instant,
    pub rtp_ts: u32,
    pub width: u32,
    pub height: u32,
    pub rgb: Vec<u8>,
}

/// One decoded Opus packet.
pub struct AudioChunk {
    pub decoded_at: Instant,
    pub rtp_ts: u32,
    pub rms: f32,
}

#[derive(Default)]
pub struct Received {
    pub frames: Mutex<Vec<VideoFrame>>,
    pub audio: Mutex<Vec<AudioChunk>>,
    pub rtp_packets: AtomicUsize,
    pub last_rtp: Mutex<Option<Instant>>,
    pub video_mime: Mutex<Option<String>>,
}

struct Handler {
    got: Arc<Received>,
    state: watch::Sender<RTCPeerConnectionState>,
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
        self.state.send_replace(state);
    }

    async fn on_track(&self, track: Arc<dyn TrackRemote>) {
        let kind = track.kind().await;
        let got = self.got.clone();
        if kind == RtpCodecKind::Video {
            let ssrc = track.ssrcs().await.first().copied();
            if let Some(ssrc) = ssrc
                && let Some(codec) = track.codec(ssrc).await
            {
                *got.video_mime.lock().unwrap() = Some(codec.mime_type.clone());
            }
            tokio::spawn(read_video(track, got));
        } else {
            tokio::spawn(read_audio(track, got));
        }
    }
}

fn note_packet(got: &Received) {
    got.rtp_packets.fetch_add(1, Ordering::Relaxed);
    *got.last_rtp.lock().unwrap() = Some(Instant::now());
}

async fn read_video(track: Arc<dyn TrackRemote>, got: Arc<Received>) {
    let mut depacketizer = rtc::rtp::codec::h264::H264Packet::default();
    let mut decoder = H264Decoder::new().expect("an H.264 decoder");
    let mut unit = BytesMut::new();
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        note_packet(&got);
        if let Ok(nals) = depacketizer.depacketize(&packet.payload) {
            unit.extend_from_slice(&nals);
        }
        if !packet.header.marker || unit.is_empty() {
            continue;
        }
        let au: Bytes = unit.split().freeze();
        if let Ok(Some(f)) = decoder.decode(&au) {
            got.frames.lock().unwrap().push(VideoFrame {
                decoded_at: Instant::now(),
                rtp_ts: packet.header.timestamp,
                width: f.width,
                height: f.height,
                rgb: f.rgb,
            });
        }
    }
}

async fn read_audio(track: Arc<dyn TrackRemote>, got: Arc<Received>) {
    let mut decoder = OpusDecoder::new(2).expect("an Opus decoder");
    while let Some(event) = track.poll().await {
        let TrackRemoteEvent::OnRtpPacket(packet) = event else {
            continue;
        };
        note_packet(&got);
        if let Ok(pcm) = decoder.decode(&packet.payload) {
            let rms = (pcm.iter().map(|x| x * x).sum::<f32>() / pcm.len().max(1) as f32).sqrt();
            got.audio.lock().unwrap().push(AudioChunk {
                decoded_at: Instant::now(),
                rtp_ts: packet.header.timestamp,
                rms,
            });
        }
    }
}

pub struct TestPeer {
    pub pc: Arc<dyn PeerConnection>,
    pub got: Arc<Received>,
    state: watch::Receiver<RTCPeerConnectionState>,
    gathered: watch::Receiver<bool>,
}

impl TestPeer {
    /// A receive-only peer for one video and one audio track.
    pub async fn new() -> Self {
        let mut media = MediaEngine::default();
        media.register_default_codecs().unwrap();
        let registry = register_default_interceptors(Registry::new(), &mut media).unwrap();
        let (state_tx, state) = watch::channel(RTCPeerConnectionState::New);
        let (gathered_tx, gathered) = watch::channel(false);
        let got = Arc::new(Received::default());
        let pc: Arc<dyn PeerConnection> = Arc::new(
            PeerConnectionBuilder::new()
                .with_configuration(RTCConfigurationBuilder::new().build())
                .with_media_engine(media)
                .with_setting_engine(
                    SettingEngineBuilder::new()
                        .with_include_loopback_candidate(true)
                        .build(),
                )
                .with_interceptor_registry(registry)
                .with_handler(Arc::new(Handler {
                    got: got.clone(),
                    state: state_tx,
                    gathered: gathered_tx,
                }))
                .with_udp_addrs(vec!["127.0.0.1:0".to_string()])
                .build()
                .await
                .unwrap(),
        );
        for kind in [RtpCodecKind::Video, RtpCodecKind::Audio] {
            pc.add_transceiver_from_kind(
                kind,
                Some(RTCRtpTransceiverInit {
                    direction: RTCRtpTransceiverDirection::Recvonly,
                    ..Default::default()
                }),
            )
            .await
            .unwrap();
        }
        Self {
            pc,
            got,
            state,
            gathered,
        }
    }

    /// The offer, with every candidate (no trickle).
    pub async fn offer(&mut self) -> String {
        let offer = self.pc.create_offer(None).await.unwrap();
        self.pc.set_local_description(offer).await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), self.gathered.wait_for(|g| *g))
            .await
            .expect("candidates gathered")
            .unwrap();
        self.pc.local_description().await.unwrap().sdp
    }

    pub async fn accept(&self, answer: String) {
        self.pc
            .set_remote_description(RTCSessionDescription::answer(answer).unwrap())
            .await
            .unwrap();
    }

    pub fn state(&self) -> RTCPeerConnectionState {
        *self.state.borrow()
    }

    /// Waits up to `within` for a state matching `pred`.
    pub async fn wait_state(
        &mut self,
        within: Duration,
        pred: impl Fn(RTCPeerConnectionState) -> bool,
    ) -> bool {
        tokio::time::timeout(within, self.state.wait_for(|s| pred(*s)))
            .await
            .is_ok_and(|r| r.is_ok())
    }

    /// Waits until `n` frames have been decoded.
    pub async fn wait_frames(&self, n: usize, within: Duration) -> bool {
        let deadline = Instant::now() + within;
        while Instant::now() < deadline {
            if self.got.frames.lock().unwrap().len() >= n {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }
}

/// Offers to the server at `base` (`http://127.0.0.1:PORT`) for session
/// `id` with `streaming.start`, applies the answer and waits for the
/// connection. Returns the peer and the answer's SDP.
pub async fn connect(base: &str, id: &str) -> (TestPeer, String) {
    let mut p = TestPeer::new().await;
    let offer = p.offer().await;
    let r: serde_json::Value = reqwest::Client::new()
        .post(format!("{base}/v1/streaming.start"))
        .json(&serde_json::json!({"session_id": id, "sdp": {"type": "offer", "sdp": offer}}))
        .send()
        .await
        .unwrap()
        .error_for_status()
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(r["status"], "started");
    assert_eq!(r["sdp"]["type"], "answer");
    let answer = r["sdp"]["sdp"].as_str().unwrap().to_string();
    p.accept(answer.clone()).await;
    assert!(
        p.wait_state(Duration::from_secs(20), |s| s
            == RTCPeerConnectionState::Connected)
            .await,
        "connected; state {:?}",
        p.state()
    );
    (p, answer)
}

/// Dark pixels in the lower middle of an RGB frame, where the mouth is: an
/// open mouth shows its dark inside; closed lips and skin are far brighter.
pub fn mouth_darkness(width: u32, height: u32, rgb: &[u8]) -> usize {
    let (max_luma, (x0, x1, y0, y1)) = (40.0, (40, 60, 55, 70));
    let mut n = 0;
    for y in height * y0 / 100..height * y1 / 100 {
        for x in width * x0 / 100..width * x1 / 100 {
            let i = ((y * width + x) * 3) as usize;
            let luma = 0.2126 * f32::from(rgb[i])
                + 0.7152 * f32::from(rgb[i + 1])
                + 0.0722 * f32::from(rgb[i + 2]);
            if luma < max_luma {
                n += 1;
            }
        }
    }
    n
}
