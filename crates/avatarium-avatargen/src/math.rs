//! Small vector type and platform-independent transcendental functions.
//!
//! The generated GLB files are committed and a test compares them byte for byte
//! with a fresh run, possibly on another OS. `f64::sin`, `exp`, `atan2`, ... call
//! the platform's libm, whose last-ulp results differ between Linux, macOS and
//! Windows. Everything here is built from `+ - * /` and `sqrt`, which IEEE 754
//! specifies exactly, so the output is the same everywhere. The rest of the
//! crate keeps to those operations as well (no std `powi`/`powf`/`sin`).

use std::ops::{Add, AddAssign, Div, Mul, Neg, Sub};

pub const PI: f64 = std::f64::consts::PI;
const FRAC_PI_2_HI: f64 = 1.570_796_326_734_125_6;
const FRAC_PI_2_LO: f64 = 6.077_100_506_506_192e-11;
const LN2_HI: f64 = 6.931_471_803_691_238e-1;
const LN2_LO: f64 = 1.908_214_929_270_587_7e-10;

/// Sine and cosine of `x` (accurate to ~1e-15 for |x| < 1e5).
pub fn sin_cos(x: f64) -> (f64, f64) {
    let k = (x * std::f64::consts::FRAC_2_PI).round();
    let r = (x - k * FRAC_PI_2_HI) - k * FRAC_PI_2_LO;
    let r2 = r * r;
    // Taylor series; |r| <= pi/4 so 9 terms are far below f64 epsilon.
    let mut s = 0.0;
    let mut c = 0.0;
    let mut term_s = r;
    let mut term_c = 1.0;
    for n in 0..9 {
        s += term_s;
        c += term_c;
        let a = (2 * n + 2) as f64;
        term_s *= -r2 / (a * (a + 1.0));
        term_c *= -r2 / ((a - 1.0) * a);
    }
    match (k as i64).rem_euclid(4) {
        0 => (s, c),
        1 => (c, -s),
        2 => (-s, -c),
        _ => (-c, s),
    }
}

pub fn sin(x: f64) -> f64 {
    sin_cos(x).0
}

pub fn cos(x: f64) -> f64 {
    sin_cos(x).1
}

pub fn exp(x: f64) -> f64 {
    if x < -700.0 {
        return 0.0;
    }
    let x = x.min(700.0);
    let k = (x / std::f64::consts::LN_2).round();
    let r = (x - k * LN2_HI) - k * LN2_LO;
    let mut sum = 1.0;
    let mut term = 1.0;
    for n in 1..16 {
        term *= r / n as f64;
        sum += term;
    }
    sum * f64::from_bits(((1023 + k as i64) as u64) << 52)
}

/// Natural logarithm for finite `x > 0` (normal range).
pub fn ln(x: f64) -> f64 {
    let bits = x.to_bits();
    let mut e = ((bits >> 52) & 0x7ff) as i64 - 1023;
    let mut m = f64::from_bits((bits & 0x000f_ffff_ffff_ffff) | 0x3ff0_0000_0000_0000);
    if m > std::f64::consts::SQRT_2 {
        m *= 0.5;
        e += 1;
    }
    let s = (m - 1.0) / (m + 1.0);
    let s2 = s * s;
    let mut sum = 0.0;
    let mut power = s;
    for n in 0..16 {
        sum += power / (2 * n + 1) as f64;
        power *= s2;
    }
    e as f64 * LN2_HI + (e as f64 * LN2_LO + 2.0 * sum)
}

/// `x^y` for `x >= 0` and `y > 0`.
pub fn powf(x: f64, y: f64) -> f64 {
    if x == 0.0 { 0.0 } else { exp(y * ln(x)) }
}

/// Arc tangent of `x` for any finite `x`.
pub fn atan(x: f64) -> f64 {
    let (sign, ax) = if x < 0.0 { (-1.0, -x) } else { (1.0, x) };
    let (offset, t) = if ax > 1.0 {
        (PI / 2.0, -1.0 / ax)
    } else {
        (0.0, ax)
    };
    // Two half-angle steps bring |t| below tan(pi/16) so the series converges fast.
    let t = t / (1.0 + (1.0 + t * t).sqrt());
    let t = t / (1.0 + (1.0 + t * t).sqrt());
    let t2 = t * t;
    let mut sum = 0.0;
    let mut power = t;
    for n in 0..14 {
        let term = power / (2 * n + 1) as f64;
        sum += if n % 2 == 0 { term } else { -term };
        power *= t2;
    }
    sign * (offset + 4.0 * sum)
}

pub fn atan2(y: f64, x: f64) -> f64 {
    if x > 0.0 {
        atan(y / x)
    } else if x < 0.0 {
        if y >= 0.0 {
            atan(y / x) + PI
        } else {
            atan(y / x) - PI
        }
    } else if y > 0.0 {
        PI / 2.0
    } else if y < 0.0 {
        -PI / 2.0
    } else {
        0.0
    }
}

pub fn clamp01(x: f64) -> f64 {
    x.clamp(0.0, 1.0)
}

/// Hermite smoothstep from `e0` to `e1` (also works with `e0 > e1`, i.e. falling).
pub fn smoothstep(e0: f64, e1: f64, x: f64) -> f64 {
    let t = clamp01((x - e0) / (e1 - e0));
    t * t * (3.0 - 2.0 * t)
}

pub fn lerp(a: f64, b: f64, t: f64) -> f64 {
    a + (b - a) * t
}

/// Gaussian bump exp(-(x/w)^2).
pub fn gauss(x: f64, w: f64) -> f64 {
    let u = x / w;
    exp(-u * u)
}

#[derive(Clone, Copy, Debug, Default, PartialEq)]
pub struct V3 {
    pub x: f64,
    pub y: f64,
    pub z: f64,
}

pub const fn v3(x: f64, y: f64, z: f64) -> V3 {
    V3 { x, y, z }
}

impl V3 {
    pub const ZERO: V3 = v3(0.0, 0.0, 0.0);

    pub fn dot(self, o: V3) -> f64 {
        self.x * o.x + self.y * o.y + self.z * o.z
    }

    pub fn cross(self, o: V3) -> V3 {
        v3(
            self.y * o.z - self.z * o.y,
            self.z * o.x - self.x * o.z,
            self.x * o.y - self.y * o.x,
        )
    }

    pub fn len(self) -> f64 {
        self.dot(self).sqrt()
    }

    pub fn normalized(self) -> V3 {
        let l = self.len();
        if l > 0.0 { self / l } else { self }
    }

    pub fn lerp(self, o: V3, t: f64) -> V3 {
        self + (o - self) * t
    }

    /// Right-handed rotation about the axis parallel to +X through `pivot`: a
    /// positive angle moves points in front of (+Z) the pivot downwards.
    pub fn rotate_x_about(self, pivot: V3, angle: f64) -> V3 {
        let (s, c) = sin_cos(angle);
        let r = self - pivot;
        pivot + v3(r.x, r.y * c - r.z * s, r.y * s + r.z * c)
    }

    pub fn to_f32(self) -> [f32; 3] {
        [self.x as f32, self.y as f32, self.z as f32]
    }
}

impl Add for V3 {
    type Output = V3;
    fn add(self, o: V3) -> V3 {
        v3(self.x + o.x, self.y + o.y, self.z + o.z)
    }
}

impl AddAssign for V3 {
    fn add_assign(&mut self, o: V3) {
        *self = *self + o;
    }
}

impl Sub for V3 {
    type Output = V3;
    fn sub(self, o: V3) -> V3 {
        v3(self.x - o.x, self.y - o.y, self.z - o.z)
    }
}

impl Mul<f64> for V3 {
    type Output = V3;
    fn mul(self, s: f64) -> V3 {
        v3(self.x * s, self.y * s, self.z * s)
    }
}

impl Div<f64> for V3 {
    type Output = V3;
    fn div(self, s: f64) -> V3 {
        v3(self.x / s, self.y / s, self.z / s)
    }
}

impl Neg for V3 {
    type Output = V3;
    fn neg(self) -> V3 {
        v3(-self.x, -self.y, -self.z)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn transcendental_functions_match_std_closely() {
        let mut x = -20.0;
        while x < 20.0 {
            assert!((sin(x) - x.sin()).abs() < 1e-13, "sin {x}");
            assert!((cos(x) - x.cos()).abs() < 1e-13, "cos {x}");
            assert!((atan(x) - x.atan()).abs() < 1e-13, "atan {x}");
            assert!((atan2(x, 0.7) - x.atan2(0.7)).abs() < 1e-13);
            assert!((atan2(0.3, x) - 0.3f64.atan2(x)).abs() < 1e-13);
            let e = x.clamp(-15.0, 15.0);
            assert!((exp(e) - e.exp()).abs() / e.exp() < 1e-13, "exp {e}");
            let l = x.abs() * 3.7 + 1e-3;
            assert!((ln(l) - l.ln()).abs() < 1e-13, "ln {l}");
            x += 0.0137;
        }
    }
}
