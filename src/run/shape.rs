//! The shape of the load over time: how many tasks are active (closed model) or how many
//! operations arrive per second (open model), as a piecewise-linear function of time, and
//! the arrival times it implies.
//!
//! Time 0 is the start of the run (warmup included). During warmup the load holds the value
//! the measured phase starts with; `stages` then ramp linearly to each target, as k6's
//! ramping executors do.

use std::time::Duration;

use crate::scenario::model::LoadSettings;

/// A piecewise-linear function of time.
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Ramp {
    /// (start, end, value at start, value at end) of each segment, contiguous from 0; the last
    /// value holds after the end.
    segments: Vec<(f64, f64, f64, f64)>,
}

impl Ramp {
    /// A constant value.
    pub(crate) fn flat(value: f64) -> Ramp {
        Ramp {
            segments: vec![(0.0, 0.0, value, value)],
        }
    }

    /// `start` during `hold`, then linear ramps through `stages` (duration, target).
    pub(crate) fn new(start: f64, hold: Duration, stages: &[(Duration, f64)]) -> Ramp {
        let mut segments = Vec::new();
        let mut t = 0.0;
        let mut value = start;
        if !hold.is_zero() {
            segments.push((0.0, hold.as_secs_f64(), start, start));
            t = hold.as_secs_f64();
        }
        for (d, target) in stages {
            let end = t + d.as_secs_f64();
            segments.push((t, end, value, *target));
            t = end;
            value = *target;
        }
        if segments.is_empty() {
            return Ramp::flat(start);
        }
        Ramp { segments }
    }

    /// The value at `t` seconds.
    pub(crate) fn value_at(&self, t: f64) -> f64 {
        for &(a, b, va, vb) in &self.segments {
            if t < b {
                if t <= a || b <= a {
                    return va;
                }
                return va + (vb - va) * (t - a) / (b - a);
            }
        }
        self.segments.last().map_or(0.0, |s| s.3)
    }

    /// The first time at or after `from` when the value is at least `v`; `None` if never.
    pub(crate) fn first_reaching(&self, v: f64, from: f64) -> Option<f64> {
        for &(a, b, va, vb) in &self.segments {
            if b <= from && b > a {
                continue;
            }
            let t0 = from.max(a);
            let at = |t: f64| {
                if b <= a {
                    va
                } else {
                    va + (vb - va) * (t - a) / (b - a)
                }
            };
            if at(t0) >= v {
                return Some(t0);
            }
            if b > a && vb >= v {
                // Rising through `v` inside this segment.
                return Some((a + (v - va) / (vb - va) * (b - a)).max(t0));
            }
        }
        // After the last segment the last value holds.
        let &(_, end, _, last) = self.segments.last()?;
        (last >= v).then_some(end.max(from))
    }

    /// When the integral of the function from 0 reaches `count`: the time of the
    /// `count`-th arrival when the function is a rate. `None` if it never does.
    pub(crate) fn time_of_integral(&self, count: f64) -> Option<f64> {
        let mut done = 0.0;
        for &(a, b, va, vb) in &self.segments {
            let d = b - a;
            let area = (va + vb) / 2.0 * d;
            if d > 0.0 && done + area >= count {
                // Solve va·x + (vb − va)/(2d)·x² = count − done for x in [0, d].
                let c = count - done;
                let k = (vb - va) / (2.0 * d);
                let x = if k.abs() < 1e-12 {
                    c / va
                } else {
                    (-va + (va * va + 4.0 * k * c).max(0.0).sqrt()) / (2.0 * k)
                };
                return Some(a + x.clamp(0.0, d));
            }
            done += area;
        }
        // After the last segment the last value holds.
        let (_, end, _, last) = *self.segments.last()?;
        if last > 0.0 {
            Some(end + (count - done) / last)
        } else {
            None
        }
    }

    /// The largest value anywhere.
    #[cfg(test)]
    pub(crate) fn peak(&self) -> f64 {
        self.segments
            .iter()
            .map(|s| s.2.max(s.3))
            .fold(0.0, f64::max)
    }
}

/// When operations start, for one variant.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Shape {
    /// Each active task starts its next operation when its last one ended (and it thought).
    /// `active` is the number of active tasks over time, when stages ramp it.
    Closed { active: Option<Ramp> },
    /// Operations arrive at `rate` per second; a free task takes each, or it is dropped.
    Open { rate: Ramp },
}

impl Shape {
    pub(crate) fn of(load: &LoadSettings) -> Shape {
        let stages: Vec<(Duration, f64)> =
            load.stages.iter().map(|s| (s.duration, s.target)).collect();
        match load.rate {
            Some(rate) => Shape::Open {
                rate: Ramp::new(rate, load.warmup, &stages),
            },
            None if stages.is_empty() => Shape::Closed { active: None },
            None => Shape::Closed {
                active: Some(Ramp::new(0.0, load.warmup, &stages)),
            },
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_flat_rate_arrives_evenly() {
        let r = Ramp::flat(100.0);
        assert!((r.time_of_integral(1.0).unwrap() - 0.01).abs() < 1e-9);
        assert!((r.time_of_integral(250.0).unwrap() - 2.5).abs() < 1e-9);
    }

    #[test]
    fn a_linear_ramp_integrates_to_its_area() {
        // 0 → 100 per second over 10 s: 500 arrivals in all, the 125th at 5 s.
        let r = Ramp::new(0.0, Duration::ZERO, &[(Duration::from_secs(10), 100.0)]);
        assert!((r.time_of_integral(125.0).unwrap() - 5.0).abs() < 1e-6);
        assert!((r.time_of_integral(500.0).unwrap() - 10.0).abs() < 1e-6);
        // Afterwards the last rate holds.
        assert!((r.time_of_integral(600.0).unwrap() - 11.0).abs() < 1e-6);
        assert!((r.value_at(2.5) - 25.0).abs() < 1e-9);
    }

    #[test]
    fn a_ramp_says_when_it_first_reaches_a_value() {
        // 1 for 1 s, up to 5 over 4 s, down to 0 over 5 s.
        let r = Ramp::new(
            1.0,
            Duration::from_secs(1),
            &[(Duration::from_secs(4), 5.0), (Duration::from_secs(5), 0.0)],
        );
        assert_eq!(r.first_reaching(1.0, 0.0), Some(0.0));
        assert!((r.first_reaching(3.0, 0.0).unwrap() - 3.0).abs() < 1e-9);
        assert!((r.first_reaching(3.0, 4.0).unwrap() - 4.0).abs() < 1e-9);
        assert!((r.first_reaching(4.0, 6.0).unwrap() - 6.0).abs() < 1e-9);
        assert_eq!(r.first_reaching(4.0, 7.0), None, "it only falls afterwards");
        assert_eq!(r.first_reaching(6.0, 0.0), None);
        assert_eq!(Ramp::flat(2.0).first_reaching(2.0, 9.0), Some(9.0));
    }

    #[test]
    fn hold_then_ramp_down_to_zero_ends() {
        let r = Ramp::new(
            10.0,
            Duration::from_secs(1),
            &[(Duration::from_secs(2), 0.0)],
        );
        assert_eq!(r.value_at(0.5), 10.0);
        assert_eq!(r.value_at(2.0), 5.0);
        assert_eq!(r.value_at(5.0), 0.0);
        assert!((r.time_of_integral(20.0).unwrap() - 3.0).abs() < 1e-6);
        assert_eq!(
            r.time_of_integral(21.0),
            None,
            "a rate of zero brings no more arrivals"
        );
        assert_eq!(r.peak(), 10.0);
    }
}
