//! Medians with min/max, and the arithmetic of time spent waiting on AWS.

use std::time::Duration;

use serde_json::{json, Value};

use crate::harness::tap::TappedCall;

/// Median, min and max of a sample (`n` values).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Summary {
    pub n: usize,
    pub median: f64,
    pub min: f64,
    pub max: f64,
}

impl Summary {
    /// `None` for an empty sample. The median of an even count is the mean of the middle two.
    pub fn of(values: &[f64]) -> Option<Summary> {
        if values.is_empty() {
            return None;
        }
        let mut v = values.to_vec();
        v.sort_by(f64::total_cmp);
        let n = v.len();
        let median = if n % 2 == 1 {
            v[n / 2]
        } else {
            (v[n / 2 - 1] + v[n / 2]) / 2.0
        };
        Some(Summary {
            n,
            median,
            min: v[0],
            max: v[n - 1],
        })
    }

    /// Milliseconds of a sample of durations.
    pub fn ms(values: &[Duration]) -> Option<Summary> {
        Summary::of(
            &values
                .iter()
                .map(|d| d.as_secs_f64() * 1e3)
                .collect::<Vec<_>>(),
        )
    }

    pub fn json(&self) -> Value {
        json!({"median": round(self.median), "min": round(self.min), "max": round(self.max), "n": self.n})
    }

    /// `1.23 (1.01-1.90)` with `digits` decimals.
    pub fn show(&self, digits: usize) -> String {
        if self.min == self.max {
            return format!("{:.*}", digits, self.median);
        }
        format!(
            "{:.*} ({:.*}-{:.*})",
            digits, self.median, digits, self.min, digits, self.max
        )
    }
}

/// Four significant decimals are plenty for milliseconds.
pub fn round(v: f64) -> f64 {
    (v * 1e4).round() / 1e4
}

pub fn json_opt(s: &Option<Summary>) -> Value {
    s.as_ref().map_or(Value::Null, Summary::json)
}

/// Total length of the union of `intervals`, each clipped to `[from, to]`.
pub fn union_within(intervals: &[(Duration, Duration)], from: Duration, to: Duration) -> Duration {
    let mut clipped: Vec<(Duration, Duration)> = intervals
        .iter()
        .map(|&(s, e)| (s.max(from), e.min(to)))
        .filter(|(s, e)| e > s)
        .collect();
    clipped.sort();
    let mut total = Duration::ZERO;
    let mut current: Option<(Duration, Duration)> = None;
    for (s, e) in clipped {
        match current {
            Some((cs, ce)) if s <= ce => current = Some((cs, ce.max(e))),
            Some((cs, ce)) => {
                total += ce - cs;
                current = Some((s, e));
            }
            None => current = Some((s, e)),
        }
    }
    if let Some((cs, ce)) = current {
        total += ce - cs;
    }
    total
}

/// The AWS time of an invocation: the union of its calls' intervals on the wire.
pub fn aws_time(calls: &[TappedCall], from: Duration, to: Duration) -> Duration {
    let iv: Vec<(Duration, Duration)> = calls.iter().map(|c| (c.start, c.end)).collect();
    union_within(&iv, from, to)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn ms(v: u64) -> Duration {
        Duration::from_millis(v)
    }

    #[test]
    fn union_merges_overlaps_and_clips() {
        let iv = [
            (ms(0), ms(10)),
            (ms(5), ms(15)),
            (ms(20), ms(30)),
            (ms(40), ms(50)),
        ];
        assert_eq!(union_within(&iv, ms(0), ms(100)), ms(35));
        assert_eq!(union_within(&iv, ms(8), ms(25)), ms(12));
        assert_eq!(union_within(&[], ms(0), ms(1)), ms(0));
    }

    #[test]
    fn summary_median() {
        let s = Summary::of(&[3.0, 1.0, 2.0]).unwrap();
        assert_eq!((s.median, s.min, s.max), (2.0, 1.0, 3.0));
        assert_eq!(Summary::of(&[1.0, 2.0, 3.0, 10.0]).unwrap().median, 2.5);
        assert!(Summary::of(&[]).is_none());
    }
}
