//! What keeps a claimed transition single-owner and resumable: the version-guarded write
//! (which knows our own landed write from someone else's), and what a failed step leaves
//! behind (the lease released for a retry, a PENDING alert once per epoch).

use tracing::{error, info, warn};

use super::{outbox, Engine, EngineError};
use crate::domain::alert::pending_alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::history::{failed_attempts, step_failed_record};
use crate::domain::state::{Execution, ServiceState};
use crate::metrics::Unit;
use crate::ports::{
    AwsError, Clock, CloudWatch, ControlStore, ControlWrite, HealthChecks, Notifier, Runbook,
};

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    /// A version-guarded write of this invocation's transition. When the SDK retried a
    /// write whose first answer was lost, the retry's condition fails against our own
    /// landed write: that reads as written, not as a lost claim.
    pub(super) async fn write_transition(
        &self,
        service: &str,
        expected_version: u64,
        next: &ServiceState,
    ) -> Result<ControlWrite, AwsError> {
        match self
            .store
            .write_control(service, expected_version, next)
            .await?
        {
            ControlWrite::Conflict(cur) if is_landed(cur.as_deref(), next) => {
                info!(
                    service,
                    version = next.version,
                    "our own write had landed (its first answer was lost)"
                );
                Ok(ControlWrite::Written)
            }
            other => Ok(other),
        }
    }

    /// A step failed: keep what is done, release the lease so a redelivery or the reconciler
    /// can finish at once, and fail the invocation so it is retried.
    ///
    /// A switch that could not be made (or a secondary that could not be read) is announced
    /// once per epoch with a PENDING alert, after the release that records it has landed.
    pub(super) async fn fail_step(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        exec: Execution,
        step: &'static str,
        cause: String,
    ) -> EngineError {
        // Boxed: every step awaits it, and its round trips would otherwise grow each
        // caller's future (debug builds run short of stack).
        Box::pin(self.fail_step_recorded(def, state, exec, step, cause)).await
    }

    async fn fail_step_recorded(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        mut exec: Execution,
        step: &'static str,
        cause: String,
    ) -> EngineError {
        error!(service = %def.name, epoch = exec.epoch, step, cause = %cause, "step failed; releasing the lease for a retry");
        let announce = exec.pending_alerted_at.is_none() && SWITCH_STEPS.contains(&step);
        let mut state = state;
        if announce {
            let now = self.clock.now();
            exec.pending_alerted_at = Some(now);
            // Recorded as due with the release: a refused Publish leaves it for the
            // reconciler's next run (the outbox).
            outbox::enqueue(
                &mut state,
                format!("pending#{}", exec.epoch),
                &pending_alert(def, &exec, step, &cause),
                None,
                now,
            );
        }
        // The earlier failures of this step are read beside the release, to number this one.
        let (released, earlier) = tokio::join!(
            self.release(def, state, &exec),
            self.store.recent_history(&def.name, HISTORY_SCAN)
        );
        let attempt = match &earlier {
            Ok(records) => failed_attempts(records, exec.epoch, step) + 1,
            // Unread: numbered by time instead (the record's key still differs per attempt).
            Err(_) => 0,
        };
        let record = step_failed_record(&exec, step, &cause, attempt, self.clock.now());
        let page = async {
            match released {
                Ok(mut released) if announce => match self.send_due(def, &mut released).await {
                    Ok(_) => {
                        warn!(service = %def.name, epoch = exec.epoch, "switch pending; alert published")
                    }
                    Err(e) => {
                        error!(service = %def.name, epoch = exec.epoch, error = %e, "the PENDING alert was not delivered; it stays due and the reconciler's next run sends it")
                    }
                },
                Ok(_) => {}
                Err(e) => {
                    warn!(error = %e, "could not release the lease; it expires at the invocation deadline")
                }
            }
        };
        // The record goes beside the PENDING alert: no round trip more than before.
        let (_, audited) = tokio::join!(page, self.store.append_history(&def.name, &record));
        if let Err(e) = audited {
            warn!(service = %def.name, epoch = exec.epoch, step, error = %e, "the failed step's audit record was not written; the error and the metric carry it");
            self.emit(
                Some(&def.name),
                self.clock.now(),
                &[("AuditWriteFailures", 1.0, Unit::Count)],
                &[("record", "step_failed")],
            );
        }
        self.step_failed(def, exec.epoch, step, cause)
    }

    /// Saves `exec` over `state` (guarded by its version) with the lease released.
    pub(super) async fn release(
        &self,
        def: &ServiceDefinition,
        mut state: ServiceState,
        exec: &Execution,
    ) -> Result<ServiceState, String> {
        let expected = state.version;
        let mut exec = exec.clone();
        exec.lease_until = 0;
        state.version += 1;
        state.execution = Some(exec);
        match self.write_transition(&def.name, expected, &state).await {
            Ok(ControlWrite::Written) => Ok(state),
            Ok(ControlWrite::Conflict(_)) => Err("the control state changed meanwhile".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    pub(super) fn step_failed(
        &self,
        def: &ServiceDefinition,
        epoch: u64,
        step: &'static str,
        cause: String,
    ) -> EngineError {
        self.emit(
            Some(&def.name),
            self.clock.now(),
            &[("StepFailures", 1.0, Unit::Count)],
            &[("step", step)],
        );
        EngineError::StepFailed {
            service: def.name.clone(),
            epoch,
            step,
            cause,
        }
    }

    pub(super) fn ownership_lost(
        &self,
        def: &ServiceDefinition,
        epoch: u64,
        step: &'static str,
    ) -> EngineError {
        self.step_failed(
            def,
            epoch,
            step,
            "the control state changed under this invocation (ownership lost)".into(),
        )
    }
}

/// The conflicting item is our own write, landed by an earlier attempt: the same version
/// and the same transition, whose owner is this invocation alone.
fn is_landed(current: Option<&ServiceState>, next: &ServiceState) -> bool {
    current.is_some_and(|c| {
        c.version == next.version
            && next.execution.is_some()
            && c.execution == next.execution
            && c.phase == next.phase
            && c.epoch == next.epoch
    })
}

/// How many of the newest audit records are read to number a failed step's attempt.
const HISTORY_SCAN: usize = 100;

/// Steps whose failure leaves a decided switch waiting (announced with a PENDING alert).
const SWITCH_STEPS: [&str; 4] = [
    "pre-flight",
    "read primary health check",
    "switch",
    "restore",
];
