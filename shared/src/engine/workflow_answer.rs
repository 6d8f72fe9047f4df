//! The operator's answer to a workflow step that waits for a human: `approve` runs it (and
//! the automatic steps after it) in the operator's invocation; `decline` ends the workflow
//! there and pages what was left undone. Both are one version-guarded write, audited with
//! the invocation's request id, so a repeated request changes nothing.

use super::operator::{operator_record, refuse, response};
use super::workflow::StepOwner;
use super::{Engine, EngineError, Invocation};
use crate::api::operator_request::{Action, OperatorRequest};
use crate::api::operator_response::{OperatorResponse, StepReport, StepStatus as Report};
use crate::domain::alert::declined_alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::ESCALATION_INTERVAL_MS;
use crate::domain::state::ServiceState;
use crate::domain::time::fmt_time;
use crate::domain::workflow_run::{ApprovalDecision, StepStatus};
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
    pub(super) async fn answer_approval(
        &self,
        def: &ServiceDefinition,
        req: &OperatorRequest,
        mut state: ServiceState,
        inv: &Invocation,
    ) -> Result<OperatorResponse, EngineError> {
        let now = self.clock.now();
        let approve = req.action == Action::Approve;
        let step_id = req.step.clone().unwrap_or_default();
        let r = response(req, &state);
        let Some(exec) = state.execution.clone() else {
            return Ok(refuse(
                r,
                format!("{} has no transition, so no workflow", def.name),
            ));
        };
        let Some(run) = exec.workflow.clone() else {
            return Ok(refuse(
                r,
                format!(
                    "the current transition of {} (epoch {}) has no workflow",
                    def.name, exec.epoch
                ),
            ));
        };
        let Some(step) = run.step(&step_id) else {
            let ids: Vec<&str> = run.steps.iter().map(|s| s.id()).collect();
            return Ok(refuse(
                r,
                format!(
                    "no step '{step_id}' in the workflow of epoch {} (steps: {})",
                    exec.epoch,
                    ids.join(", ")
                ),
            ));
        };
        if let Some(d) = step.approval.as_ref().and_then(|a| a.decision.as_ref()) {
            let same = d.approved == approve;
            let mut r = r;
            if same {
                r.ok = true;
                r.steps.push(StepReport::new(
                    req.action.as_str(),
                    Report::Skipped,
                    format!(
                        "already {} by {} at {}",
                        if approve { "approved" } else { "declined" },
                        d.by,
                        fmt_time(d.at)
                    ),
                ));
                r.message = format!("step '{step_id}' was already answered: nothing done");
                return Ok(r);
            }
            return Ok(refuse(
                r,
                format!(
                    "step '{step_id}' was already {} by {} at {}",
                    if d.approved { "approved" } else { "declined" },
                    d.by,
                    fmt_time(d.at)
                ),
            ));
        }
        if step.status != StepStatus::AwaitingApproval {
            return Ok(refuse(
                r,
                format!(
                    "step '{step_id}' is not waiting for approval (it is {}; the workflow is at {})",
                    step.status.as_str(),
                    run.current().map_or("its end", |s| s.id())
                ),
            ));
        }
        let decision = ApprovalDecision {
            approved: approve,
            by: req.requested_by.clone(),
            reason: req.reason.clone(),
            at: now,
            request_id: inv.request_id.clone(),
        };
        let record = operator_record(
            req,
            exec.epoch,
            &format!("{} step {step_id}", req.action.as_str()),
            now,
            inv,
        );
        let mut record = record;
        record.why = req.reason.clone();
        let wrote = self
            .update_run(def, &mut state, &exec, |run, exec| {
                let s = run.step_mut(&step_id)?;
                // Answered since it was read (an approve racing a decline): the first stands.
                if s.status != StepStatus::AwaitingApproval
                    || s.approval.as_ref()?.decision.is_some()
                {
                    return None;
                }
                s.approval.as_mut()?.decision = Some(decision.clone());
                if approve {
                    return Some(None);
                }
                s.status = StepStatus::Declined;
                let mut after = false;
                for t in run.steps.iter_mut() {
                    if after && t.status != StepStatus::Done {
                        t.status = StepStatus::Skipped;
                    }
                    after |= t.step.id == step_id;
                }
                run.ended_at = Some(now);
                let s = run.step(&step_id)?.clone();
                Some(Some((
                    format!("declined#{}#{step_id}", exec.epoch),
                    declined_alert(def, exec, run, &s),
                    format!("workflow ended: step {step_id} declined"),
                    req.reason.clone(),
                )))
            })
            .await?;
        let mut r = response(req, &state);
        r.epoch = Some(exec.epoch);
        if !wrote {
            return Ok(refuse(
                r,
                "the workflow changed concurrently; nothing done: read status and retry".into(),
            ));
        }
        let first = self.store.append_history(&def.name, &record).await;
        r.steps.push(StepReport::new(
            req.action.as_str(),
            Report::Done,
            format!(
                "step '{step_id}' {} by {}",
                if approve { "approved" } else { "declined" },
                req.requested_by
            ),
        ));
        r.steps
            .push(self.audit_landed(def, &record, first, inv).await);
        if approve {
            let by = StepOwner {
                owner: format!("operator:{}", inv.request_id),
                lease_until: inv.deadline,
                repage_ms: ESCALATION_INTERVAL_MS,
            };
            if let Err(e) = Box::pin(self.advance_workflow(def, &mut state, &by)).await {
                r.steps.push(StepReport::new(
                    "workflow",
                    Report::Failed,
                    format!("{e}; the reconciler goes on with it"),
                ));
            }
        }
        let run = state
            .execution
            .as_ref()
            .and_then(|e| e.workflow.clone())
            .unwrap_or(run);
        for s in &run.steps {
            if s.id() == step_id || s.status == StepStatus::Done {
                r.steps.push(StepReport::new(
                    &format!("step {}", s.id()),
                    match s.status {
                        StepStatus::Done => Report::Done,
                        StepStatus::Failed => Report::Failed,
                        _ => Report::Skipped,
                    },
                    format!(
                        "{}{}",
                        s.status.as_str(),
                        s.result
                            .as_deref()
                            .or(s.last_error.as_deref())
                            .map_or(String::new(), |t| format!(": {t}"))
                    ),
                ));
            }
        }
        r.ok = true;
        r.phase_after = Some(state.phase);
        r.message = if approve {
            format!(
                "step '{step_id}' approved; workflow {} ({})",
                run.progress(),
                run.current().map_or("done".to_string(), |s| format!(
                    "at {}: {}",
                    s.id(),
                    s.status.as_str()
                ))
            )
        } else {
            format!(
                "step '{step_id}' declined; the workflow ended with {} done, [WORKFLOW DECLINED] sent",
                run.progress()
            )
        };
        r.next = Some(match run.current() {
            Some(s) if s.status == StepStatus::AwaitingApproval => format!(
                "step '{}' waits for approval: action approve or decline with step '{}'",
                s.id(),
                s.id()
            ),
            Some(s) => format!(
                "step '{}' is {}; the reconciler goes on with it every minute",
                s.id(),
                s.status.as_str()
            ),
            None => "the workflow is over; status shows each step".into(),
        });
        Ok(r)
    }
}
