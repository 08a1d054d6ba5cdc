use serde::{Deserialize, Serialize};

/// Meta's 15 Oculus visemes, in their reference order.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
pub enum Viseme {
    #[serde(rename = "sil")]
    Sil,
    PP,
    FF,
    TH,
    DD,
    #[serde(rename = "kk")]
    Kk,
    CH,
    SS,
    #[serde(rename = "nn")]
    Nn,
    RR,
    #[serde(rename = "aa")]
    Aa,
    E,
    #[serde(rename = "ih")]
    Ih,
    #[serde(rename = "oh")]
    Oh,
    #[serde(rename = "ou")]
    Ou,
}

impl Viseme {
    pub const ALL: [Viseme; 15] = [
        Viseme::Sil,
        Viseme::PP,
        Viseme::FF,
        Viseme::TH,
        Viseme::DD,
        Viseme::Kk,
        Viseme::CH,
        Viseme::SS,
        Viseme::Nn,
        Viseme::RR,
        Viseme::Aa,
        Viseme::E,
        Viseme::Ih,
        Viseme::Oh,
        Viseme::Ou,
    ];

    pub fn index(self) -> usize {
        self as usize
    }

    /// The name used in timelines: `sil PP FF TH DD kk CH SS nn RR aa E ih oh ou`.
    pub fn name(self) -> &'static str {
        [
            "sil", "PP", "FF", "TH", "DD", "kk", "CH", "SS", "nn", "RR", "aa", "E", "ih", "oh",
            "ou",
        ][self.index()]
    }

    pub fn from_name(name: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|v| v.name() == name)
    }

    /// The Ready Player Me / Oculus morph-target name (`viseme_sil` …
    /// `viseme_I`, `viseme_O`, `viseme_U`).
    pub fn morph_target(self) -> &'static str {
        [
            "viseme_sil",
            "viseme_PP",
            "viseme_FF",
            "viseme_TH",
            "viseme_DD",
            "viseme_kk",
            "viseme_CH",
            "viseme_SS",
            "viseme_nn",
            "viseme_RR",
            "viseme_aa",
            "viseme_E",
            "viseme_I",
            "viseme_O",
            "viseme_U",
        ][self.index()]
    }
}

/// One viseme held from `start` to `end` (milliseconds from the audio start).
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cue {
    pub viseme: Viseme,
    pub start: u32,
    pub end: u32,
}

/// Ordered, non-overlapping cues; serialises as `[{viseme, start, end}]`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(transparent)]
pub struct Timeline {
    pub cues: Vec<Cue>,
}

/// A phoneme as a speech engine reports it: IPA, with its time span (ms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PhonemeEvent {
    pub phoneme: String,
    pub start: u32,
    pub end: u32,
}

/// A word and its time span (ms).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct WordTiming {
    pub word: String,
    pub start: u32,
    pub end: u32,
}

/// Blend weights of the 15 visemes at one instant, indexed by `Viseme::index`.
pub type Weights = [f32; 15];
