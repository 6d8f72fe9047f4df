//! What the operator is told once its action has landed: its audit record (retried: a
//! landed claim is never reported as a failed action because one audit write was refused),
//! the steps as the state item records them, the epoch, and what happens next, also when
//! a step after the claim failed (the transition is then finished by someone else).

use std::time::Duration;

use tracing::{error, info, warn};

use crate::api::operator_request::OperatorRequest;
use crate::api::operator_response::{OperatorResponse, StepReport, StepStatus};
use crate::api::reports::ServiceOutcome;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::cooldown_remaining;
use crate::domain::history::HistoryRecord;
use crate::domain::state::{HealthCheckSettings, Phase, ServiceState, TransitionKind};
use crate::domain::time::{fmt_time, Millis};
use crate::engine::{Engine, EngineError, Invocation};
use crate::metrics::Unit;
use crate::ports::{AwsError, Clock, CloudWatch, ControlStore, HealthChecks, Notifier, Runbook};

use StepStatus::{Done, Failed, Skipped};

/// Port calls for one audit record of a landed action (the SDK retries each call itself).
pub(in crate::engine) const AUDIT_ATTEMPTS: u32 = 3;
/// No further attempt with less than this left before the invocation's deadline (one SDK
/// operation timeout, 8 s, and a margin to answer).
const AUDIT_RETRY_BUDGET_MS: Millis = 10_000;
/// The pause before the second attempt, doubled before each later one.
const AUDIT_BACKOFF_MS: u64 = 200;

/// The operator's audit record of `what` (failover, failback, pause, resume) at `at`. The
/// same request always builds the same record, so a rewrite keeps one item.
pub(in crate::engine) fn operator_record(
    req: &OperatorRequest,
    epoch: u64,
    what: &str,
    at: Millis,
    inv: &Invocation,
) -> HistoryRecord {
    HistoryRecord {
        at,
        epoch,
        kind: "operator".into(),
        actor: req.requested_by.clone(),
        what: format!("{what}{}", if req.force { " (forced)" } else { "" }),
        why: req.reason.clone(),
        votes: Vec::new(),
        key: format!("operator#{what}#{at}"),
        request_id: inv.request_id.clone(),
    }
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
    /// Writes the audit record of an action that has landed: `first` is the outcome of the
    /// first attempt, made before the action's steps so the record precedes them. A refused
    /// write is retried while attempts and the invocation's time last; one that never lands
    /// is logged and counted (`AuditWriteFailures`), and the state item's execution record
    /// still holds who and why. Never an error: the action itself happened.
    pub(in crate::engine) async fn audit_landed(
        &self,
        def: &ServiceDefinition,
        record: &HistoryRecord,
        first: Result<(), AwsError>,
        inv: &Invocation,
    ) -> StepReport {
        let mut result = first;
        let mut attempt = 1;
        let mut backoff = AUDIT_BACKOFF_MS;
        while let Err(e) = &result {
            let left = inv.deadline - self.clock.now();
            if attempt >= AUDIT_ATTEMPTS || left < AUDIT_RETRY_BUDGET_MS {
                error!(service = %def.name, epoch = record.epoch, attempt, error = %e, what = %record.what, "the operator's audit record was not written; the action stands");
                self.emit(
                    Some(&def.name),
                    self.clock.now(),
                    &[("AuditWriteFailures", 1.0, Unit::Count)],
                    &[],
                );
                return StepReport::new(
                    "audit",
                    Failed,
                    format!(
                        "not written after {attempt} attempt(s): {e}; the action stands, and \
                         the state item records who asked and why"
                    ),
                );
            }
            warn!(service = %def.name, epoch = record.epoch, attempt, error = %e, "audit record refused; retrying");
            tokio::time::sleep(Duration::from_millis(backoff)).await;
            backoff *= 2;
            attempt += 1;
            result = self.store.append_history(&def.name, record).await;
        }
        let detail = match attempt {
            1 => format!("{} by {}", record.what, record.actor),
            n => format!(
                "{} by {} (written at attempt {n})",
                record.what, record.actor
            ),
        };
        StepReport::new("audit", Done, detail)
    }

    /// The answer to a request whose claim of `epoch` has landed: the steps' outcome, or,
    /// when a step failed, where the transition stands and who finishes it.
    pub(in crate::engine) async fn answer_claimed(
        &self,
        def: &ServiceDefinition,
        mut r: OperatorResponse,
        epoch: u64,
        audit: StepReport,
        outcome: Result<ServiceOutcome, EngineError>,
    ) -> OperatorResponse {
        r.steps.push(audit);
        match outcome {
            Ok(o) => self.finish(def, r, &o).await,
            Err(e) => self.answer_unfinished(def, r, epoch, e).await,
        }
    }

    /// Fills the response from the state the steps left behind (or, when it cannot be
    /// read back, from the outcome alone).
    pub(in crate::engine) async fn finish(
        &self,
        def: &ServiceDefinition,
        mut r: OperatorResponse,
        outcome: &ServiceOutcome,
    ) -> OperatorResponse {
        r.ok = matches!(outcome.outcome, "failed_over" | "failed_back");
        r.phase_after = Some(outcome.phase);
        r.epoch = Some(outcome.epoch);
        r.message = format!(
            "{}: {} (now {}, epoch {})",
            def.name, outcome.outcome, outcome.phase, outcome.epoch
        );
        let state = match self.store.load_state(&def.name).await {
            Ok(state) => state,
            Err(e) => {
                warn!(service = %def.name, error = %e, "the state could not be read back for the answer");
                r.next = Some(format!(
                    "{}; `status` shows the steps",
                    next_after(def, outcome.outcome, None, self.clock.now())
                ));
                return r;
            }
        };
        if let Some(exec) = &state.execution {
            r.steps.push(StepReport::new(
                "claim",
                Done,
                format!("epoch {} owned by {}", exec.epoch, exec.owner),
            ));
            let target = match exec.kind {
                TransitionKind::Failover => HealthCheckSettings::FORCED_UNHEALTHY.to_string(),
                TransitionKind::Failback => {
                    exec.prior.map_or("unchanged".into(), |p| p.to_string())
                }
            };
            r.steps.push(match exec.switched_at {
                Some(t) => StepReport::new(
                    "switch",
                    Done,
                    format!(
                        "health check {} -> {target} at {}",
                        def.primary.health_check_id,
                        fmt_time(t)
                    ),
                ),
                None => StepReport::new(
                    "switch",
                    Skipped,
                    exec.blocked_reason
                        .clone()
                        .unwrap_or_else(|| "no change needed".into()),
                ),
            });
            r.steps
                .push(match (exec.alerted_at, &exec.alert_message_id) {
                    (Some(t), Some(id)) => StepReport::new(
                        "alert",
                        Done,
                        format!("sent at {} (message {id})", fmt_time(t)),
                    ),
                    (Some(t), None) => {
                        StepReport::new("alert", Done, format!("sent at {}", fmt_time(t)))
                    }
                    (None, _) => StepReport::new("alert", Skipped, "not sent"),
                });
        }
        r.message = format!(
            "{}: {} (now {}, epoch {})",
            def.name, outcome.outcome, state.phase, state.epoch
        );
        r.phase_after = Some(state.phase);
        r.epoch = Some(state.epoch);
        r.next = Some(next_after(
            def,
            outcome.outcome,
            Some(&state),
            self.clock.now(),
        ));
        r
    }

    /// A step after the claim failed: the claim stands (the failed step released its lease
    /// when it could), so the answer names the epoch, the step and who finishes it.
    pub(in crate::engine) async fn answer_unfinished(
        &self,
        def: &ServiceDefinition,
        mut r: OperatorResponse,
        epoch: u64,
        e: EngineError,
    ) -> OperatorResponse {
        info!(service = %def.name, epoch, error = %e, "the operator's claim landed but a step did not complete");
        let (step, cause) = match &e {
            EngineError::StepFailed { step, cause, .. } => (*step, cause.clone()),
            other => ("steps", other.to_string()),
        };
        r.ok = false;
        r.epoch = Some(epoch);
        r.steps
            .push(StepReport::new("claim", Done, format!("epoch {epoch}")));
        r.steps.push(StepReport::new(step, Failed, cause.clone()));
        r.message = format!(
            "{}: epoch {epoch} claimed, but {step} did not complete: {cause}",
            def.name
        );
        let now = self.clock.now();
        let state = self.store.load_state(&def.name).await.ok();
        r.phase_after = state.as_ref().map(|s| s.phase);
        let ours = state
            .as_ref()
            .and_then(|s| s.execution.as_ref())
            .filter(|x| x.epoch == epoch);
        r.next = Some(match (state.as_ref(), ours) {
            (Some(s), _) if s.epoch != epoch => format!(
                "the state moved on to epoch {} ({}); `status` shows it",
                s.epoch, s.phase
            ),
            (Some(_), Some(x)) if x.completed_at.is_some() => {
                "the transition was completed meanwhile; `status` shows it".into()
            }
            (Some(_), Some(x)) if x.lease_until > now => format!(
                "the reconciler finishes epoch {epoch} once its lease ends at {} (or ask again then)",
                fmt_time(x.lease_until)
            ),
            _ => format!(
                "the reconciler finishes epoch {epoch} on its next run (every minute); asking \
                 again now finishes it too, without starting another"
            ),
        });
        r
    }
}

/// What follows a completed outcome, for the operator.
fn next_after(
    def: &ServiceDefinition,
    outcome: &str,
    state: Option<&ServiceState>,
    now: Millis,
) -> String {
    match outcome {
        "failed_over" => format!(
            "traffic is answered from {}; nothing fails back automatically: fail back with \
             action failback once {} is healthy",
            def.secondary.region, def.primary.region
        ),
        "failed_back" => match state.and_then(|s| cooldown_remaining(def, s, now)) {
            Some(ms) => format!(
                "traffic is answered from {} again; automatic failover is held by the \
                     cooldown until {}",
                def.primary.region,
                fmt_time(now + ms)
            ),
            None => format!(
                "traffic is answered from {} again; automatic failover is armed",
                def.primary.region
            ),
        },
        "blocked" => "the secondary is not ready: fix it and ask again, or use force".into(),
        _ => match state.map(|s| s.phase) {
            Some(Phase::FailingOver | Phase::FailingBack) => {
                "a transition is still under way: `status` shows its progress".into()
            }
            _ => "`status` shows where the service stands".into(),
        },
    }
}
