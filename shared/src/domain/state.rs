//! The per-service control state kept in the table's `service#<name>` / `state` item.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::event::ObservedState;
use super::history::HistoryRecord;
use super::readiness::Readiness;
use super::recovery::Recovery;
use super::time::Millis;
use super::workflow_run::WorkflowRun;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Phase {
    #[default]
    PrimaryActive,
    FailingOver,
    FailedOver,
    Blocked,
    FailingBack,
}

impl Phase {
    pub fn as_str(self) -> &'static str {
        match self {
            Phase::PrimaryActive => "PRIMARY_ACTIVE",
            Phase::FailingOver => "FAILING_OVER",
            Phase::FailedOver => "FAILED_OVER",
            Phase::Blocked => "BLOCKED",
            Phase::FailingBack => "FAILING_BACK",
        }
    }

    pub fn parse(s: &str) -> Option<Phase> {
        [
            Phase::PrimaryActive,
            Phase::FailingOver,
            Phase::FailedOver,
            Phase::Blocked,
            Phase::FailingBack,
        ]
        .into_iter()
        .find(|p| p.as_str() == s)
    }
}

impl std::fmt::Display for Phase {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The latest state one observer reported. OK and INSUFFICIENT_DATA are kept too (not
/// deleted) so that a late, reordered ALARM older than them cannot resurrect the vote.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vote {
    pub state: ObservedState,
    /// When the alarm entered `state` (the event's state timestamp).
    pub at: Millis,
    pub event_id: String,
    pub reason: String,
    pub received_at: Millis,
    /// The invocation that recorded it: with `received_at`, tells an SDK retry of our own
    /// write (whose answer was lost) from a redelivery.
    #[serde(default)]
    pub received_by: String,
    /// When a read of the alarm (the reconciler's DescribeAlarms) last found it still in
    /// this state. CloudWatch sends an event only on a change, so an observer that stays in
    /// ALARM is kept live by these reads; `at` still orders the events.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub confirmed_at: Option<Millis>,
}

impl Vote {
    /// When this state was last confirmed: by its event (`at`) or by a read of the alarm.
    pub fn last_confirmed(&self) -> Millis {
        self.confirmed_at.map_or(self.at, |c| c.max(self.at))
    }
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteRecord {
    pub observer: String,
    pub at: Millis,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pause {
    pub reason: String,
    pub requested_by: String,
    pub since: Millis,
    /// `None`: until resumed by hand.
    pub until: Option<Millis>,
}

impl Pause {
    pub fn active_at(&self, now: Millis) -> bool {
        self.until.is_none_or(|until| now < until)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TransitionKind {
    Failover,
    Failback,
}

/// Who or what asked for a transition.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "type", rename_all = "snake_case")]
pub enum Trigger {
    /// The automated path: a quorum of observers.
    Quorum { quorum: u32, observers: u32 },
    Operator {
        requested_by: String,
        reason: String,
        forced: bool,
    },
}

/// Route 53 health-check flags that decide whether the primary is forced unhealthy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct HealthCheckSettings {
    pub disabled: bool,
    pub inverted: bool,
}

impl HealthCheckSettings {
    /// `Disabled=true` alone reads as healthy; only with `Inverted=true` is it unhealthy.
    pub const FORCED_UNHEALTHY: HealthCheckSettings = HealthCheckSettings {
        disabled: true,
        inverted: true,
    };

    pub fn forces_unhealthy(self) -> bool {
        self == Self::FORCED_UNHEALTHY
    }
}

impl std::fmt::Display for HealthCheckSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Disabled={} Inverted={}", self.disabled, self.inverted)
    }
}

/// One pre-flight check on the secondary and what it found.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PreflightCheck {
    pub name: String,
    pub ok: bool,
    pub detail: String,
}

/// A decided transition and how far its steps have got. Each step records when it was
/// done, so a retry skips finished work and never repeats a side effect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Execution {
    pub epoch: u64,
    pub kind: TransitionKind,
    pub trigger: Trigger,
    pub decided_at: Millis,
    pub votes: Vec<VoteRecord>,
    /// The invocation that holds the work, and until when (its deadline). Another
    /// invocation takes over only after the lease has expired.
    pub owner: String,
    pub lease_until: Millis,
    #[serde(default)]
    pub preflight: Vec<PreflightCheck>,
    /// The primary check's flags before the switch, restored exactly on failback.
    #[serde(default)]
    pub prior: Option<HealthCheckSettings>,
    #[serde(default)]
    pub prior_note: Option<String>,
    #[serde(default)]
    pub version_before: Option<i64>,
    #[serde(default)]
    pub version_after: Option<i64>,
    /// When the switch landed: the first mechanism that did (see `domain::switch`).
    #[serde(default)]
    pub switched_at: Option<Millis>,
    /// When PutMetricData took the decided switch value (metric and both modes).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_switched_at: Option<Millis>,
    /// When UpdateHealthCheck's answer showed the target flags (both mode; health_check mode
    /// records `switched_at` alone).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub check_switched_at: Option<Millis>,
    /// Both mode: why the health-check mechanism did not land with the metric (Route 53's
    /// API did not answer in time); the reconciler completes it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub route53_unanswered: Option<String>,
    /// A failback of a failover that never switched (it was BLOCKED): nothing to undo, so
    /// nothing is switched and no cooldown starts.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub nothing_switched: bool,
    #[serde(default)]
    pub blocked_reason: Option<String>,
    /// When the "transition pending" alert went out (once per epoch): a step failed
    /// because AWS could not be reached, and the decision waits for a retry.
    #[serde(default)]
    pub pending_alerted_at: Option<Millis>,
    #[serde(default)]
    pub alerted_at: Option<Millis>,
    #[serde(default)]
    pub alert_message_id: Option<String>,
    #[serde(default)]
    pub completed_at: Option<Millis>,
    /// A completed failover's recovery, as the observers confirm it (`domain::recovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<Recovery>,
    /// The runbook after the switch and how far it got (`domain::workflow_run`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowRun>,
}

/// A `held` page that went out (or is being sent): the hold's key and when.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HeldPaged {
    /// Stable for as long as that one hold lasts, e.g. `cooldown#<when it started>`.
    pub key: String,
    pub at: Millis,
}

/// The primary's check does not say what the phase says it should.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drift {
    pub detected_at: Millis,
    pub phase: Phase,
    pub expected: String,
    pub found: String,
}

/// An alert recorded as due (the outbox), in the same conditional write as what it reports
/// (a drift, a pause's end, an escalation), so that the record and its alert are one step.
/// It leaves the state item only once SNS has taken it: a Publish that is refused keeps it
/// due, and the next reconciler run sends it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DueAlert {
    /// Deterministic per alert (kind, epoch, what makes it unique): recording the same
    /// alert twice keeps one entry.
    pub id: String,
    pub due_at: Millis,
    pub subject: String,
    pub message: String,
    pub event_type: String,
    pub epoch: u64,
    pub severity: String,
    /// The audit record that goes with the alert, written (idempotently) before it is sent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub record: Option<HistoryRecord>,
}

#[derive(Debug, Clone, PartialEq, Default)]
pub struct ServiceState {
    pub phase: Phase,
    pub epoch: u64,
    /// Bumped by every control write (not by votes); the optimistic-concurrency guard.
    pub version: u64,
    pub votes: BTreeMap<String, Vote>,
    pub pause: Option<Pause>,
    pub last_transition_at: Option<Millis>,
    /// Times of automatic failovers in the last 24 hours (the daily cap).
    pub auto_failovers: Vec<Millis>,
    /// The last `held` page: which hold (pause, cooldown, daily cap, BLOCKED) held back a
    /// quorum, and when. One page per hold.
    pub held_paged: Option<HeldPaged>,
    /// A difference between the decision and Route 53 that the reconciler reported.
    pub drift: Option<Drift>,
    /// When the reconciler last re-alerted about a blocked or stuck transition.
    pub escalated_at: Option<Millis>,
    pub execution: Option<Execution>,
    /// Alerts recorded as due and not yet taken by SNS (`engine::outbox`); empty nearly always.
    pub outbox: Vec<DueAlert>,
    /// The last continuous readiness evaluation (`domain::readiness`).
    pub readiness: Option<Readiness>,
}
