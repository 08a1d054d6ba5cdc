//! Teeth and tongue: a separate mesh (`Teeth` node) that carries the same morph
//! target set as the face, like Ready Player Me's `Wolf3D_Teeth`, so the lower
//! teeth and tongue follow the jaw.

use crate::face::{Layout, orient_outward};
use crate::math::*;
use crate::mesh::{Mat, Surface};

#[derive(Clone, Copy, Debug)]
pub enum TeethTag {
    Upper,
    Lower,
    /// `along` 0 at the root .. 1 at the tip; `up` -1 underside .. 1 top.
    Tongue {
        along: f64,
        up: f64,
    },
}

const ARCH_W: f64 = 0.0205;
const ARCH_D: f64 = 0.0165;
const ARCH_MAX: f64 = 1.3;
/// Arc length (from the midline) of the gaps between teeth.
const TOOTH_GAPS: [f64; 6] = [0.0, 0.0082, 0.0146, 0.0218, 0.0288, 0.0358];

pub fn build(l: &Layout) -> Surface<TeethTag> {
    let mut s = Surface::new();
    let y_slit = l.mouth_center.y;
    arch(
        &mut s,
        TeethTag::Upper,
        l.teeth_front_z,
        y_slit + 0.0011,
        0.0085,
        1.0,
    );
    arch(
        &mut s,
        TeethTag::Lower,
        l.teeth_front_z - 0.003,
        y_slit - 0.0016,
        0.0056,
        -1.0,
    );
    tongue(&mut s, l);
    s
}

/// One row of teeth along a horseshoe arch. `dir` +1 = upper (biting edge at
/// the bottom), -1 = lower (edge at the top).
fn arch(
    s: &mut Surface<TeethTag>,
    tag: TeethTag,
    front_z: f64,
    edge_y: f64,
    height: f64,
    dir: f64,
) {
    let cols = 29;
    let thickness = 0.0024;
    let start = s.tris.len();
    // Profile around the tooth cross-section: (offset along arch normal, height
    // above the biting edge).
    let profile: [(f64, f64); 7] = [
        (0.0, height),
        (0.0, 0.0016),
        (-0.0004, 0.0002),
        (-0.0012, 0.0),
        (-thickness + 0.0003, 0.0004),
        (-thickness, 0.0018),
        (-thickness, height),
    ];
    let mut rows: Vec<Vec<u32>> = vec![Vec::with_capacity(cols); profile.len()];
    let mut arc = 0.0;
    let mut prev: Option<V3> = None;
    let samples: Vec<f64> = (0..cols)
        .map(|c| ARCH_MAX * (2.0 * c as f64 / (cols - 1) as f64 - 1.0))
        .collect();
    // Arc length is accumulated from the left end; shift so 0 is the midline.
    let mut arcs = Vec::with_capacity(cols);
    for &th in &samples {
        let (st, ct) = sin_cos(th);
        let a = v3(ARCH_W * st, 0.0, -ARCH_D * (1.0 - ct));
        if let Some(p) = prev {
            arc += (a - p).len();
        }
        prev = Some(a);
        arcs.push(arc);
    }
    let mid = arcs[cols / 2];
    for (c, &th) in samples.iter().enumerate() {
        let (st, ct) = sin_cos(th);
        let a = v3(ARCH_W * st, 0.0, front_z - ARCH_D * (1.0 - ct));
        let n = v3(ARCH_D * st, 0.0, ARCH_W * ct).normalized();
        let sarc = (arcs[c] - mid).abs();
        // Distance to the nearest gap between teeth, for notches and grooves.
        let gap = TOOTH_GAPS
            .iter()
            .skip(1)
            .map(|g| (sarc - g).abs())
            .fold(f64::MAX, f64::min);
        let notch = gauss(gap, 0.0009);
        // Back teeth are shorter and sit higher in the gums.
        let recede = smoothstep(0.02, 0.04, sarc);
        for (i, &(off, h)) in profile.iter().enumerate() {
            let h_edge = h + 0.0006 * notch + 0.0012 * recede;
            let h_edge = if i == 0 || i + 1 == profile.len() {
                h
            } else {
                h_edge
            };
            let off = off - 0.0003 * notch * smoothstep(0.0005, 0.0, off.abs());
            let thick_scale = 1.0 + 0.8 * recede;
            let p = a + n * (off * thick_scale) + v3(0.0, edge_y + dir * h_edge, 0.0);
            rows[i].push(s.add(p, tag));
        }
    }
    for i in 0..rows.len() - 1 {
        s.strip(&rows[i], &rows[i + 1], false, Mat::Teeth, 0);
    }
    // Close the profile (the gum side) so the row is a solid from every angle.
    s.strip(&rows[rows.len() - 1], &rows[0], false, Mat::Teeth, 0);
    orient_outward(s, start);
}

fn tongue(s: &mut Surface<TeethTag>, l: &Layout) {
    let c = v3(0.0, l.mouth_center.y - 0.0068, l.teeth_front_z - 0.0245);
    let (ax, ay, az) = (0.0155, 0.0058, 0.0195);
    let rings = 9;
    let segs = 12;
    let start = s.tris.len();
    let mut grid: Vec<Vec<u32>> = Vec::new();
    for i in 1..rings {
        let th = PI * i as f64 / rings as f64;
        let (st, ct) = sin_cos(th);
        let mut ring = Vec::with_capacity(segs);
        for k in 0..segs {
            let a = 2.0 * PI * k as f64 / segs as f64;
            let (sa, ca) = sin_cos(a);
            let along = 0.5 * (1.0 + ct);
            // Flat top with a shallow central groove; rounder, narrower tip.
            let mut y = ay * st * sa;
            if y > 0.0 {
                y *= 0.75 - 0.25 * gauss(ca, 0.35);
            }
            let x = ax * st * ca * (1.0 - 0.25 * along * along);
            let p = c + v3(x, y, az * ct);
            ring.push(s.add(p, TeethTag::Tongue { along, up: sa }));
        }
        grid.push(ring);
    }
    let tip = s.add(
        c + v3(0.0, 0.0, az),
        TeethTag::Tongue {
            along: 1.0,
            up: 0.0,
        },
    );
    let root = s.add(
        c - v3(0.0, 0.0, az),
        TeethTag::Tongue {
            along: 0.0,
            up: 0.0,
        },
    );
    for i in 0..grid.len() - 1 {
        s.strip(&grid[i], &grid[i + 1], true, Mat::Tongue, 0);
    }
    s.fan(tip, &grid[0], true, Mat::Tongue, 0);
    let last: Vec<u32> = grid[grid.len() - 1].iter().rev().copied().collect();
    s.fan(root, &last, true, Mat::Tongue, 0);
    orient_outward(s, start);
}
