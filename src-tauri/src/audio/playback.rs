//! Speech playback through rodio on the default output device.
//!
//! The device sink lives on its own thread (like the microphone's stream, it
//! must stay on one thread), opened on the first `play` so an app with no
//! output device starts anyway and only `play` reports the problem.

use std::num::NonZero;
use std::sync::Mutex;
use std::sync::mpsc::{self, Receiver, Sender};

use super::wav::Pcm;

enum Command {
    Play(Pcm, Sender<Result<(), String>>),
    Stop,
    Status(Sender<Status>),
}

/// What is playing now.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize)]
#[serde(rename_all = "camelCase")]
pub struct Status {
    pub playing: bool,
    pub position_ms: u64,
}

#[derive(Default)]
pub struct Speaker {
    tx: Mutex<Option<Sender<Command>>>,
}

impl Speaker {
    fn send(&self, command: Command) -> Result<(), String> {
        let mut tx = self.tx.lock().unwrap_or_else(|p| p.into_inner());
        if tx.is_none() {
            let (new_tx, rx) = mpsc::channel();
            std::thread::Builder::new()
                .name("avatarium-speaker".into())
                .spawn(move || run(rx))
                .map_err(|e| format!("cannot start the audio thread: {e}"))?;
            *tx = Some(new_tx);
        }
        let sent = tx.as_ref().map(|t| t.send(command));
        match sent {
            Some(Ok(())) => Ok(()),
            _ => {
                // The thread is gone; the next call starts a new one.
                *tx = None;
                Err("the audio thread stopped".into())
            }
        }
    }

    /// Starts playing `pcm` (stopping what was playing); returns once
    /// playback has begun, or why it cannot.
    pub fn play(&self, pcm: Pcm) -> Result<(), String> {
        if pcm.samples.is_empty() {
            return Err("the audio is empty".into());
        }
        let (reply, answer) = mpsc::channel();
        self.send(Command::Play(pcm, reply))?;
        answer
            .recv()
            .map_err(|_| "the audio thread stopped".to_string())?
    }

    pub fn stop(&self) {
        // Nothing opened yet means nothing is playing.
        if self.tx.lock().map(|t| t.is_some()).unwrap_or(false) {
            let _ = self.send(Command::Stop);
        }
    }

    pub fn status(&self) -> Status {
        if !self.tx.lock().map(|t| t.is_some()).unwrap_or(false) {
            return Status::default();
        }
        let (reply, answer) = mpsc::channel();
        if self.send(Command::Status(reply)).is_err() {
            return Status::default();
        }
        answer.recv().unwrap_or_default()
    }
}

fn run(rx: Receiver<Command>) {
    let mut sink: Option<rodio::MixerDeviceSink> = None;
    let mut player: Option<rodio::Player> = None;
    while let Ok(command) = rx.recv() {
        match command {
            Command::Play(pcm, reply) => {
                if sink.is_none() {
                    match rodio::DeviceSinkBuilder::open_default_sink() {
                        Ok(mut s) => {
                            s.log_on_drop(false);
                            sink = Some(s);
                        }
                        Err(e) => {
                            let _ = reply.send(Err(format!(
                                "no audio output: this machine has no usable output device ({e})"
                            )));
                            continue;
                        }
                    }
                }
                let (Some(channels), Some(rate)) =
                    (NonZero::new(pcm.channels), NonZero::new(pcm.sample_rate))
                else {
                    let _ = reply.send(Err("the audio has no channels or no sample rate".into()));
                    continue;
                };
                // Dropping the previous player stops it.
                drop(player.take());
                let Some(s) = sink.as_ref() else { continue };
                let p = rodio::Player::connect_new(s.mixer());
                p.append(rodio::buffer::SamplesBuffer::new(
                    channels,
                    rate,
                    pcm.samples,
                ));
                player = Some(p);
                let _ = reply.send(Ok(()));
            }
            Command::Stop => {
                if let Some(p) = player.take() {
                    p.stop();
                }
            }
            Command::Status(reply) => {
                let status = match &player {
                    Some(p) if !p.empty() => Status {
                        playing: true,
                        position_ms: p.get_pos().as_millis() as u64,
                    },
                    _ => Status::default(),
                };
                let _ = reply.send(status);
            }
        }
    }
}
