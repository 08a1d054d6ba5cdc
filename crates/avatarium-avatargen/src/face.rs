//! Head, face and mouth geometry.
//!
//! The head skin is one continuous surface parameterised in rings around the
//! mouth: the innermost skin ring is the lip border, the rings continue over the
//! lips, roll inwards at the lip contact line and form the mouth cavity, which
//! closes in a pole deep inside the head. Outwards, the rings cover the whole
//! skull and close in a pole at the back. This gives a clean, watertight mouth
//! opening with no holes to hide, and a natural (phi, distance) coordinate
//! system for the mouth deformations.

use crate::math::*;
use crate::mesh::{Mat, Surface};
use crate::preset::Preset;

pub const HEAD_CENTER: V3 = v3(0.0, 1.60, 0.0);
/// Neck pivot of the `HeadPivot` node (model space).
pub const PIVOT: V3 = v3(0.0, 1.45, 0.0);
pub const EYE_RADIUS: f64 = 0.0142;
const EYE_X: f64 = 0.0335;
const EYE_Y: f64 = 1.605;
/// How far the eyeball's front pole stands out of the (socketed) skin.
const EYE_PROTRUSION: f64 = 0.0048;
const MOUTH_Y: f64 = 1.541;
const NOSE_TIP_Y: f64 = 1.571;
/// Half the neutral gap between the lips at their centre.
pub const LIP_HALF_GAP: f64 = 0.0009;
/// Half-width of the lip contact line (corner to corner).
pub const MOUTH_HALF_WIDTH: f64 = 0.0245;
/// The corners of the mouth sit this much above the centre (a hint of a smile).
const MOUTH_CURVE: f64 = 0.0016;

pub const PART_FACE: u8 = 0;
pub const PART_HEAD: u8 = 1;

/// Number of segments around the mouth (even, so that phi and -phi both exist).
pub const MOUTH_SEGMENTS: usize = 48;
const SKIN_RINGS: usize = 42;

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Side {
    /// The avatar's own left, i.e. +X (viewer's right when facing it).
    Left,
    Right,
}

impl Side {
    pub fn sign(self) -> f64 {
        match self {
            Side::Left => 1.0,
            Side::Right => -1.0,
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub enum Tag {
    /// Head skin; `d` is the arc length from the lip border along the spoke.
    Skin {
        phi: f64,
        d: f64,
    },
    /// Lip; `lam` runs 0 (border) .. 1 (contact line) .. 1.5 (inside the mouth).
    Lip {
        phi: f64,
        lam: f64,
    },
    /// Mouth cavity; `depth` 0 at the inner lip .. 1 at the back pole.
    Cavity {
        phi: f64,
        depth: f64,
    },
    /// Eyelid vertex in spherical coordinates about its eye centre.
    Lid {
        side: Side,
        upper: bool,
        psi: f64,
        eps: f64,
        r: f64,
    },
    Brow,
    Static,
}

/// Landmarks shared by geometry and morph targets (model space, metres).
#[derive(Clone, Debug)]
pub struct Layout {
    pub shape: HeadShape,
    pub mouth_axis: V3,
    pub mouth_u: V3,
    pub mouth_v: V3,
    /// Where the mouth axis meets the skin (centre of the ring parameterisation).
    pub mouth_skin: V3,
    /// Centre of the lip contact line.
    pub mouth_center: V3,
    pub a0: f64,
    pub b0_up: f64,
    pub b0_low: f64,
    pub eye_left: V3,
    pub eye_right: V3,
    pub jaw_pivot: V3,
    /// z of the front face of the upper incisors at the centre.
    pub teeth_front_z: f64,
    pub lip_fullness: f64,
    pub lashes: bool,
    /// Ears are left out where the hair covers them (no poke-through).
    pub ears: bool,
    pub brow_weight: f64,
}

#[derive(Clone, Copy, Debug)]
pub struct HeadShape {
    pub jaw: f64,
}

impl HeadShape {
    /// Skin point for a unit direction from the head centre.
    pub fn point(&self, d: V3) -> V3 {
        let lower = smoothstep(0.05, -0.95, d.y);
        let front = smoothstep(-0.3, 0.5, d.z);
        // A superellipsoid that gets boxier towards the lower front: a flatter
        // face and a rounder, fuller jaw than a plain ellipsoid.
        let n = 2.0 + 0.35 * smoothstep(0.15, -0.55, d.y) * smoothstep(-0.1, 0.5, d.z);
        let norm = powf(
            powf(d.x.abs(), n) + powf(d.y.abs(), n) + powf(d.z.abs(), n),
            1.0 / n,
        );
        let u = d / norm;
        let taper = 0.27 * (2.0 - self.jaw);
        let ax = 0.079 * (1.0 - taper * lower * lower);
        // The skull base at the back sits higher than the chin.
        let ay_low = lerp(0.078, 0.094, smoothstep(-0.3, 0.45, d.z));
        let ay = lerp(ay_low, 0.104, smoothstep(-0.3, 0.3, d.y));
        let az = lerp(0.098, 0.09, smoothstep(-0.3, 0.3, d.z));
        let p0 = v3(ax * u.x, ay * u.y, az * u.z);
        let (x, y) = (p0.x, p0.y);
        let mut dz = 0.0;
        let mut dy = 0.0;
        // Muzzle: keeps the mouth nearly under the eyes instead of far behind them.
        dz += 0.008 * gauss(x, 0.036) * gauss(y + 0.06, 0.03) * front;
        // Fills the hollow under the lower lip so the teeth stay inside.
        dz += 0.0035 * gauss(x, 0.022) * gauss(y + 0.075, 0.011) * front;
        let chin = gauss(x, 0.016 * self.jaw) * gauss(y + 0.089, 0.012) * front;
        dz += 0.0075 * chin;
        dy -= 0.002 * chin;
        dz += 0.004
            * (gauss(x - 0.037, 0.018) + gauss(x + 0.037, 0.018))
            * gauss(y + 0.028, 0.018)
            * front;
        dz += 0.002 * gauss(y - 0.036, 0.012) * gauss(x, 0.05) * front;
        dz += nose(x, y) * front;
        // Outer orbital rims: the face wraps less sharply beside the eyes.
        let rim = gauss(x - 0.05, 0.011) + gauss(x + 0.05, 0.011);
        dz += 0.005 * rim * gauss(y - (EYE_Y - HEAD_CENTER.y) + 0.004, 0.016) * front;
        let socket = gauss(x - EYE_X, 0.013) + gauss(x + EYE_X, 0.013);
        dz -= 0.0045 * socket * gauss(y - (EYE_Y - HEAD_CENTER.y), 0.0105) * front;
        HEAD_CENTER + p0 + v3(0.0, dy, dz)
    }

    /// Skin point in front of (x, y) (model space), found by Newton iteration.
    pub fn skin_at(&self, x: f64, y: f64) -> V3 {
        let dir = |a: f64, b: f64| v3(a, b, 1.0).normalized();
        let mut a = x / 0.08;
        let mut b = (y - HEAD_CENTER.y) / 0.1;
        let h = 1e-6;
        for _ in 0..30 {
            let p = self.point(dir(a, b));
            let (fx, fy) = (p.x - x, p.y - y);
            let pa = self.point(dir(a + h, b));
            let pb = self.point(dir(a, b + h));
            let (j11, j21) = ((pa.x - p.x) / h, (pa.y - p.y) / h);
            let (j12, j22) = ((pb.x - p.x) / h, (pb.y - p.y) / h);
            let det = j11 * j22 - j12 * j21;
            a -= (j22 * fx - j12 * fy) / det;
            b -= (-j21 * fx + j11 * fy) / det;
        }
        self.point(dir(a, b))
    }

    /// Outward skin normal at the skin point in front of (x, y).
    pub fn normal_at(&self, x: f64, y: f64) -> V3 {
        let h = 1e-4;
        let px = self.skin_at(x + h, y) - self.skin_at(x - h, y);
        let py = self.skin_at(x, y + h) - self.skin_at(x, y - h);
        px.cross(py).normalized()
    }
}

fn nose(x: f64, y: f64) -> f64 {
    let y0 = NOSE_TIP_Y - HEAD_CENTER.y;
    let along = smoothstep(0.004, y0, y);
    let ridge_h = lerp(0.0008, 0.0082, along);
    let ridge_w = lerp(0.0058, 0.0072, along);
    let ridge_win = smoothstep(y0 - 0.008, y0 + 0.002, y) * smoothstep(0.02, 0.0, y);
    let ridge = ridge_h * gauss(x, ridge_w) * ridge_win;
    let tip = 0.0105 * gauss(x, 0.0082) * gauss(y - y0, 0.0078);
    let alae = 0.0045
        * (gauss(x - 0.0098, 0.0052) + gauss(x + 0.0098, 0.0052))
        * gauss(y - y0 + 0.0035, 0.005);
    // Soft maximum keeps the ridge and tip blended without a crease.
    let m = ridge.max(tip);
    m + 0.35 * ridge.min(tip) + alae
}

impl Layout {
    pub fn new(p: &Preset) -> Layout {
        let shape = HeadShape { jaw: p.jaw_width };
        let on_axis = |alpha: f64| shape.point(v3(0.0, sin(alpha), cos(alpha)));
        let alpha = bisect(-1.2, 0.0, |a| on_axis(a).y - MOUTH_Y);
        let (sa, ca) = sin_cos(alpha);
        let mouth_axis = v3(0.0, sa, ca);
        let mouth_u = v3(1.0, 0.0, 0.0);
        let mouth_v = v3(0.0, ca, -sa);
        let mouth_skin = shape.point(mouth_axis);
        let lf = p.lip_fullness;
        let mut l = Layout {
            shape,
            mouth_axis,
            mouth_u,
            mouth_v,
            mouth_skin,
            mouth_center: mouth_skin,
            a0: 0.25,
            b0_up: 0.09,
            b0_low: 0.1,
            eye_left: V3::ZERO,
            eye_right: V3::ZERO,
            jaw_pivot: v3(0.0, 1.578, -0.004),
            teeth_front_z: 0.0,
            lip_fullness: lf,
            lashes: p.lashes,
            ears: p.hair_style.shows_ears(),
            brow_weight: p.brow_weight,
        };
        for side in [Side::Left, Side::Right] {
            let x = EYE_X * side.sign();
            let skin = shape.skin_at(x, EYE_Y);
            let c = v3(x, EYE_Y, skin.z + EYE_PROTRUSION - EYE_RADIUS);
            match side {
                Side::Left => l.eye_left = c,
                Side::Right => l.eye_right = c,
            }
        }
        // Calibrate the lip border ellipse in direction space against model-space sizes.
        l.a0 = bisect(0.05, 0.6, |a| {
            l.shape.point(l.dir(a, 0.1, 0.1, 0.0)).x - (MOUTH_HALF_WIDTH + 0.0022)
        });
        let y_up = mouth_skin.y + 0.0082 * lf;
        let y_low = mouth_skin.y - 0.0102 * lf;
        l.b0_up = bisect(0.01, 0.3, |b| {
            l.shape.point(l.dir(l.a0, b, b, PI / 2.0)).y - y_up
        });
        l.b0_low = bisect(0.01, 0.3, |b| {
            y_low - l.shape.point(l.dir(l.a0, b, b, -PI / 2.0)).y
        });
        let border_top = l.skin_ring_point(0.0, PI / 2.0);
        l.mouth_center = v3(0.0, mouth_skin.y, border_top.z + 0.0022 * lf);
        l.teeth_front_z = l.mouth_center.z - 0.0072;
        l
    }

    pub fn eye(&self, side: Side) -> V3 {
        match side {
            Side::Left => self.eye_left,
            Side::Right => self.eye_right,
        }
    }

    /// Unit direction for ellipse parameters (a, b) at angle phi around the mouth axis.
    fn dir(&self, a: f64, b_up: f64, b_low: f64, phi: f64) -> V3 {
        let (s, c) = sin_cos(phi);
        let b = if s >= 0.0 { b_up } else { b_low };
        let (pa, pb) = (a * c, b * s);
        let rho = (pa * pa + pb * pb).sqrt();
        if rho < 1e-12 {
            return self.mouth_axis;
        }
        let (sr, cr) = sin_cos(rho);
        self.mouth_axis * cr + (self.mouth_u * pa + self.mouth_v * pb) * (sr / rho)
    }

    fn ring_params(&self, t: f64) -> (f64, f64, f64) {
        let blend = smoothstep(0.0, 0.55, t);
        let a = self.a0 + t;
        let bu = self.b0_up + t + (self.a0 - self.b0_up) * blend;
        let bl = self.b0_low + t + (self.a0 - self.b0_low) * blend;
        (a, bu, bl)
    }

    fn skin_ring_point(&self, t: f64, phi: f64) -> V3 {
        let (a, bu, bl) = self.ring_params(t);
        self.eye_sockets(self.shape.point(self.dir(a, bu, bl, phi)))
    }

    /// Shapes the skin around each eye like real lids do: right under the lid
    /// shells (so the lids read as folds of skin, not as balls stuck on the
    /// face) and sunk behind the eyeball inside the eye opening. The change
    /// from one to the other happens under the lid rims, where it is hidden.
    fn eye_sockets(&self, p: V3) -> V3 {
        let mut p = p;
        for side in [Side::Left, Side::Right] {
            let e = self.eye(side);
            let v = p - e;
            let r = v.len();
            let horiz = (v.x * v.x + v.z * v.z).sqrt();
            let psi = atan2(v.x, v.z);
            let eps = atan2(v.y, horiz);
            let (up, low, _) = lid_edges(side, psi);
            // Positive inside the eye opening, negative under the lids.
            let inside = (up - eps).min(eps - low);
            // Only close to the opening; farther out the lid roots stay buried
            // under the ordinary skin.
            let w = smoothstep(-0.5, -0.28, inside)
                * smoothstep(1.7, 1.35, psi.abs())
                * smoothstep(0.034, 0.024, r);
            if w <= 0.0 {
                continue;
            }
            let under_lid = if eps > 0.5 * (up + low) {
                EYE_RADIUS + 0.0004
            } else {
                EYE_RADIUS + 0.0003
            };
            let t = smoothstep(-0.15, -0.04, inside);
            let target = lerp(under_lid, r.min(EYE_RADIUS - 0.0025), t);
            p = e + v * (lerp(r, target, w) / r);
        }
        p
    }

    /// Depth of the lip contact line at x: the mouth wraps around the face.
    pub fn contact_z(&self, x: f64) -> f64 {
        let u = x / MOUTH_HALF_WIDTH;
        self.mouth_center.z - 0.0062 * u * u
    }

    /// Height of the lip contact line at x (the mouth line curves up a little).
    pub fn slit_y(&self, x: f64) -> f64 {
        let u = x / MOUTH_HALF_WIDTH;
        self.mouth_center.y + MOUTH_CURVE * u * u
    }
}

fn bisect(mut lo: f64, mut hi: f64, f: impl Fn(f64) -> f64) -> f64 {
    let flo = f(lo);
    for _ in 0..60 {
        let mid = 0.5 * (lo + hi);
        if (f(mid) < 0.0) == (flo < 0.0) {
            lo = mid;
        } else {
            hi = mid;
        }
    }
    0.5 * (lo + hi)
}

fn mouth_phi(j: usize) -> f64 {
    2.0 * PI * j as f64 / MOUTH_SEGMENTS as f64
}

/// Builds the face surface: head skin + lips + cavity (one piece), eyelids,
/// brows and ears. Ears and the back of the skull get `PART_HEAD`.
pub fn build(l: &Layout) -> Surface<Tag> {
    let mut s = Surface::new();
    build_head(l, &mut s);
    for side in [Side::Left, Side::Right] {
        build_lids(l, side, &mut s);
        build_brow(l, side, &mut s);
        if l.ears {
            build_ear(l, side, &mut s);
        }
    }
    s
}

fn build_head(l: &Layout, s: &mut Surface<Tag>) {
    let n = MOUTH_SEGMENTS;
    let lf = l.lip_fullness;
    let phis: Vec<f64> = (0..n).map(mouth_phi).collect();
    let t_max = PI - l.a0;

    // Skin rings, ring 0 = lip border.
    let split_t = 1.95;
    let mut skin_rings: Vec<Vec<u32>> = Vec::new();
    let mut dist = vec![0.0; n];
    let mut prev: Vec<V3> = Vec::new();
    let mut split_ring = SKIN_RINGS;
    for k in 0..SKIN_RINGS {
        // Rings are densest at the lips, where the deformations need detail.
        let f = k as f64 / SKIN_RINGS as f64;
        let t = t_max * powf(f, 1.2);
        if t >= split_t && split_ring == SKIN_RINGS {
            split_ring = k;
        }
        let mut ring = Vec::with_capacity(n);
        let mut pts = Vec::with_capacity(n);
        for (j, &phi) in phis.iter().enumerate() {
            let p = l.skin_ring_point(t, phi);
            if k > 0 {
                dist[j] += (p - prev[j]).len();
            }
            pts.push(p);
            ring.push(s.add(p, Tag::Skin { phi, d: dist[j] }));
        }
        prev = pts;
        skin_rings.push(ring);
    }
    let back = s.add(l.shape.point(-l.mouth_axis), Tag::Skin { phi: 0.0, d: 1.0 });

    // Lip spokes from the border to the contact line and into the mouth.
    let lams = [0.22, 0.44, 0.64, 0.81, 0.93, 1.0, 1.25, 1.5];
    let mut lip_rings: Vec<Vec<u32>> = vec![Vec::with_capacity(n); lams.len()];
    for (j, &phi) in phis.iter().enumerate() {
        let (sn, cs) = sin_cos(phi);
        let sgn = if sn >= 0.0 { 1.0 } else { -1.0 };
        let b = s.pos[skin_rings[0][j] as usize];
        let xc = MOUTH_HALF_WIDTH * cs;
        let c = v3(
            xc,
            l.slit_y(xc) + sgn * LIP_HALF_GAP * sn.abs(),
            l.contact_z(xc) - if sgn < 0.0 { 0.0008 } else { 0.0 },
        );
        let fullness = if sgn > 0.0 { 0.0030 } else { 0.0036 };
        let bulge = (fullness * sn.abs().sqrt() + 0.0004) * lf;
        for (i, &lam) in lams.iter().enumerate() {
            let p = if lam <= 1.0 {
                let e = 1.0 - (1.0 - lam) * (1.0 - lam);
                let xy = b.lerp(c, e);
                // Soft start at the border, full roundness towards the contact line.
                let shape = sin(PI * lam) * (0.4 + 0.6 * smoothstep(0.0, 0.5, lam));
                v3(xy.x, xy.y, lerp(b.z, c.z, lam) + bulge * shape)
            } else {
                let k = (lam - 1.0) / 0.5;
                let open = 0.3 + 0.7 * sn.abs();
                c + v3(
                    -0.06 * xc * k,
                    sgn * open * lerp(0.0, 0.0036, k),
                    -0.0045 * k,
                )
            };
            lip_rings[i].push(s.add(p, Tag::Lip { phi, lam }));
        }
    }

    // Mouth cavity: a sac that widens behind the lips and closes deep inside.
    let c0 = l.mouth_center;
    let cav = [
        (0.0205, 0.0080, 0.0060, 0.0095),
        (0.0235, 0.0140, 0.0135, 0.0175),
        (0.0215, 0.0155, 0.0185, 0.0285),
        (0.0150, 0.0115, 0.0135, 0.0400),
    ];
    let cav_depth_max = 0.046;
    let mut cav_rings: Vec<Vec<u32>> = Vec::new();
    for &(w, hu, hl, depth) in &cav {
        let mut ring = Vec::with_capacity(n);
        for &phi in &phis {
            let (sn, cs) = sin_cos(phi);
            let x = w * cs;
            let h = if sn >= 0.0 { hu } else { hl };
            let u = x / 0.025;
            let p = v3(x, c0.y - 0.002 + h * sn, c0.z - depth - 0.010 * u * u);
            ring.push(s.add(
                p,
                Tag::Cavity {
                    phi,
                    depth: depth / cav_depth_max,
                },
            ));
        }
        cav_rings.push(ring);
    }
    let cav_pole = s.add(
        v3(0.0, c0.y - 0.003, c0.z - cav_depth_max),
        Tag::Cavity {
            phi: 0.0,
            depth: 1.0,
        },
    );

    // Stitch everything, innermost (cavity pole) to outermost (back of the head).
    let mut chain: Vec<(&Vec<u32>, Mat)> = Vec::new();
    for r in cav_rings.iter().rev() {
        chain.push((r, Mat::MouthInterior));
    }
    for (i, r) in lip_rings.iter().enumerate().rev() {
        // Band from this ring outwards: the innermost lip band is already mouth.
        let mat = if i == lams.len() - 1 {
            Mat::MouthInterior
        } else {
            Mat::Lips
        };
        chain.push((r, mat));
    }
    for r in &skin_rings {
        chain.push((r, Mat::Skin));
    }
    s.fan(cav_pole, chain[0].0, true, Mat::MouthInterior, PART_FACE);
    let skin_start = cav_rings.len() + lip_rings.len();
    for i in 0..chain.len() - 1 {
        let part = if i >= skin_start + split_ring - 1 {
            PART_HEAD
        } else {
            PART_FACE
        };
        let (inner, mat) = chain[i];
        let outer = chain[i + 1].0;
        s.strip(inner, outer, true, mat, part);
    }
    let last = chain[chain.len() - 1].0;
    // The back pole fan faces outwards with the ring order reversed.
    let rev: Vec<u32> = last.iter().rev().copied().collect();
    s.fan(back, &rev, true, Mat::Skin, PART_HEAD);
}

/// Eyelid opening at horizontal angle `psi` for the given eye: returns
/// (upper edge elevation, lower edge elevation, openness). Edges cross beyond the
/// eye corners so the lids overlap there.
pub fn lid_edges(side: Side, psi: f64) -> (f64, f64, f64) {
    let (up, low, open, _) = lid_shape(side, psi);
    (up, low, open)
}

/// Like `lid_edges`, plus the elevation the upper lid edge reaches when closed.
pub fn lid_shape(side: Side, psi: f64) -> (f64, f64, f64, f64) {
    let outer = psi * side.sign();
    let corner = if outer > 0.0 { 1.02 } else { 0.93 };
    let u = outer / corner;
    let open = (1.0 - u * u).max(-0.12);
    let mid = 0.05 * outer;
    // The upper lid's highest point sits slightly towards the inner corner.
    let up = mid + UPPER_OPEN * open * (1.0 - 0.08 * u);
    let low = mid - LOWER_OPEN * open * (1.0 + 0.1 * u);
    // Closed: just below the (raised) lower lid edge across the whole opening,
    // blending into the already overlapping lids beyond the corners.
    let shut = mid - 0.31 * open.max(0.0) - 0.03;
    let closed = lerp(up, shut.min(up), smoothstep(-0.15, 0.05, open));
    (up, low, open, closed)
}

const UPPER_OPEN: f64 = 0.43;
const LOWER_OPEN: f64 = 0.33;
/// How far the lower lid rises on a blink, times openness.
pub const LOWER_BLINK_RISE: f64 = 0.07;

pub const LID_UPPER_ROOT: f64 = 1.45;
pub const LID_LOWER_ROOT: f64 = -1.35;
const LID_PSI_MAX: f64 = 1.75;

fn lid_radii(upper: bool) -> (f64, f64) {
    if upper {
        (EYE_RADIUS + 0.0017, EYE_RADIUS + 0.0009)
    } else {
        (EYE_RADIUS + 0.0013, EYE_RADIUS + 0.0006)
    }
}

pub fn lid_point(eye: V3, r: f64, psi: f64, eps: f64) -> V3 {
    let (sp, cp) = sin_cos(psi);
    let (se, ce) = sin_cos(eps);
    eye + v3(r * ce * sp, r * se, r * ce * cp)
}

fn build_lids(l: &Layout, side: Side, s: &mut Surface<Tag>) {
    let eye = l.eye(side);
    let cols = 27;
    let psi_of = |c: usize| LID_PSI_MAX * (2.0 * c as f64 / (cols - 1) as f64 - 1.0);
    for upper in [true, false] {
        let (ro, ri) = lid_radii(upper);
        let root = if upper {
            LID_UPPER_ROOT
        } else {
            LID_LOWER_ROOT
        };
        // Profile: (fraction root->edge, radius, extra rim angle towards the eye opening).
        let rm = 0.5 * (ro + ri);
        let half = 0.5 * (ro - ri);
        let rim_ang = half / rm;
        let mut profile: Vec<(f64, f64, f64)> = [0.0, 0.35, 0.6, 0.78, 0.9, 0.97]
            .iter()
            .map(|&v| (v, ro, 0.0))
            .collect();
        for g in [0.0f64, 45.0, 90.0, 135.0, 180.0] {
            let (sg, cg) = sin_cos(g.to_radians());
            profile.push((1.0, rm + half * cg, rim_ang * sg));
        }
        profile.push((0.8, ri, 0.0));
        profile.push((0.3, ri, 0.0));
        let mut rows: Vec<Vec<u32>> = vec![Vec::with_capacity(cols); profile.len()];
        for c in 0..cols {
            let psi = psi_of(c);
            let (up_e, low_e, _) = lid_edges(side, psi);
            let edge = if upper { up_e } else { low_e };
            let toward_opening = if upper { -1.0 } else { 1.0 };
            for (i, &(v, r, extra)) in profile.iter().enumerate() {
                let eps = root + (edge - root) * v + toward_opening * extra;
                let p = lid_point(eye, r, psi, eps);
                rows[i].push(s.add(
                    p,
                    Tag::Lid {
                        side,
                        upper,
                        psi,
                        eps,
                        r,
                    },
                ));
            }
        }
        let liner_from = if l.lashes { 5 } else { 6 };
        let lash_cols: Vec<bool> = (0..cols)
            .map(|c| lid_edges(side, psi_of(c)).2 > -0.02)
            .collect();
        for i in 0..rows.len() - 1 {
            for c in 0..cols - 1 {
                let lash =
                    upper && (liner_from..10).contains(&i) && lash_cols[c] && lash_cols[c + 1];
                let mat = if lash { Mat::Lashes } else { Mat::Skin };
                let (a, b) = (&rows[i], &rows[i + 1]);
                // Rows run root->edge: downwards for the upper lid (front-facing
                // as built), upwards for the lower lid (reverse order).
                if upper {
                    s.quad(a[c], b[c], b[c + 1], a[c + 1], mat, PART_FACE);
                } else {
                    s.quad(b[c], a[c], a[c + 1], b[c + 1], mat, PART_FACE);
                }
            }
        }
    }
}

fn build_brow(l: &Layout, side: Side, s: &mut Surface<Tag>) {
    let sg = side.sign();
    let samples = 18;
    let around = 8;
    let w = l.brow_weight;
    let mut rings: Vec<Vec<u32>> = Vec::new();
    let mut ends = Vec::new();
    for i in 0..samples {
        let t = i as f64 / (samples - 1) as f64;
        let x = sg * lerp(0.0125, 0.0505, t);
        // Arch peaks two thirds out; a peak near the nose reads as worried.
        let y = EYE_Y + 0.0185 + 0.0042 * sin(PI * powf(t, 1.25)) - 0.0012 * t;
        let skin = l.shape.skin_at(x, y);
        let nrm = l.shape.normal_at(x, y);
        let up = (v3(0.0, 1.0, 0.0) - nrm * nrm.y).normalized();
        let half_h = w * (0.0019 + 0.0008 * (1.0 - t)) * smoothstep(1.0, 0.7, t).max(0.25);
        let thick = 0.0009 * w.sqrt();
        let center = skin + nrm * 0.0004;
        let mut ring = Vec::with_capacity(around);
        for k in 0..around {
            let a = 2.0 * PI * k as f64 / around as f64;
            let (sa, ca) = sin_cos(a);
            let p = center + up * (half_h * ca) + nrm * (thick * sa);
            ring.push(s.add(p, Tag::Brow));
        }
        if i == 0 || i == samples - 1 {
            let along = if i == 0 { -1.0 } else { 1.0 };
            let tip = center + v3(sg * along * 0.0012, 0.0, 0.0) + nrm * (thick * 0.3);
            ends.push((s.add(tip, Tag::Brow), ring.clone()));
        }
        rings.push(ring);
    }
    let start = s.tris.len();
    for i in 0..rings.len() - 1 {
        s.strip(&rings[i + 1], &rings[i], true, Mat::Brows, PART_FACE);
    }
    // The strips run from the last ring (innermost) to ring 0 (outermost); the
    // end fans must continue that orientation.
    let (tip0, r0) = &ends[0];
    let rev: Vec<u32> = r0.iter().rev().copied().collect();
    s.fan(*tip0, &rev, true, Mat::Brows, PART_FACE);
    let (tip1, r1) = &ends[1];
    s.fan(*tip1, r1, true, Mat::Brows, PART_FACE);
    orient_outward(s, start);
}

fn build_ear(l: &Layout, side: Side, s: &mut Surface<Tag>) {
    let sg = side.sign();
    let y0 = 1.592;
    let z0 = -0.006;
    // Root of the ear on the side of the head.
    let d = v3(sg, (y0 - HEAD_CENTER.y) / 0.1, z0 / 0.09).normalized();
    let root = l.shape.point(d);
    let center = v3(root.x + sg * 0.0035, y0, z0);
    let rings = 10;
    let around = 20;
    let start = s.tris.len();
    let mut grid: Vec<Vec<u32>> = Vec::new();
    for i in 1..rings {
        let th = PI * i as f64 / rings as f64;
        let (st, ct) = sin_cos(th);
        let mut ring = Vec::with_capacity(around);
        for k in 0..around {
            let a = 2.0 * PI * k as f64 / around as f64;
            let (sa, ca) = sin_cos(a);
            // Ellipsoid: tall, shallow, thin; the outward side is dished (concha).
            let mut x = 0.0055 * ct;
            let y = 0.0285 * st * sa;
            let z = 0.0165 * st * ca;
            let rr = st;
            if x > 0.0 {
                x -= 0.0042 * gauss(rr, 0.55) * (1.0 - 0.3 * sa);
            }
            // Lean the top of the ear backwards a little.
            let z = z - 0.18 * y;
            let p = center + v3(sg * (x + 0.0025 * (1.0 - sa)), y, z);
            ring.push(s.add(p, Tag::Static));
        }
        grid.push(ring);
    }
    let pole_out = s.add(center + v3(sg * 0.0018, 0.0, 0.0), Tag::Static);
    let pole_in = s.add(center + v3(-sg * 0.0055, 0.0, 0.0), Tag::Static);
    for i in 0..grid.len() - 1 {
        s.strip(&grid[i], &grid[i + 1], true, Mat::Skin, PART_HEAD);
    }
    s.fan(pole_out, &grid[0], true, Mat::Skin, PART_HEAD);
    let last: Vec<u32> = grid[grid.len() - 1].iter().rev().copied().collect();
    s.fan(pole_in, &last, true, Mat::Skin, PART_HEAD);
    orient_outward(s, start);
}

/// Flips the triangles added since `start` if they enclose negative volume, so
/// closed pieces face outwards regardless of how their rings were ordered.
pub fn orient_outward<T: Copy>(s: &mut Surface<T>, start: usize) {
    let mut vol = 0.0;
    for t in &s.tris[start..] {
        let [a, b, c] = t.v.map(|i| s.pos[i as usize]);
        vol += a.dot(b.cross(c));
    }
    if vol < 0.0 {
        for t in &mut s.tris[start..] {
            t.v.swap(1, 2);
        }
    }
}
