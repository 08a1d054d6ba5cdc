//! Hair shells. Each style is a closed, thick shell laid over the skull: an
//! outer surface from the crown to the hairline (optionally continuing as a
//! hanging curtain), a rounded rim, and an inner surface back up to the crown.

use crate::face::{HeadShape, orient_outward};
use crate::math::*;
use crate::mesh::{Mat, Surface};
use crate::preset::HairStyle;

const SEGS: usize = 72;
const OUTER_ROWS: usize = 28;
const INNER_ROWS: usize = 8;
/// Polar angle where a hanging curtain leaves the skull.
const HANG_FROM: f64 = 1.52;

/// Direction for azimuth `a` (0 = front, +pi/2 = +X) and polar angle `b` from +Y.
fn sdir(a: f64, b: f64) -> V3 {
    let (sa, ca) = sin_cos(a);
    let (sb, cb) = sin_cos(b);
    v3(sb * sa, cb, sb * ca)
}

/// Weight that is 1 at the front (a = 0) and 0 from |a| >= w.
fn front_w(a: f64, w: f64) -> f64 {
    smoothstep(w, 0.0, a.abs())
}

struct Style {
    style: HairStyle,
}

impl Style {
    /// Polar angle of the hairline (or of the curtain start) at azimuth `a` in [-pi, pi].
    fn hairline(&self, a: f64) -> f64 {
        let aa = a.abs();
        let back = smoothstep(1.3, 2.6, aa);
        let side = smoothstep(0.45, 1.25, aa);
        match self.style {
            HairStyle::Long => lerp(0.86, HANG_FROM, smoothstep(0.2, 1.15, aa)),
            HairStyle::Bob => {
                let fringe = 1.1 + 0.04 * cos(3.0 * a);
                lerp(fringe, HANG_FROM, smoothstep(0.55, 1.2, aa))
            }
            HairStyle::ShortCrop => {
                // Fringe swept towards the avatar's left.
                let f = 0.93 + 0.1 * smoothstep(-0.5, 0.6, a);
                let s = lerp(f, 1.37, side);
                lerp(s, 2.0, back) + 0.12 * gauss(aa - 1.2, 0.12)
            }
            HairStyle::CurlyBun => {
                let s = lerp(0.86, 1.36, side);
                lerp(s, 1.98, back)
            }
            HairStyle::ShortClassic => {
                // Slight recession at the temples.
                let f = 0.84 - 0.07 * gauss(aa - 0.55, 0.2);
                let s = lerp(f, 1.38, side);
                lerp(s, 2.02, back) + 0.2 * gauss(aa - 1.3, 0.1)
            }
            HairStyle::Quiff => {
                let f = 0.82 - 0.05 * gauss(aa - 0.55, 0.2);
                let s = lerp(f, 1.38, side);
                lerp(s, 2.0, back) + 0.18 * gauss(aa - 1.3, 0.1)
            }
        }
    }

    /// Length of the hanging curtain below the skull at azimuth `a`.
    fn hang(&self, a: f64) -> f64 {
        let aa = a.abs();
        match self.style {
            HairStyle::Long => {
                let sides = 0.14 * smoothstep(0.9, 1.3, aa);
                sides + 0.20 * smoothstep(2.2, 2.9, aa)
            }
            HairStyle::Bob => 0.082 * smoothstep(0.95, 1.35, aa) + 0.006 * smoothstep(2.0, 3.0, aa),
            _ => 0.0,
        }
    }

    /// Hair thickness above the skin at (a, b).
    fn thickness(&self, a: f64, b: f64) -> f64 {
        let aa = a.abs();
        let top = smoothstep(1.4, 0.3, b);
        let (base, top_extra) = match self.style {
            HairStyle::Long => (0.010, 0.006),
            HairStyle::Bob => (0.013, 0.006),
            HairStyle::ShortCrop => (0.005, 0.009),
            HairStyle::CurlyBun => (0.010, 0.003),
            HairStyle::ShortClassic => (0.006, 0.010),
            HairStyle::Quiff => (0.005, 0.008),
        };
        let mut t = base + top_extra * top;
        match self.style {
            HairStyle::Quiff => {
                t += 0.022 * front_w(a, 0.9) * gauss(b - 0.62, 0.28);
            }
            HairStyle::ShortCrop => {
                t += 0.006 * front_w(a - 0.25, 1.0) * gauss(b - 0.75, 0.25);
            }
            HairStyle::Long => {
                // Centre parting.
                t -= 0.004 * gauss(a, 0.05) * smoothstep(1.0, 0.2, b);
            }
            HairStyle::Bob => {
                // Ears hide under fuller sides.
                t += 0.009 * gauss(aa - PI / 2.0, 0.5);
            }
            _ => {}
        }
        // Keep a visible edge at the hairline, but taper from full volume.
        let edge = self.hairline(a);
        let near_edge = smoothstep(edge, edge - 0.35, b);
        t * lerp(0.45, 1.0, near_edge)
    }

    /// Strands/curls as small thickness variations.
    fn texture(&self, a: f64, b: f64) -> f64 {
        match self.style {
            HairStyle::CurlyBun => {
                let u = sin(13.0 * a + 2.0 * sin(9.0 * b)) * sin(17.0 * b + 1.5 * sin(7.0 * a));
                0.0022 * u
            }
            _ => {
                let flow = a + 0.35 * sin(3.0 * b);
                0.0007 * sin(38.0 * flow) + 0.0004 * sin(71.0 * flow + 1.3)
            }
        }
    }
}

pub fn build(shape: &HeadShape, style: HairStyle) -> Surface<()> {
    let st = Style { style };
    let mut s = Surface::new();
    let alphas: Vec<f64> = (0..SEGS)
        .map(|k| -PI + 2.0 * PI * k as f64 / SEGS as f64)
        .collect();
    let mut columns: Vec<Vec<V3>> = Vec::with_capacity(SEGS);
    for &a in &alphas {
        columns.push(profile(shape, &st, a));
    }
    let rows = columns[0].len();
    let mut grid: Vec<Vec<u32>> = vec![Vec::with_capacity(SEGS); rows];
    for col in &columns {
        for (r, &p) in col.iter().enumerate() {
            grid[r].push(s.add(p, ()));
        }
    }
    let crown_out = s.add(
        shape.point(v3(0.0, 1.0, 0.0)) + v3(0.0, st.thickness(0.0, 0.0), 0.0),
        (),
    );
    let crown_in = s.add(shape.point(v3(0.0, 1.0, 0.0)) + v3(0.0, 0.0008, 0.0), ());
    // Azimuth increases towards +X from the back (-pi), i.e. clockwise seen from
    // above; rows run from the crown downwards. orient_outward fixes the sign.
    s.fan(crown_out, &grid[0], true, Mat::Hair, 0);
    for r in 0..rows - 1 {
        s.strip(&grid[r], &grid[r + 1], true, Mat::Hair, 0);
    }
    let rev: Vec<u32> = grid[rows - 1].iter().rev().copied().collect();
    s.fan(crown_in, &rev, true, Mat::Hair, 0);
    orient_outward(&mut s, 0);
    if style == HairStyle::CurlyBun {
        bun(&mut s);
    }
    s
}

/// One column of the shell: outer crown->edge, rim, inner edge->crown.
fn profile(shape: &HeadShape, st: &Style, a: f64) -> Vec<V3> {
    let edge_b = st.hairline(a);
    let hang = st.hang(a);
    let cap_len = edge_b * 0.1;
    let total = cap_len + hang;
    let h = v3(sin(a), 0.0, cos(a));
    let skin = |b: f64| shape.point(sdir(a, b));
    let outer_at = |u: f64| -> V3 {
        let along = u * total;
        if along <= cap_len {
            let b = along / 0.1;
            skin(b) + sdir(a, b) * (st.thickness(a, b) + st.texture(a, b))
        } else {
            let drop = along - cap_len;
            let base = skin(edge_b) + sdir(a, edge_b) * st.thickness(a, edge_b);
            let flare = match st.style {
                HairStyle::Bob => 0.08 * drop - 0.25 * smoothstep(hang - 0.025, hang, drop) * 0.02,
                _ => 0.1 * drop,
            };
            // Hair behind the head also moves back, clear of the shoulders.
            let back = smoothstep(-0.2, -0.8, cos(a)) * 0.25 * drop * smoothstep(0.05, 0.2, drop);
            base + v3(0.0, -drop, 0.0) + h * (flare + back + st.texture(a, edge_b + drop * 3.0))
        }
    };
    let inner_at = |u: f64| -> V3 {
        let along = u * total;
        if along <= cap_len {
            let b = along / 0.1;
            skin(b) + sdir(a, b) * 0.0008
        } else {
            let o = outer_at(u);
            let thick = lerp(0.0035, 0.009, smoothstep(0.0, 0.05, along - cap_len));
            o - h * thick
        }
    };
    let mut col = Vec::new();
    for i in 1..=OUTER_ROWS {
        let u = i as f64 / OUTER_ROWS as f64;
        // Denser rows near the edge, where the rim needs a smooth roll.
        let u = 1.0 - (1.0 - u) * (1.0 - u * 0.35);
        col.push(outer_at(u));
    }
    let o = outer_at(1.0);
    let i = inner_at(1.0);
    let down = if hang > 0.0 {
        v3(0.0, -1.0, 0.0)
    } else {
        // The rim of a cap rolls towards the face/neck along the skin.
        (skin(edge_b + 0.01) - skin(edge_b)).normalized()
    };
    let t = (o - i).len();
    for k in 1..=3 {
        let g = PI * k as f64 / 4.0;
        let (sg, cg) = sin_cos(g);
        let mid = o.lerp(i, 0.5 - 0.5 * cg);
        col.push(mid + down * (0.5 * t * sg));
    }
    for k in 0..INNER_ROWS {
        let u = 1.0 - k as f64 / INNER_ROWS as f64;
        let u = u * u.sqrt();
        col.push(inner_at(u.max(0.5 / INNER_ROWS as f64)));
    }
    col
}

fn bun(s: &mut Surface<()>) {
    let c = v3(0.0, 1.728, -0.052);
    let r = 0.04;
    let rings = 16;
    let segs = 32;
    let start = s.tris.len();
    let mut grid: Vec<Vec<u32>> = Vec::new();
    for i in 1..rings {
        let th = PI * i as f64 / rings as f64;
        let (st, ct) = sin_cos(th);
        let mut ring = Vec::with_capacity(segs);
        for k in 0..segs {
            let a = 2.0 * PI * k as f64 / segs as f64;
            let (sa, ca) = sin_cos(a);
            let bump = 0.0025 * sin(5.0 * a + 3.0 * th) * sin(6.0 * th);
            let rr = r + bump;
            // Axis tilted so the bun sits on the back of the crown.
            let local = v3(rr * st * ca, rr * ct * 0.9, rr * st * sa);
            ring.push(s.add(c + local, ()));
        }
        grid.push(ring);
    }
    let top = s.add(c + v3(0.0, r * 0.9, 0.0), ());
    let bottom = s.add(c - v3(0.0, r * 0.9, 0.0), ());
    for i in 0..grid.len() - 1 {
        s.strip(&grid[i], &grid[i + 1], true, Mat::Hair, 0);
    }
    s.fan(top, &grid[0], true, Mat::Hair, 0);
    let last: Vec<u32> = grid[grid.len() - 1].iter().rev().copied().collect();
    s.fan(bottom, &last, true, Mat::Hair, 0);
    orient_outward(s, start);
}
