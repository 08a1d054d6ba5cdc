//! The microphone through cpal: the default input device, whatever its
//! rate, channels and sample format, turned into 16 kHz mono and cut into
//! utterances ([`super::utterance`]).
//!
//! cpal's stream is not `Send` on every platform, so one thread owns it from
//! open to close; the device callback only copies samples into a bounded
//! channel (never blocking the audio thread), and that same thread resamples
//! and runs the VAD between callbacks.

use std::sync::mpsc::{self, Receiver, RecvTimeoutError, SyncSender};
use std::sync::{Arc, atomic::AtomicBool, atomic::AtomicU64, atomic::Ordering};
use std::thread::JoinHandle;
use std::time::Duration;

use avatarium_stt::vad::VadConfig;
use cpal::traits::{DeviceTrait, HostTrait, StreamTrait};
use cpal::{FromSample, SampleFormat, SizedSample};

use super::resample::{Resampler, downmix};
use super::utterance::{Cut, Cutter, Mode, SAMPLE_RATE, Utterance};

/// Chunks of device audio waiting for the worker (about 2–5 s of audio).
const QUEUE: usize = 256;

/// What the worker hands on while listening.
pub type OnCut = Box<dyn FnMut(Cut) + Send>;

/// A microphone being listened to; [`Listener::stop`] ends it.
pub struct Listener {
    mode: Mode,
    device: String,
    stop: Arc<AtomicBool>,
    thread: Option<JoinHandle<Option<Utterance>>>,
}

impl std::fmt::Debug for Listener {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Listener")
            .field("mode", &self.mode)
            .field("device", &self.device)
            .finish()
    }
}

impl Listener {
    /// Opens the default microphone and starts listening. Fails with a
    /// readable reason where there is no input device (e.g. on CI).
    pub fn start(mode: Mode, vad: VadConfig, on_cut: OnCut) -> Result<Self, String> {
        // The VAD is checked here so a bad model fails `start`, not later.
        let cutter = Cutter::new(mode, vad)?;
        let stop = Arc::new(AtomicBool::new(false));
        let (ready_tx, ready_rx) = mpsc::channel::<Result<String, String>>();
        let stop_flag = Arc::clone(&stop);
        let thread = std::thread::Builder::new()
            .name("avatarium-mic".into())
            .spawn(move || run(cutter, stop_flag, ready_tx, on_cut))
            .map_err(|e| format!("cannot start the microphone thread: {e}"))?;
        match ready_rx.recv() {
            Ok(Ok(device)) => Ok(Self {
                mode,
                device,
                stop,
                thread: Some(thread),
            }),
            Ok(Err(e)) => {
                let _ = thread.join();
                Err(e)
            }
            Err(_) => {
                let _ = thread.join();
                Err("the microphone thread ended before it started".into())
            }
        }
    }

    pub fn mode(&self) -> Mode {
        self.mode
    }

    pub fn device(&self) -> &str {
        &self.device
    }

    /// Closes the microphone; push-to-talk's recording, or a hands-free
    /// utterance that was still in progress.
    pub fn stop(mut self) -> Option<Utterance> {
        self.stop.store(true, Ordering::SeqCst);
        self.thread.take().and_then(|t| t.join().ok()).flatten()
    }
}

impl Drop for Listener {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

/// The name of the default input device, if there is one.
pub fn default_input_name() -> Option<String> {
    let device = cpal::default_host().default_input_device()?;
    Some(device_name(&device))
}

fn device_name(device: &cpal::Device) -> String {
    device
        .description()
        .map(|d| d.name().to_string())
        .unwrap_or_else(|_| "default".into())
}

fn run(
    mut cutter: Cutter,
    stop: Arc<AtomicBool>,
    ready: mpsc::Sender<Result<String, String>>,
    mut on_cut: OnCut,
) -> Option<Utterance> {
    let (tx, rx) = mpsc::sync_channel::<Vec<f32>>(QUEUE);
    let dropped = Arc::new(AtomicU64::new(0));
    let opened = open_stream(tx, Arc::clone(&dropped));
    let (stream, device, channels, rate) = match opened {
        Ok(o) => o,
        Err(e) => {
            let _ = ready.send(Err(e));
            return None;
        }
    };
    let _ = ready.send(Ok(device.clone()));
    tracing::info!(%device, channels, rate, mode = ?cutter.mode(), "listening");
    let mut resampler = Resampler::new(rate, SAMPLE_RATE);
    let mut handle = |chunk: Vec<f32>, cutter: &mut Cutter| {
        let mono = resampler.process(&downmix(&chunk, channels));
        for cut in cutter.push(&mono) {
            on_cut(cut);
        }
    };
    while !stop.load(Ordering::SeqCst) {
        match rx.recv_timeout(Duration::from_millis(50)) {
            Ok(chunk) => handle(chunk, &mut cutter),
            Err(RecvTimeoutError::Timeout) => {}
            Err(RecvTimeoutError::Disconnected) => break,
        }
    }
    // Stop the device first, then take what it had already delivered.
    drop(stream);
    drain(&rx, |chunk| handle(chunk, &mut cutter));
    let lost = dropped.load(Ordering::Relaxed);
    if lost > 0 {
        tracing::warn!(
            chunks = lost,
            "microphone audio dropped: the worker fell behind"
        );
    }
    tracing::info!(%device, "stopped listening");
    cutter.finish()
}

fn drain(rx: &Receiver<Vec<f32>>, mut f: impl FnMut(Vec<f32>)) {
    while let Ok(chunk) = rx.try_recv() {
        f(chunk);
    }
}

type Opened = (cpal::Stream, String, usize, u32);

fn open_stream(tx: SyncSender<Vec<f32>>, dropped: Arc<AtomicU64>) -> Result<Opened, String> {
    let host = cpal::default_host();
    let device = host
        .default_input_device()
        .ok_or_else(|| "no microphone: this machine has no audio input device".to_string())?;
    let name = device_name(&device);
    let supported = device
        .default_input_config()
        .map_err(|e| format!("the microphone '{name}' cannot be used: {e}"))?;
    let config = supported.config();
    let channels = usize::from(config.channels.max(1));
    let rate = config.sample_rate;
    let stream = match supported.sample_format() {
        SampleFormat::F32 => build::<f32>(&device, config, tx, dropped),
        SampleFormat::I16 => build::<i16>(&device, config, tx, dropped),
        SampleFormat::U16 => build::<u16>(&device, config, tx, dropped),
        SampleFormat::I32 => build::<i32>(&device, config, tx, dropped),
        SampleFormat::U8 => build::<u8>(&device, config, tx, dropped),
        SampleFormat::I8 => build::<i8>(&device, config, tx, dropped),
        SampleFormat::F64 => build::<f64>(&device, config, tx, dropped),
        other => {
            return Err(format!(
                "the microphone '{name}' delivers {other:?} samples, which are not supported"
            ));
        }
    }
    .map_err(|e| format!("cannot open the microphone '{name}': {e}"))?;
    stream
        .play()
        .map_err(|e| format!("cannot start the microphone '{name}': {e}"))?;
    Ok((stream, name, channels, rate))
}

fn build<T>(
    device: &cpal::Device,
    config: cpal::StreamConfig,
    tx: SyncSender<Vec<f32>>,
    dropped: Arc<AtomicU64>,
) -> Result<cpal::Stream, cpal::Error>
where
    T: SizedSample,
    f32: FromSample<T>,
{
    device.build_input_stream::<T, _, _>(
        config,
        move |data: &[T], _| {
            let chunk: Vec<f32> = data.iter().map(|&s| s.to_sample::<f32>()).collect();
            // Never block the audio thread: a full queue loses this chunk.
            if tx.try_send(chunk).is_err() {
                dropped.fetch_add(1, Ordering::Relaxed);
            }
        },
        |e| tracing::warn!(error = %e, "microphone stream error"),
        None,
    )
}
