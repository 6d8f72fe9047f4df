//! The runbook after the switch, over the ports (the decisions are `domain::workflow_run`).
//!
//! The closing write of a transition that switched records the run (`close`); from then on
//! each of the deciding invocation, the operator's `approve` and every reconciler run
//! advances it as far as it can: a step is claimed in a version-guarded write (owner and
//! lease) before its call, read back first (already at the target: done without a call),
//! called, read back again, and its outcome recorded with its alert due in the same write
//! (the outbox sends it). A claim whose lease lapsed (a crash) is resumed the same way, so
//! every step completes exactly once. A failed step waits for its backoff and pages once.

use tracing::{info, warn};

use super::workflow_calls::Outcome;
use super::{outbox, Engine, EngineError};
use crate::domain::alert::{approval_alert, step_done_alert, step_failed_alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::state::{Execution, ServiceState};
use crate::domain::text::clip;
use crate::domain::time::Millis;
use crate::domain::workflow::{StepAction, MAX_WORKFLOW_STEPS};
use crate::domain::workflow_run::{
    next, retry_delay, ApprovalState, Next, ReadBack, StepRun, StepStatus, WorkflowRun,
    INVOKE_TIMEOUT_MS, MAX_RESULT_CHARS,
};
use crate::metrics::Unit;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, ErrorKind, HealthChecks, Notifier, Runbook,
};

/// A step is started only with this much of the invocation left (its calls, the read-backs
/// and the writes); otherwise the reconciler's next run takes it.
pub(super) const STEP_BUDGET_MS: Millis = 12_000;
/// An invoke step's budget beyond the function's timeout: its claim and its outcome's write.
const INVOKE_MARGIN_MS: Millis = 5_000;
/// A step applied this long ago and still in progress pages once.
pub(super) const STEP_STUCK_MS: Millis = 30 * 60_000;
/// Attempts at one workflow write when other writers move the state's version.
const WRITE_ATTEMPTS: u32 = 3;

/// Who advances the run and until when it may hold a step.
#[derive(Debug, Clone)]
pub(super) struct StepOwner {
    pub owner: String,
    pub lease_until: Millis,
    /// How long an unanswered approval waits before it pages again.
    pub repage_ms: Millis,
}

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    /// Advances the current execution's workflow as far as it goes now: automatic steps
    /// run, an approval step pages and waits, an applied step is read back, a failed one
    /// is retried after its backoff. `state` follows the writes. Returns how many steps
    /// finished in this call.
    pub(super) async fn advance_workflow(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        by: &StepOwner,
    ) -> Result<usize, EngineError> {
        let mut finished = 0;
        // Each round either writes (and so moves on) or returns; bounded all the same.
        for _ in 0..(4 * MAX_WORKFLOW_STEPS + 4) {
            let now = self.clock.now();
            let Some(exec) = state.execution.clone() else {
                return Ok(finished);
            };
            let Some(run) = exec.workflow.clone() else {
                return Ok(finished);
            };
            if exec.completed_at.is_none() {
                return Ok(finished);
            }
            match next(&run, now, by.repage_ms) {
                Next::Nothing | Next::Wait(_) => return Ok(finished),
                Next::End => {
                    let mut record = self.record(
                        exec.epoch,
                        "workflow",
                        format!("workflow ended: {} steps done", run.progress()),
                        String::new(),
                    );
                    record.key = format!("workflow#ended#{}", exec.epoch);
                    self.update_run(def, state, &exec, |run, _| {
                        run.ended_at.get_or_insert(now);
                        Some(None)
                    })
                    .await?;
                    let _ = self.store.append_history(&def.name, &record).await;
                    return Ok(finished);
                }
                Next::AskApproval(i) | Next::RePage(i) => {
                    let pages = run.steps[i].approval.as_ref().map_or(0, |a| a.pages);
                    self.page_approval(def, state, &exec, (i, pages), now)
                        .await?;
                    return Ok(finished);
                }
                Next::Run(i) => {
                    // An invoke step may wait for the user's function up to its timeout:
                    // started with less left, the invocation would end mid-call, the claim
                    // lapse and the next run call the function again, with no page.
                    let budget = match run.steps[i].step.action {
                        StepAction::Invoke { .. } => INVOKE_TIMEOUT_MS + INVOKE_MARGIN_MS,
                        _ => STEP_BUDGET_MS,
                    };
                    if by.lease_until - now < budget {
                        info!(service = %def.name, step = run.steps[i].id(), "too little time left for a step; the reconciler runs it");
                        return Ok(finished);
                    }
                    if !self.claim_step(def, state, &exec, i, by, now).await? {
                        continue;
                    }
                    let step = state
                        .execution
                        .as_ref()
                        .and_then(|e| e.workflow.as_ref())
                        .map(|r| r.steps[i].clone());
                    let Some(step) = step else {
                        return Ok(finished);
                    };
                    let outcome = self.perform(def, &exec, &step).await;
                    if matches!(outcome, Outcome::Done(_)) {
                        finished += 1;
                    }
                    let stop = matches!(outcome, Outcome::Applied(_) | Outcome::Failed(_));
                    self.record_outcome(def, state, &exec, i, by, outcome)
                        .await?;
                    if stop {
                        return Ok(finished);
                    }
                }
                Next::Verify(i) => {
                    let step = run.steps[i].clone();
                    let outcome = match self.read_back(&step.step.action).await {
                        Ok(ReadBack::AtTarget(seen)) => Outcome::Done(seen),
                        Ok(ReadBack::InProgress(seen)) => {
                            info!(service = %def.name, step = step.id(), %seen, "still in progress; read again on the next run");
                            self.page_if_stuck(def, state, &exec, i, &seen).await?;
                            return Ok(finished);
                        }
                        Ok(ReadBack::NotYet(seen)) => Outcome::Failed(format!(
                            "accepted, but the read-back does not show the change: {seen}"
                        )),
                        // Refused (no permission, a wrong name): no later run would read
                        // it either; failed, so it pages once and is retried with backoff.
                        Err(e) if e.kind == ErrorKind::Rejected => {
                            Outcome::Failed(format!("accepted, but the read-back was refused: {e}"))
                        }
                        Err(e) => {
                            warn!(service = %def.name, step = step.id(), error = %e, "read-back failed; read again on the next run");
                            return Ok(finished);
                        }
                    };
                    let stop = !matches!(outcome, Outcome::Done(_));
                    if !stop {
                        finished += 1;
                    }
                    self.record_outcome(def, state, &exec, i, by, outcome)
                        .await?;
                    if stop {
                        return Ok(finished);
                    }
                }
            }
        }
        Ok(finished)
    }

    /// The deciding invocation, right after the transition's alert: runs what it can of
    /// the workflow within its own lease. Never fails the transition: what is left (or
    /// failed) is the reconciler's.
    pub(super) async fn workflow_after_switch(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        (owner, lease_until): (String, Millis),
    ) {
        let has_run = state
            .execution
            .as_ref()
            .is_some_and(|e| e.workflow.as_ref().is_some_and(|r| r.ended_at.is_none()));
        if !has_run {
            return;
        }
        let by = StepOwner {
            owner,
            lease_until,
            repage_ms: crate::domain::decision::ESCALATION_INTERVAL_MS,
        };
        if let Err(e) = Box::pin(self.advance_workflow(def, state, &by)).await {
            warn!(service = %def.name, error = %e, "the workflow stopped; the reconciler's next run goes on with it");
        }
    }

    /// The reconciler's run: goes on with an unfinished workflow (a step whose backoff
    /// ended, an applied one to read back, an approval to page again). Returns the steps
    /// it finished; an error is logged, and the next run goes on.
    pub(super) async fn reconcile_workflow(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        inv: &super::Invocation,
        repage_ms: Millis,
    ) -> usize {
        let open = state.execution.as_ref().is_some_and(|e| {
            e.completed_at.is_some() && e.workflow.as_ref().is_some_and(|r| r.ended_at.is_none())
        });
        if !open {
            return 0;
        }
        let by = StepOwner {
            owner: inv.request_id.clone(),
            lease_until: inv.deadline,
            repage_ms,
        };
        match Box::pin(self.advance_workflow(def, state, &by)).await {
            Ok(n) => n,
            Err(e) => {
                warn!(service = %def.name, error = %e, "the workflow could not go on; the next run tries again");
                0
            }
        }
    }

    /// Claims step `i` for `by`: `Running` with a lease, one more attempt. `false`: the
    /// state moved (another writer); `state` is the current one and the caller looks again.
    async fn claim_step(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        exec: &Execution,
        i: usize,
        by: &StepOwner,
        now: Millis,
    ) -> Result<bool, EngineError> {
        let mut next = state.clone();
        next.version += 1;
        let Some(s) = step_at(&mut next, exec.epoch, i) else {
            return Ok(false);
        };
        s.status = StepStatus::Running;
        s.owner = Some(by.owner.clone());
        s.lease_until = Some(by.lease_until);
        s.attempts += 1;
        s.started_at.get_or_insert(now);
        info!(service = %def.name, epoch = exec.epoch, step = s.id(), attempt = s.attempts, "workflow step claimed");
        self.write_guarded(def, state, next).await
    }

    /// Records what step `i` came to, with its alert due: done (one `[STEP DONE]`), applied
    /// (read again later), failed (backoff; `[STEP FAILED]` once per step).
    async fn record_outcome(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        exec: &Execution,
        i: usize,
        by: &StepOwner,
        outcome: Outcome,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let (kind, text) = match &outcome {
            Outcome::Done(t) => ("done", t.clone()),
            Outcome::Applied(t) => ("applied", t.clone()),
            Outcome::Failed(t) => ("failed", t.clone()),
        };
        let epoch = exec.epoch;
        let owner = by.owner.clone();
        let wrote = self
            .update_run(def, state, exec, |run, exec| {
                let s = run.steps.get_mut(i)?;
                // Only the claim this invocation holds records its outcome.
                let ours = matches!(s.status, StepStatus::Running)
                    && s.owner.as_deref() == Some(owner.as_str())
                    || s.status == StepStatus::Applied;
                if !ours {
                    return None;
                }
                s.lease_until = None;
                let text = clip(&text, MAX_RESULT_CHARS);
                let due = match &outcome {
                    Outcome::Done(_) => {
                        s.status = StepStatus::Done;
                        s.done_at = Some(now);
                        s.applied_at.get_or_insert(now);
                        s.result = Some(text.clone());
                        s.next_attempt_at = None;
                        Some(("done", step_done_alert(def, exec, s)))
                    }
                    Outcome::Applied(_) => {
                        s.status = StepStatus::Applied;
                        s.applied_at.get_or_insert(now);
                        s.result = Some(text.clone());
                        None
                    }
                    Outcome::Failed(_) => {
                        s.status = StepStatus::Failed;
                        s.last_error = Some(text.clone());
                        s.next_attempt_at = Some(now.saturating_add(retry_delay(s.attempts)));
                        if s.failure_paged_at.is_none() {
                            s.failure_paged_at = Some(now);
                            Some(("failed", step_failed_alert(def, exec, s)))
                        } else {
                            None
                        }
                    }
                };
                Some(due.map(|(what, alert)| {
                    (
                        format!("step_{what}#{epoch}#{}", s.step.id),
                        alert,
                        format!("step {} {what}", s.step.id),
                        text.clone(),
                    )
                }))
            })
            .await?;
        if wrote {
            let metric = match kind {
                "done" => "WorkflowStepsDone",
                "failed" => "WorkflowStepsFailed",
                _ => "WorkflowStepsApplied",
            };
            self.emit(Some(&def.name), now, &[(metric, 1.0, Unit::Count)], &[]);
            info!(service = %def.name, epoch, step = i, outcome = kind, detail = %text, "workflow step");
        }
        Ok(())
    }

    /// A step applied long ago whose read-back still shows it in progress (a promotion
    /// stuck in `modifying`, a global database stuck `switching-over`) pages once: it is
    /// still read every run, and its `[STEP DONE]` follows if it completes.
    async fn page_if_stuck(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        exec: &Execution,
        i: usize,
        seen: &str,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let stuck = |s: &StepRun| {
            s.status == StepStatus::Applied
                && s.failure_paged_at.is_none()
                && s.applied_at.is_some_and(|at| now - at >= STEP_STUCK_MS)
        };
        let Some(s) = exec.workflow.as_ref().and_then(|r| r.steps.get(i)) else {
            return Ok(());
        };
        if !stuck(s) {
            return Ok(());
        }
        let why = format!(
            "still in progress {} after its call was accepted: {seen}",
            crate::domain::time::fmt_duration_ms(now - s.applied_at.unwrap_or(now))
        );
        self.update_run(def, state, exec, |run, exec| {
            let s = run.steps.get_mut(i).filter(|s| stuck(s))?;
            s.failure_paged_at = Some(now);
            s.last_error = Some(clip(&why, MAX_RESULT_CHARS));
            Some(Some((
                format!("step_stuck#{}#{}", exec.epoch, s.step.id),
                step_failed_alert(def, exec, s),
                format!("step {} stuck", s.step.id),
                why.clone(),
            )))
        })
        .await?;
        Ok(())
    }

    /// Records that step `i` waits for a human (or pages again) with `[APPROVAL NEEDED]` due.
    /// `seen_pages`: the pages recorded when the page was decided; a write retried over
    /// another writer pages only if the step still waits, unanswered, with as many pages
    /// (an approve that claimed it, or another run's re-page, came first otherwise).
    async fn page_approval(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        exec: &Execution,
        (i, seen_pages): (usize, u32),
        now: Millis,
    ) -> Result<(), EngineError> {
        self.update_run(def, state, exec, |run, exec| {
            let s = run.steps.get_mut(i)?;
            let waits = matches!(s.status, StepStatus::Waiting | StepStatus::AwaitingApproval);
            let answered = s.approval.as_ref().is_some_and(|a| a.decision.is_some());
            let pages = s.approval.as_ref().map_or(0, |a| a.pages);
            if !waits || answered || pages != seen_pages {
                return None;
            }
            let a = s.approval.get_or_insert(ApprovalState {
                requested_at: now,
                pages: 0,
                last_paged_at: now,
                decision: None,
            });
            a.pages += 1;
            a.last_paged_at = now;
            let page = a.pages;
            s.status = StepStatus::AwaitingApproval;
            let alert = approval_alert(def, exec, s, page, now);
            Some(Some((
                format!("approval#{}#{}#{page}", exec.epoch, s.step.id),
                alert,
                format!("step {} waits for approval (page {page})", s.step.id),
                crate::domain::alert::answer_request(&def.name, &s.step.id, true),
            )))
        })
        .await?;
        Ok(())
    }

    /// Changes the run of `exec` (still the current epoch) with `change`, which returns
    /// `None` to write nothing, or the alert to make due with it (outbox id, alert, audit
    /// what, audit why). Version-guarded, retried over other writers; then the outbox sends
    /// the alert. `true` when written.
    pub(super) async fn update_run<F>(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        exec: &Execution,
        mut change: F,
    ) -> Result<bool, EngineError>
    where
        F: FnMut(
            &mut WorkflowRun,
            &Execution,
        ) -> Option<Option<(String, crate::domain::alert::Alert, String, String)>>,
    {
        for _ in 0..WRITE_ATTEMPTS {
            let now = self.clock.now();
            let mut next = state.clone();
            next.version += 1;
            let Some(cur) = next.execution.as_mut().filter(|e| e.epoch == exec.epoch) else {
                return Ok(false);
            };
            let snapshot = cur.clone();
            let Some(run) = cur.workflow.as_mut() else {
                return Ok(false);
            };
            let Some(due) = change(run, &snapshot) else {
                return Ok(false);
            };
            if let Some((id, alert, what, why)) = due {
                let mut record = self.record(exec.epoch, "workflow", what, why);
                // Keyed by the alert: two steps recorded in the same millisecond (a
                // step done and the next one's page) are two records, not one.
                record.key = format!("workflow#{id}");
                outbox::enqueue(&mut next, id, &alert, Some(record), now);
            }
            match self
                .store
                .write_control(&def.name, state.version, &next)
                .await
                .map_err(EngineError::Store)?
            {
                ControlWrite::Written => {
                    *state = next;
                    if !state.outbox.is_empty() {
                        if let Err(e) = self.send_due(def, state).await {
                            warn!(service = %def.name, error = %e, "a workflow alert is due; the next reconciler run sends it");
                        }
                    }
                    return Ok(true);
                }
                ControlWrite::Conflict(Some(current)) => *state = *current,
                ControlWrite::Conflict(None) => {
                    *state = self
                        .store
                        .load_state(&def.name)
                        .await
                        .map_err(EngineError::Store)?;
                }
            }
        }
        Err(EngineError::Store(crate::ports::AwsError::new(
            "dynamodb",
            "UpdateItem",
            crate::ports::ErrorKind::Unavailable,
            "the state kept changing; the workflow step is recorded by the next run",
        )))
    }

    /// One version-guarded write of `next`; `false` (and `state` the current one) when
    /// another writer was first.
    async fn write_guarded(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        next: ServiceState,
    ) -> Result<bool, EngineError> {
        match self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            ControlWrite::Written => {
                *state = next;
                Ok(true)
            }
            ControlWrite::Conflict(Some(current)) => {
                *state = *current;
                Ok(false)
            }
            ControlWrite::Conflict(None) => {
                *state = self
                    .store
                    .load_state(&def.name)
                    .await
                    .map_err(EngineError::Store)?;
                Ok(false)
            }
        }
    }
}

/// Step `i` of the run of epoch `epoch` in `state`, to change.
fn step_at(state: &mut ServiceState, epoch: u64, i: usize) -> Option<&mut StepRun> {
    state
        .execution
        .as_mut()
        .filter(|e| e.epoch == epoch)?
        .workflow
        .as_mut()?
        .steps
        .get_mut(i)
}
