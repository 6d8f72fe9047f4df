//! The operator's actions on one service: planned failover and failback. They reuse the
//! automated path's steps (claim, switch, alert) through the same engine; what the
//! operator is told once a claim has landed is in `answer`.

mod answer;

use tracing::{info, warn};

pub(super) use answer::operator_record;

use super::readiness::readiness_checks;
use super::{Engine, EngineError, Invocation};
use crate::api::operator_request::{parse_request, Action, OperatorRequest, OperatorScope};
use crate::api::operator_response::{OperatorResponse, StepReport, StepStatus};
use crate::domain::arn::alarm_name;
use crate::domain::catalog::{Catalog, ServiceDefinition};
use crate::domain::decision::{
    claim_failback, claim_failover, cooldown_remaining, live_votes, preflight_passed, Claimant,
};
use crate::domain::state::{HealthCheckSettings, Phase, ServiceState, TransitionKind, Trigger};
use crate::domain::switch::{SWITCH_METRIC, SWITCH_NAMESPACE};
use crate::domain::time::{fmt_duration_ms, fmt_time, secs, Millis};
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthChecks, Notifier, Runbook,
};

use StepStatus::{Done, Failed, Skipped, WouldDo};

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    /// Handles one operator request. Bad requests are errors that name the field;
    /// refusals (not ready, in cooldown, votes still live) are `ok: false` responses.
    pub async fn handle_operator_request(
        &self,
        payload: &serde_json::Value,
        inv: &Invocation,
    ) -> Result<OperatorResponse, EngineError> {
        let req = parse_request(payload, self.clock.now())?;
        // A service added since the catalog was read is found at once (a re-read on a miss).
        let catalog = self
            .catalog_with(|c| {
                req.service
                    .as_deref()
                    .is_none_or(|n| c.service(n).is_some())
            })
            .await?;
        if req.action == Action::Status {
            let defs: Vec<&ServiceDefinition> = match req.service.as_deref() {
                Some(name) => vec![catalog
                    .service(name)
                    .ok_or_else(|| unknown(&catalog, name))?],
                None => catalog.services().collect(),
            };
            return self.status(&req, defs).await;
        }
        let name = req.service.as_deref().unwrap_or_default();
        let def = catalog
            .service(name)
            .ok_or_else(|| unknown(&catalog, name))?;
        let state = self
            .store
            .load_state(&def.name)
            .await
            .map_err(EngineError::Store)?;
        info!(service = %def.name, action = req.action.as_str(), requested_by = %req.requested_by, reason = %req.reason, dry_run = req.dry_run, force = req.force, "operator request");
        match req.action {
            Action::Failover => Box::pin(self.manual_failover(def, &req, state, inv)).await,
            Action::Failback => Box::pin(self.manual_failback(def, &req, state, inv)).await,
            Action::Pause => self.pause(def, &req, state, inv).await,
            Action::Resume => self.resume_automation(def, &req, state, inv).await,
            Action::Approve | Action::Decline => {
                Box::pin(self.answer_approval(def, &req, state, inv)).await
            }
            Action::Status => unreachable!("handled above"),
        }
    }

    /// [`Self::handle_operator_request`] for an invocation through an alias whose `scope`
    /// may not allow every action: a refusal (`ok: false`) that changes nothing otherwise.
    pub async fn handle_operator_request_as(
        &self,
        payload: &serde_json::Value,
        inv: &Invocation,
        scope: OperatorScope,
    ) -> Result<OperatorResponse, EngineError> {
        if let Ok(req) = parse_request(payload, self.clock.now()) {
            if !scope.allows(req.action) {
                warn!(action = req.action.as_str(), scope = scope.as_str(), request_id = %inv.request_id, "operator action refused by the invoked alias");
                let mut r = response(&req, &ServiceState::default());
                (r.phase_before, r.phase_after, r.epoch) = (None, None, None);
                r.message = format!(
                    "refused: this invocation came through the {} alias, which may not {}; use the role and alias for it (README: Who may act)",
                    scope.as_str(),
                    req.action.as_str()
                );
                return Ok(r);
            }
        }
        self.handle_operator_request(payload, inv).await
    }

    async fn manual_failover(
        &self,
        def: &ServiceDefinition,
        req: &OperatorRequest,
        state: ServiceState,
        inv: &Invocation,
    ) -> Result<OperatorResponse, EngineError> {
        let now = self.clock.now();
        let mut r = response(req, &state);
        if abandoned(&state, now) && !req.dry_run {
            return self.finish_abandoned(def, r, state, inv).await;
        }
        match state.phase {
            Phase::FailedOver | Phase::FailingOver => {
                r.ok = true;
                r.steps
                    .push(StepReport::new("failover", Skipped, "already failed over"));
                r.message = format!(
                    "{} is already {} (epoch {}): nothing done, nothing sent",
                    def.name, state.phase, state.epoch
                );
                return Ok(r);
            }
            Phase::FailingBack => {
                return Ok(refuse(
                    r,
                    format!(
                        "a failback is in progress (epoch {}); wait for it{}",
                        state.epoch,
                        lease_note(&state)
                    ),
                ));
            }
            Phase::PrimaryActive | Phase::Blocked => {}
        }
        let cooldown = cooldown_remaining(def, &state, now);
        if let Some(ms) = cooldown {
            let status = if req.force { Skipped } else { Failed };
            r.steps.push(StepReport::new(
                "cooldown",
                status,
                format!("{}s of cooldown left", ms / 1000),
            ));
            if !req.force {
                return Ok(refuse(
                    r,
                    format!(
                        "{} is in cooldown for another {}s; use force to override",
                        def.name,
                        ms / 1000
                    ),
                ));
            }
        }
        let readings = self.read_readiness(def).await;
        let checks = readiness_checks(def, &readings);
        let ready = preflight_passed(&checks);
        for c in &checks {
            let status = if c.ok {
                Done
            } else if req.force {
                Skipped
            } else {
                Failed
            };
            r.steps.push(StepReport::new(
                "preflight",
                status,
                format!("{}: {}", c.name, c.detail),
            ));
        }
        if !ready && !req.force {
            return Ok(refuse(
                r,
                format!(
                    "the secondary {} is not ready; fix it or use force",
                    def.secondary.region
                ),
            ));
        }
        let current = match &readings.primary {
            Ok(hc) => hc.settings.to_string(),
            // Both mode reads no check before the switch; a dry run may ask.
            Err(_) if req.dry_run && def.switch.uses_health_check() => {
                match self.health.get(&def.primary.health_check_id).await {
                    Ok(hc) => hc.settings.to_string(),
                    Err(e) => format!("unreadable: {e}"),
                }
            }
            Err(e) => format!("unreadable: {e}"),
        };
        if req.dry_run {
            r.ok = true;
            r.steps.push(StepReport::new(
                "claim",
                WouldDo,
                format!("claim epoch {}", state.epoch + 1),
            ));
            if def.switch.uses_metric() {
                r.steps
                    .push(StepReport::new("switch", WouldDo, metric_step(def, 1)));
            }
            if def.switch.uses_health_check() {
                r.steps.push(StepReport::new(
                    "switch",
                    WouldDo,
                    format!(
                        "health check {}: {current} -> {}",
                        def.primary.health_check_id,
                        HealthCheckSettings::FORCED_UNHEALTHY
                    ),
                ));
            }
            r.steps
                .push(StepReport::new("alert", WouldDo, "one failover alert"));
            r.steps
                .extend(Box::pin(self.workflow_plan(def, TransitionKind::Failover)).await);
            r.message = format!(
                "dry run: would fail {} over to {}",
                def.name, def.secondary.region
            );
            return Ok(r);
        }
        let (trigger, claimant) = operator_claim(req, inv);
        let votes = live_votes(def, &state, now);
        let next = claim_failover(&state, votes, trigger, &claimant, now);
        if let ControlWrite::Conflict(current) = self.claim(def, state.version, &next).await? {
            let phase = current.map_or(state.phase, |c| c.phase);
            return Ok(refuse(
                r,
                format!("the state changed while deciding (now {phase}); nothing done, retry"),
            ));
        }
        // From here on the claim stands: the answer reports it whatever a later step does.
        let epoch = next.epoch;
        let record = operator_record(req, epoch, "failover", now, inv);
        let first = self.store.append_history(&def.name, &record).await;
        // Boxed: the transition's future is large, and an operator request runs it inline.
        let outcome = Box::pin(self.execute(def, next, Some(readings))).await;
        let audit = self.audit_landed(def, &record, first, inv).await;
        Ok(self.answer_claimed(def, r, epoch, audit, outcome).await)
    }

    async fn manual_failback(
        &self,
        def: &ServiceDefinition,
        req: &OperatorRequest,
        state: ServiceState,
        inv: &Invocation,
    ) -> Result<OperatorResponse, EngineError> {
        let now = self.clock.now();
        let mut r = response(req, &state);
        if abandoned(&state, now) && !req.dry_run {
            return self.finish_abandoned(def, r, state, inv).await;
        }
        match state.phase {
            Phase::PrimaryActive => {
                r.ok = true;
                r.steps.push(StepReport::new(
                    "failback",
                    Skipped,
                    "already on the primary",
                ));
                r.message = format!(
                    "{} is already on the primary: nothing done, nothing sent",
                    def.name
                );
                return Ok(r);
            }
            Phase::FailingOver | Phase::FailingBack => {
                return Ok(refuse(
                    r,
                    format!(
                        "a transition is in progress ({} epoch {}); wait for it to finish{}",
                        state.phase,
                        state.epoch,
                        lease_note(&state)
                    ),
                ));
            }
            Phase::FailedOver | Phase::Blocked => {}
        }
        // A failover step in flight (claimed, its lease live) would race the failback's
        // scale-back and lose its own outcome to the new epoch: wait for it.
        if let Some((step, until)) = running_step(&state, now) {
            if !req.force {
                return Ok(refuse(
                    r,
                    format!(
                        "the failover's workflow step '{step}' is running (its owner holds it until {}); wait for its [STEP DONE] or [STEP FAILED], or use force",
                        fmt_time(until)
                    ),
                ));
            }
            r.steps.push(StepReport::new(
                "workflow",
                Skipped,
                format!("step '{step}' of the failover is still running: forced past it; its outcome will not be recorded"),
            ));
        }
        let live = live_votes(def, &state, now);
        if !live.is_empty() {
            let who: Vec<&str> = live.iter().map(|v| alarm_name(&v.observer)).collect();
            let status = if req.force { Skipped } else { Failed };
            r.steps.push(StepReport::new(
                "votes",
                status,
                format!("still in ALARM: {}", who.join(", ")),
            ));
            if !req.force {
                return Ok(refuse(
                    r,
                    format!(
                        "observers still vote ALARM ({}); wait for them or use force",
                        who.join(", ")
                    ),
                ));
            }
        }
        // From BLOCKED nothing was switched: the primary never stopped serving.
        let probe = match state.phase {
            Phase::Blocked => None,
            _ => self.read_probe(def).await,
        };
        if let Some(probe) = probe {
            let min = secs(def.failback_min_healthy_seconds);
            let healthy = probe.healthy_for(min);
            let status = match (healthy, req.force) {
                (true, _) => Done,
                (false, true) => Skipped,
                (false, false) => Failed,
            };
            let detail = format!("primary probe {}: {}", probe.health_check_id, probe.detail);
            r.steps
                .push(StepReport::new("probe", status, detail.clone()));
            if !healthy && !req.force {
                return Ok(refuse(
                    r,
                    format!(
                        "{detail}; a failback needs it healthy for {} (failback_min_healthy_seconds={}): wait, or use force",
                        fmt_duration_ms(min),
                        def.failback_min_healthy_seconds
                    ),
                ));
            }
        }
        let target = state.execution.as_ref().and_then(|e| e.prior);
        if req.dry_run {
            if def.switch.uses_metric() {
                r.steps
                    .push(StepReport::new("restore", WouldDo, metric_step(def, 0)));
            }
            r.ok = true;
            r.steps.push(StepReport::new(
                "claim",
                WouldDo,
                format!("claim epoch {}", state.epoch + 1),
            ));
            match target {
                Some(prior) if def.switch.uses_health_check() => {
                    let current = match self.health.get(&def.primary.health_check_id).await {
                        Ok(hc) => hc.settings.to_string(),
                        Err(e) => format!("unreadable: {e}"),
                    };
                    r.steps.push(StepReport::new(
                        "restore",
                        WouldDo,
                        format!(
                            "health check {}: {current} -> {prior}",
                            def.primary.health_check_id
                        ),
                    ));
                }
                _ if !def.switch.uses_health_check() => {}
                _ => r.steps.push(StepReport::new(
                    "restore",
                    Skipped,
                    "the primary's check was never changed",
                )),
            }
            r.steps
                .push(StepReport::new("alert", WouldDo, "one failback alert"));
            r.steps
                .extend(Box::pin(self.workflow_plan(def, TransitionKind::Failback)).await);
            r.message = format!(
                "dry run: would fail {} back to {}",
                def.name, def.primary.region
            );
            return Ok(r);
        }
        let (trigger, claimant) = operator_claim(req, inv);
        let next = claim_failback(&state, target, live, trigger, &claimant, now);
        if let ControlWrite::Conflict(current) = self.claim(def, state.version, &next).await? {
            let phase = current.map_or(state.phase, |c| c.phase);
            return Ok(refuse(
                r,
                format!("the state changed while deciding (now {phase}); nothing done, retry"),
            ));
        }
        let epoch = next.epoch;
        let record = operator_record(req, epoch, "failback", now, inv);
        let first = self.store.append_history(&def.name, &record).await;
        let outcome = Box::pin(self.execute_failback(def, next)).await;
        let audit = self.audit_landed(def, &record, first, inv).await;
        Ok(self.answer_claimed(def, r, epoch, audit, outcome).await)
    }

    /// The operator's claim. When its answer is lost (the write may have landed), the state
    /// is read back to tell: a landed claim goes on, so the operator is never told "failed"
    /// about a transition that the reconciler would then carry out anyway.
    async fn claim(
        &self,
        def: &ServiceDefinition,
        expected: u64,
        next: &ServiceState,
    ) -> Result<ControlWrite, EngineError> {
        let lost = match self.write_transition(&def.name, expected, next).await {
            Ok(written) => return Ok(written),
            Err(e) => e,
        };
        match self.store.load_state(&def.name).await {
            Ok(cur) if cur.version == next.version && cur.execution == next.execution => {
                info!(service = %def.name, epoch = next.epoch, error = %lost, "the claim's answer was lost, but it had landed");
                Ok(ControlWrite::Written)
            }
            Ok(cur) if cur.version != expected => Ok(ControlWrite::Conflict(Some(Box::new(cur)))),
            _ => Err(EngineError::Store(lost)),
        }
    }

    /// A transition whose owner stopped (its lease passed, or it released it after a failed
    /// step) is finished by the operator who asks next, as the reconciler would.
    async fn finish_abandoned(
        &self,
        def: &ServiceDefinition,
        mut r: OperatorResponse,
        state: ServiceState,
        inv: &Invocation,
    ) -> Result<OperatorResponse, EngineError> {
        info!(service = %def.name, epoch = state.epoch, phase = %state.phase, "operator request finds an unfinished transition whose owner stopped; finishing it first");
        r.steps.push(StepReport::new(
            "resume",
            Done,
            format!(
                "finished the unfinished {} of epoch {} (its owner had stopped) instead of starting another",
                state.phase, state.epoch
            ),
        ));
        let epoch = state.epoch;
        match self.resume(def, state, inv).await {
            Ok(outcome) => Ok(self.finish(def, r, &outcome).await),
            Err(e) => Ok(self.answer_unfinished(def, r, epoch, e).await),
        }
    }

    pub(super) async fn finish_phase(
        &self,
        def: &ServiceDefinition,
        mut r: OperatorResponse,
    ) -> Result<OperatorResponse, EngineError> {
        let state = self
            .store
            .load_state(&def.name)
            .await
            .map_err(EngineError::Store)?;
        r.phase_after = Some(state.phase);
        r.epoch = Some(state.epoch);
        Ok(r)
    }
}

/// Who claims an operator's transition and why: the request's person, reason and force,
/// the invocation's lease.
fn operator_claim(req: &OperatorRequest, inv: &Invocation) -> (Trigger, Claimant) {
    let trigger = Trigger::Operator {
        requested_by: req.requested_by.clone(),
        reason: req.reason.clone(),
        forced: req.force,
    };
    let claimant = Claimant {
        owner: format!("operator:{}", inv.request_id),
        lease_until: inv.deadline,
    };
    (trigger, claimant)
}

fn unknown(catalog: &Catalog, name: &str) -> EngineError {
    let known: Vec<&str> = catalog
        .services()
        .map(|d| d.name.as_str())
        .take(20)
        .collect();
    EngineError::UnknownService(format!(
        "field 'service': no service '{}' in the catalog (known: {})",
        name.chars().take(80).collect::<String>(),
        if known.is_empty() {
            "none".to_string()
        } else {
            known.join(", ")
        }
    ))
}

pub(super) fn response(req: &OperatorRequest, state: &ServiceState) -> OperatorResponse {
    OperatorResponse {
        ok: false,
        action: req.action,
        service: req.service.clone(),
        phase_before: Some(state.phase),
        phase_after: Some(state.phase),
        epoch: Some(state.epoch),
        dry_run: req.dry_run,
        steps: Vec::new(),
        message: String::new(),
        next: None,
        status: Vec::new(),
    }
}

pub(super) fn refuse(mut r: OperatorResponse, message: String) -> OperatorResponse {
    r.ok = false;
    r.message = format!("refused: {message}");
    r
}

/// A workflow step of the current execution claimed and still within its lease.
fn running_step(state: &ServiceState, now: Millis) -> Option<(String, Millis)> {
    let run = state.execution.as_ref()?.workflow.as_ref()?;
    run.steps
        .iter()
        .find_map(|s| match (s.status, s.lease_until) {
            (crate::domain::workflow_run::StepStatus::Running, Some(until)) if until > now => {
                Some((s.id().to_string(), until))
            }
            _ => None,
        })
}

/// An unfinished transition whose owner's lease has passed.
fn abandoned(state: &ServiceState, now: Millis) -> bool {
    matches!(state.phase, Phase::FailingOver | Phase::FailingBack)
        && state
            .execution
            .as_ref()
            .is_some_and(|e| e.completed_at.is_none() && e.lease_until <= now)
}

/// When a waiting operator may ask again and have an owner that stopped taken over.
fn lease_note(state: &ServiceState) -> String {
    state
        .execution
        .as_ref()
        .filter(|e| e.completed_at.is_none())
        .map_or(String::new(), |e| {
            format!(
                " (its owner holds it until {}; if it has stopped, asking again after that finishes it)",
                fmt_time(e.lease_until)
            )
        })
}

/// A dry run's line for the metric switch.
fn metric_step(def: &ServiceDefinition, value: u8) -> String {
    format!(
        "PutMetricData {SWITCH_NAMESPACE}/{SWITCH_METRIC} Service={} = {value} in {} (no Route 53 API call)",
        def.name,
        def.switch.metric_region().unwrap_or("?")
    )
}
