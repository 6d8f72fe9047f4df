//! A claimed transition carried out: the claim, the switch of the primary's health check
//! (or its restore), and the closing alert, with the epoch's decision record written beside
//! the switch (or the close). Every step checks what is already done, so a resumed run
//! repeats nothing.

use tracing::{info, warn};

use super::readiness::{def_has_preflight, readiness_checks, Readings};
use super::{Engine, EngineError, Invocation};
use crate::api::reports::ServiceOutcome;
use crate::domain::alert::{blocked_alert, failback_alert, failover_alert, switched_by, Alert};
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::{claim_failover, preflight_passed, take_over, Claimant};
use crate::domain::history::{decision_record, trigger_text, HistoryRecord};
use crate::domain::state::{
    Execution, HealthCheckSettings, ServiceState, TransitionKind, Trigger, VoteRecord,
};
use crate::domain::switch::SwitchMode;
use crate::metrics::Unit;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthCheckConfig, HealthChecks, Notifier,
    Runbook, UpdateError,
};

/// A version mismatch on UpdateHealthCheck is re-read and retried at most this many times.
const MAX_VERSION_RETRIES: usize = 3;

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    /// Claims the decision (one conditional write; exactly one claimant wins) and executes it.
    /// The deciding event reads the secondary and the primary check in parallel with the
    /// claim; a duplicate that finds an unclaimed quorum claims first and reads only if it won.
    pub async fn start_failover(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        votes: Vec<VoteRecord>,
        trigger: Trigger,
        inv: &Invocation,
        read_in_parallel: bool,
    ) -> Result<ServiceOutcome, EngineError> {
        let now = self.clock.now();
        let claimant = Claimant {
            owner: inv.request_id.clone(),
            lease_until: inv.deadline,
        };
        let next = claim_failover(&state, votes, trigger, &claimant, now);
        let (claim, readings) = if read_in_parallel {
            let (c, r) = tokio::join!(
                self.write_transition(&def.name, state.version, &next),
                self.read_readiness(def)
            );
            (c, Some(r))
        } else {
            (
                self.write_transition(&def.name, state.version, &next).await,
                None,
            )
        };
        match claim.map_err(EngineError::Store)? {
            ControlWrite::Conflict(current) => {
                let current = current.map_or(state, |c| *c);
                let winner = current
                    .execution
                    .as_ref()
                    .map_or("another invocation", |e| e.owner.as_str());
                info!(service = %def.name, epoch = current.epoch, winner, "the decision was already claimed");
                Ok(self.outcome(def, "claim_lost", &current, format!("claimed by {winner}")))
            }
            ControlWrite::Written => {
                info!(service = %def.name, epoch = next.epoch, owner = %claimant.owner, "failover decided");
                self.emit(
                    Some(&def.name),
                    now,
                    &[("Decisions", 1.0, Unit::Count)],
                    &[],
                );
                Box::pin(self.execute(def, next, readings)).await
            }
        }
    }

    pub(super) async fn resume(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        inv: &Invocation,
    ) -> Result<ServiceOutcome, EngineError> {
        let claimant = Claimant {
            owner: inv.request_id.clone(),
            lease_until: inv.deadline,
        };
        let Some(next) = take_over(&state, &claimant) else {
            return Ok(self.outcome(def, "held", &state, "nothing to resume".into()));
        };
        match self
            .write_transition(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            ControlWrite::Conflict(current) => {
                let current = current.map_or(state, |c| *c);
                Ok(self.outcome(
                    def,
                    "in_progress",
                    &current,
                    "another invocation resumed it first".into(),
                ))
            }
            ControlWrite::Written => match next.execution.as_ref().map(|e| e.kind) {
                Some(TransitionKind::Failback) => Box::pin(self.execute_failback(def, next)).await,
                _ => Box::pin(self.execute(def, next, None)).await,
            },
        }
    }

    /// Runs the remaining steps of a claimed failover: pre-flight gate, switch, alert,
    /// completion. Every step checks what is already done, so a resumed run repeats nothing.
    pub(super) async fn execute(
        &self,
        def: &ServiceDefinition,
        mut state: ServiceState,
        readings: Option<Readings>,
    ) -> Result<ServiceOutcome, EngineError> {
        let started = self.clock.now();
        let Some(mut exec) = state.execution.clone() else {
            return Ok(self.outcome(def, "held", &state, "no execution recorded".into()));
        };
        let forced = matches!(exec.trigger, Trigger::Operator { forced: true, .. });
        let readings = match readings {
            Some(r) => Some(r),
            // A resumed run that never got as far as recording the pre-flight reads again.
            None if exec.preflight.is_empty()
                && exec.switched_at.is_none()
                && def_has_preflight(def) =>
            {
                Some(self.read_readiness(def).await)
            }
            None => None,
        };
        let mut primary = None;
        if let Some(r) = readings {
            if exec.preflight.is_empty() {
                if !r.unanswered.is_empty() && !forced {
                    let cause = format!(
                        "the secondary's readiness could not be read, so the switch waits: {}",
                        r.unanswered.join("; ")
                    );
                    return Err(self.fail_step(def, state, exec, "pre-flight", cause).await);
                }
                exec.preflight = readiness_checks(def, &r);
            }
            primary = Some(r.primary);
        }
        if !preflight_passed(&exec.preflight) && !forced {
            let failing: Vec<&str> = exec
                .preflight
                .iter()
                .filter(|c| !c.ok)
                .map(|c| c.name.as_str())
                .collect();
            exec.blocked_reason = Some(format!("secondary not ready: {}", failing.join(", ")));
            return self.block(def, state, exec).await;
        }

        // Whether this invocation has the decision record in the table: written beside the
        // switch, else beside the close.
        let mut recorded = false;
        let data_plane = def.switch.mode != SwitchMode::HealthCheck;
        if data_plane && exec.switched_at.is_none() {
            if let Err(cause) = self
                .switch_without_route53(def, &mut state, &mut exec, &mut recorded)
                .await
            {
                return Err(self.fail_step(def, state, exec, "switch", cause).await);
            }
            self.emit_switch_latency(def, &exec);
        } else if exec.switched_at.is_none() {
            let hc = match primary {
                Some(r) => r,
                None => self.health.get(&def.primary.health_check_id).await,
            };
            let hc = match hc {
                Ok(hc) => hc,
                Err(e) => {
                    return Err(self
                        .fail_step(def, state, exec, "read primary health check", e.to_string())
                        .await)
                }
            };
            match self
                .set_primary_check(
                    def,
                    &mut state,
                    &mut exec,
                    hc,
                    HealthCheckSettings::FORCED_UNHEALTHY,
                    &mut recorded,
                )
                .await
            {
                Ok(()) => {}
                Err(cause) => return Err(self.fail_step(def, state, exec, "switch", cause).await),
            }
            self.emit_switch_latency(def, &exec);
        }

        let pending = exec.alerted_at.is_none().then(|| {
            let what = if data_plane {
                format!(
                    "{} (switch mode {})",
                    switched_by(def, &exec),
                    def.switch.mode.as_str()
                )
            } else {
                format!(
                    "primary health check {} forced unhealthy ({} -> {})",
                    def.primary.health_check_id,
                    exec.prior.map_or("unknown".to_string(), |p| p.to_string()),
                    HealthCheckSettings::FORCED_UNHEALTHY
                )
            };
            let record = self.step_record(&exec, "switch", what);
            (failover_alert(def, &exec), record)
        });
        let now = self.clock.now();
        let lease = (exec.owner.clone(), exec.lease_until);
        let (mut state, exec) = self
            .close_recorded(def, state, exec, pending, "alert", recorded)
            .await?;
        Box::pin(self.workflow_after_switch(def, &mut state, lease)).await;
        self.emit(
            Some(&def.name),
            now,
            &[
                ("Failovers", 1.0, Unit::Count),
                (
                    "DecisionToCompleteLatency",
                    (now - exec.decided_at) as f64,
                    Unit::Milliseconds,
                ),
                ("ExecuteLatency", (now - started) as f64, Unit::Milliseconds),
            ],
            &[],
        );
        info!(service = %def.name, epoch = exec.epoch, "failed over: primary forced unhealthy, alert sent");
        Ok(self.outcome(
            def,
            "failed_over",
            &state,
            format!("{} -> {}", def.primary.region, def.secondary.region),
        ))
    }

    /// Sets the primary's check to `target` with `HealthCheckVersion` (forced unhealthy on
    /// failover, the recorded prior flags on failback), writing the progress in parallel,
    /// and verifies the stored result. A version mismatch is re-read and decided again.
    async fn set_primary_check(
        &self,
        def: &ServiceDefinition,
        state: &mut ServiceState,
        exec: &mut Execution,
        mut hc: HealthCheckConfig,
        target: HealthCheckSettings,
        recorded: &mut bool,
    ) -> Result<(), String> {
        let id = &def.primary.health_check_id;
        for _ in 0..=MAX_VERSION_RETRIES {
            if hc.settings == target {
                // Done before a crash (the progress was recorded then), or by someone else.
                if exec.kind == TransitionKind::Failover && exec.prior.is_none() {
                    exec.prior = Some(HealthCheckSettings {
                        disabled: false,
                        inverted: false,
                    });
                    exec.prior_note = Some(format!(
                        "the check was already forced unhealthy (version {}) when this epoch read it; \
                         failback will restore Disabled=false Inverted=false",
                        hc.version
                    ));
                }
                exec.version_after = Some(hc.version);
                exec.switched_at = Some(self.clock.now());
                return Ok(());
            }
            if exec.kind == TransitionKind::Failover && exec.prior.is_none() {
                exec.prior = Some(hc.settings);
            }
            exec.version_before.get_or_insert(hc.version);
            let expected = state.version;
            let mut next = state.clone();
            next.version += 1;
            next.execution = Some(exec.clone());
            // The decision record goes with the first switch attempt: pre-flight and prior
            // flags are known now, and the round trip is the switch's own.
            let audit = (!*recorded).then(|| exec.clone());
            let (saved, updated, audited) = tokio::join!(
                self.write_transition(&def.name, expected, &next),
                self.health.update(id, hc.version, target),
                async {
                    match &audit {
                        Some(exec) => self.record_decision(def, exec).await,
                        None => true,
                    }
                }
            );
            *recorded = audited;
            match saved {
                Ok(ControlWrite::Written) => *state = next,
                Ok(ControlWrite::Conflict(_)) => {
                    return Err(
                        "the control state changed under this invocation (ownership lost)".into(),
                    )
                }
                Err(e) => return Err(format!("recording the progress failed: {e}")),
            }
            match updated {
                Ok(after) if after.settings == target => {
                    exec.version_after = Some(after.version);
                    exec.switched_at = Some(self.clock.now());
                    return Ok(());
                }
                Ok(after) => {
                    return Err(format!(
                        "read-back after UpdateHealthCheck shows {} (version {}), not {target}",
                        after.settings, after.version
                    ))
                }
                Err(UpdateError::VersionMismatch { sent }) => {
                    warn!(service = %def.name, health_check = %id, sent, "health check changed since it was read; re-reading");
                    hc = self.health.get(id).await.map_err(|e| e.to_string())?;
                }
                Err(UpdateError::Aws(e)) => {
                    return Err(format!("Route 53 did not apply the change: {e}"))
                }
            }
        }
        Err(format!(
            "health check {id} kept changing under us ({MAX_VERSION_RETRIES} version conflicts)"
        ))
    }

    /// Runs the remaining steps of a claimed failback: restore the primary's prior flags,
    /// alert, complete (which starts the cooldown). Resumable like `execute`.
    pub(super) async fn execute_failback(
        &self,
        def: &ServiceDefinition,
        mut state: ServiceState,
    ) -> Result<ServiceOutcome, EngineError> {
        let Some(mut exec) = state.execution.clone() else {
            return Ok(self.outcome(def, "held", &state, "no execution recorded".into()));
        };
        let mut recorded = false;
        let data_plane = def.switch.mode != SwitchMode::HealthCheck;
        // A failback of a BLOCKED failover switched nothing: nothing to undo, no cooldown.
        if data_plane && exec.switched_at.is_none() && !exec.nothing_switched {
            if let Err(cause) = self
                .switch_without_route53(def, &mut state, &mut exec, &mut recorded)
                .await
            {
                return Err(self.fail_step(def, state, exec, "restore", cause).await);
            }
        } else if let (Some(target), None, false) = (exec.prior, exec.switched_at, data_plane) {
            let hc = match self.health.get(&def.primary.health_check_id).await {
                Ok(hc) => hc,
                Err(e) => {
                    return Err(self
                        .fail_step(def, state, exec, "read primary health check", e.to_string())
                        .await)
                }
            };
            if let Err(cause) = self
                .set_primary_check(def, &mut state, &mut exec, hc, target, &mut recorded)
                .await
            {
                return Err(self.fail_step(def, state, exec, "restore", cause).await);
            }
        }
        let pending = exec.alerted_at.is_none().then(|| {
            let what = match exec.prior {
                _ if exec.nothing_switched => {
                    "nothing to undo (the failover had been blocked: nothing was switched)".into()
                }
                _ if data_plane => format!(
                    "{} (switch mode {})",
                    switched_by(def, &exec),
                    def.switch.mode.as_str()
                ),
                Some(p) => format!(
                    "primary health check {} restored to {p}",
                    def.primary.health_check_id
                ),
                None => "nothing to restore (the check was never changed)".to_string(),
            };
            let record = self.step_record(&exec, "failback", what);
            (failback_alert(def, &exec), record)
        });
        let now = self.clock.now();
        let lease = (exec.owner.clone(), exec.lease_until);
        let (mut state, exec) = self
            .close_recorded(def, state, exec, pending, "alert", recorded)
            .await?;
        Box::pin(self.workflow_after_switch(def, &mut state, lease)).await;
        self.emit(
            Some(&def.name),
            now,
            &[("Failbacks", 1.0, Unit::Count)],
            &[],
        );
        info!(service = %def.name, epoch = exec.epoch, "failed back to the primary");
        Ok(self.outcome(
            def,
            "failed_back",
            &state,
            format!("{} -> {}", def.secondary.region, def.primary.region),
        ))
    }

    /// The pre-flight gate refused: BLOCKED, one page, nothing else changed.
    async fn block(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        exec: Execution,
    ) -> Result<ServiceOutcome, EngineError> {
        let pending = exec.alerted_at.is_none().then(|| {
            let record = self.step_record(
                &exec,
                "blocked",
                exec.blocked_reason.clone().unwrap_or_default(),
            );
            (blocked_alert(def, &exec), record)
        });
        let now = self.clock.now();
        let (state, exec) = self
            .close_recorded(def, state, exec, pending, "blocked alert", false)
            .await?;
        self.emit(Some(&def.name), now, &[("Blocked", 1.0, Unit::Count)], &[]);
        warn!(service = %def.name, epoch = exec.epoch, reason = ?exec.blocked_reason, "automatic failover BLOCKED");
        Ok(self.outcome(
            def,
            "blocked",
            &state,
            exec.blocked_reason.clone().unwrap_or_default(),
        ))
    }

    /// The closing step's record, dated by the step's own recorded time (the switch, or the
    /// decision when nothing was switched) so that a retried close writes the same item.
    fn emit_switch_latency(&self, def: &ServiceDefinition, exec: &Execution) {
        let now = self.clock.now();
        self.emit(
            Some(&def.name),
            now,
            &[(
                "SwitchLatency",
                (now - exec.decided_at) as f64,
                Unit::Milliseconds,
            )],
            &[],
        );
    }

    pub(super) fn step_record(&self, exec: &Execution, step: &str, what: String) -> HistoryRecord {
        HistoryRecord {
            at: exec.switched_at.unwrap_or(exec.decided_at),
            epoch: exec.epoch,
            kind: "step".into(),
            actor: exec.owner.clone(),
            what: format!("{step}: {what}"),
            why: trigger_text(&exec.trigger),
            votes: exec.votes.clone(),
            key: format!("step#{step}"),
            request_id: String::new(),
        }
    }

    /// Writes the epoch's decision record (see [`decision_record`]); the same item however
    /// often it is written. A failure is logged and counted, never fails the transition: one
    /// refused beside the switch is written again beside the close, and whoever resumes an
    /// unfinished transition writes it again. Returns whether it is in the table.
    pub(super) async fn record_decision(&self, def: &ServiceDefinition, exec: &Execution) -> bool {
        let (from, to) = match exec.kind {
            TransitionKind::Failover => (&def.primary.region, &def.secondary.region),
            TransitionKind::Failback => (&def.secondary.region, &def.primary.region),
        };
        let record = decision_record(exec, from, to);
        match self.store.append_history(&def.name, &record).await {
            Ok(()) => true,
            Err(e) => {
                warn!(service = %def.name, epoch = exec.epoch, error = %e, "decision record not written; written again with the next step");
                self.emit(
                    Some(&def.name),
                    self.clock.now(),
                    &[("AuditWriteFailures", 1.0, Unit::Count)],
                    &[("record", "decision")],
                );
                false
            }
        }
    }

    /// The closing round trip with the decision record beside it when this invocation has
    /// not written it yet (the same round trip: the critical path gains no depth).
    async fn close_recorded(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        exec: Execution,
        pending: Option<(Alert, HistoryRecord)>,
        step: &'static str,
        recorded: bool,
    ) -> Result<(ServiceState, Execution), EngineError> {
        let decision = (!recorded).then(|| exec.clone());
        let (closed, _) = tokio::join!(
            Box::pin(self.close_with_alert(def, state, exec, pending, step)),
            async {
                if let Some(exec) = &decision {
                    self.record_decision(def, exec).await;
                }
            }
        );
        closed
    }
}
