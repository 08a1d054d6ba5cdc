//! WebRTC streaming (003's `streaming.start`) against a real server on
//! loopback, with an independent webrtc-rs peer playing the browser: it
//! offers, receives the avatar's H.264 video and Opus voice, decodes them,
//! and watches the mouth move while the avatar speaks.

#[allow(dead_code)]
#[path = "api/harness.rs"]
mod harness;
#[allow(dead_code)]
#[path = "support/peer.rs"]
mod peer;

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use futures::StreamExt;
use serde_json::json;
use webrtc::peer_connection::RTCPeerConnectionState;

use harness::TestServer;
use peer::{TestPeer, mouth_darkness};

async fn new_session(s: &TestServer) -> String {
    new_session_with_token(s).await.0
}

async fn new_session_with_token(s: &TestServer) -> (String, String) {
    let r = s
        .post("/v1/streaming.new", None, json!({"quality": "low"}))
        .await
        .expect(200);
    (
        r.body["session_id"].as_str().unwrap().to_string(),
        r.body["access_token"].as_str().unwrap().to_string(),
    )
}

/// Offers, gets the answer and waits for the connection.
async fn connect(s: &TestServer, id: &str) -> TestPeer {
    let (p, answer) = peer::connect(&s.base, id).await;
    assert!(
        answer.contains("a=candidate:"),
        "the answer carries candidates"
    );
    assert!(
        answer.to_ascii_lowercase().contains("h264/90000"),
        "H.264 is chosen though the offer lists VP8 first"
    );
    p
}

#[tokio::test]
async fn a_second_peer_receives_video_and_voice_and_sees_the_mouth_move() {
    let s = TestServer::start().await;
    let id = new_session(&s).await;
    let mut p = connect(&s, &id).await;
    assert!(
        p.wait_frames(10, Duration::from_secs(30)).await,
        "frames decode; {} RTP packets",
        p.got.rtp_packets.load(Ordering::Relaxed)
    );
    assert_eq!(
        p.got
            .video_mime
            .lock()
            .unwrap()
            .as_deref()
            .map(str::to_ascii_lowercase),
        Some("video/h264".into())
    );
    let resting: Vec<usize> = p
        .got
        .frames
        .lock()
        .unwrap()
        .iter()
        .map(|f| {
            assert_eq!((f.width, f.height), (256, 256), "low quality is 256×256");
            mouth_darkness(f.width, f.height, &f.rgb)
        })
        .collect();
    let quiet = p.got.audio.lock().unwrap().len();
    assert!(quiet > 0, "audio packets flow while the avatar is silent");

    let before = p.got.frames.lock().unwrap().len();
    let audio_before = p.got.audio.lock().unwrap().len();
    let spoke_at = Instant::now();
    s.post(
        "/v1/avatar.speak",
        None,
        json!({"session_id": id, "text": "Hello! Look at my mouth: ah, oh, wow, how are you today?"}),
    )
    .await
    .expect(200);
    tokio::time::sleep(Duration::from_secs(5)).await;

    let rest_max = *resting.iter().max().unwrap();
    let first_open = {
        let frames = p.got.frames.lock().unwrap();
        let speaking: Vec<usize> = frames[before..]
            .iter()
            .map(|f| mouth_darkness(f.width, f.height, &f.rgb))
            .collect();
        assert!(speaking.len() >= 10, "{} frames in 5 s", speaking.len());
        let open_max = *speaking.iter().max().unwrap();
        assert!(
            open_max > rest_max + 40,
            "the mouth opens while speaking: darkness at rest ≤ {rest_max}, speaking up to {open_max}"
        );
        // RTP timestamps are the frames' session-clock instants at 90 kHz:
        // they rise, one frame interval (1/15 s at low) or a few apart when
        // a busy machine skipped some. (Frame rates are the bench's job.)
        let steps: Vec<u32> = frames[before..]
            .windows(2)
            .map(|w| w[1].rtp_ts.wrapping_sub(w[0].rtp_ts))
            .collect();
        let mut sorted = steps.clone();
        sorted.sort_unstable();
        let median_ms = f64::from(sorted[sorted.len() / 2]) / 90.0;
        assert!(
            steps.iter().all(|&d| d > 0 && d < 90 * 2000),
            "RTP timestamps rise: {steps:?}"
        );
        assert!(
            (60.0..400.0).contains(&median_ms),
            "RTP steps of {median_ms:.1} ms between frames"
        );
        let i = speaking.iter().position(|&d| d > rest_max + 40).unwrap();
        frames[before + i].decoded_at
    };

    let first_loud = {
        let audio = p.got.audio.lock().unwrap();
        let loud = audio[audio_before..]
            .iter()
            .filter(|c| c.rms > 0.02)
            .count();
        assert!(
            loud >= 25,
            "≥ 0.5 s of audible speech arrives; {loud} loud packets"
        );
        let silent_before = audio[..audio_before]
            .iter()
            .filter(|c| c.rms < 0.005)
            .count();
        assert!(
            silent_before * 10 >= audio_before * 9,
            "silence before speaking: {silent_before}/{audio_before}"
        );
        let first_loud = audio[audio_before..]
            .iter()
            .find(|c| c.rms > 0.02)
            .unwrap()
            .decoded_at;
        assert!(first_loud - spoke_at < Duration::from_secs(3));
        first_loud
    };
    // Voice and mouth share the session clock: the first open mouth and
    // the first loud audio arrive together.
    let skew = first_open.max(first_loud) - first_open.min(first_loud);
    assert!(
        skew < Duration::from_millis(300),
        "mouth vs voice: {skew:?} apart"
    );

    // Stopping the session closes the peer connection: media stops and the
    // peer sees the connection end.
    s.post("/v1/streaming.stop", None, json!({"session_id": id}))
        .await
        .expect(200);
    let stopped = Instant::now();
    tokio::time::sleep(Duration::from_millis(700)).await;
    let last = p.got.last_rtp.lock().unwrap().unwrap();
    assert!(
        last < stopped + Duration::from_millis(300),
        "no media after stop (last packet {:?} after)",
        last.saturating_duration_since(stopped)
    );
    assert!(
        p.wait_state(Duration::from_secs(20), |s| matches!(
            s,
            RTCPeerConnectionState::Closed
                | RTCPeerConnectionState::Disconnected
                | RTCPeerConnectionState::Failed
        ))
        .await,
        "the peer sees the connection end; state {:?}",
        p.state()
    );
    let _ = p.pc.close().await;
}

#[tokio::test]
async fn bad_and_unsupported_offers_get_400_in_the_envelope() {
    let s = TestServer::start().await;
    let id = new_session(&s).await;
    let mut p = TestPeer::new().await;
    let good = p.offer().await;
    let start = |body| s.post("/v1/streaming.start", None, body);

    let r = start(json!({"session_id": id})).await.expect(400);
    assert_eq!(r.error_code(), "BAD_REQUEST");
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("sdp is required")
    );
    assert!(r.body["meta"]["requestId"].is_string());

    let r = start(json!({"session_id": id, "sdp": {"type": "answer", "sdp": good}}))
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("offer")
    );

    let r = start(json!({"session_id": id, "sdp": {"type": "offer", "sdp": "hello"}}))
        .await
        .expect(400);
    assert!(r.body["error"]["message"].as_str().unwrap().contains("v=0"));

    // A well-formed offer the avatar cannot serve: video without H.264.
    let vp8_only: String = good
        .split("\r\n")
        .filter(|l| !l.to_ascii_lowercase().contains("h264"))
        .collect::<Vec<_>>()
        .join("\r\n");
    let r = start(json!({"session_id": id, "sdp": {"type": "offer", "sdp": vp8_only}}))
        .await
        .expect(400);
    assert!(
        r.body["error"]["message"]
            .as_str()
            .unwrap()
            .contains("H.264")
    );

    // A broken session description past its first line.
    let broken = good
        .replacen("m=video", "m=video-broken", 1)
        .replace("a=fingerprint", "a=x");
    let r = start(json!({"session_id": id, "sdp": {"type": "offer", "sdp": broken}}))
        .await
        .expect(400);
    assert_eq!(r.error_code(), "BAD_REQUEST");

    let r = start(json!({"session_id": "nope", "sdp": {"type": "offer", "sdp": good}}))
        .await
        .expect(404);
    assert_eq!(r.error_code(), "SESSION_NOT_FOUND");

    // The session is unharmed: a good offer still connects.
    let ok = connect(&s, &id).await;
    assert!(ok.wait_frames(3, Duration::from_secs(30)).await);
    let _ = ok.pc.close().await;
    let _ = p.pc.close().await;
}

#[tokio::test]
async fn the_websocket_still_carries_events_and_an_interrupt_silences_the_stream() {
    let s = TestServer::start().await;
    let (id, token) = new_session_with_token(&s).await;
    let mut ws = s.session_ws(&id, &token).await;
    let p = connect(&s, &id).await;
    assert!(p.wait_frames(5, Duration::from_secs(30)).await);
    // Frames sent before the peer connected are read away: once it is up,
    // the socket goes quiet.
    while let Ok(Some(Ok(_))) = tokio::time::timeout(Duration::from_millis(500), ws.next()).await {}
    s.post(
        "/v1/avatar.speak",
        None,
        json!({"session_id": id, "text": "I will keep talking for quite a while now, about the weather, the sea, the mountains and the long roads between them."}),
    )
    .await
    .expect(200);
    // Events still arrive on the socket, and while WebRTC carries the
    // video, the socket carries no frames.
    let mut frames_on_socket = 0;
    loop {
        let v = tokio::time::timeout(Duration::from_secs(30), harness::ws_next(&mut ws))
            .await
            .expect("events")
            .expect("open socket");
        match v["type"].as_str() {
            Some("frame") => frames_on_socket += 1,
            Some("status") if v["status"] == "speaking" => break,
            _ => {}
        }
    }
    assert_eq!(frames_on_socket, 0, "frames go over WebRTC only");
    // Speech is audible on the peer, then the user barges in.
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let loud = p
            .got
            .audio
            .lock()
            .unwrap()
            .iter()
            .rev()
            .take(5)
            .any(|c| c.rms > 0.02);
        if loud {
            break;
        }
        assert!(Instant::now() < deadline, "speech never became audible");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    harness::ws_send(&mut ws, json!({"type": "interrupt"})).await;
    let interrupted = Instant::now();
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let after: Vec<f32> = p
        .got
        .audio
        .lock()
        .unwrap()
        .iter()
        .filter(|c| c.decoded_at > interrupted + Duration::from_millis(400))
        .map(|c| c.rms)
        .collect();
    assert!(
        after.len() > 20,
        "audio packets keep flowing: {}",
        after.len()
    );
    assert!(
        after.iter().all(|&r| r < 0.005),
        "silent after the interrupt: {after:?}"
    );
    let _ = p.pc.close().await;
}

#[tokio::test]
async fn while_a_peer_has_not_connected_the_socket_keeps_its_frames() {
    let s = TestServer::start().await;
    let (id, token) = new_session_with_token(&s).await;
    let mut ws = s.session_ws(&id, &token).await;
    // An answer the client never applies: the peer stays "connecting".
    let mut p = TestPeer::new().await;
    let offer = p.offer().await;
    s.post(
        "/v1/streaming.start",
        None,
        json!({"session_id": id, "sdp": {"type": "offer", "sdp": offer}}),
    )
    .await
    .expect(200);
    let mut frames = 0;
    let until = tokio::time::Instant::now() + Duration::from_secs(20);
    while frames < 5 {
        let v = tokio::time::timeout_at(until, harness::ws_next(&mut ws))
            .await
            .expect("frames on the socket")
            .expect("open socket");
        if v["type"] == "frame" {
            frames += 1;
        }
    }
    let _ = p.pc.close().await;
}
