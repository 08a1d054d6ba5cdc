//! The six built-in looks. Geometry is shared; presets only pick colours,
//! hair/clothing styles and a few proportions.

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Gender {
    Female,
    Male,
    Neutral,
}

impl Gender {
    pub fn as_str(self) -> &'static str {
        match self {
            Gender::Female => "female",
            Gender::Male => "male",
            Gender::Neutral => "neutral",
        }
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum HairStyle {
    /// Centre-parted, hangs past the shoulders at the back.
    Long,
    /// Short cropped cap with a swept fringe.
    ShortCrop,
    /// Chin-length bob with a fringe.
    Bob,
    /// Curly close cap with a bun on top.
    CurlyBun,
    /// Short classic men's cut.
    ShortClassic,
    /// Short sides with a swept-up quiff.
    Quiff,
}

impl HairStyle {
    pub fn shows_ears(self) -> bool {
        !matches!(self, HairStyle::Long | HairStyle::Bob)
    }
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Neckline {
    Crew,
    Scoop,
    VNeck,
}

#[derive(Clone, Debug)]
pub struct Preset {
    pub id: &'static str,
    pub name: &'static str,
    pub gender: Gender,
    /// sRGB hex colours (converted to linear for glTF).
    pub skin: u32,
    pub lips: u32,
    pub hair: u32,
    pub brows: u32,
    pub iris: u32,
    pub clothing: u32,
    pub hair_style: HairStyle,
    pub neckline: Neckline,
    /// 1.0 = default; >1 widens jaw and chin (masculine), <1 narrows.
    pub jaw_width: f64,
    /// Scales lip protrusion/thickness.
    pub lip_fullness: f64,
    /// Brow strip thickness scale.
    pub brow_weight: f64,
    /// Shoulder half-width in metres.
    pub shoulder_width: f64,
    /// Dark eyeliner/lash band on the upper lid.
    pub lashes: bool,
}

pub fn presets() -> Vec<Preset> {
    vec![
        Preset {
            id: "aria-001",
            name: "Aria",
            gender: Gender::Female,
            skin: 0xA8724F,
            lips: 0x8E4A43,
            hair: 0x2A1D17,
            brows: 0x2A1D17,
            iris: 0x5A3A22,
            clothing: 0x1E8C8A,
            hair_style: HairStyle::Long,
            neckline: Neckline::Scoop,
            jaw_width: 0.96,
            lip_fullness: 1.12,
            brow_weight: 0.9,
            shoulder_width: 0.185,
            lashes: true,
        },
        Preset {
            id: "avatar_1",
            name: "Sam",
            gender: Gender::Neutral,
            skin: 0xF0CDB4,
            lips: 0xC98A80,
            hair: 0xC9CDD2,
            brows: 0x8E8F93,
            iris: 0x4F7DA8,
            clothing: 0x1F2F57,
            hair_style: HairStyle::ShortCrop,
            neckline: Neckline::Crew,
            jaw_width: 1.0,
            lip_fullness: 0.95,
            brow_weight: 0.95,
            shoulder_width: 0.195,
            lashes: false,
        },
        Preset {
            id: "female-01",
            name: "Maya",
            gender: Gender::Female,
            skin: 0xE3B394,
            lips: 0xB8645C,
            hair: 0x8A3B1F,
            brows: 0x6B3520,
            iris: 0x4E7A45,
            clothing: 0xF07B67,
            hair_style: HairStyle::Bob,
            neckline: Neckline::VNeck,
            jaw_width: 0.95,
            lip_fullness: 1.05,
            brow_weight: 0.85,
            shoulder_width: 0.182,
            lashes: true,
        },
        Preset {
            id: "female-02",
            name: "Zara",
            gender: Gender::Female,
            skin: 0x6B4430,
            lips: 0x5E3029,
            hair: 0x14100E,
            brows: 0x1A1310,
            iris: 0x3B2616,
            clothing: 0xE0A526,
            hair_style: HairStyle::CurlyBun,
            neckline: Neckline::Scoop,
            jaw_width: 0.97,
            lip_fullness: 1.2,
            brow_weight: 0.95,
            shoulder_width: 0.185,
            lashes: true,
        },
        Preset {
            id: "male-01",
            name: "Daniel",
            gender: Gender::Male,
            skin: 0xC68E67,
            lips: 0xA0605A,
            hair: 0x4A2F1D,
            brows: 0x3A2517,
            iris: 0x6B4A2A,
            clothing: 0x7C8287,
            hair_style: HairStyle::ShortClassic,
            neckline: Neckline::Crew,
            jaw_width: 1.07,
            lip_fullness: 0.92,
            brow_weight: 1.25,
            shoulder_width: 0.21,
            lashes: false,
        },
        Preset {
            id: "male-02",
            name: "Erik",
            gender: Gender::Male,
            skin: 0xF3D6C6,
            lips: 0xC88B84,
            hair: 0xD9B56A,
            brows: 0xA9874A,
            iris: 0x5D8DB5,
            clothing: 0x3E7A4F,
            hair_style: HairStyle::Quiff,
            neckline: Neckline::VNeck,
            jaw_width: 1.08,
            lip_fullness: 0.9,
            brow_weight: 1.15,
            shoulder_width: 0.215,
            lashes: false,
        },
    ]
}

pub fn preset(id: &str) -> Option<Preset> {
    presets().into_iter().find(|p| p.id == id)
}
