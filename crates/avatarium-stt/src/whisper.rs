//! Local, offline transcription with whisper.cpp (through `whisper-rs`).

use std::fmt;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};

use async_trait::async_trait;
use whisper_rs::{
    FullParams, SamplingStrategy, WhisperContext, WhisperContextParameters, WhisperState,
};

use crate::decode::{self, MAX_SECONDS, SAMPLE_RATE};
use crate::{SttEngine, SttError, SttRequest, Transcript, Word, mean_confidence, models};

/// The first four bytes of a whisper.cpp model: `ggml` as a little-endian u32.
const GGML_MAGIC: [u8; 4] = 0x6767_6d6c_u32.to_le_bytes();

/// A whisper model loaded once and shared by every request.
///
/// Cloning is cheap (the model is reference-counted). Inference is serialised: each run already
/// uses every core, so running two at once would only make both slower.
#[derive(Clone)]
pub struct LocalWhisper {
    inner: Arc<Inner>,
}

struct Inner {
    ctx: WhisperContext,
    /// Kept between runs because creating a state allocates the model's working buffers.
    state: Mutex<Option<WhisperState>>,
    model_path: PathBuf,
    threads: AtomicUsize,
    /// whisper-rs keeps abort callbacks alive forever, so the flag they read must be `'static`.
    abort: &'static AbortFlags,
}

struct AbortFlags {
    next_run: AtomicU64,
    cancelled: AtomicU64,
}

impl fmt::Debug for LocalWhisper {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("LocalWhisper")
            .field("model_path", &self.inner.model_path)
            .field("threads", &self.inner.threads.load(Ordering::Relaxed))
            .field("multilingual", &self.inner.ctx.is_multilingual())
            .finish()
    }
}

impl LocalWhisper {
    /// Loads a ggml whisper model (`ggml-base.en.bin`, …) from `model_path`.
    ///
    /// Errors: [`SttError::ModelMissing`] (with a download hint) when the file does not exist,
    /// [`SttError::Model`] when it is not a loadable whisper model.
    pub fn load(model_path: &Path) -> Result<Self, SttError> {
        whisper_rs::install_logging_hooks();

        if !model_path.exists() {
            return Err(missing_model(model_path));
        }
        if !model_path.is_file() {
            return Err(SttError::Model(format!(
                "{} is not a model file",
                model_path.display()
            )));
        }
        validate_model(model_path)?;

        let mut params = WhisperContextParameters::default();
        params.use_gpu(false);
        let ctx = WhisperContext::new_with_params(model_path, params).map_err(|e| {
            SttError::Model(format!(
                "cannot load whisper model {}: {e}",
                model_path.display()
            ))
        })?;
        let threads = std::thread::available_parallelism()
            .map(|n| n.get())
            .unwrap_or(4);
        tracing::info!(model = %model_path.display(), threads, multilingual = ctx.is_multilingual(), "whisper model loaded");
        Ok(Self {
            inner: Arc::new(Inner {
                ctx,
                state: Mutex::new(None),
                model_path: model_path.to_path_buf(),
                threads: AtomicUsize::new(threads),
                abort: Box::leak(Box::new(AbortFlags {
                    next_run: AtomicU64::new(1),
                    cancelled: AtomicU64::new(0),
                })),
            }),
        })
    }

    /// Overrides the number of CPU threads per run (default: all available cores).
    pub fn with_threads(self, threads: usize) -> Self {
        self.inner.threads.store(threads.max(1), Ordering::Relaxed);
        self
    }

    pub fn model_path(&self) -> &Path {
        &self.inner.model_path
    }

    /// Whether the model understands languages other than English (`.en` models do not).
    pub fn is_multilingual(&self) -> bool {
        self.inner.ctx.is_multilingual()
    }

    /// Transcribes 16 kHz mono PCM. Blocks for the length of the inference; from async code use
    /// the [`SttEngine`] implementation, which runs this on a blocking thread.
    ///
    /// `language` is a code such as `"en"` or `"de-DE"`; `None` (or an unknown code) lets a
    /// multilingual model detect it. English-only models always transcribe English.
    pub fn transcribe_pcm(
        &self,
        pcm16k: &[f32],
        language: Option<&str>,
        include_words: bool,
    ) -> Result<Transcript, SttError> {
        let run = self.inner.abort.next_run.fetch_add(1, Ordering::Relaxed);
        self.run(pcm16k, language, include_words, run)
    }

    fn run(
        &self,
        pcm16k: &[f32],
        language: Option<&str>,
        include_words: bool,
        run_id: u64,
    ) -> Result<Transcript, SttError> {
        if pcm16k.is_empty() {
            return Err(SttError::BadAudio("the audio is empty".into()));
        }
        let duration_s = pcm16k.len() as f32 / SAMPLE_RATE as f32;
        if duration_s > MAX_SECONDS + 0.1 {
            return Err(SttError::TooLong { max_s: MAX_SECONDS });
        }
        let inner = &*self.inner;
        let language = self.pick_language(language);

        let mut params = FullParams::new(SamplingStrategy::Greedy { best_of: 1 });
        params.set_n_threads(inner.threads.load(Ordering::Relaxed).min(256) as i32);
        params.set_language(Some(language.as_deref().unwrap_or("auto")));
        params.set_translate(false);
        // Requests are independent: text from a previous caller must not prime the next one.
        params.set_no_context(true);
        params.set_print_special(false);
        params.set_print_progress(false);
        params.set_print_realtime(false);
        params.set_print_timestamps(false);
        params.set_suppress_blank(true);
        params.set_suppress_nst(true);
        params.set_token_timestamps(include_words);
        let abort = inner.abort;
        params.set_abort_callback_safe(move || abort.cancelled.load(Ordering::Relaxed) == run_id);

        let mut slot = inner
            .state
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        if slot.is_none() {
            *slot = Some(
                inner
                    .ctx
                    .create_state()
                    .map_err(|e| SttError::Model(format!("cannot allocate whisper state: {e}")))?,
            );
        }
        let state = slot
            .as_mut()
            .ok_or_else(|| SttError::Model("no whisper state".into()))?;

        let started = std::time::Instant::now();
        let outcome = state.full(params, pcm16k);
        if abort.cancelled.load(Ordering::Relaxed) == run_id {
            return Err(SttError::Model("transcription cancelled".into()));
        }
        outcome.map_err(|e| SttError::Model(format!("whisper inference failed: {e}")))?;

        let eot = inner.ctx.token_eot();
        let mut text = String::new();
        let mut words: Vec<PendingWord> = Vec::new();
        for segment in state.as_iter() {
            if let Ok(seg_text) = segment.to_str_lossy() {
                text.push_str(&seg_text);
            }
            for i in 0..segment.n_tokens() {
                let Some(token) = segment.get_token(i) else {
                    continue;
                };
                let data = token.token_data();
                // Special tokens (end-of-text, timestamps, language, task) carry no text.
                if data.id >= eot {
                    continue;
                }
                let bytes = token.to_bytes().unwrap_or_default();
                if bytes.is_empty() {
                    continue;
                }
                let starts_word = bytes[0] == b' ' || words.is_empty();
                if starts_word {
                    words.push(PendingWord::default());
                }
                if let Some(w) = words.last_mut() {
                    w.push(bytes, data.p, data.t0, data.t1);
                }
            }
        }
        let words: Vec<Word> = words
            .into_iter()
            .filter_map(|w| w.finish(duration_s))
            .collect();
        let confidence = mean_confidence(&words);
        let detected = state.full_lang_id_from_state();
        let language = whisper_rs::get_lang_str(detected)
            .map(str::to_string)
            .or(language);
        tracing::debug!(
            audio_s = duration_s,
            elapsed_ms = started.elapsed().as_millis() as u64,
            words = words.len(),
            "whisper transcription done"
        );

        Ok(Transcript {
            text: normalise_space(&text),
            confidence,
            words: if include_words { words } else { Vec::new() },
            language,
            duration_s,
        })
    }

    fn pick_language(&self, requested: Option<&str>) -> Option<String> {
        if !self.is_multilingual() {
            return Some("en".into());
        }
        let code = crate::primary_language(requested)?;
        // whisper-rs panics on interior NULs; real codes are short ASCII words anyway.
        if !code.chars().all(|c| c.is_ascii_alphabetic()) || code.len() > 8 {
            tracing::warn!(language = %code, "ignoring malformed language code");
            return None;
        }
        match whisper_rs::get_lang_id(&code) {
            Some(_) => Some(code),
            None => {
                tracing::warn!(language = %code, "whisper does not know this language; detecting it instead");
                None
            }
        }
    }
}

#[async_trait]
impl SttEngine for LocalWhisper {
    fn id(&self) -> &str {
        "local"
    }

    async fn transcribe(&self, req: SttRequest) -> Result<Transcript, SttError> {
        let this = self.clone();
        let run_id = self.inner.abort.next_run.fetch_add(1, Ordering::Relaxed);
        // If the caller gives up (client disconnected, timeout), stop whisper at its next check
        // instead of burning every core on an answer nobody will read.
        let mut cancel_on_drop = CancelOnDrop {
            flags: self.inner.abort,
            run_id,
            armed: true,
        };
        let task = tokio::task::spawn_blocking(move || {
            let pcm = decode::decode_to_mono_16k(&req.audio, req.format_hint())?;
            this.run(&pcm, req.language.as_deref(), req.include_words, run_id)
        });
        let result = task
            .await
            .map_err(|e| SttError::Model(format!("transcription task failed: {e}")))?;
        cancel_on_drop.armed = false;
        result
    }
}

struct CancelOnDrop {
    flags: &'static AbortFlags,
    run_id: u64,
    armed: bool,
}

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        if self.armed {
            self.flags.cancelled.store(self.run_id, Ordering::Relaxed);
        }
    }
}

/// A word assembled from whisper's sub-word tokens.
#[derive(Default)]
struct PendingWord {
    bytes: Vec<u8>,
    probs: Vec<f32>,
    t0: Option<i64>,
    t1: Option<i64>,
}

impl PendingWord {
    fn push(&mut self, bytes: &[u8], p: f32, t0: i64, t1: i64) {
        self.bytes.extend_from_slice(bytes);
        self.probs.push(p);
        // Timestamps are -1 when token timestamps are off.
        if t0 >= 0 {
            self.t0 = Some(self.t0.map_or(t0, |old| old.min(t0)));
        }
        if t1 >= 0 {
            self.t1 = Some(self.t1.map_or(t1, |old| old.max(t1)));
        }
    }

    fn finish(self, duration_s: f32) -> Option<Word> {
        // Bytes, not strings, per token: a multi-byte character can be split across tokens.
        let word = String::from_utf8_lossy(&self.bytes).trim().to_string();
        if word.is_empty() {
            return None;
        }
        let confidence = if self.probs.is_empty() {
            0.0
        } else {
            (self.probs.iter().sum::<f32>() / self.probs.len() as f32).clamp(0.0, 1.0)
        };
        // whisper.cpp reports centiseconds.
        let start = (self.t0.unwrap_or(0) as f32 / 100.0).clamp(0.0, duration_s);
        let end = (self.t1.unwrap_or(0) as f32 / 100.0).clamp(start, duration_s);
        Some(Word {
            word,
            start,
            end,
            confidence,
        })
    }
}

fn normalise_space(text: &str) -> String {
    text.split_whitespace().collect::<Vec<_>>().join(" ")
}

/// Walks the model file's structure (header, mel filters, vocabulary, tensor headers) before
/// whisper.cpp parses it: its loader trusts the file, and a truncated or corrupt model makes it
/// read garbage lengths and write past fixed-size buffers instead of failing.
fn validate_model(path: &Path) -> Result<(), SttError> {
    let bad = |what: String| {
        SttError::Model(format!(
            "{} is not a usable whisper model: {what}",
            path.display()
        ))
    };
    let file = std::fs::File::open(path)
        .map_err(|e| SttError::Model(format!("cannot read model {}: {e}", path.display())))?;
    let len = file
        .metadata()
        .map_err(|e| SttError::Model(format!("cannot read model {}: {e}", path.display())))?
        .len();
    let mut r = ModelReader {
        inner: std::io::BufReader::new(file),
        pos: 0,
        len,
    };
    let truncated = |what: &str| bad(format!("the file is truncated ({what})"));

    let magic = r.u32().ok_or_else(|| truncated("header"))?;
    if magic.to_le_bytes() != GGML_MAGIC {
        return Err(bad("not a ggml file (bad magic)".into()));
    }
    let mut hparams = [0i32; 11];
    for h in &mut hparams {
        *h = r.i32().ok_or_else(|| truncated("hyper-parameters"))?;
    }
    let [n_vocab, dims @ .., n_mels, ftype] = hparams;
    if !(1..=1 << 20).contains(&n_vocab)
        || dims.iter().any(|d| !(1..=1 << 16).contains(d))
        || !(1..=512).contains(&n_mels)
        || ftype < 0
    {
        return Err(bad(format!("implausible hyper-parameters {hparams:?}")));
    }

    let n_mel = r.i32().ok_or_else(|| truncated("mel filters"))?;
    let n_fft = r.i32().ok_or_else(|| truncated("mel filters"))?;
    if !(1..=4096).contains(&n_mel) || !(1..=4096).contains(&n_fft) {
        return Err(bad("implausible mel filter size".into()));
    }
    r.skip(n_mel as u64 * n_fft as u64 * 4)
        .ok_or_else(|| truncated("mel filters"))?;

    let n_tokens = r.i32().ok_or_else(|| truncated("vocabulary"))?;
    if !(0..=1 << 20).contains(&n_tokens) {
        return Err(bad("implausible vocabulary size".into()));
    }
    for _ in 0..n_tokens {
        let token_len = r.u32().ok_or_else(|| truncated("vocabulary"))?;
        if token_len > 1024 {
            return Err(bad("implausible token length in the vocabulary".into()));
        }
        r.skip(token_len as u64)
            .ok_or_else(|| truncated("vocabulary"))?;
    }

    // Test models stop here (no tensors); whisper.cpp accepts them deliberately.
    while r.pos < r.len {
        let (Some(n_dims), Some(name_len), Some(ttype)) = (r.i32(), r.i32(), r.i32()) else {
            return Err(truncated("tensor header"));
        };
        if !(1..=4).contains(&n_dims) || !(1..=256).contains(&name_len) {
            return Err(bad("corrupt tensor header".into()));
        }
        let mut elements: u64 = 1;
        for _ in 0..n_dims {
            let ne = r.i32().ok_or_else(|| truncated("tensor header"))?;
            if !(1..=1 << 24).contains(&ne) {
                return Err(bad("corrupt tensor shape".into()));
            }
            elements = elements.saturating_mul(ne as u64);
        }
        r.skip(name_len as u64)
            .ok_or_else(|| truncated("tensor name"))?;
        // (bytes per block, elements per block) of the ggml types whisper models use; for any
        // other type stop checking and leave the rest to whisper.cpp.
        let (block_bytes, block_len) = match ttype {
            0 => (4, 1),
            1 => (2, 1),
            2 => (18, 32),
            3 => (20, 32),
            6 => (22, 32),
            7 => (24, 32),
            8 => (34, 32),
            _ => return Ok(()),
        };
        r.skip(elements.saturating_mul(block_bytes) / block_len)
            .ok_or_else(|| truncated("tensor data"))?;
    }
    Ok(())
}

struct ModelReader {
    inner: std::io::BufReader<std::fs::File>,
    pos: u64,
    len: u64,
}

impl ModelReader {
    fn u32(&mut self) -> Option<u32> {
        let mut b = [0u8; 4];
        self.inner.read_exact(&mut b).ok()?;
        self.pos += 4;
        Some(u32::from_le_bytes(b))
    }

    fn i32(&mut self) -> Option<i32> {
        self.u32().map(|v| v as i32)
    }

    /// Skips `n` bytes; `None` if that runs past the end of the file.
    fn skip(&mut self, n: u64) -> Option<()> {
        let to = self.pos.checked_add(n)?;
        if to > self.len {
            return None;
        }
        self.inner.seek_relative(i64::try_from(n).ok()?).ok()?;
        self.pos = to;
        Some(())
    }
}

fn missing_model(path: &Path) -> SttError {
    let file = path
        .file_name()
        .map(|f| f.to_string_lossy().into_owned())
        .unwrap_or_else(|| path.display().to_string());
    match models::catalog().iter().find(|m| m.file == file) {
        Some(info) => SttError::ModelMissing {
            name: info.name.to_string(),
            hint: format!("run `avatarium models download {}`", info.name),
        },
        None => SttError::ModelMissing {
            name: file,
            hint: format!(
                "no model file at {}; run `avatarium models download base.en` or pass the path of a ggml whisper model",
                path.display()
            ),
        },
    }
}
