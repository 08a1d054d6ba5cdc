//! Eyeball mesh, centred on its node origin and looking down +Z so a renderer
//! can aim it by rotating the `EyeLeft`/`EyeRight` node.

use crate::face::{EYE_RADIUS, orient_outward};
use crate::math::*;
use crate::mesh::{Mat, Surface};

/// Angular radius of the iris and pupil (radians from the front pole).
pub const IRIS_ANGLE: f64 = 0.58;
pub const PUPIL_ANGLE: f64 = 0.22;

pub fn build() -> Surface<()> {
    let mut s = Surface::new();
    let segs = 40;
    // Each material gets its own boundary ring so the colour edges stay crisp;
    // the normals there are the sphere's anyway.
    let bands: [(Mat, &[f64]); 3] = [
        (Mat::Pupil, &[0.0, 0.07, 0.14, PUPIL_ANGLE]),
        (Mat::Iris, &[PUPIL_ANGLE, 0.3, 0.39, 0.47, IRIS_ANGLE]),
        (
            Mat::Sclera,
            &[IRIS_ANGLE, 0.62, 0.78, 1.0, 1.25, 1.55, 1.9, 2.3, 2.7, PI],
        ),
    ];
    for (mat, rings) in bands {
        let mut ids: Vec<Vec<u32>> = Vec::new();
        for &th in rings {
            let (st, ct) = sin_cos(th);
            // The iris is a touch flatter than the sclera, like a cornea-less
            // cartoon eye; it reads better at a distance.
            let r = if mat == Mat::Sclera {
                EYE_RADIUS
            } else {
                EYE_RADIUS * (1.0 - 0.02 * (1.0 - th / IRIS_ANGLE))
            };
            let mut ring = Vec::with_capacity(segs);
            let count = if st.abs() < 1e-9 { 1 } else { segs };
            for k in 0..count {
                let a = 2.0 * PI * k as f64 / segs as f64;
                let (sa, ca) = sin_cos(a);
                ring.push(s.add(v3(r * st * ca, r * st * sa, r * ct), ()));
            }
            ids.push(ring);
        }
        for i in 0..ids.len() - 1 {
            let (a, b) = (&ids[i], &ids[i + 1]);
            if a.len() == 1 {
                s.fan(a[0], b, true, mat, 0);
            } else if b.len() == 1 {
                let rev: Vec<u32> = a.iter().rev().copied().collect();
                s.fan(b[0], &rev, true, mat, 0);
            } else {
                s.strip(a, b, true, mat, 0);
            }
        }
    }
    orient_outward(&mut s, 0);
    s
}
