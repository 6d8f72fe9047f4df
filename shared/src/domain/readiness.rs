//! Failover readiness, evaluated continuously: the reconciler runs each service's
//! pre-flight every `readiness_interval_seconds` while its primary is active, stores the
//! result, and pages once when the secondary stops being ready for a failover and once when
//! it is ready again. So a secondary that lost its capacity or its health is known before
//! the incident, not discovered in it as BLOCKED.

use serde::{Deserialize, Serialize};

use super::catalog::ServiceDefinition;
use super::state::{Phase, PreflightCheck, ServiceState};
use super::time::{secs, Millis};

/// The last readiness evaluation of a service, kept on its state item.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Readiness {
    pub checked_at: Millis,
    pub ready: bool,
    /// `name: detail` of each failing check (empty when ready).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
    /// Since when it has been `ready` (or not).
    pub since: Millis,
}

/// What an evaluation changed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ReadinessChange {
    /// Same as before (or the first evaluation found it ready): no page.
    Unchanged,
    /// It stopped being ready (or the first evaluation found it not ready): one page.
    BecameNotReady,
    /// Ready again: one page.
    BecameReady,
}

/// Whether the service's readiness is due in a run at `now` (runs every `run_period_ms`),
/// while the primary is active (a failed-over service's secondary is the one serving):
/// never evaluated, or one of its slots fell since the previous run. Each service's slots
/// are `readiness_interval_seconds` apart at an offset of its own (a hash of its name), so
/// a fleet is spread over the interval and a record is written only when it changes: a
/// steady fleet costs its reads, never a write.
pub fn due(
    def: &ServiceDefinition,
    state: &ServiceState,
    now: Millis,
    run_period_ms: Millis,
) -> bool {
    if state.phase != Phase::PrimaryActive {
        return false;
    }
    state.readiness.is_none() || {
        let slot = last_slot(def, now);
        slot > now.saturating_sub(run_period_ms.max(1))
    }
}

/// The last time at or before `now` the service's readiness was scheduled.
pub fn last_slot(def: &ServiceDefinition, now: Millis) -> Millis {
    let interval = secs(def.readiness_interval_seconds).max(1);
    let offset = (fnv1a(&def.name) % interval as u64) as Millis;
    now - (now - offset).rem_euclid(interval)
}

/// FNV-1a: stable across processes and releases (std's hasher is not).
fn fnv1a(s: &str) -> u64 {
    s.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// The record after an evaluation of `checks` at `now`, and what changed.
pub fn evaluate(
    previous: Option<&Readiness>,
    checks: &[PreflightCheck],
    now: Millis,
) -> (Readiness, ReadinessChange) {
    let failing: Vec<String> = checks
        .iter()
        .filter(|c| !c.ok)
        .map(|c| format!("{}: {}", c.name, c.detail))
        .collect();
    let ready = failing.is_empty();
    let (since, change) = match previous {
        Some(p) if p.ready == ready => (p.since, ReadinessChange::Unchanged),
        Some(_) if ready => (now, ReadinessChange::BecameReady),
        _ if ready => (now, ReadinessChange::Unchanged),
        _ => (now, ReadinessChange::BecameNotReady),
    };
    (
        Readiness {
            checked_at: now,
            ready,
            failing,
            since,
        },
        change,
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn each_service_is_due_once_per_interval_at_its_own_offset() {
        let def = |name: &str| {
            crate::domain::catalog::ServiceDefinition::parse(
                name,
                &serde_json::json!({
                    "name": name,
                    "primary": {"region": "us-east-1", "health_check_id": "a"},
                    "secondary": {"region": "eu-west-1", "health_check_id": "b"},
                    "observers": ["arn:aws:cloudwatch:us-east-1:123456789012:alarm:x"],
                    "quorum": 1
                })
                .to_string(),
            )
            .unwrap()
        };
        let mut state = ServiceState::default();
        let d = def("checkout");
        assert!(
            due(&d, &state, 1_000, 60_000),
            "never evaluated: due at once"
        );
        state.readiness = Some(Readiness {
            checked_at: 0,
            ready: true,
            failing: Vec::new(),
            since: 0,
        });
        // Runs a minute apart over an hour: due exactly once per 300 s.
        let start = 1_795_000_000_000;
        let hits = (0..60)
            .filter(|k| due(&d, &state, start + k * 60_000, 60_000))
            .count();
        assert_eq!(hits, 12);
        assert!(last_slot(&d, start) <= start && start - last_slot(&d, start) < 300_000);
        // Different services, different offsets (spread over the interval).
        let offsets: std::collections::BTreeSet<Millis> = ["a", "b", "c", "d", "e", "f"]
            .iter()
            .map(|n| last_slot(&def(n), start))
            .collect();
        assert!(offsets.len() > 3, "{offsets:?}");
        state.phase = Phase::FailedOver;
        assert!(!due(&d, &state, start, 60_000), "not while failed over");
    }

    fn check(name: &str, ok: bool) -> PreflightCheck {
        PreflightCheck {
            name: name.into(),
            ok,
            detail: if ok { "fine" } else { "broken" }.into(),
        }
    }

    #[test]
    fn a_page_when_it_stops_being_ready_and_one_when_it_is_ready_again_never_repeated() {
        let (first, c) = evaluate(None, &[check("capacity", true)], 10);
        assert_eq!(
            (first.ready, first.since, c),
            (true, 10, ReadinessChange::Unchanged)
        );
        let (down, c) = evaluate(Some(&first), &[check("capacity", false)], 20);
        assert_eq!(c, ReadinessChange::BecameNotReady);
        assert_eq!(down.failing, ["capacity: broken"]);
        let (still, c) = evaluate(Some(&down), &[check("capacity", false)], 30);
        assert_eq!((still.since, c), (20, ReadinessChange::Unchanged));
        let (up, c) = evaluate(Some(&still), &[check("capacity", true)], 40);
        assert_eq!(
            (up.ready, up.since, c),
            (true, 40, ReadinessChange::BecameReady)
        );
        let (_, c) = evaluate(None, &[check("replica lag", false)], 50);
        assert_eq!(
            c,
            ReadinessChange::BecameNotReady,
            "a first evaluation that fails pages"
        );
    }
}
