//! The few libespeak-ng functions the local voice needs, declared by hand:
//! a generated binding would pull in bindgen and libclang for seven symbols.
//!
//! espeak-ng keeps all of its state in globals, so [`Espeak`] may exist
//! once per process and is used from one thread only (it is `!Send`; the
//! worker thread in `local::worker` creates and owns it).
#![allow(unsafe_code)]

use std::ffi::{CStr, CString, c_char, c_int, c_short, c_uint, c_void};
use std::marker::PhantomData;
use std::sync::atomic::{AtomicBool, Ordering};

const AUDIO_OUTPUT_SYNCHRONOUS: c_int = 2;
const INITIALIZE_PHONEME_EVENTS: c_int = 0x0001;
const INITIALIZE_PHONEME_IPA: c_int = 0x0002;
/// Without it a missing data directory makes espeak call `exit()`.
const INITIALIZE_DONT_EXIT: c_int = 0x8000;

const CHARS_UTF8: c_uint = 1;
/// A sentence's closing pause after the last word, as the espeak-ng CLI
/// makes it: the mouth comes to rest, and sentences synthesised one by one
/// join with natural gaps.
const ENDPAUSE: c_uint = 0x1000;
const POS_CHARACTER: c_int = 1;

pub const EVENT_LIST_TERMINATED: c_int = 0;
pub const EVENT_WORD: c_int = 1;
pub const EVENT_PHONEME: c_int = 7;

const PARAM_RATE: c_int = 1;
const PARAM_PITCH: c_int = 3;

const EE_OK: c_int = 0;

#[repr(C)]
#[derive(Clone, Copy)]
union EventId {
    number: c_int,
    name: *const c_char,
    string: [u8; 8],
}

/// `espeak_EVENT` from `speak_lib.h` (API revision 12).
#[repr(C)]
struct RawEvent {
    kind: c_int,
    unique_identifier: c_uint,
    text_position: c_int,
    length: c_int,
    audio_position: c_int,
    sample: c_int,
    user_data: *mut c_void,
    id: EventId,
}

/// `espeak_VOICE` from `speak_lib.h`.
#[repr(C)]
struct RawVoice {
    name: *const c_char,
    languages: *const c_char,
    identifier: *const c_char,
    gender: u8,
    age: u8,
    variant: u8,
    xx1: u8,
    score: c_int,
    spare: *mut c_void,
}

type SynthCallback = unsafe extern "C" fn(*mut c_short, c_int, *mut RawEvent) -> c_int;

#[link(name = "espeak-ng")]
unsafe extern "C" {
    fn espeak_Initialize(
        output: c_int,
        buflength: c_int,
        path: *const c_char,
        options: c_int,
    ) -> c_int;
    fn espeak_SetSynthCallback(callback: Option<SynthCallback>);
    fn espeak_SetVoiceByName(name: *const c_char) -> c_int;
    fn espeak_SetParameter(parameter: c_int, value: c_int, relative: c_int) -> c_int;
    fn espeak_Synth(
        text: *const c_void,
        size: usize,
        position: c_uint,
        position_type: c_int,
        end_position: c_uint,
        flags: c_uint,
        unique_identifier: *mut c_uint,
        user_data: *mut c_void,
    ) -> c_int;
    fn espeak_ListVoices(voice_spec: *mut RawVoice) -> *mut *const RawVoice;
}

/// One synthesis event, copied out of espeak's buffers.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Event {
    pub kind: i32,
    /// Characters (not bytes) from the start of the text, 1-based.
    pub text_position: i32,
    /// Word length in characters (word events).
    pub length: i32,
    /// Milliseconds from the start of the audio.
    pub audio_position: i32,
    /// The IPA name of a phoneme event; empty otherwise.
    pub phoneme: String,
}

#[derive(Default)]
pub struct Synthesis {
    pub samples: Vec<i16>,
    pub events: Vec<Event>,
}

/// A voice file as espeak lists it.
#[derive(Clone, Debug)]
pub struct VoiceEntry {
    pub name: String,
    /// (priority, language tag); a lower priority is preferred for the tag,
    /// e.g. `[(2, "en-gb"), (2, "en")]`.
    pub languages: Vec<(u8, String)>,
    /// Path below `espeak-ng-data/voices`, e.g. `gmw/en-US` or `!v/f3`.
    pub identifier: String,
    /// 1 male, 2 female, 0 unknown.
    pub gender: u8,
}

static INITIALISED: AtomicBool = AtomicBool::new(false);

/// The initialised library. Not `Send`: espeak's globals must only be
/// touched from the thread that initialised them.
pub struct Espeak {
    sample_rate: u32,
    _not_send: PhantomData<*const ()>,
}

impl Espeak {
    /// Initialises libespeak-ng in synchronous mode with IPA phoneme
    /// events. Fails if it was already initialised in this process or the
    /// voice data cannot be found.
    pub fn init() -> Result<Self, String> {
        if INITIALISED.swap(true, Ordering::SeqCst) {
            return Err("espeak-ng is already initialised in this process".into());
        }
        // SAFETY: the guard above makes this the only initialisation, and
        // the returned value is `!Send`, so every later call happens on this
        // thread. A null path selects the compiled-in data directory; a
        // buffer of 0 ms selects espeak's default chunk size.
        let rate = unsafe {
            espeak_Initialize(
                AUDIO_OUTPUT_SYNCHRONOUS,
                0,
                std::ptr::null(),
                INITIALIZE_PHONEME_EVENTS | INITIALIZE_PHONEME_IPA | INITIALIZE_DONT_EXIT,
            )
        };
        if rate <= 0 {
            INITIALISED.store(false, Ordering::SeqCst);
            return Err("espeak-ng could not be initialised (is espeak-ng-data installed?)".into());
        }
        // SAFETY: `synth_callback` has the signature espeak expects and
        // stays valid for the whole program.
        unsafe { espeak_SetSynthCallback(Some(synth_callback)) };
        Ok(Self {
            sample_rate: rate as u32,
            _not_send: PhantomData,
        })
    }

    pub fn sample_rate(&self) -> u32 {
        self.sample_rate
    }

    /// Selects a voice by name, language or `lang+variant`; false if
    /// espeak does not know it.
    pub fn set_voice(&mut self, name: &str) -> bool {
        let Ok(name) = CString::new(name) else {
            return false;
        };
        // SAFETY: `name` is a valid NUL-terminated string for the call;
        // espeak copies what it keeps.
        unsafe { espeak_SetVoiceByName(name.as_ptr()) == EE_OK }
    }

    pub fn set_rate(&mut self, words_per_minute: i32) {
        // SAFETY: plain value parameter; espeak clamps out-of-range values.
        unsafe { espeak_SetParameter(PARAM_RATE, words_per_minute, 0) };
    }

    pub fn set_pitch(&mut self, pitch: i32) {
        // SAFETY: as for `set_rate`.
        unsafe { espeak_SetParameter(PARAM_PITCH, pitch, 0) };
    }

    /// Synthesises plain UTF-8 text (no SSML, no `[[phoneme]]` input),
    /// returning the PCM and the events in order.
    pub fn synth(&mut self, text: &str) -> Result<Synthesis, String> {
        let text = CString::new(text.replace('\0', " ")).map_err(|e| e.to_string())?;
        let mut out = Synthesis::default();
        let user_data = (&raw mut out).cast::<c_void>();
        // SAFETY: in synchronous mode espeak_Synth returns only after the
        // last callback, so `out` (reached through `user_data`) outlives
        // every callback, and nothing else touches it meanwhile. `text` is
        // NUL-terminated and `size` covers the terminator as documented.
        let rc = unsafe {
            espeak_Synth(
                text.as_ptr().cast(),
                text.as_bytes_with_nul().len(),
                0,
                POS_CHARACTER,
                0,
                CHARS_UTF8 | ENDPAUSE,
                std::ptr::null_mut(),
                user_data,
            )
        };
        if rc != EE_OK {
            return Err(format!("espeak_Synth failed ({rc})"));
        }
        Ok(out)
    }

    /// The voices for `language` (espeak lists the variants under the
    /// language `variant`), or, with `None`, every language voice.
    pub fn list_voices(&mut self, language: Option<&str>) -> Vec<VoiceEntry> {
        let mut voices = Vec::new();
        let Ok(language) = language.map(CString::new).transpose() else {
            return voices;
        };
        let mut spec = language.as_ref().map(|l| RawVoice {
            name: std::ptr::null(),
            languages: l.as_ptr(),
            identifier: std::ptr::null(),
            gender: 0,
            age: 0,
            variant: 0,
            xx1: 0,
            score: 0,
            spare: std::ptr::null_mut(),
        });
        let spec_ptr = spec.as_mut().map_or(std::ptr::null_mut(), |s| &raw mut *s);
        // SAFETY: the spec is null (all voices) or a zeroed voice whose
        // `languages` points at `language`, alive for the call; espeak only
        // reads it. The result is a NULL-terminated array owned by espeak,
        // valid until the next call, and copied completely before returning.
        unsafe {
            let list = espeak_ListVoices(spec_ptr);
            if list.is_null() {
                return voices;
            }
            let mut i = 0;
            loop {
                let voice = *list.add(i);
                if voice.is_null() {
                    break;
                }
                let v = &*voice;
                voices.push(VoiceEntry {
                    name: cstr(v.name),
                    languages: languages(v.languages),
                    identifier: cstr(v.identifier),
                    gender: v.gender,
                });
                i += 1;
            }
        }
        voices
    }
}

/// Copies a possibly null C string.
///
/// # Safety
/// `p` is null or points to a NUL-terminated string.
unsafe fn cstr(p: *const c_char) -> String {
    if p.is_null() {
        return String::new();
    }
    // SAFETY: guaranteed by the caller.
    unsafe { CStr::from_ptr(p) }.to_string_lossy().into_owned()
}

/// Parses espeak's language list: repeated (priority byte, NUL-terminated
/// name), ended by an empty name.
///
/// # Safety
/// `p` is null or points to such a list.
unsafe fn languages(mut p: *const c_char) -> Vec<(u8, String)> {
    let mut out = Vec::new();
    if p.is_null() {
        return out;
    }
    // SAFETY: the caller guarantees the layout; every read stays inside
    // the list because it ends with a priority byte followed by NUL (the
    // loop stops at the first empty name).
    unsafe {
        while *p != 0 {
            let name = CStr::from_ptr(p.add(1));
            let bytes = name.to_bytes();
            if bytes.is_empty() {
                break;
            }
            out.push((*p as u8, String::from_utf8_lossy(bytes).into_owned()));
            p = p.add(1 + bytes.len() + 1);
        }
    }
    out
}

/// Receives audio and events from espeak_Synth.
///
/// # Safety
/// Called by espeak only, during `Espeak::synth`, with `user_data` of every
/// event set to the `Synthesis` that call owns; `wav` holds `numsamples`
/// samples (or is null) and `events` is terminated by a list-terminated
/// event.
unsafe extern "C" fn synth_callback(
    wav: *mut c_short,
    numsamples: c_int,
    events: *mut RawEvent,
) -> c_int {
    if events.is_null() {
        return 0;
    }
    // SAFETY: see the function's contract; `events` has at least the
    // terminating entry, whose user_data is also set.
    unsafe {
        let out = (*events).user_data.cast::<Synthesis>();
        if out.is_null() {
            return 0;
        }
        let out = &mut *out;
        if !wav.is_null() && numsamples > 0 {
            out.samples
                .extend_from_slice(std::slice::from_raw_parts(wav, numsamples as usize));
        }
        let mut e = events;
        while (*e).kind != EVENT_LIST_TERMINATED {
            let ev = &*e;
            let phoneme = if ev.kind == EVENT_PHONEME {
                let bytes = &ev.id.string;
                let len = bytes.iter().position(|&b| b == 0).unwrap_or(bytes.len());
                String::from_utf8_lossy(&bytes[..len]).into_owned()
            } else {
                String::new()
            };
            out.events.push(Event {
                kind: ev.kind,
                text_position: ev.text_position,
                length: ev.length,
                audio_position: ev.audio_position,
                phoneme,
            });
            e = e.add(1);
        }
    }
    0
}
