//! Indexed triangle surfaces with per-vertex tags.
//!
//! A `Surface` holds *logical* vertices: where two materials meet (skin/lips,
//! lips/mouth interior) the vertex is shared so that smooth normals are
//! computed across the seam; it is only duplicated when primitives are emitted.

use crate::math::V3;

#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum Mat {
    Skin,
    Lips,
    MouthInterior,
    Teeth,
    Tongue,
    Sclera,
    Iris,
    Pupil,
    Hair,
    Clothing,
    Brows,
    Lashes,
}

impl Mat {
    pub const ALL: [Mat; 12] = [
        Mat::Skin,
        Mat::Lips,
        Mat::MouthInterior,
        Mat::Teeth,
        Mat::Tongue,
        Mat::Sclera,
        Mat::Iris,
        Mat::Pupil,
        Mat::Hair,
        Mat::Clothing,
        Mat::Brows,
        Mat::Lashes,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Mat::Skin => "Skin",
            Mat::Lips => "Lips",
            Mat::MouthInterior => "MouthInterior",
            Mat::Teeth => "Teeth",
            Mat::Tongue => "Tongue",
            Mat::Sclera => "Sclera",
            Mat::Iris => "Iris",
            Mat::Pupil => "Pupil",
            Mat::Hair => "Hair",
            Mat::Clothing => "Clothing",
            Mat::Brows => "Brows",
            Mat::Lashes => "Lashes",
        }
    }
}

#[derive(Clone, Copy, Debug)]
pub struct Tri {
    pub v: [u32; 3],
    pub mat: Mat,
    /// Which output mesh the triangle belongs to (meaning is up to the builder).
    pub part: u8,
}

#[derive(Clone, Debug)]
pub struct Surface<T> {
    pub pos: Vec<V3>,
    pub tag: Vec<T>,
    pub tris: Vec<Tri>,
}

impl<T: Copy> Surface<T> {
    pub fn new() -> Self {
        Surface {
            pos: Vec::new(),
            tag: Vec::new(),
            tris: Vec::new(),
        }
    }

    pub fn add(&mut self, p: V3, tag: T) -> u32 {
        self.pos.push(p);
        self.tag.push(tag);
        (self.pos.len() - 1) as u32
    }

    pub fn tri(&mut self, a: u32, b: u32, c: u32, mat: Mat, part: u8) {
        self.tris.push(Tri {
            v: [a, b, c],
            mat,
            part,
        });
    }

    /// Quad a-b-c-d, counter-clockwise when seen from the front.
    pub fn quad(&mut self, a: u32, b: u32, c: u32, d: u32, mat: Mat, part: u8) {
        // Split along the shorter diagonal: fewer sliver triangles on curved strips.
        let ac = (self.pos[a as usize] - self.pos[c as usize]).len();
        let bd = (self.pos[b as usize] - self.pos[d as usize]).len();
        if ac <= bd {
            self.tri(a, b, c, mat, part);
            self.tri(a, c, d, mat, part);
        } else {
            self.tri(a, b, d, mat, part);
            self.tri(b, c, d, mat, part);
        }
    }

    /// Connects two rings of equal length with quads `a[j], b[j], b[j+1], a[j+1]`.
    /// With `a` the inner ring and indices running counter-clockwise around the
    /// outward direction, the front faces point outwards.
    pub fn strip(&mut self, a: &[u32], b: &[u32], closed: bool, mat: Mat, part: u8) {
        assert_eq!(a.len(), b.len());
        let n = a.len();
        let segs = if closed { n } else { n - 1 };
        for j in 0..segs {
            let k = (j + 1) % n;
            self.quad(a[j], b[j], b[k], a[k], mat, part);
        }
    }

    /// Triangle fan from `center` to `ring`, same orientation rule as `strip` with
    /// the centre as the inner ring.
    pub fn fan(&mut self, center: u32, ring: &[u32], closed: bool, mat: Mat, part: u8) {
        let n = ring.len();
        let segs = if closed { n } else { n - 1 };
        for j in 0..segs {
            let k = (j + 1) % n;
            self.tri(center, ring[j], ring[k], mat, part);
        }
    }

    /// Area-weighted smooth vertex normals for the given positions (which may be
    /// a displaced copy of `self.pos`, for morph targets).
    pub fn normals(&self, pos: &[V3]) -> Vec<V3> {
        let mut acc = vec![V3::ZERO; pos.len()];
        for t in &self.tris {
            let [a, b, c] = t.v.map(|i| i as usize);
            let n = (pos[b] - pos[a]).cross(pos[c] - pos[a]);
            acc[a] += n;
            acc[b] += n;
            acc[c] += n;
        }
        acc.into_iter()
            .map(|n| {
                let l = n.len();
                if l > 1e-20 { n / l } else { V3::ZERO }
            })
            .collect()
    }

    pub fn append(&mut self, other: &Surface<T>) {
        let base = self.pos.len() as u32;
        self.pos.extend_from_slice(&other.pos);
        self.tag.extend_from_slice(&other.tag);
        self.tris.extend(other.tris.iter().map(|t| Tri {
            v: t.v.map(|i| i + base),
            ..*t
        }));
    }
}

impl<T: Copy> Default for Surface<T> {
    fn default() -> Self {
        Self::new()
    }
}

/// Per-vertex (position deltas, normal deltas) of one morph target.
pub type TargetDeltas = (Vec<[f32; 3]>, Vec<[f32; 3]>);

/// One glTF primitive ready for writing: positions relative to its node.
#[derive(Clone, Debug)]
pub struct Prim {
    pub mat: Mat,
    pub pos: Vec<[f32; 3]>,
    pub nrm: Vec<[f32; 3]>,
    pub idx: Vec<u32>,
    pub targets: Vec<TargetDeltas>,
}

/// Morph data of a whole surface: per target, displaced positions and their normals.
pub struct MorphSet {
    pub pos: Vec<Vec<V3>>,
    pub nrm: Vec<Vec<V3>>,
}

/// Splits the triangles of `part` into one primitive per material, duplicating
/// shared logical vertices. `origin` is subtracted (node-local coordinates).
pub fn emit<T: Copy>(
    s: &Surface<T>,
    part: u8,
    origin: V3,
    normals: &[V3],
    morphs: Option<&MorphSet>,
) -> Vec<Prim> {
    let mut out = Vec::new();
    for mat in Mat::ALL {
        let tris: Vec<&Tri> = s
            .tris
            .iter()
            .filter(|t| t.part == part && t.mat == mat)
            .collect();
        if tris.is_empty() {
            continue;
        }
        let mut remap = vec![u32::MAX; s.pos.len()];
        let mut used = Vec::new();
        let mut idx = Vec::with_capacity(tris.len() * 3);
        for t in tris {
            for &v in &t.v {
                let slot = &mut remap[v as usize];
                if *slot == u32::MAX {
                    *slot = used.len() as u32;
                    used.push(v as usize);
                }
                idx.push(*slot);
            }
        }
        let pos = used.iter().map(|&v| (s.pos[v] - origin).to_f32()).collect();
        let nrm = used.iter().map(|&v| normals[v].to_f32()).collect();
        let targets = match morphs {
            None => Vec::new(),
            Some(m) => m
                .pos
                .iter()
                .zip(&m.nrm)
                .map(|(tp, tn)| {
                    let dp = used
                        .iter()
                        .map(|&v| delta_f32(s.pos[v] - origin, tp[v] - origin, 2e-5))
                        .collect();
                    let dn = used
                        .iter()
                        .map(|&v| delta_f32(normals[v], tn[v], 2.5e-3))
                        .collect();
                    (dp, dn)
                })
                .collect(),
        };
        out.push(Prim {
            mat,
            pos,
            nrm,
            idx,
            targets,
        });
    }
    out
}

/// Delta as the renderer will reconstruct it: base and target are both rounded
/// to f32 first, so `base_f32 + delta` lands on the intended f32 value.
fn delta_f32(base: V3, target: V3, eps: f32) -> [f32; 3] {
    let b = base.to_f32();
    let t = target.to_f32();
    let d = [t[0] - b[0], t[1] - b[1], t[2] - b[2]];
    // The far tails of the smooth falloffs (moves of a few microns, normal tilts
    // of a tenth of a degree) are invisible but would double the sparse data.
    if d.iter().all(|c| c.abs() < eps) {
        [0.0; 3]
    } else {
        d
    }
}
