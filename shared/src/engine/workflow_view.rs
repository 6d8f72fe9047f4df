//! What people see of a workflow without running it: the dry run's plan (reads only) and
//! `status`'s step-by-step view.

use super::Engine;
use crate::api::operator_response::{
    StepReport, StepStatus as ReportStatus, WorkflowStatus, WorkflowStepStatus,
};
use crate::domain::alert::step_change;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::state::{ServiceState, TransitionKind};
use crate::domain::time::fmt_time;
use crate::domain::workflow::StepAction;
use crate::domain::workflow_run::{ReadBack, StepStatus, WorkflowRun};
use crate::ports::{Clock, CloudWatch, ControlStore, HealthChecks, Notifier, Runbook};

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    /// A dry run's lines for the workflow: each step, what it would change and what its
    /// resource shows now (reads only; nothing is changed).
    pub(super) async fn workflow_plan(
        &self,
        def: &ServiceDefinition,
        kind: TransitionKind,
    ) -> Vec<StepReport> {
        let Some(run) = WorkflowRun::plan(&def.workflow, kind) else {
            return Vec::new();
        };
        let mut lines = Vec::new();
        for s in &run.steps {
            let now_text = match &s.step.action {
                StepAction::Invoke { .. } => String::new(),
                action => match Box::pin(self.read_back(action)).await {
                    Ok(ReadBack::AtTarget(seen)) => format!(" (now {seen}: already there)"),
                    Ok(ReadBack::InProgress(seen) | ReadBack::NotYet(seen)) => {
                        format!(" (now {seen})")
                    }
                    Err(e) => format!(" (now unreadable: {e})"),
                },
            };
            lines.push(StepReport::new(
                &format!("workflow {}", s.id()),
                ReportStatus::WouldDo,
                format!(
                    "{}: {}{now_text} [{}]",
                    s.step.action.target(),
                    step_change(&s.step, true),
                    match s.step.approval {
                        crate::domain::workflow::Approval::None => "automatic, after the switch",
                        crate::domain::workflow::Approval::Required => "waits for approval",
                    }
                ),
            ));
        }
        if kind == TransitionKind::Failback {
            for s in def.workflow.iter().filter(|s| s.is_database()) {
                lines.push(StepReport::new(
                    &format!("workflow {}", s.id),
                    ReportStatus::Skipped,
                    format!("{}: a database step is never reversed automatically; the failback alert says what a human must do", s.action.target()),
                ));
            }
        }
        lines
    }
}

/// What `status` shows of the workflow: the current transition's run, step by step, or the
/// catalog's plan when none has run.
pub(super) fn workflow_status(
    def: &ServiceDefinition,
    state: &ServiceState,
) -> Option<WorkflowStatus> {
    let exec = state.execution.as_ref();
    let operator =
        exec.is_some_and(|e| matches!(e.trigger, crate::domain::state::Trigger::Operator { .. }));
    let (direction, run) = match exec.and_then(|e| e.workflow.clone().map(|r| (e.kind, r))) {
        Some((kind, run)) => (
            match kind {
                TransitionKind::Failover => "failover",
                TransitionKind::Failback => "failback",
            },
            run,
        ),
        None => (
            "planned",
            WorkflowRun::plan(&def.workflow, TransitionKind::Failover)?,
        ),
    };
    let planned = direction == "planned";
    Some(WorkflowStatus {
        direction: direction.into(),
        progress: run.progress(),
        current: if planned {
            None
        } else {
            run.current().map(|s| s.id().to_string())
        },
        ended_at: run.ended_at.map(fmt_time),
        steps: run
            .steps
            .iter()
            .map(|s| {
                let decision = s.approval.as_ref().and_then(|a| a.decision.as_ref());
                WorkflowStepStatus {
                    id: s.id().into(),
                    kind: s.step.kind().as_str().into(),
                    status: if planned {
                        "planned"
                    } else {
                        s.status.as_str()
                    }
                    .into(),
                    approval: s.step.approval.as_str().into(),
                    target: s.step.action.target(),
                    change: step_change(&s.step, operator),
                    attempts: s.attempts,
                    started_at: s.started_at.map(fmt_time),
                    done_at: s.done_at.map(fmt_time),
                    result: s.result.clone(),
                    last_error: s.last_error.clone(),
                    next_attempt_at: s
                        .next_attempt_at
                        .filter(|_| s.status == StepStatus::Failed)
                        .map(fmt_time),
                    approval_requested_at: s.approval.as_ref().map(|a| fmt_time(a.requested_at)),
                    answered: decision.map(|d| {
                        format!(
                            "{} by {} at {}: {}",
                            if d.approved { "approved" } else { "declined" },
                            d.by,
                            fmt_time(d.at),
                            d.reason
                        )
                    }),
                }
            })
            .collect(),
    })
}
