//! A workflow's progress, kept in its transition's execution (`Execution::workflow`), and
//! the pure decisions over it: which step is next, whether a read-back shows a step done,
//! when a failed step is tried again. The engine (`engine::workflow`) does the calls.
//!
//! Exactly once: a step is claimed (`Running`, with an owner and a lease) in a
//! version-guarded write before its call, and recorded after it. A run that finds a claim
//! whose lease has expired reads back first: if the resource is already at the target the
//! step is done without a second call (a promoted database is never promoted again).

use serde::{Deserialize, Serialize};

use super::state::{TransitionKind, Trigger};
use super::time::Millis;
use super::workflow::{Approval, ScaleBack, StepAction, WorkflowStep};

/// The first retry of a failed step waits this long; each next one twice as long.
pub const RETRY_FIRST_MS: Millis = 30_000;
/// ... up to this.
pub const RETRY_MAX_MS: Millis = 600_000;
/// A step's answer or error kept in the state item is cut to this many chars.
pub const MAX_RESULT_CHARS: usize = 500;
/// How long the user's Lambda (an `invoke` step) may take to answer: the adapter's timeout,
/// and what an invocation must have left before it starts such a step.
pub const INVOKE_TIMEOUT_MS: Millis = 25_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum StepStatus {
    /// Not reached yet.
    Waiting,
    /// Reached; a human must approve or decline it (`[APPROVAL NEEDED]` paged).
    AwaitingApproval,
    /// Claimed by `owner` until `lease_until`; its call may or may not have been made.
    Running,
    /// The call was accepted; the read-back does not show the target yet (a promotion takes minutes).
    Applied,
    /// Verified by reading back (or the Lambda answered without an error).
    Done,
    /// The last attempt failed; tried again from `next_attempt_at`.
    Failed,
    /// A human declined it: the workflow ends here.
    Declined,
    /// Left undone because an earlier step was declined.
    Skipped,
}

impl StepStatus {
    pub fn as_str(self) -> &'static str {
        match self {
            StepStatus::Waiting => "waiting",
            StepStatus::AwaitingApproval => "awaiting_approval",
            StepStatus::Running => "running",
            StepStatus::Applied => "applied",
            StepStatus::Done => "done",
            StepStatus::Failed => "failed",
            StepStatus::Declined => "declined",
            StepStatus::Skipped => "skipped",
        }
    }

    fn finished(self) -> bool {
        matches!(
            self,
            StepStatus::Done | StepStatus::Declined | StepStatus::Skipped
        )
    }
}

/// A human's answer to an approval step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalDecision {
    pub approved: bool,
    pub by: String,
    pub reason: String,
    pub at: Millis,
    /// The operator invocation's request id (matches CloudTrail's record of the call).
    #[serde(default)]
    pub request_id: String,
}

/// An approval step's pages and answer.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ApprovalState {
    pub requested_at: Millis,
    /// `[APPROVAL NEEDED]` pages recorded (the first and every re-page).
    pub pages: u32,
    pub last_paged_at: Millis,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub decision: Option<ApprovalDecision>,
}

/// One step of a run: the step as it was when the run began (a catalog edit mid-incident
/// does not change a running workflow) and how far it got.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StepRun {
    pub step: WorkflowStep,
    pub status: StepStatus,
    #[serde(default)]
    pub attempts: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub started_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease_until: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub applied_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub done_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub next_attempt_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub last_error: Option<String>,
    /// The failure page went out (once per step).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub failure_paged_at: Option<Millis>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub approval: Option<ApprovalState>,
    /// What the read-back found, or the Lambda's answer.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub result: Option<String>,
}

impl StepRun {
    fn new(step: WorkflowStep) -> StepRun {
        StepRun {
            step,
            status: StepStatus::Waiting,
            attempts: 0,
            started_at: None,
            owner: None,
            lease_until: None,
            applied_at: None,
            done_at: None,
            next_attempt_at: None,
            last_error: None,
            failure_paged_at: None,
            approval: None,
            result: None,
        }
    }

    pub fn id(&self) -> &str {
        &self.step.id
    }

    fn approved(&self) -> bool {
        self.approval
            .as_ref()
            .and_then(|a| a.decision.as_ref())
            .is_some_and(|d| d.approved)
    }
}

/// The workflow of one transition.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WorkflowRun {
    pub direction: TransitionKind,
    pub steps: Vec<StepRun>,
    /// Every step finished (done, or declined and the rest skipped).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ended_at: Option<Millis>,
}

impl WorkflowRun {
    /// The run a transition starts: on failover every step; on failback the scale steps that
    /// have an `on_failback` target, with it (databases are never reversed automatically).
    /// `None` when there is nothing to run.
    pub fn plan(steps: &[WorkflowStep], direction: TransitionKind) -> Option<WorkflowRun> {
        let steps: Vec<StepRun> = match direction {
            TransitionKind::Failover => steps.iter().cloned().map(StepRun::new).collect(),
            TransitionKind::Failback => steps
                .iter()
                .filter_map(failback_step)
                .map(StepRun::new)
                .collect(),
        };
        (!steps.is_empty()).then_some(WorkflowRun {
            direction,
            steps,
            ended_at: None,
        })
    }

    pub fn step(&self, id: &str) -> Option<&StepRun> {
        self.steps.iter().find(|s| s.id() == id)
    }

    pub fn step_mut(&mut self, id: &str) -> Option<&mut StepRun> {
        self.steps.iter_mut().find(|s| s.id() == id)
    }

    /// The first step not finished: the one the run is at.
    pub fn current(&self) -> Option<&StepRun> {
        self.steps.iter().find(|s| !s.status.finished())
    }

    /// Steps left undone (for the decline page and the failback alert).
    pub fn undone(&self) -> Vec<&StepRun> {
        self.steps
            .iter()
            .filter(|s| s.status != StepStatus::Done)
            .collect()
    }

    /// Done steps over all steps, e.g. `2/5`.
    pub fn progress(&self) -> String {
        let done = self
            .steps
            .iter()
            .filter(|s| s.status == StepStatus::Done)
            .count();
        format!("{done}/{}", self.steps.len())
    }
}

/// A scale step's failback twin: the same resource with the `on_failback` target.
fn failback_step(s: &WorkflowStep) -> Option<WorkflowStep> {
    let ScaleBack { min, desired } = s.on_failback?;
    let action = match &s.action {
        StepAction::AutoscalingGroup { region, name, .. } => StepAction::AutoscalingGroup {
            region: region.clone(),
            name: name.clone(),
            min: min.unwrap_or(desired),
            max: None,
            desired,
        },
        StepAction::EcsService {
            region,
            cluster,
            service,
            ..
        } => StepAction::EcsService {
            region: region.clone(),
            cluster: cluster.clone(),
            service: service.clone(),
            desired,
        },
        _ => return None,
    };
    Some(WorkflowStep {
        id: s.id.clone(),
        approval: Approval::None,
        action,
        on_failback: None,
    })
}

/// What the run should do next.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    /// Claim step `i` and make its call (reading back first when an earlier claim lapsed).
    Run(usize),
    /// Read step `i` back: its call was accepted, the target not seen yet.
    Verify(usize),
    /// Step `i` needs a human: record the request and page `[APPROVAL NEEDED]`.
    AskApproval(usize),
    /// Step `i` still waits for a human past the escalation interval: page again.
    RePage(usize),
    /// Nothing to do before `until` (a live lease, a retry's backoff, an approval not yet due
    /// for a re-page); `None`: until a human answers.
    Wait(Option<Millis>),
    /// Every step finished and the end is not recorded yet.
    End,
    /// Ended, or no workflow.
    Nothing,
}

/// The next thing to do for `run` at `now`.
pub fn next(run: &WorkflowRun, now: Millis, repage_ms: Millis) -> Next {
    if run.ended_at.is_some() {
        return Next::Nothing;
    }
    let Some(i) = run.steps.iter().position(|s| !s.status.finished()) else {
        return Next::End;
    };
    let s = &run.steps[i];
    match s.status {
        StepStatus::Waiting if s.step.approval == Approval::Required && !s.approved() => {
            Next::AskApproval(i)
        }
        StepStatus::Waiting => Next::Run(i),
        StepStatus::AwaitingApproval if s.approved() => Next::Run(i),
        StepStatus::AwaitingApproval => {
            let due = s
                .approval
                .as_ref()
                .map_or(now, |a| a.last_paged_at.saturating_add(repage_ms));
            if now >= due {
                Next::RePage(i)
            } else {
                Next::Wait(Some(due))
            }
        }
        StepStatus::Running => match s.lease_until {
            Some(until) if now < until => Next::Wait(Some(until)),
            _ => Next::Run(i),
        },
        StepStatus::Applied => Next::Verify(i),
        StepStatus::Failed => match s.next_attempt_at {
            Some(at) if now < at => Next::Wait(Some(at)),
            _ => Next::Run(i),
        },
        StepStatus::Done | StepStatus::Declined | StepStatus::Skipped => Next::Nothing,
    }
}

/// How long after its `attempts`-th failure a step is tried again.
pub fn retry_delay(attempts: u32) -> Millis {
    let doublings = attempts.saturating_sub(1).min(10);
    (RETRY_FIRST_MS << doublings).min(RETRY_MAX_MS)
}

/// How an Aurora global database moves its writer.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AuroraMove {
    /// SwitchoverGlobalCluster: no data loss; needs the old writer reachable.
    Switchover,
    /// FailoverGlobalCluster with AllowDataLoss: the primary region is gone.
    FailoverAllowingDataLoss,
}

/// A planned (operator) failover switches over; an automatic one fails over with data loss
/// only when the step allows it.
pub fn aurora_move(trigger: &Trigger, allow_data_loss: bool) -> AuroraMove {
    match trigger {
        Trigger::Quorum { .. } if allow_data_loss => AuroraMove::FailoverAllowingDataLoss,
        _ => AuroraMove::Switchover,
    }
}

// ---- what is read back -----------------------------------------------------------------

/// An Auto Scaling group's sizes and its InService instances.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct GroupCapacity {
    pub min: i32,
    pub max: i32,
    pub desired: i32,
    pub in_service: i32,
}

/// An ECS service's desired and running tasks.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct ServiceCapacity {
    pub desired: i32,
    pub running: i32,
}

/// An RDS instance's role: a read replica while it has a source.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct DbInstance {
    /// `ReadReplicaSourceDBInstanceIdentifier`, when it is a replica.
    pub replica_of: Option<String>,
    /// `DBInstanceStatus`, e.g. `available`, `modifying`, `rebooting`.
    pub status: String,
}

/// An Aurora global database's writer and status.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct GlobalCluster {
    /// The member with `IsWriter`.
    pub writer_arn: Option<String>,
    /// The global cluster's `Status`, e.g. `available`, `switching-over`, `failing-over`.
    pub status: String,
}

/// What the user's Lambda answered.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct InvokeAnswer {
    /// `FunctionError` (`Unhandled`, `Handled`), when the function failed.
    pub function_error: Option<String>,
    pub payload: String,
}

/// What a read-back says of a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ReadBack {
    /// At the target: done, with what was seen.
    AtTarget(String),
    /// Moving towards it (a promotion in progress): look again later.
    InProgress(String),
    /// Not at the target and not moving: the call is (still) needed.
    NotYet(String),
}

/// Compares a group with a scale step's target (min and desired; max only when the step sets it).
pub fn check_group(
    min: i32,
    max: Option<i32>,
    desired: i32,
    got: Option<GroupCapacity>,
) -> ReadBack {
    let Some(g) = got else {
        return ReadBack::NotYet("the group was not found".into());
    };
    let seen = format!(
        "min {} desired {} max {} ({} InService)",
        g.min, g.desired, g.max, g.in_service
    );
    if g.min == min && g.desired == desired && max.is_none_or(|m| g.max == m) {
        ReadBack::AtTarget(seen)
    } else {
        ReadBack::NotYet(seen)
    }
}

/// Compares an ECS service's desired count with the step's.
pub fn check_service(desired: i32, got: Option<ServiceCapacity>) -> ReadBack {
    let Some(s) = got else {
        return ReadBack::NotYet("the service was not found".into());
    };
    let seen = format!("desired {} ({} running)", s.desired, s.running);
    if s.desired == desired {
        ReadBack::AtTarget(seen)
    } else {
        ReadBack::NotYet(seen)
    }
}

/// The statuses an instance passes through while a promotion completes (RDS User Guide,
/// "Viewing Amazon RDS DB instance status").
const PROMOTING: [&str; 6] = [
    "modifying",
    "rebooting",
    "backing-up",
    "configuring-enhanced-monitoring",
    "configuring-log-exports",
    "storage-optimization",
];

/// A promoted instance has no source and is available again.
pub fn check_promoted(got: Option<&DbInstance>) -> ReadBack {
    let Some(db) = got else {
        return ReadBack::NotYet("the instance was not found".into());
    };
    match (&db.replica_of, db.status.as_str()) {
        (None, "available") => ReadBack::AtTarget("standalone (promoted), available".into()),
        (None, status) if PROMOTING.contains(&status) => {
            ReadBack::InProgress(format!("standalone, status {status}"))
        }
        // Promoted but not serving (storage-full, incompatible-parameters...): a human's.
        (None, status) => ReadBack::NotYet(format!(
            "standalone (promoted) but status {status}: it does not serve writes"
        )),
        (Some(src), "modifying" | "rebooting" | "backing-up") => {
            ReadBack::InProgress(format!("replica of {src}, status {}", db.status))
        }
        (Some(src), status) => ReadBack::NotYet(format!("replica of {src}, status {status}")),
    }
}

/// The target cluster is the writer and the global database is available.
pub fn check_writer(target_arn: &str, got: Option<&GlobalCluster>) -> ReadBack {
    let Some(g) = got else {
        return ReadBack::NotYet("the global cluster was not found".into());
    };
    let writer = g.writer_arn.as_deref().unwrap_or("none");
    let seen = format!("writer {writer}, status {}", g.status);
    match (writer == target_arn, g.status.as_str()) {
        (true, "available") => ReadBack::AtTarget(seen),
        (_, "switching-over" | "failing-over" | "modifying") => ReadBack::InProgress(seen),
        (true, _) => ReadBack::InProgress(seen),
        (false, _) => ReadBack::NotYet(seen),
    }
}

#[cfg(test)]
#[path = "workflow_run_tests.rs"]
mod tests;
