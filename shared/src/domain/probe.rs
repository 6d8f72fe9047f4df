//! The primary's probe: a health check on the primary endpoint that is never flipped, read
//! from Route 53's `HealthCheckStatus` metric, so the primary's real health stays visible
//! while its switched check is forced, and a failback can wait until it has been healthy.

use serde::{Deserialize, Serialize};

use super::time::fmt_duration_ms;
use super::time::Millis;

/// A newest datapoint older than this means Route 53 has stopped reporting (or the reads
/// see no data yet): the health is unknown.
pub const PROBE_STALE_MS: Millis = 3 * 60_000;

/// What the probe's datapoints say.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ProbeHealth {
    pub health_check_id: String,
    /// `None`: no recent datapoint, or the read failed.
    pub healthy: Option<bool>,
    /// How long it has been healthy without a break, as far as the datapoints read go back.
    pub healthy_for_ms: Millis,
    /// `healthy_for_ms` reaches the oldest datapoint read: it has been healthy at least that long.
    pub at_least: bool,
    pub detail: String,
}

impl ProbeHealth {
    /// Healthy for `min_ms` or longer.
    pub fn healthy_for(&self, min_ms: Millis) -> bool {
        self.healthy == Some(true) && self.healthy_for_ms >= min_ms
    }

    pub fn unreadable(health_check_id: &str, why: String) -> ProbeHealth {
        ProbeHealth {
            health_check_id: health_check_id.into(),
            healthy: None,
            healthy_for_ms: 0,
            at_least: false,
            detail: format!("could not be read: {why}"),
        }
    }
}

/// The probe's health from its `HealthCheckStatus` datapoints (at, Minimum of the minute:
/// 1 healthy throughout, less than 1 not), oldest first.
pub fn probe_health(health_check_id: &str, points: &[(Millis, f64)], now: Millis) -> ProbeHealth {
    let unknown = |detail: String| ProbeHealth {
        health_check_id: health_check_id.into(),
        healthy: None,
        healthy_for_ms: 0,
        at_least: false,
        detail,
    };
    let Some(&(newest_at, newest)) = points.last() else {
        return unknown("no HealthCheckStatus datapoints: Route 53 reports nothing for it".into());
    };
    if now - newest_at > PROBE_STALE_MS {
        return unknown(format!(
            "no HealthCheckStatus datapoint for {}",
            fmt_duration_ms(now - newest_at)
        ));
    }
    if newest < 1.0 {
        // Unhealthy since the start of the trailing run of unhealthy minutes.
        let since = points
            .iter()
            .rev()
            .take_while(|(_, v)| *v < 1.0)
            .last()
            .map_or(newest_at, |(t, _)| *t);
        return ProbeHealth {
            health_check_id: health_check_id.into(),
            healthy: Some(false),
            healthy_for_ms: 0,
            at_least: false,
            detail: format!("unhealthy for {}", fmt_duration_ms(now - since)),
        };
    }
    let run: Vec<&(Millis, f64)> = points.iter().rev().take_while(|(_, v)| *v >= 1.0).collect();
    let since = run.last().map_or(newest_at, |(t, _)| *t);
    let at_least = run.len() == points.len();
    let healthy_for_ms = now - since;
    ProbeHealth {
        health_check_id: health_check_id.into(),
        healthy: Some(true),
        healthy_for_ms,
        at_least,
        detail: format!(
            "healthy for {}{}",
            if at_least { "at least " } else { "" },
            fmt_duration_ms(healthy_for_ms)
        ),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: Millis = 60_000;

    fn minutes(values: &[f64], end: Millis) -> Vec<(Millis, f64)> {
        let n = values.len() as Millis;
        values
            .iter()
            .enumerate()
            .map(|(i, v)| (end - (n - 1 - i as Millis) * MIN, *v))
            .collect()
    }

    #[test]
    fn healthy_since_the_last_unhealthy_minute() {
        let now = 100 * MIN;
        let p = probe_health("p", &minutes(&[1.0, 0.0, 1.0, 1.0, 1.0], now - MIN), now);
        assert_eq!(p.healthy, Some(true));
        // Healthy through the minutes starting 3, 2 and 1 minutes ago.
        assert_eq!(p.healthy_for_ms, 3 * MIN);
        assert!(!p.at_least);
        assert!(p.healthy_for(3 * MIN) && !p.healthy_for(4 * MIN));
        assert_eq!(p.detail, "healthy for 3m");
    }

    #[test]
    fn healthy_throughout_the_window_is_at_least_that_long() {
        let now = 100 * MIN;
        let p = probe_health("p", &minutes(&[1.0; 6], now), now);
        assert_eq!(p.healthy_for_ms, 5 * MIN);
        assert!(p.at_least);
        assert!(p.detail.starts_with("healthy for at least"), "{}", p.detail);
    }

    #[test]
    fn unhealthy_or_silent_is_not_healthy() {
        let now = 100 * MIN;
        let p = probe_health("p", &minutes(&[1.0, 0.0, 0.5], now), now);
        assert_eq!(p.healthy, Some(false));
        assert_eq!(p.detail, "unhealthy for 1m");
        assert!(!p.healthy_for(0));
        let stale = probe_health("p", &minutes(&[1.0, 1.0], now - 10 * MIN), now);
        assert_eq!(stale.healthy, None);
        assert!(!stale.healthy_for(0));
        assert_eq!(probe_health("p", &[], now).healthy, None);
    }
}
