//! The operator's response: what each step did, and for `status` each service as it stands.
//! The JSON on the wire is these types serialized; clients read them back with serde.

use std::collections::BTreeMap;
use std::fmt;

use serde::{Deserialize, Serialize};

use super::operator_request::Action;
use crate::domain::event::ObservedState;
use crate::domain::history::HistoryRecord;
use crate::domain::probe::ProbeHealth;
use crate::domain::recovery::ObserverOk;
use crate::domain::state::{Execution, Phase, PreflightCheck, VoteRecord};
use crate::domain::switch::SwitchMode;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Done,
    Skipped,
    Failed,
    WouldDo,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepReport {
    pub name: String,
    pub status: StepStatus,
    pub detail: String,
}

impl StepReport {
    pub fn new(name: &str, status: StepStatus, detail: impl Into<String>) -> Self {
        StepReport {
            name: name.to_string(),
            status,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OperatorResponse {
    pub ok: bool,
    pub action: Action,
    pub service: Option<String>,
    pub phase_before: Option<Phase>,
    pub phase_after: Option<Phase>,
    pub epoch: Option<u64>,
    pub dry_run: bool,
    pub steps: Vec<StepReport>,
    pub message: String,
    /// What happens next, once an action has landed (its epoch claimed, a pause written):
    /// who finishes an unfinished transition and when, what the operator may do now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next: Option<String>,
    /// Only in `status` responses.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<ServiceStatus>,
}

/// One service as `status` reports it. Times meant for people are RFC 3339 text.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ServiceStatus {
    pub service: String,
    pub phase: Phase,
    pub epoch: u64,
    pub primary: PrimaryStatus,
    pub secondary: EndpointStatus,
    pub live_votes: Vec<VoteRecord>,
    pub quorum: u32,
    /// How many observers the service has (the quorum is out of these).
    #[serde(default)]
    pub observers: u32,
    /// Every observer's latest vote, by alarm ARN.
    pub votes: BTreeMap<String, VoteStatus>,
    pub preflight: Vec<PreflightCheck>,
    /// `null` unless a pause is in force.
    pub paused: Option<PauseStatus>,
    pub cooldown_remaining_seconds: i64,
    pub execution: Option<Execution>,
    /// The newest audit records, newest first.
    pub history: Vec<HistoryRecord>,
    /// Present only when the service's catalog entry stopped parsing and it runs on its
    /// last good definition.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub catalog: Option<CatalogStatus>,
    /// How traffic is switched (`switch.mode`), and for `metric` and `both` the switch
    /// alarm and the metric as read now.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub switch: Option<SwitchStatus>,
    /// The primary's probe (`primary.probe_health_check_id`), from Route 53's
    /// HealthCheckStatus metric: the primary's real health, also while its switched check
    /// is forced unhealthy.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub primary_probe: Option<ProbeHealth>,
    /// After a failover switched: whether the observers confirm the recovery, and the
    /// measured figures (`domain::recovery`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovery: Option<RecoveryStatus>,
    /// The current transition's workflow, step by step (`domain::workflow_run`); absent
    /// without one. A service whose catalog lists a workflow that has not run shows `planned`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub workflow: Option<WorkflowStatus>,
    /// The reconciler's continuous readiness evaluation (`domain::readiness`); absent
    /// before the first one.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub readiness: Option<ReadinessStatus>,
}

/// A service's failover readiness as the reconciler last found it. Times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadinessStatus {
    pub ready: bool,
    /// Since when it has been ready (or not), and for how long, e.g. `2h 5m`.
    pub since: String,
    pub age: String,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub failing: Vec<String>,
    /// Its last scheduled evaluation (one every `interval_seconds`, at an offset of its own;
    /// a steady result is not written again).
    pub last_evaluated_at: String,
    pub interval_seconds: u64,
}

/// A workflow as `status` shows it. Times are RFC 3339.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowStatus {
    /// `failover`, `failback`, or `planned` (the catalog's, not running).
    pub direction: String,
    /// Done steps over all, e.g. `2/5`.
    pub progress: String,
    /// The step the run is at; absent once it ended.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub current: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<String>,
    pub steps: Vec<WorkflowStepStatus>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct WorkflowStepStatus {
    pub id: String,
    pub kind: String,
    /// waiting | awaiting_approval | running | applied | done | failed | declined | skipped | planned
    pub status: String,
    /// `none` or `required`.
    pub approval: String,
    pub target: String,
    pub change: String,
    #[serde(default, skip_serializing_if = "is_zero")]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<String>,
    /// What the read-back found, or the Lambda's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval_requested_at: Option<String>,
    /// `approved by <who> at <when>: <reason>` or `declined by ...`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub answered: Option<String>,
}

fn is_zero(n: &u32) -> bool {
    *n == 0
}

/// A failover's recovery as `status` shows it. Times are RFC 3339; `observers_ok` has
/// each observer's OK (Unix ms, `event` or `read`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecoveryStatus {
    /// `watching`, `not_recovered` (paged, still watched) or `recovered`.
    pub state: String,
    pub switched_at: String,
    /// `recovery_timeout_seconds` after the switch.
    pub deadline: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub first_alarm_at: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub recovered_at: Option<String>,
    /// The measured RTO: first ALARM -> the last observer's OK.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto_ms: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rto: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub observers_ok: Vec<ObserverOk>,
    /// The observers not yet OK after the switch, with their latest state.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub still_failing: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub not_recovered_paged_at: Option<String>,
}

/// The switch of one service as `status` read it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct SwitchStatus {
    pub mode: SwitchMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_arn: Option<String>,
    /// The switch alarm's state now; absent when it does not exist or was not read
    /// (`alarm_detail` says which).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_state: Option<ObservedState>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_detail: Option<String>,
    /// What the decision says the metric should be (1 failed over, 0 primary active);
    /// absent while a failover's switch has not landed.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decided_value: Option<f64>,
    /// The metric's latest datapoint over the last few minutes, and when (RFC 3339).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_value: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_at: Option<String>,
    /// Why there is no value (no recent datapoint, or the read failed).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub metric_detail: Option<String>,
}

/// The definition a service runs on, when not its catalog entry's current one.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "state", rename_all = "snake_case")]
pub enum CatalogStatus {
    /// Its entry does not parse (`field`, `error`) since `since`; it runs on the last
    /// definition that parsed, first seen at `definition_since`.
    LastGood {
        since: String,
        field: String,
        error: String,
        definition_since: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PrimaryStatus {
    pub region: String,
    pub health_check_id: String,
    pub health_check: HealthCheckStatus,
}

/// The primary's health check as read just now, or why it could not be read.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum HealthCheckStatus {
    Read {
        disabled: bool,
        inverted: bool,
        version: i64,
    },
    Unreadable {
        error: String,
    },
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct EndpointStatus {
    pub region: String,
    pub health_check_id: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct VoteStatus {
    pub state: ObservedState,
    pub at: String,
    pub reason: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PauseStatus {
    pub reason: String,
    pub requested_by: String,
    pub since: String,
    /// `null`: until resumed by hand.
    pub until: Option<String>,
}

/// As JSON, the form the operator reads.
impl fmt::Display for ServiceStatus {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let json = serde_json::to_string(self).map_err(|_| fmt::Error)?;
        f.write_str(&json)
    }
}
