//! What the alarm-trigger and the reconciler return: one report per invocation.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};

use crate::domain::state::Phase;
use crate::domain::text::quote_capped;
use crate::domain::time::Millis;

/// Every outcome an alarm event can have for one service, as spelled on the wire.
pub const SERVICE_OUTCOMES: [&str; 9] = [
    "ignored",
    "vote_recorded",
    "duplicate",
    "held",
    "claim_lost",
    "failed_over",
    "failed_back",
    "blocked",
    "in_progress",
];

/// What one event did to one service.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceOutcome {
    pub service: String,
    /// One of [`SERVICE_OUTCOMES`].
    pub outcome: &'static str,
    pub phase: Phase,
    pub epoch: u64,
    pub detail: String,
}

/// The alarm-trigger's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AlarmOutcome {
    pub observer: String,
    pub state: String,
    pub services: Vec<ServiceOutcome>,
    /// Set when the event was ignored before reaching any service.
    pub ignored: Option<String>,
}

/// A [`ServiceOutcome`] as read, before its outcome is matched to the known ones.
#[derive(Deserialize)]
struct ServiceOutcomeFields {
    service: String,
    outcome: String,
    phase: Phase,
    epoch: u64,
    detail: String,
}

/// By hand: serde's derive would borrow the `&'static str` from the input.
impl<'de> Deserialize<'de> for ServiceOutcome {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let f = ServiceOutcomeFields::deserialize(d)?;
        let outcome = SERVICE_OUTCOMES
            .into_iter()
            .find(|known| *known == f.outcome)
            .ok_or_else(|| {
                D::Error::custom(format!(
                    "unknown outcome '{}'",
                    quote_capped(&f.outcome, 60)
                ))
            })?;
        Ok(ServiceOutcome {
            service: f.service,
            outcome,
            phase: f.phase,
            epoch: f.epoch,
            detail: f.detail,
        })
    }
}

/// What one reconciler run did; the reconciler's response.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReconcileReport {
    pub services: usize,
    pub checked: usize,
    pub resumed: usize,
    pub drifts: usize,
    pub reapplied: usize,
    pub escalations: usize,
    pub pauses_expired: usize,
    pub votes_expired: usize,
    /// Standing ALARM votes confirmed by reading their alarms.
    pub votes_confirmed: usize,
    /// Standing quorums decided by this run (no event needed).
    pub decided: usize,
    /// Services not reached before the deadline; the next run starts with them.
    pub not_reached: Vec<String>,
    pub errors: Vec<String>,
    pub duration_ms: Millis,
    /// Switch-metric values republished (accepted by PutMetricData) for `metric` and
    /// `both` services.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub switch_values_published: usize,
    /// New drifts between a switch alarm and the decision.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub switch_drifts: usize,
    /// `both` services whose health check was completed after the metric had switched.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub switches_completed: usize,
    /// Health checks read with ListHealthChecks (at most two pages a run).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub health_checks_listed: usize,
    /// Services whose primary check was not in this run's pages: not drift-checked this
    /// run (an account with more checks than two pages is covered over several runs).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub checks_not_read: usize,
    /// Failovers whose recovery this run confirmed (an observer's OK found by reading).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub recovered: usize,
    /// `[NOT RECOVERED]` pages recorded by this run.
    #[serde(default, skip_serializing_if = "is_zero")]
    pub not_recovered: usize,
    /// Workflow steps this run finished (verified done).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub workflow_steps_done: usize,
    /// Services whose readiness this run evaluated (their slot fell, or never evaluated).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub readiness_evaluated: usize,
    /// `readiness` pages recorded (not ready, or ready again).
    #[serde(default, skip_serializing_if = "is_zero")]
    pub readiness_pages: usize,
}

fn is_zero(n: &usize) -> bool {
    *n == 0
}
