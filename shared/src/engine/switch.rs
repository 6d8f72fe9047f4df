//! The switch without Route 53's API (`metric` mode), and both mechanisms at once (`both`):
//! one PutMetricData in the switch alarm's region, in parallel with the progress write, and
//! in both mode the primary's health check for at most [`ROUTE53_WAIT`]. The transition is
//! switched when either has landed; the reconciler completes the other (`complete_switch`).

use std::time::Duration;

use tracing::{info, warn};

use super::{Engine, EngineError};
use crate::domain::alert::switched_by;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::history::HistoryRecord;
use crate::domain::state::{Execution, HealthCheckSettings, Phase, ServiceState, TransitionKind};
use crate::domain::switch::SwitchMode;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthCheckConfig, HealthChecks, Notifier,
    Runbook, UpdateError,
};

/// In both mode, how long the switch waits for Route 53's API beside the metric: long
/// enough for an answering API (the forced check acts faster than a metric alarm), short
/// enough that a dead one costs the decision little.
pub const ROUTE53_WAIT: Duration = Duration::from_secs(2);
/// A version mismatch is re-read and retried at most this many times.
const VERSION_RETRIES: usize = 3;

/// What a transition does to the primary's check.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CheckTarget {
    /// Set these flags (forced unhealthy on a failover, the prior flags on a failback).
    Set(HealthCheckSettings),
    /// A failback with no prior flags recorded (the check's switch never confirmed): lift
    /// a forced state if there is one, else leave the check as it is.
    Unforce,
}

/// The primary's check before and after a flip.
struct Flip {
    before: HealthCheckConfig,
    after: HealthCheckConfig,
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
    /// Metric and both modes: lands the switch for `exec.kind` (PrimaryForcedOut 1 on a
    /// failover, 0 on a failback), writing the progress (and, on the first attempt, the
    /// decision record) in the same round trip. Err: nothing landed (the retry repeats it;
    /// both mechanisms are idempotent).
    pub(super) async fn switch_without_route53(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        exec: &mut Execution,
        recorded: &mut bool,
    ) -> Result<(), String> {
        let Some(region) = def.switch.metric_region() else {
            return Err("switch.alarm_arn names no region".into());
        };
        let value = match exec.kind {
            TransitionKind::Failover => 1.0,
            TransitionKind::Failback => 0.0,
        };
        let check_target = self.check_target(def, exec);
        let metric_needed = exec.metric_switched_at.is_none();
        let mut next = state.clone();
        next.version += 1;
        next.execution = Some(exec.clone());
        let audit = (!*recorded).then(|| exec.clone());
        let now = self.clock.now();
        let (saved, put, audited, flip) = tokio::join!(
            self.write_transition(&def.name, state.version, &next),
            async {
                if metric_needed {
                    Some(
                        self.alarms
                            .put_switch_values(region, &[(def.name.clone(), value)], now)
                            .await,
                    )
                } else {
                    None
                }
            },
            async {
                match &audit {
                    Some(exec) => self.record_decision(def, exec).await,
                    None => true,
                }
            },
            async {
                match check_target {
                    Some(target) => Some(
                        tokio::time::timeout(
                            ROUTE53_WAIT,
                            self.flip_check(def, target, VERSION_RETRIES),
                        )
                        .await
                        .unwrap_or_else(|_| {
                            Err(format!(
                                "Route 53's API did not answer within {} s",
                                ROUTE53_WAIT.as_secs()
                            ))
                        }),
                    ),
                    None => None,
                }
            }
        );
        *recorded = audited;
        // What landed goes into the execution before the progress write is looked at, so a
        // failed write (the caller's release records `exec`) keeps the prior flags read.
        let landed_at = self.clock.now();
        let mut failures = Vec::new();
        match put {
            Some(Ok(())) => exec.metric_switched_at = Some(landed_at),
            Some(Err(e)) => failures.push(format!("PutMetricData: {e}")),
            None => {}
        }
        match flip {
            Some(Ok(flip)) => self.landed_check(exec, flip, landed_at),
            Some(Err(why)) => {
                warn!(service = %def.name, why = %why, "the health-check mechanism did not land; the reconciler completes it");
                exec.route53_unanswered = Some(why.clone());
                failures.push(format!("health check: {why}"));
            }
            None => {}
        }
        match saved {
            Ok(ControlWrite::Written) => *state = next,
            Ok(ControlWrite::Conflict(_)) => {
                return Err(
                    "the control state changed under this invocation (ownership lost)".into(),
                )
            }
            Err(e) => return Err(format!("recording the progress failed: {e}")),
        }
        if exec.metric_switched_at.is_some() || exec.check_switched_at.is_some() {
            exec.switched_at.get_or_insert(landed_at);
            info!(service = %def.name, epoch = exec.epoch, by = %switched_by(def, exec), "switch landed");
            return Ok(());
        }
        Err(failures.join("; "))
    }

    /// Both mode, after the transition closed: lands the health-check mechanism that did
    /// not land with it (Route 53's API did not answer then). Returns the state after, and
    /// whether it did anything. Err: Route 53 still does not answer; the next run retries.
    pub(crate) async fn complete_switch(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
    ) -> Result<(ServiceState, bool), EngineError> {
        let Some(exec) = state.execution.clone() else {
            return Ok((state, false));
        };
        let settled = match exec.kind {
            TransitionKind::Failover => state.phase == Phase::FailedOver,
            TransitionKind::Failback => state.phase == Phase::PrimaryActive,
        };
        if def.switch.mode != SwitchMode::Both
            || !settled
            || exec.completed_at.is_none()
            || exec.check_switched_at.is_some()
            || exec.metric_switched_at.is_none()
        {
            return Ok((state, false));
        }
        let Some(target) = self.check_target(def, &exec) else {
            return Ok((state, false));
        };
        // Bounded like the switch's own wait, so that an unanswering Route 53 cannot hold
        // the reconciler's other services; a version conflict means someone changed the
        // check (a failback, a human): no retry, the next run decides on fresh state.
        let flip = tokio::time::timeout(ROUTE53_WAIT, self.flip_check(def, target, 0))
            .await
            .unwrap_or_else(|_| {
                Err(format!(
                    "Route 53's API did not answer within {} s",
                    ROUTE53_WAIT.as_secs()
                ))
            })
            .map_err(|cause| EngineError::StepFailed {
                service: def.name.clone(),
                epoch: exec.epoch,
                step: "complete the health-check switch",
                cause,
            })?;
        let now = self.clock.now();
        let mut done = exec.clone();
        let after = flip.after;
        self.landed_check(&mut done, flip, now);
        done.route53_unanswered = None;
        let mut next = state.clone();
        next.version += 1;
        next.execution = Some(done.clone());
        let what = format!(
            "health check {} (primary) set to {} (version {}): the both-mode switch is complete ({})",
            def.primary.health_check_id,
            after.settings,
            after.version,
            switched_by(def, &done)
        );
        let record = HistoryRecord {
            at: now,
            epoch: exec.epoch,
            kind: "switch".into(),
            actor: self.function.into(),
            what,
            why: exec
                .route53_unanswered
                .clone()
                .unwrap_or_else(|| "Route 53's API had not answered at the switch".into()),
            votes: Vec::new(),
            key: format!("switch#complete#{:?}", exec.kind).to_lowercase(),
            request_id: String::new(),
        };
        let (written, audited) = tokio::join!(
            self.store.write_control(&def.name, state.version, &next),
            self.store.append_history(&def.name, &record)
        );
        if let Err(e) = audited {
            warn!(service = %def.name, error = %e, "audit record of the completed switch not written");
        }
        match written.map_err(EngineError::Store)? {
            ControlWrite::Written => {
                info!(service = %def.name, epoch = exec.epoch, "both-mode switch completed by the reconciler");
                Ok((next, true))
            }
            // Another writer was first; the check is set, and the next run records it.
            ControlWrite::Conflict(_) => Ok((state, false)),
        }
    }

    /// What the primary's check is set to by this transition, when the mode flips it:
    /// forced unhealthy on a failover, the recorded prior flags on a failback.
    fn check_target(&self, def: &ServiceDefinition, exec: &Execution) -> Option<CheckTarget> {
        if !def.switch.uses_health_check()
            || exec.check_switched_at.is_some()
            || exec.nothing_switched
        {
            return None;
        }
        Some(match (exec.kind, exec.prior) {
            (TransitionKind::Failover, _) => {
                CheckTarget::Set(HealthCheckSettings::FORCED_UNHEALTHY)
            }
            (TransitionKind::Failback, Some(prior)) => CheckTarget::Set(prior),
            // The failover's flip may have landed unconfirmed (a late answer, a lost write).
            (TransitionKind::Failback, None) => CheckTarget::Unforce,
        })
    }

    /// Records a landed flip: the prior flags (a failover's, for its failback) and versions.
    fn landed_check(&self, exec: &mut Execution, flip: Flip, at: i64) {
        if exec.kind == TransitionKind::Failover && exec.prior.is_none() {
            if flip.before.settings.forces_unhealthy() {
                exec.prior = Some(HealthCheckSettings {
                    disabled: false,
                    inverted: false,
                });
                exec.prior_note = Some(format!(
                    "the check was already forced unhealthy (version {}) when this epoch read it; \
                     failback will restore Disabled=false Inverted=false",
                    flip.before.version
                ));
            } else {
                exec.prior = Some(flip.before.settings);
            }
        }
        exec.version_before.get_or_insert(flip.before.version);
        exec.version_after = Some(flip.after.version);
        exec.check_switched_at = Some(at);
        exec.route53_unanswered = None;
    }

    /// Sets the primary's check to `target` with HealthCheckVersion; no state write (the
    /// caller records the result). `retries`: how many version mismatches are re-read and
    /// tried again (0: someone else changed the check, so the next run decides again).
    async fn flip_check(
        &self,
        def: &ServiceDefinition,
        target: CheckTarget,
        retries: usize,
    ) -> Result<Flip, String> {
        let id = &def.primary.health_check_id;
        for _ in 0..=retries {
            let before = self.health.get(id).await.map_err(|e| e.to_string())?;
            let target = match target {
                CheckTarget::Set(t) => t,
                CheckTarget::Unforce if before.settings.forces_unhealthy() => HealthCheckSettings {
                    disabled: false,
                    inverted: false,
                },
                CheckTarget::Unforce => before.settings,
            };
            if before.settings == target {
                return Ok(Flip {
                    before,
                    after: before,
                });
            }
            match self.health.update(id, before.version, target).await {
                Ok(after) if after.settings == target => return Ok(Flip { before, after }),
                Ok(after) => {
                    return Err(format!(
                        "read-back after UpdateHealthCheck shows {} (version {}), not {target}",
                        after.settings, after.version
                    ))
                }
                Err(UpdateError::VersionMismatch { .. }) => continue,
                Err(UpdateError::Aws(e)) => return Err(e.to_string()),
            }
        }
        Err(format!(
            "health check {id} changed under us ({} version conflicts); the next run looks again",
            retries + 1
        ))
    }
}
