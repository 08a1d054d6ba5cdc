//! The thread that owns espeak-ng. Jobs arrive on a channel and are run one
//! at a time; replies go back on oneshot channels, so async callers wait
//! without blocking their runtime.

use std::sync::mpsc;
use std::sync::{Arc, OnceLock};

use tokio::sync::oneshot;

use super::ffi::{Espeak, Event, VoiceEntry};
use crate::TtsError;

pub(super) struct Raw {
    pub samples: Vec<i16>,
    pub sample_rate: u32,
    pub events: Vec<Event>,
}

type Reply<T> = oneshot::Sender<Result<T, TtsError>>;

pub(super) enum Job {
    Synth {
        text: String,
        voice: String,
        rate: i32,
        pitch: i32,
        reply: Reply<Raw>,
    },
    Catalog {
        reply: Reply<Arc<Catalog>>,
    },
}

/// A language voice (`id` is its language tag, as `espeak-ng -v` takes it).
#[derive(Clone, Debug)]
pub(super) struct CatalogVoice {
    pub id: String,
    pub name: String,
    pub gender: u8,
    /// The voice file below `espeak-ng-data/voices` (`gmw/en`, `!v/f3`):
    /// what espeak_SetVoiceByName reliably finds, where a language tag is
    /// found only if it happens to be the file's name.
    pub file: String,
    /// Other tags it answers to, with espeak's priority (lower wins):
    /// `fr-fr` also serves `fr`.
    pub aliases: Vec<(u8, String)>,
}

/// The voices and variants espeak ships, read once.
#[derive(Debug, Default)]
pub(super) struct Catalog {
    pub voices: Vec<CatalogVoice>,
    /// `id` is the variant's file name (`f3`, `klatt`, `Alex`).
    pub variants: Vec<CatalogVoice>,
}

impl Catalog {
    fn build(voices: Vec<VoiceEntry>, variants: Vec<VoiceEntry>) -> Self {
        let mut out = Catalog::default();
        for v in voices {
            let mut tags = v
                .languages
                .into_iter()
                .map(|(p, t)| (p, t.to_ascii_lowercase()));
            let Some((_, id)) = tags.next() else { continue };
            if out.voices.iter().any(|c| c.id == id) {
                continue;
            }
            out.voices.push(CatalogVoice {
                id,
                name: v.name.replace('_', " "),
                gender: v.gender,
                file: v.identifier,
                aliases: tags.collect(),
            });
        }
        for v in variants {
            let Some(file) = v.identifier.rsplit('/').next().filter(|f| !f.is_empty()) else {
                continue;
            };
            out.variants.push(CatalogVoice {
                id: file.to_owned(),
                name: v.name.clone(),
                gender: v.gender,
                file: v.identifier.clone(),
                aliases: Vec::new(),
            });
        }
        out
    }

    pub fn variant(&self, name: &str) -> Option<&CatalogVoice> {
        self.variants
            .iter()
            .find(|v| v.id.eq_ignore_ascii_case(name))
    }

    /// A voice by its id, else by the tags it also serves (espeak's
    /// preferred voice for the tag).
    pub fn voice(&self, tag: &str) -> Option<&CatalogVoice> {
        let tag = tag.trim().to_ascii_lowercase().replace('_', "-");
        self.voices.iter().find(|v| v.id == tag).or_else(|| {
            self.voices
                .iter()
                .filter_map(|v| {
                    v.aliases
                        .iter()
                        .find(|(_, a)| *a == tag)
                        .map(|(p, _)| (*p, v))
                })
                .min_by_key(|(p, _)| *p)
                .map(|(_, v)| v)
        })
    }

    /// `lang` or `lang+variant`, case-insensitive: the canonical id and the
    /// name to give espeak.
    pub fn resolve(&self, requested: &str) -> Option<Resolved> {
        let (lang, variant) = match requested.split_once('+') {
            Some((l, v)) => (l, Some(v)),
            None => (requested, None),
        };
        let base = self.voice(lang)?;
        match variant {
            None => Some(Resolved {
                id: base.id.clone(),
                espeak: base.file.clone(),
            }),
            Some(v) => {
                let variant = self.variant(v.trim())?;
                Some(Resolved {
                    id: format!("{}+{}", base.id, variant.id),
                    espeak: format!("{}+{}", base.file, variant.id),
                })
            }
        }
    }
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(super) struct Resolved {
    /// As reported in `Speech::voice_id`: `en-gb+f3`.
    pub id: String,
    /// As espeak takes it: `gmw/en+f3`.
    pub espeak: String,
}

static QUEUE: OnceLock<mpsc::Sender<Job>> = OnceLock::new();

/// Queues a job, starting the worker on first use.
pub(super) fn submit(job: Job) -> Result<(), TtsError> {
    let queue = QUEUE.get_or_init(|| {
        let (tx, rx) = mpsc::channel();
        let spawned = std::thread::Builder::new()
            .name("espeak-ng".into())
            .spawn(move || run(rx));
        if let Err(e) = spawned {
            tracing::error!("could not start the espeak-ng thread: {e}");
        }
        tx
    });
    queue
        .send(job)
        .map_err(|_| TtsError::Engine("the espeak-ng worker is not running".into()))
}

fn run(rx: mpsc::Receiver<Job>) {
    let engine = Espeak::init();
    if let Err(e) = &engine {
        tracing::error!("{e}");
    }
    let mut state = engine.map(|espeak| State {
        espeak,
        voice: None,
        catalog: None,
    });
    for job in rx {
        match &mut state {
            Ok(state) => state.handle(job),
            Err(e) => fail(job, TtsError::Engine(e.clone())),
        }
    }
}

fn fail(job: Job, err: TtsError) {
    match job {
        Job::Synth { reply, .. } => drop(reply.send(Err(err))),
        Job::Catalog { reply } => drop(reply.send(Err(err))),
    }
}

struct State {
    espeak: Espeak,
    /// The voice espeak has loaded, so repeated requests skip reloading it.
    voice: Option<String>,
    catalog: Option<Arc<Catalog>>,
}

impl State {
    fn handle(&mut self, job: Job) {
        match job {
            Job::Synth {
                text,
                voice,
                rate,
                pitch,
                reply,
            } => {
                // A caller that gave up (dropped its future) needs no audio.
                if reply.is_closed() {
                    return;
                }
                let result = self.select(&voice).and_then(|()| {
                    self.espeak.set_rate(rate);
                    self.espeak.set_pitch(pitch);
                    let out = self.espeak.synth(&text).map_err(TtsError::Engine)?;
                    Ok(Raw {
                        samples: out.samples,
                        sample_rate: self.espeak.sample_rate(),
                        events: out.events,
                    })
                });
                let _ = reply.send(result);
            }
            Job::Catalog { reply } => {
                let catalog = self
                    .catalog
                    .get_or_insert_with(|| {
                        let voices = self.espeak.list_voices(None);
                        let variants = self.espeak.list_voices(Some("variant"));
                        Arc::new(Catalog::build(voices, variants))
                    })
                    .clone();
                let _ = reply.send(Ok(catalog));
            }
        }
    }

    fn select(&mut self, voice: &str) -> Result<(), TtsError> {
        if self.voice.as_deref() == Some(voice) {
            return Ok(());
        }
        if !self.espeak.set_voice(voice) {
            self.voice = None;
            return Err(TtsError::UnknownVoice(voice.to_owned()));
        }
        self.voice = Some(voice.to_owned());
        Ok(())
    }
}
