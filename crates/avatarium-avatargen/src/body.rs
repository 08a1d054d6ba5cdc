//! Neck and shoulders bust, with a clothing neckline.

use crate::face::orient_outward;
use crate::math::*;
use crate::mesh::{Mat, Surface};
use crate::preset::{Neckline, Preset};

const NECK_C: V3 = v3(0.0, 0.0, -0.018);
const TORSO_Z: f64 = -0.028;
const CHEST: f64 = 0.098;
const BACK: f64 = 0.084;
const SEGS: usize = 48;

/// Shoulder profile: (blend from neck ellipse to torso outline, height).
const PROFILE: [(f64, f64); 11] = [
    (0.0, 1.470),
    (0.12, 1.456),
    (0.32, 1.439),
    (0.55, 1.424),
    (0.75, 1.409),
    (0.88, 1.393),
    (0.96, 1.366),
    (1.0, 1.328),
    (1.0, 1.258),
    (0.985, 1.158),
    (0.97, 1.068),
];

/// Horizontal direction for azimuth `a` (0 = +Z front, pi/2 = +X).
fn hdir(a: f64) -> V3 {
    let (s, c) = sin_cos(a);
    v3(s, 0.0, c)
}

fn torso_radius(p: &Preset, a: f64) -> f64 {
    let (s, c) = sin_cos(a);
    let zr = if c >= 0.0 { CHEST } else { BACK };
    let u = (s / p.shoulder_width).abs();
    let w = (c / zr).abs();
    // Blend of an ellipse and a 4-superellipse: boxy shoulders, round chest.
    let e2 = 1.0 / (u * u + w * w).sqrt();
    // Plain products rather than powi: LLVM may expand powi differently per
    // optimisation level, and the output must be bit-identical.
    let (u2, w2) = (u * u, w * w);
    let e4 = 1.0 / (u2 * u2 + w2 * w2).sqrt().sqrt();
    lerp(e2, e4, 0.55)
}

/// Neck cross-section, scaled with the build (shoulder width).
fn neck_radius(p: &Preset, a: f64) -> f64 {
    let (s, c) = sin_cos(a);
    let rx = 0.27 * p.shoulder_width;
    let rz = 0.94 * rx;
    let (a, b) = (s / rx, c / rz);
    1.0 / (a * a + b * b).sqrt()
}

/// Catmull-Rom through PROFILE, sampled densely and re-parameterised by arc length.
fn profile_polyline() -> Vec<(f64, f64)> {
    let mut pts = Vec::new();
    let n = PROFILE.len();
    for i in 0..n - 1 {
        let p0 = PROFILE[i.saturating_sub(1)];
        let p1 = PROFILE[i];
        let p2 = PROFILE[i + 1];
        let p3 = PROFILE[(i + 2).min(n - 1)];
        for k in 0..20 {
            let t = k as f64 / 20.0;
            let cr = |a: f64, b: f64, c: f64, d: f64| {
                0.5 * (2.0 * b
                    + (-a + c) * t
                    + (2.0 * a - 5.0 * b + 4.0 * c - d) * t * t
                    + (-a + 3.0 * b - 3.0 * c + d) * t * t * t)
            };
            pts.push((cr(p0.0, p1.0, p2.0, p3.0), cr(p0.1, p1.1, p2.1, p3.1)));
        }
    }
    pts.push(PROFILE[n - 1]);
    pts
}

struct Profile {
    pts: Vec<(f64, f64)>,
    arc: Vec<f64>,
}

impl Profile {
    fn new() -> Self {
        let pts = profile_polyline();
        let mut arc = vec![0.0];
        for i in 1..pts.len() {
            let dx = (pts[i].0 - pts[i - 1].0) * 0.14;
            let dy = pts[i].1 - pts[i - 1].1;
            arc.push(arc[i - 1] + (dx * dx + dy * dy).sqrt());
        }
        let total = arc[arc.len() - 1];
        for a in &mut arc {
            *a /= total;
        }
        Profile { pts, arc }
    }

    /// (blend, height) at arc fraction s.
    fn at(&self, s: f64) -> (f64, f64) {
        let s = s.clamp(0.0, 1.0);
        let i = match self.arc.iter().position(|&a| a >= s) {
            Some(0) => return self.pts[0],
            Some(i) => i,
            None => return self.pts[self.pts.len() - 1],
        };
        let t = (s - self.arc[i - 1]) / (self.arc[i] - self.arc[i - 1]);
        (
            lerp(self.pts[i - 1].0, self.pts[i].0, t),
            lerp(self.pts[i - 1].1, self.pts[i].1, t),
        )
    }
}

fn neckline(p: &Preset, a: f64) -> f64 {
    let c = cos(a);
    let front = c.max(0.0);
    match p.neckline {
        Neckline::Crew => 0.045 + 0.025 * front * front,
        Neckline::Scoop => 0.07 + 0.12 * front * front * front,
        Neckline::VNeck => {
            let v = (1.0 - a.abs().min(2.0 * PI - a.abs()) / 0.85).max(0.0);
            0.05 + 0.025 * front * front + 0.14 * v
        }
    }
}

pub fn build(p: &Preset) -> Surface<()> {
    let prof = Profile::new();
    let mut s = Surface::new();
    let alphas: Vec<f64> = (0..SEGS)
        .map(|k| 2.0 * PI * k as f64 / SEGS as f64)
        .collect();
    let point = |a: f64, sarc: f64, offset: f64| -> V3 {
        let (blend, y) = prof.at(sarc);
        let r = lerp(neck_radius(p, a), torso_radius(p, a), blend);
        let c = NECK_C.lerp(v3(0.0, 0.0, TORSO_Z), blend);
        // Offset roughly along the surface normal: outwards on the sides, upwards on top.
        let up = smoothstep(0.85, 0.3, blend) * 0.6;
        c + hdir(a) * (r + offset * (1.0 - up)) + v3(0.0, y + offset * up, 0.0)
    };
    // Neck: from inside the head down to the base of the profile.
    let neck_ys = [1.575, 1.545, 1.52, 1.5, 1.482];
    let mut rings: Vec<Vec<u32>> = Vec::new();
    for &y in &neck_ys {
        let flare = smoothstep(1.51, 1.47, y) * 0.003;
        let ring = alphas
            .iter()
            .map(|&a| {
                s.add(
                    NECK_C + hdir(a) * (neck_radius(p, a) + flare) + v3(0.0, y, 0.0),
                    (),
                )
            })
            .collect();
        rings.push(ring);
    }
    let skin_steps = 5;
    for k in 0..=skin_steps {
        let f = k as f64 / skin_steps as f64;
        let ring = alphas
            .iter()
            .map(|&a| s.add(point(a, neckline(p, a) * f, 0.0), ()))
            .collect();
        rings.push(ring);
    }
    for i in 0..rings.len() - 1 {
        s.strip(&rings[i], &rings[i + 1], true, Mat::Skin, 0);
    }
    // Clothing: starts with a small wall at the neckline (fabric thickness), then
    // a ribbed band, then the garment.
    let mut cloth: Vec<Vec<u32>> = Vec::new();
    let cloth_steps = 14;
    let ring_at = |s: &mut Surface<()>, f: f64, off: f64| -> Vec<u32> {
        alphas
            .iter()
            .map(|&a| {
                let n = neckline(p, a);
                s.add(point(a, n + (1.0 - n) * f, off), ())
            })
            .collect()
    };
    cloth.push(ring_at(&mut s, 0.0, 0.0));
    cloth.push(ring_at(&mut s, 0.0, 0.0032));
    cloth.push(ring_at(&mut s, 0.018, 0.0036));
    cloth.push(ring_at(&mut s, 0.04, 0.0024));
    for k in 1..=cloth_steps {
        let f = 0.04 + 0.96 * (k as f64 / cloth_steps as f64);
        cloth.push(ring_at(&mut s, f, 0.002));
    }
    for i in 0..cloth.len() - 1 {
        s.strip(&cloth[i], &cloth[i + 1], true, Mat::Clothing, 0);
    }
    let last = &cloth[cloth.len() - 1];
    let y_bottom = s.pos[last[0] as usize].y;
    let bottom = s.add(v3(0.0, y_bottom, TORSO_Z), ());
    let rev: Vec<u32> = last.iter().rev().copied().collect();
    s.fan(bottom, &rev, true, Mat::Clothing, 0);
    orient_outward(&mut s, 0);
    s
}
