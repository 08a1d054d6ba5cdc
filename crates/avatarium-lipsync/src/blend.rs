//! Per-frame viseme weights from a timeline, with coarticulation.
//!
//! Every boundary between cues becomes a smoothstep crossfade of
//! [`BlendParams::ramp_ms`], centred [`BlendParams::anticipation_ms`] before
//! the boundary (the mouth moves towards a sound before it is heard). A cue's
//! weight is the difference of the crossfades at its start and its end, so
//! the weights of a contiguous timeline always sum to one, neighbours
//! overlap during the crossfades (coarticulation), a cue shorter than the
//! crossfade never reaches full weight (it is swallowed by its neighbours,
//! as fast speech is), and no weight can jump.

use crate::{Timeline, Viseme, Weights};

/// The shape of the crossfades.
#[derive(Clone, Copy, Debug, PartialEq)]
pub struct BlendParams {
    /// Length of the crossfade at each boundary. The steepest slope of a
    /// weight is 1.5 / ramp (smoothstep), at most twice that where two
    /// crossfades overlap.
    pub ramp_ms: f32,
    /// How far before a cue's start its crossfade is centred.
    pub anticipation_ms: f32,
}

impl Default for BlendParams {
    /// A 70 ms crossfade centred 15 ms early: a viseme starts rising 50 ms
    /// before its cue and is fully there 20 ms after the cue starts.
    fn default() -> Self {
        Self {
            ramp_ms: 70.0,
            anticipation_ms: 15.0,
        }
    }
}

fn smoothstep(x: f32) -> f32 {
    let x = x.clamp(0.0, 1.0);
    x * x * (3.0 - 2.0 * x)
}

/// The weights at `t_ms` with the default [`BlendParams`]. Each weight is in
/// [0, 1]; `sil` carries what the other visemes leave (1 at rest), so a
/// `sil` cue relaxes every other viseme to 0. Gaps between cues (a timeline
/// that is not contiguous) and the time outside the timeline are rest.
pub fn weights_at(timeline: &Timeline, t_ms: f32) -> Weights {
    weights_at_with(timeline, t_ms, &BlendParams::default())
}

/// [`weights_at`] with explicit parameters.
pub fn weights_at_with(timeline: &Timeline, t_ms: f32, params: &BlendParams) -> Weights {
    let mut w = [0.0f32; 15];
    let half = (params.ramp_ms * 0.5).max(0.5);
    let shift = params.anticipation_ms;
    // 1 well after the boundary `b`, 0 well before it.
    let fade = |b: u32| smoothstep((t_ms - (b as f32 - shift) + half) / (2.0 * half));
    let cues = &timeline.cues;
    // Cues that end (crossfade included) before t cannot contribute.
    let first = cues.partition_point(|c| c.end as f32 - shift + half <= t_ms);
    for c in &cues[first..] {
        if c.start as f32 - shift - half >= t_ms {
            break;
        }
        if c.viseme == Viseme::Sil || c.end <= c.start {
            continue;
        }
        let e = fade(c.start) - fade(c.end);
        w[c.viseme.index()] += e.max(0.0);
    }
    let speech: f32 = w.iter().sum();
    for x in w.iter_mut() {
        *x = x.clamp(0.0, 1.0);
    }
    w[Viseme::Sil.index()] = (1.0 - speech).clamp(0.0, 1.0);
    w
}

/// One weight vector per frame at `fps`, frame `i` at `i * 1000 / fps` ms,
/// from 0 through the end of the last cue. Empty for an empty timeline or a
/// non-positive frame rate.
pub fn frames(timeline: &Timeline, fps: f32) -> Vec<Weights> {
    let Some(end) = timeline.cues.iter().map(|c| c.end).max() else {
        return Vec::new();
    };
    if !(fps > 0.0 && fps.is_finite()) {
        return Vec::new();
    }
    let n = (end as f64 * fps as f64 / 1000.0).floor() as usize + 1;
    let params = BlendParams::default();
    (0..n)
        .map(|i| weights_at_with(timeline, (i as f64 * 1000.0 / fps as f64) as f32, &params))
        .collect()
}

/// Smooths a stream of target weights for live use (microphone or streamed
/// audio, where there is no timeline to look ahead in): each weight follows
/// its target like a critically damped spring, so it never overshoots and
/// its velocity is continuous.
#[derive(Clone, Debug)]
pub struct Smoother {
    /// Roughly the time to cover most of the way to a new target.
    pub smooth_time_ms: f32,
    current: Weights,
    velocity: Weights,
}

impl Default for Smoother {
    /// 60 ms: quick enough for plosives, slow enough to hide 10 ms jitter.
    fn default() -> Self {
        Self::new(60.0)
    }
}

impl Smoother {
    /// Starts at rest (`sil` = 1).
    pub fn new(smooth_time_ms: f32) -> Self {
        let mut current = [0.0; 15];
        current[Viseme::Sil.index()] = 1.0;
        Self {
            smooth_time_ms,
            current,
            velocity: [0.0; 15],
        }
    }

    /// The weights now.
    pub fn current(&self) -> Weights {
        self.current
    }

    /// Jumps to `w` with no motion.
    pub fn reset(&mut self, w: &Weights) {
        self.current = *w;
        self.velocity = [0.0; 15];
    }

    /// Advances by `dt_ms` towards `target` and returns the new weights, each
    /// in [0, 1]. Stable for any step: the spring is integrated with the
    /// closed-form approximation of Game Programming Gems 4 ("Critically
    /// Damped Ease-In/Ease-Out Smoothing"), not Euler steps.
    pub fn update(&mut self, target: &Weights, dt_ms: f32) -> Weights {
        if dt_ms.is_nan() || dt_ms <= 0.0 {
            return self.current;
        }
        let omega = 2.0 / self.smooth_time_ms.max(1e-3);
        let x = omega * dt_ms;
        let decay = 1.0 / (1.0 + x + 0.48 * x * x + 0.235 * x * x * x);
        for (i, goal) in target.iter().enumerate() {
            let goal = goal.clamp(0.0, 1.0);
            let change = self.current[i] - goal;
            let temp = (self.velocity[i] + omega * change) * dt_ms;
            self.velocity[i] = (self.velocity[i] - omega * temp) * decay;
            let mut next = goal + (change + temp) * decay;
            // Between the old value and the goal: no overshoot.
            let (lo, hi) = if self.current[i] < goal {
                (self.current[i], goal)
            } else {
                (goal, self.current[i])
            };
            if next < lo || next > hi {
                next = next.clamp(lo, hi);
                self.velocity[i] = 0.0;
            }
            self.current[i] = next.clamp(0.0, 1.0);
        }
        self.current
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::audio::Rng;
    use crate::{Cue, Timeline};

    fn tl(cues: &[(Viseme, u32, u32)]) -> Timeline {
        Timeline {
            cues: cues
                .iter()
                .map(|&(viseme, start, end)| Cue { viseme, start, end })
                .collect(),
        }
    }

    fn max_step(frames: &[Weights]) -> f32 {
        frames
            .windows(2)
            .flat_map(|p| (0..15).map(move |i| (p[1][i] - p[0][i]).abs()))
            .fold(0.0, f32::max)
    }

    #[test]
    fn dominant_viseme_at_cue_centres() {
        let t = tl(&[
            (Viseme::Sil, 0, 200),
            (Viseme::PP, 200, 280),
            (Viseme::Aa, 280, 400),
            (Viseme::SS, 400, 480),
            (Viseme::Ou, 480, 700),
            (Viseme::Sil, 700, 1000),
        ]);
        for c in &t.cues {
            let w = weights_at(&t, (c.start + c.end) as f32 / 2.0);
            assert!(w[c.viseme.index()] >= 0.8, "{c:?} {w:?}");
            let best = (0..15).max_by(|&a, &b| w[a].total_cmp(&w[b])).unwrap();
            assert_eq!(best, c.viseme.index());
        }
    }

    #[test]
    fn weights_are_bounded_and_sum_to_one() {
        let t = tl(&[
            (Viseme::Sil, 0, 100),
            (Viseme::E, 100, 110),
            (Viseme::Aa, 110, 130),
            (Viseme::E, 130, 140),
            (Viseme::Aa, 140, 300),
            (Viseme::Sil, 300, 400),
        ]);
        for f in frames(&t, 1000.0) {
            assert!(f.iter().all(|x| (0.0..=1.0).contains(x)), "{f:?}");
            let sum: f32 = f.iter().sum();
            assert!((sum - 1.0).abs() < 1e-4, "{sum}");
        }
    }

    #[test]
    fn silence_is_rest() {
        let t = tl(&[
            (Viseme::Aa, 0, 200),
            (Viseme::Sil, 200, 800),
            (Viseme::Ih, 800, 1000),
        ]);
        let w = weights_at(&t, 500.0);
        assert_eq!(w[Viseme::Sil.index()], 1.0);
        assert!(w.iter().skip(1).all(|&x| x == 0.0));
        // Outside the timeline and in gaps, too.
        let w = weights_at(&t, 5000.0);
        assert_eq!(w[Viseme::Sil.index()], 1.0);
        let gappy = tl(&[(Viseme::Aa, 0, 100), (Viseme::Oh, 400, 500)]);
        let w = weights_at(&gappy, 250.0);
        assert_eq!(w[Viseme::Sil.index()], 1.0);
        assert_eq!(weights_at(&Timeline::default(), 10.0)[0], 1.0);
    }

    #[test]
    fn coarticulation_anticipates_the_next_cue() {
        let t = tl(&[
            (Viseme::Sil, 0, 300),
            (Viseme::Ou, 300, 600),
            (Viseme::Sil, 600, 900),
        ]);
        // Rising before the cue starts, and more than half at its start.
        assert!(weights_at(&t, 270.0)[Viseme::Ou.index()] > 0.05);
        assert!(weights_at(&t, 300.0)[Viseme::Ou.index()] > 0.5);
        assert_eq!(weights_at(&t, 240.0)[Viseme::Ou.index()], 0.0);
        assert_eq!(weights_at(&t, 330.0)[Viseme::Ou.index()], 1.0);
    }

    #[test]
    fn no_popping_even_with_tiny_cues() {
        let mut rng = Rng::new(3);
        for _ in 0..20 {
            let mut cues = Vec::new();
            let mut t = 0;
            while t < 2000 {
                let max_len = if rng.below(2) == 0 { 15 } else { 200 };
                let len = 1 + rng.below(max_len) as u32;
                let viseme = Viseme::ALL[rng.below(15)];
                cues.push((viseme, t, t + len));
                t += len;
            }
            let timeline = tl(&cues);
            let f = frames(&timeline, 1000.0);
            assert!(max_step(&f) <= 0.06, "{}", max_step(&f));
        }
        // Alternating one-millisecond cues.
        let cues: Vec<_> = (0..200)
            .map(|i| (if i % 2 == 0 { Viseme::Aa } else { Viseme::PP }, i, i + 1))
            .collect();
        assert!(max_step(&frames(&tl(&cues), 1000.0)) <= 0.06);
    }

    #[test]
    fn frames_cover_the_timeline() {
        let t = tl(&[(Viseme::Sil, 0, 100), (Viseme::Aa, 100, 1000)]);
        let f = frames(&t, 30.0);
        assert_eq!(f.len(), 31);
        assert!(f[15][Viseme::Aa.index()] > 0.9);
        // After the last cue the mouth returns to rest.
        assert!(f[30][Viseme::Aa.index()] < 0.5);
        assert_eq!(weights_at(&t, 1100.0)[Viseme::Sil.index()], 1.0);
        assert!(frames(&Timeline::default(), 30.0).is_empty());
        assert!(frames(&t, 0.0).is_empty());
    }

    #[test]
    fn smoother_converges_without_overshoot() {
        let mut s = Smoother::default();
        let mut target = [0.0; 15];
        target[Viseme::Aa.index()] = 1.0;
        let mut prev = s.current();
        for step in 0..100 {
            let w = s.update(&target, 10.0);
            assert!(w.iter().all(|x| (0.0..=1.0).contains(x)));
            assert!(w[Viseme::Aa.index()] >= prev[Viseme::Aa.index()]);
            assert!(w[Viseme::Sil.index()] <= prev[Viseme::Sil.index()]);
            if step == 3 {
                // Not a jump: still on the way after 40 ms.
                assert!(w[Viseme::Aa.index()] < 0.9);
            }
            prev = w;
        }
        assert!(prev[Viseme::Aa.index()] > 0.99);
        assert!(prev[Viseme::Sil.index()] < 0.01);
        // Huge steps are stable too.
        let w = s.update(&[0.0; 15], 1e6);
        assert!(w.iter().all(|&x| x.abs() < 1e-3));
        assert_eq!(s.update(&target, 0.0), w);
    }
}
