//! Morph targets: 15 Oculus/Ready Player Me visemes followed by 15 ARKit-style
//! expression shapes. Every target is described as a set of muscle-like
//! controls; the controls are evaluated per vertex from its tag.

use crate::face::{
    LID_LOWER_ROOT, LID_UPPER_ROOT, LIP_HALF_GAP, LOWER_BLINK_RISE, Layout, MOUTH_HALF_WIDTH, Side,
    Tag, lid_point, lid_shape,
};
use crate::math::*;
use crate::teeth::TeethTag;

pub const TARGET_NAMES: [&str; 30] = [
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
    "eyeBlinkLeft",
    "eyeBlinkRight",
    "mouthSmileLeft",
    "mouthSmileRight",
    "mouthFrownLeft",
    "mouthFrownRight",
    "browInnerUp",
    "browDownLeft",
    "browDownRight",
    "eyeWideLeft",
    "eyeWideRight",
    "jawOpen",
    "mouthClose",
    "mouthFunnel",
    "mouthPucker",
];

/// Jaw rotation of `jawOpen` (radians); `mouthClose` is defined relative to it.
pub const JAW_OPEN: f64 = 0.30;

/// Muscle-like controls. Lengths in metres, angles in radians.
#[derive(Clone, Copy, Debug, Default)]
pub struct Controls {
    pub jaw: f64,
    /// Keeps the lips together while the jaw opens (0..1).
    pub seal: f64,
    /// Closes the neutral gap between the lips (1 = lips touch).
    pub close: f64,
    /// Presses and thins the lips.
    pub press: f64,
    pub upper_up: f64,
    pub lower_down: f64,
    /// Relative change of mouth width (+ wider, - narrower).
    pub spread: f64,
    pub protrude: f64,
    /// Lips turn outwards (funnel/trumpet).
    pub funnel: f64,
    /// Lower lip rolls up and in under the upper teeth (0..1).
    pub tuck_lower: f64,
    /// Mouth corner moves: (up, outwards, forwards) per side.
    pub corner_left: [f64; 3],
    pub corner_right: [f64; 3],
    /// Cheek raise accompanying a smile, per side (0..1).
    pub cheek_left: f64,
    pub cheek_right: f64,
    pub tongue_forward: f64,
    pub tongue_tip_up: f64,
    pub tongue_back_up: f64,
    pub blink_left: f64,
    pub blink_right: f64,
    pub wide_left: f64,
    pub wide_right: f64,
    pub brow_inner_up: f64,
    pub brow_down_left: f64,
    pub brow_down_right: f64,
}

/// How a target's deltas are formed: the shape of `controls`, optionally
/// minus the shape of `minus`. ARKit's mouthClose is such a difference: a
/// corrective that only makes sense on top of jawOpen.
pub struct Recipe {
    pub controls: Controls,
    pub minus: Option<Controls>,
}

impl Recipe {
    fn shape(controls: Controls) -> Recipe {
        Recipe {
            controls,
            minus: None,
        }
    }

    fn difference(controls: Controls, minus: Controls) -> Recipe {
        Recipe {
            controls,
            minus: Some(minus),
        }
    }
}

pub fn recipes() -> Vec<Recipe> {
    let c = Controls::default;
    let smile = |left: bool| {
        let mut k = c();
        let v = [0.0058, 0.0032, -0.0026];
        if left {
            k.corner_left = v;
            k.cheek_left = 1.0;
        } else {
            k.corner_right = v;
            k.cheek_right = 1.0;
        }
        k.upper_up = 0.0006;
        k
    };
    let frown = |left: bool| {
        let mut k = c();
        let v = [-0.0045, 0.0008, -0.0004];
        if left {
            k.corner_left = v;
        } else {
            k.corner_right = v;
        }
        k
    };
    vec![
        // sil: neutral.
        Recipe::shape(c()),
        // PP: lips pressed together.
        Recipe::shape(Controls {
            close: 1.0,
            press: 1.0,
            ..c()
        }),
        // FF: lower lip tucked under the upper teeth.
        Recipe::shape(Controls {
            jaw: 0.035,
            tuck_lower: 1.0,
            upper_up: 0.0014,
            ..c()
        }),
        // TH: slightly open, tongue between the teeth.
        Recipe::shape(Controls {
            jaw: 0.075,
            tongue_forward: 1.0,
            upper_up: 0.001,
            ..c()
        }),
        // DD: slightly open, tongue tip up behind the teeth.
        Recipe::shape(Controls {
            jaw: 0.07,
            tongue_tip_up: 1.0,
            spread: 0.05,
            upper_up: 0.0008,
            ..c()
        }),
        // kk: open a bit more, back of the tongue raised.
        Recipe::shape(Controls {
            jaw: 0.1,
            tongue_back_up: 1.0,
            spread: 0.04,
            upper_up: 0.0008,
            ..c()
        }),
        // CH: teeth nearly closed, lips apart and pushed forward.
        Recipe::shape(Controls {
            jaw: 0.03,
            protrude: 0.0032,
            funnel: 0.5,
            spread: -0.12,
            upper_up: 0.0022,
            lower_down: 0.0018,
            ..c()
        }),
        // SS: teeth nearly closed, lips apart, corners slightly spread.
        Recipe::shape(Controls {
            jaw: 0.025,
            spread: 0.12,
            upper_up: 0.0017,
            lower_down: 0.0017,
            ..c()
        }),
        // nn: slightly open, tongue up.
        Recipe::shape(Controls {
            jaw: 0.06,
            tongue_tip_up: 0.8,
            upper_up: 0.0006,
            ..c()
        }),
        // RR: slightly open and rounded.
        Recipe::shape(Controls {
            jaw: 0.06,
            spread: -0.16,
            protrude: 0.0025,
            funnel: 0.25,
            upper_up: 0.0012,
            tongue_tip_up: 0.4,
            ..c()
        }),
        // aa: wide open jaw.
        Recipe::shape(Controls {
            jaw: 0.22,
            upper_up: 0.0016,
            spread: 0.02,
            ..c()
        }),
        // E: half open, corners spread.
        Recipe::shape(Controls {
            jaw: 0.085,
            spread: 0.17,
            upper_up: 0.0015,
            corner_left: [0.0008, 0.0, 0.0],
            corner_right: [0.0008, 0.0, 0.0],
            ..c()
        }),
        // I: nearly closed, wide spread.
        Recipe::shape(Controls {
            jaw: 0.055,
            spread: 0.24,
            upper_up: 0.0012,
            lower_down: 0.0006,
            corner_left: [0.0012, 0.0, -0.0005],
            corner_right: [0.0012, 0.0, -0.0005],
            ..c()
        }),
        // O: open and round.
        Recipe::shape(Controls {
            jaw: 0.15,
            spread: -0.3,
            protrude: 0.004,
            funnel: 0.45,
            upper_up: 0.0008,
            ..c()
        }),
        // U: small, strongly rounded and pushed forward.
        Recipe::shape(Controls {
            jaw: 0.05,
            spread: -0.42,
            protrude: 0.0062,
            funnel: 0.3,
            close: 0.2,
            ..c()
        }),
        Recipe::shape(Controls {
            blink_left: 1.0,
            ..c()
        }),
        Recipe::shape(Controls {
            blink_right: 1.0,
            ..c()
        }),
        Recipe::shape(smile(true)),
        Recipe::shape(smile(false)),
        Recipe::shape(frown(true)),
        Recipe::shape(frown(false)),
        Recipe::shape(Controls {
            brow_inner_up: 1.0,
            ..c()
        }),
        Recipe::shape(Controls {
            brow_down_left: 1.0,
            ..c()
        }),
        Recipe::shape(Controls {
            brow_down_right: 1.0,
            ..c()
        }),
        Recipe::shape(Controls {
            wide_left: 1.0,
            ..c()
        }),
        Recipe::shape(Controls {
            wide_right: 1.0,
            ..c()
        }),
        Recipe::shape(Controls {
            jaw: JAW_OPEN,
            ..c()
        }),
        Recipe::difference(
            Controls {
                jaw: JAW_OPEN,
                seal: 1.0,
                close: 1.0,
                ..c()
            },
            Controls {
                jaw: JAW_OPEN,
                ..c()
            },
        ),
        Recipe::shape(Controls {
            funnel: 1.0,
            protrude: 0.004,
            spread: -0.2,
            upper_up: 0.0022,
            lower_down: 0.0024,
            jaw: 0.03,
            ..c()
        }),
        Recipe::shape(Controls {
            spread: -0.45,
            protrude: 0.0072,
            close: 1.0,
            press: 0.3,
            ..c()
        }),
    ]
}

/// Vertex in the mouth region described in mouth coordinates.
struct MouthVert {
    /// Angle around the mouth (0 = avatar's left corner, pi/2 = upper lip centre).
    phi: f64,
    /// 1 on the lips and just behind them, falling off over the skin and into the cavity.
    near: f64,
    /// Distance from the lip border over the skin (0 on lips/cavity).
    d: f64,
    /// Lip parameter (0 border .. 1 contact .. 1.5 inside), 0 for skin.
    lam: f64,
    is_skin: bool,
}

/// Deformed position of a face vertex.
pub fn deform_face(l: &Layout, p: V3, tag: Tag, k: &Controls) -> V3 {
    match tag {
        Tag::Skin { phi, d } => {
            let m = MouthVert {
                phi,
                near: 1.0,
                d,
                lam: 0.0,
                is_skin: true,
            };
            let q = mouth_deform(l, p, &m, k);
            brow_field(l, q, k)
        }
        Tag::Lip { phi, lam } => {
            let m = MouthVert {
                phi,
                near: 1.0,
                d: 0.0,
                lam,
                is_skin: false,
            };
            mouth_deform(l, p, &m, k)
        }
        Tag::Cavity { phi, depth } => {
            let m = MouthVert {
                phi,
                near: smoothstep(0.55, 0.0, depth),
                d: 0.0,
                lam: 1.5,
                is_skin: false,
            };
            mouth_deform(l, p, &m, k)
        }
        Tag::Lid {
            side,
            upper,
            psi,
            eps,
            r,
        } => lid_deform(l, side, upper, psi, eps, r, k),
        Tag::Brow => brow_field(l, p, k),
        Tag::Static => p,
    }
}

fn mouth_deform(l: &Layout, p: V3, m: &MouthVert, k: &Controls) -> V3 {
    let (sn, _cs) = sin_cos(m.phi);
    let q = p - l.mouth_center;
    let w = MOUTH_HALF_WIDTH;
    let upper = smoothstep(-0.12, 0.12, sn);
    let lower = 1.0 - upper;
    let centre = sn.abs();
    let sgn = if sn >= 0.0 { 1.0 } else { -1.0 };
    // Influence of lip controls on the surrounding skin.
    let fall = |reach: f64| -> f64 {
        if m.is_skin {
            let t = clamp01(m.d / reach);
            let f = 1.0 - t;
            f * f * (3.0 - 2.0 * f)
        } else {
            m.near
        }
    };
    // Lip-body weight: full on the red of the lip, partial at the border.
    let lip_body = if m.is_skin {
        0.25 * fall(0.012)
    } else if m.lam < 1.0 {
        lerp(0.25, 1.0, smoothstep(0.0, 0.8, m.lam))
    } else {
        m.near
    };
    let bulge = if m.is_skin || m.lam > 1.0 {
        0.0
    } else {
        sin(PI * m.lam)
    };
    let mut d = V3::ZERO;

    // Closing the neutral gap: contact points meet exactly on the slit line.
    if k.close != 0.0 {
        d.y -= sgn * k.close * LIP_HALF_GAP * centre * lip_body;
    }
    if k.press != 0.0 {
        d.z -= k.press * 0.0012 * bulge * centre.sqrt();
        d.y -= sgn * k.press * 0.0007 * (1.0 - m.lam.min(1.0)) * fall(0.008) * centre;
    }
    // Inside the mouth the raise/lower fades with depth (`near`).
    let follow = if m.lam > 1.0 { m.near } else { 1.0 };
    if k.upper_up != 0.0 {
        d.y += k.upper_up * upper * centre.sqrt() * fall(0.016) * follow;
    }
    if k.lower_down != 0.0 {
        d.y -= k.lower_down * lower * centre.sqrt() * fall(0.016) * follow;
    }
    if k.spread != 0.0 {
        let g = fall(0.03);
        let u = (q.x / w).clamp(-1.4, 1.4);
        d.x += k.spread * w * u * g;
        // Wider corners slide back around the face; narrower ones come forward.
        d.z -= k.spread * 0.22 * w * u * u * g;
        if k.spread < 0.0 {
            // Pursed lips bunch up vertically.
            d.y += sgn * (-k.spread) * 0.0035 * centre * bulge;
        }
    }
    if k.protrude != 0.0 {
        let g = if m.is_skin {
            fall(0.02)
        } else if m.lam <= 1.0 {
            lerp(0.7, 1.0, smoothstep(0.0, 0.5, m.lam))
        } else {
            m.near * lerp(1.0, 0.4, clamp01((m.lam - 1.0) * 2.0))
        };
        d.z += k.protrude * g;
    }
    if k.funnel != 0.0 {
        // Contact line rolls outwards: up for the upper lip, down for the lower.
        let roll = if m.is_skin {
            0.2 * fall(0.01)
        } else {
            smoothstep(0.2, 1.0, m.lam.min(1.25)) * m.near
        };
        d.y += sgn * k.funnel * 0.0022 * roll * centre.sqrt();
        d.z += k.funnel * 0.0016 * roll;
    }
    if k.tuck_lower != 0.0 {
        let g = if m.is_skin {
            0.35 * fall(0.014)
        } else {
            smoothstep(0.0, 0.9, m.lam.min(1.0)) * m.near
        };
        let amt = k.tuck_lower * lower * centre.sqrt() * g;
        d.y += 0.0034 * amt;
        d.z -= 0.0024 * amt;
    }
    for (side, c) in [(Side::Left, k.corner_left), (Side::Right, k.corner_right)] {
        if c == [0.0; 3] {
            continue;
        }
        let u = (q.x / w) * side.sign();
        if u <= 0.0 {
            continue;
        }
        let uc = u.min(1.25);
        let cw = uc * uc * fall(0.03);
        d += v3(side.sign() * c[1], c[0], c[2]) * cw;
    }
    for (side, c) in [(Side::Left, k.cheek_left), (Side::Right, k.cheek_right)] {
        if c == 0.0 || !m.is_skin {
            continue;
        }
        let cx = side.sign() * 0.036;
        let cheek = gauss(q.x - cx, 0.02) * gauss(q.y - 0.028, 0.02) * fall(0.07);
        d += v3(side.sign() * 0.0006, 0.0032, 0.0018) * (c * cheek);
    }

    let mut out = p + d;
    if k.jaw != 0.0 {
        let wj = jaw_weight(l, p, m);
        let seal = if k.seal != 0.0 {
            // The lip contact stays up with the upper lip while the border and
            // chin go down with the jaw: the lower lip stretches over the teeth.
            let s = if m.is_skin {
                0.0
            } else if m.lam <= 1.0 {
                smoothstep(0.15, 0.8, m.lam)
            } else {
                m.near
            };
            k.seal * s
        } else {
            0.0
        };
        out = out.rotate_x_about(l.jaw_pivot, k.jaw * wj * (1.0 - seal));
    }
    out
}

/// Share of the jaw rotation a vertex receives.
fn jaw_weight(l: &Layout, p: V3, m: &MouthVert) -> f64 {
    let (sn, _) = sin_cos(m.phi);
    // Zero at the corners, full at the lower lip centre: the mouth opens as a
    // lens, not as a box.
    let by_phi = smoothstep(0.0, -0.6, sn);
    if !m.is_skin {
        return by_phi;
    }
    let q = p - l.mouth_center;
    // Farther out, the jaw line rises towards the ear.
    let line = 0.012 * smoothstep(0.02, 0.065, q.x.abs());
    let spatial = smoothstep(0.006, -0.012, q.y - line);
    let mix = smoothstep(0.003, 0.02, m.d);
    let w = lerp(by_phi, spatial, mix);
    w * smoothstep(0.078, 0.045, m.d)
}

fn lid_deform(l: &Layout, side: Side, upper: bool, psi: f64, eps: f64, r: f64, k: &Controls) -> V3 {
    let eye = l.eye(side);
    let (blink, wide) = match side {
        Side::Left => (k.blink_left, k.wide_left),
        Side::Right => (k.blink_right, k.wide_right),
    };
    let (up_e, low_e, open, closed) = lid_shape(side, psi);
    let open_pos = open.max(0.0);
    let new_eps = if upper {
        let target = up_e + blink * (closed - up_e) + wide * 0.17 * open_pos;
        remap(eps, LID_UPPER_ROOT, up_e, target)
    } else {
        let target = low_e + blink * LOWER_BLINK_RISE * open_pos - wide * 0.05 * open_pos;
        remap(eps, LID_LOWER_ROOT, low_e, target)
    };
    lid_point(eye, r, psi, new_eps)
}

/// Linear remap of an elevation keeping the lid root fixed and moving the edge.
fn remap(eps: f64, root: f64, edge: f64, target: f64) -> f64 {
    root + (eps - root) * (target - root) / (edge - root)
}

/// Brow movements, applied to the brows and the forehead/brow skin alike so the
/// brows never float off the skin.
fn brow_field(l: &Layout, p: V3, k: &Controls) -> V3 {
    if k.brow_inner_up == 0.0 && k.brow_down_left == 0.0 && k.brow_down_right == 0.0 {
        return p;
    }
    let brow_y = l.eye_left.y + 0.02;
    let mut d = V3::ZERO;
    // Keep the lids and eyes themselves out of it: fade below the brow.
    let vert = gauss(p.y - brow_y - 0.004, 0.014) * smoothstep(-0.035, -0.005, p.z - l.eye_left.z);
    for side in [Side::Left, Side::Right] {
        let sx = side.sign();
        let inner = gauss(p.x - sx * 0.018, 0.014) * vert;
        d.y += k.brow_inner_up * 0.0055 * inner;
        let down = match side {
            Side::Left => k.brow_down_left,
            Side::Right => k.brow_down_right,
        };
        if down != 0.0 {
            let whole = gauss(p.x - sx * 0.03, 0.022) * vert;
            let inner_bias = 0.6 + 0.4 * gauss(p.x - sx * 0.016, 0.012);
            d.y -= down * 0.0042 * whole * inner_bias;
            d.x -= sx * down * 0.0018 * inner;
            d.z += down * 0.0008 * whole;
        }
    }
    p + d
}

/// Deformed position of a teeth/tongue vertex.
pub fn deform_teeth(l: &Layout, p: V3, tag: TeethTag, k: &Controls) -> V3 {
    let jaw = k.jaw;
    match tag {
        TeethTag::Upper => p,
        TeethTag::Lower => p.rotate_x_about(l.jaw_pivot, jaw),
        TeethTag::Tongue { along, up } => {
            let mut d = V3::ZERO;
            let tip = smoothstep(0.35, 1.0, along);
            d.z += k.tongue_forward * 0.0068 * tip;
            d.y += k.tongue_forward * 0.0075 * tip;
            d.y += k.tongue_tip_up * 0.009 * tip * tip;
            d.z += k.tongue_tip_up * 0.002 * tip;
            let back = gauss(along - 0.3, 0.25) * smoothstep(-0.5, 1.0, up);
            d.y += k.tongue_back_up * 0.0065 * back;
            (p + d).rotate_x_about(l.jaw_pivot, jaw)
        }
    }
}
