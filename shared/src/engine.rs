//! The automated path and the execution steps, over the ports. One implementation of each
//! step; the functions are thin entry points over it.

use std::sync::Arc;

use futures::future::join_all;
use serde::Serialize;
use tokio::sync::Mutex;
use tracing::{error, info, warn};

use crate::alert::{blocked_alert, failover_alert, pending_alert};
use crate::catalog::{Catalog, ServiceDefinition};
use crate::decision::{
    self, alarm_name, assess, check_freshness, claim_failover, complete_transition,
    preflight_checks, preflight_passed, take_over, Assessment, Claimant, Hold, PreflightReadings,
};
use crate::event::{parse_alarm_event, AlarmObservation, EventError};
use crate::history::HistoryRecord;
use crate::metrics::{self, Unit};
use crate::ports::{
    AlarmReader, Alert, AwsError, Clock, ControlStore, ControlWrite, ErrorKind, HealthCheckConfig,
    HealthChecks, Notifier, UpdateError, VoteWrite,
};
use crate::state::{
    Execution, HealthCheckSettings, Millis, Phase, ServiceState, TransitionKind, Trigger,
    VoteRecord,
};

/// The catalog is re-read at most this often.
pub const CATALOG_TTL_MS: Millis = 60_000;
/// A version mismatch on UpdateHealthCheck is re-read and retried at most this many times.
const MAX_VERSION_RETRIES: usize = 3;

/// The Lambda invocation doing the work: its id owns a claimed decision until its deadline.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Invocation {
    pub request_id: String,
    /// Unix millis after which Lambda will have stopped this invocation.
    pub deadline: Millis,
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("bad event: {0}")]
    BadEvent(#[from] EventError),
    #[error("bad request: {0}")]
    BadRequest(#[from] crate::operator::RequestError),
    #[error("bad request: {0}")]
    UnknownService(String),
    #[error("control table unavailable: {0}")]
    Store(AwsError),
    #[error("catalog could not be read: {0}")]
    Catalog(AwsError),
    #[error("service {service}, epoch {epoch}: {step} did not complete: {cause}")]
    StepFailed {
        service: String,
        epoch: u64,
        step: &'static str,
        cause: String,
    },
}

impl EngineError {
    /// A short, stable name for the Lambda error type.
    pub fn kind(&self) -> &'static str {
        match self {
            EngineError::BadEvent(_) => "BadEvent",
            EngineError::BadRequest(_) | EngineError::UnknownService(_) => "BadRequest",
            EngineError::Store(_) => "ControlTableUnavailable",
            EngineError::Catalog(_) => "CatalogUnavailable",
            EngineError::StepFailed { .. } => "StepFailed",
        }
    }
}

/// What one event did to one service; the function's response.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct ServiceOutcome {
    pub service: String,
    /// ignored | vote_recorded | duplicate | held | claim_lost | failed_over | blocked | in_progress
    pub outcome: &'static str,
    pub phase: Phase,
    pub epoch: u64,
    pub detail: String,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct AlarmOutcome {
    pub observer: String,
    pub state: String,
    pub services: Vec<ServiceOutcome>,
    /// Set when the event was ignored before reaching any service.
    pub ignored: Option<String>,
}

pub struct Engine<S, H, A, N, C> {
    pub store: S,
    pub health: H,
    pub alarms: A,
    pub notifier: N,
    pub clock: C,
    /// The function name used in metrics and audit records.
    pub function: &'static str,
    /// EMF metric lines on stdout (on in Lambda; the demo turns them off).
    pub metrics: bool,
    catalog: Mutex<Option<(Arc<Catalog>, Millis)>>,
}

/// What the secondary and the primary's health check looked like, read in parallel with the claim.
pub(crate) struct Readings {
    pub(crate) preflight: PreflightReadings,
    pub(crate) primary: Result<HealthCheckConfig, AwsError>,
    /// Pre-flight reads that got no answer (throttled, 5xx, timed out): the secondary's
    /// readiness is unknown, which is a reason to retry, not to block.
    pub(crate) unanswered: Vec<String>,
}

impl<S, H, A, N, C> Engine<S, H, A, N, C>
where
    S: ControlStore,
    H: HealthChecks,
    A: AlarmReader,
    N: Notifier,
    C: Clock,
{
    pub fn new(
        store: S,
        health: H,
        alarms: A,
        notifier: N,
        clock: C,
        function: &'static str,
    ) -> Self {
        Engine {
            store,
            health,
            alarms,
            notifier,
            clock,
            function,
            metrics: true,
            catalog: Mutex::new(None),
        }
    }

    pub(crate) fn emit(
        &self,
        service: Option<&str>,
        now: Millis,
        values: &[(&str, f64, Unit)],
        properties: &[(&str, &str)],
    ) {
        if self.metrics {
            metrics::emit(self.function, service, now, values, properties);
        }
    }

    /// The cached catalog, re-read when older than a minute. Bad entries are logged by
    /// name and field and skipped; if a re-read fails, the last good catalog is kept.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, EngineError> {
        let now = self.clock.now();
        let mut cached = self.catalog.lock().await;
        if let Some((catalog, loaded_at)) = cached.as_ref() {
            if now - loaded_at < CATALOG_TTL_MS {
                return Ok(catalog.clone());
            }
        }
        match self.store.load_catalog().await {
            Ok(entries) => {
                let (catalog, errors) = Catalog::from_entries(entries);
                for e in &errors {
                    error!(error = %e, "catalog entry skipped");
                }
                self.emit(
                    None,
                    now,
                    &[
                        ("CatalogServices", catalog.len() as f64, Unit::Count),
                        ("CatalogErrors", errors.len() as f64, Unit::Count),
                    ],
                    &[],
                );
                let catalog = Arc::new(catalog);
                *cached = Some((catalog.clone(), now));
                Ok(catalog)
            }
            Err(e) => match cached.as_ref() {
                Some((catalog, _)) => {
                    warn!(error = %e, "catalog re-read failed; keeping the last good one");
                    Ok(catalog.clone())
                }
                None => Err(EngineError::Catalog(e)),
            },
        }
    }

    /// Handles one alarm event of either shape.
    pub async fn handle_alarm_event(
        &self,
        payload: &serde_json::Value,
        inv: &Invocation,
    ) -> Result<AlarmOutcome, EngineError> {
        let obs = match parse_alarm_event(payload) {
            Ok(obs) => obs,
            Err(e) => {
                warn!(error = %e, "malformed alarm event refused");
                self.count_ignored(None, "malformed");
                return Err(EngineError::BadEvent(e));
            }
        };
        let catalog = self.catalog().await?;
        let services = catalog.services_observing(&obs.observer);
        let mut outcome = AlarmOutcome {
            observer: obs.observer.clone(),
            state: obs.state.to_string(),
            services: Vec::new(),
            ignored: None,
        };
        if services.is_empty() {
            info!(observer = %obs.observer, "ignored: the alarm is not an observer of any catalogued service");
            self.count_ignored(None, "unknown_observer");
            outcome.ignored = Some("unknown observer".into());
            return Ok(outcome);
        }
        let results = join_all(services.into_iter().map(|def| self.observe(def, &obs, inv))).await;
        let mut first_error = None;
        for r in results {
            match r {
                Ok(o) => outcome.services.push(o),
                Err(e) => {
                    error!(error = %e, "alarm event not fully handled; a retry will resume it");
                    first_error.get_or_insert(e);
                }
            }
        }
        match first_error {
            Some(e) => Err(e),
            None => Ok(outcome),
        }
    }

    async fn observe(
        &self,
        def: &ServiceDefinition,
        obs: &AlarmObservation,
        inv: &Invocation,
    ) -> Result<ServiceOutcome, EngineError> {
        let now = self.clock.now();
        if let Err(staleness) = check_freshness(def, obs, now) {
            warn!(service = %def.name, observer = %obs.observer, event_id = %obs.event_id, reason = %staleness, "ignored alarm event");
            self.count_ignored(Some(&def.name), staleness.label());
            return Ok(self.outcome(
                def,
                "ignored",
                &ServiceState::default(),
                staleness.to_string(),
            ));
        }
        let vote = decision::vote_from(obs, now, &inv.request_id);
        let record = HistoryRecord {
            at: obs.state_changed_at,
            epoch: 0,
            kind: "observation".into(),
            actor: obs.observer.clone(),
            what: format!("{} reported {}", alarm_name(&obs.observer), obs.state),
            why: obs.reason.clone(),
            votes: Vec::new(),
            key: format!("obs#{}#{}", alarm_name(&obs.observer), obs.event_id),
        };
        let (written, audited) = tokio::join!(
            self.store.record_vote(&def.name, &obs.observer, &vote),
            self.store.append_history(&def.name, &record)
        );
        let written = written.map_err(EngineError::Store)?;
        let (state, fresh) = match written {
            VoteWrite::Recorded(state) => (state, true),
            // Our own vote (this invocation, this millisecond): the SDK retried a write
            // whose answer was lost; not a redelivery.
            VoteWrite::NotNewer(state) if state.votes.get(&obs.observer) == Some(&vote) => {
                (state, true)
            }
            VoteWrite::NotNewer(state) => (state, false),
        };
        self.emit(
            Some(&def.name),
            now,
            &[(
                if fresh { "Votes" } else { "DuplicateVotes" },
                1.0,
                Unit::Count,
            )],
            &[
                ("observer", &obs.observer),
                ("state", &obs.state.to_string()),
            ],
        );
        let outcome = self.after_vote(def, state, fresh, obs, inv).await;
        // The vote is safe in the state item; a lost audit write fails the invocation so the
        // redelivery (a duplicate: one round trip) writes it again.
        audited.map_err(EngineError::Store)?;
        outcome
    }

    async fn after_vote(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        fresh: bool,
        obs: &AlarmObservation,
        inv: &Invocation,
    ) -> Result<ServiceOutcome, EngineError> {
        let now = self.clock.now();
        match assess(def, &state, now) {
            Assessment::NoQuorum { live, quorum } => {
                let what = if fresh { "vote_recorded" } else { "duplicate" };
                info!(service = %def.name, observer = %obs.observer, live, quorum, outcome = what, "no quorum");
                Ok(self.outcome(def, what, &state, format!("{live} of {quorum} votes live")))
            }
            Assessment::Held(hold) => {
                if fresh
                    && matches!(
                        hold,
                        Hold::Paused { .. } | Hold::Cooldown { .. } | Hold::DailyCap { .. }
                    )
                {
                    self.record_refusal(def, &state, &hold, obs).await?;
                }
                info!(service = %def.name, hold = %hold, "quorum or not, no automatic action");
                let what = match hold {
                    Hold::InProgress { .. } => "in_progress",
                    _ if !fresh => "duplicate",
                    _ => "held",
                };
                Ok(self.outcome(def, what, &state, hold.to_string()))
            }
            Assessment::QuorumReached { votes } => {
                let trigger = Trigger::Quorum {
                    quorum: def.quorum,
                    observers: def.observers.len() as u32,
                };
                self.start_failover(def, state, votes, trigger, inv, fresh)
                    .await
            }
            Assessment::ResumeDue { epoch } => {
                info!(service = %def.name, epoch, "resuming an unfinished transition whose owner's lease expired");
                self.resume(def, state, inv).await
            }
        }
    }

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
                self.execute(def, next, readings).await
            }
        }
    }

    pub(crate) async fn resume(
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
                Some(TransitionKind::Failback) => self.execute_failback(def, next).await,
                _ => self.execute(def, next, None).await,
            },
        }
    }

    /// A version-guarded write of this invocation's transition. When the SDK retried a
    /// write whose first answer was lost, the retry's condition fails against our own
    /// landed write: that reads as written, not as a lost claim.
    pub(crate) async fn write_transition(
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

    pub(crate) async fn read_readiness(&self, def: &ServiceDefinition) -> Readings {
        let pf = &def.preflight;
        let now = self.clock.now();
        let health = async {
            if pf.secondary_health_check {
                Some(self.health.status(&def.secondary.health_check_id).await)
            } else {
                None
            }
        };
        let alarm = async {
            match &pf.secondary_alarm_arn {
                Some(arn) => Some(self.alarms.alarm_state(arn).await),
                None => None,
            }
        };
        let lag = async {
            match &pf.replica_lag {
                Some(spec) => Some(self.alarms.replica_lag(spec, now).await),
                None => None,
            }
        };
        let (secondary_health, secondary_alarm, replica_lag, primary) = tokio::join!(
            health,
            alarm,
            lag,
            self.health.get(&def.primary.health_check_id)
        );
        let mut unanswered = Vec::new();
        let preflight = PreflightReadings {
            secondary_health: reading(
                "secondary health check status",
                secondary_health,
                &mut unanswered,
            ),
            secondary_alarm: reading("secondary alarm", secondary_alarm, &mut unanswered),
            replica_lag: reading("replica lag", replica_lag, &mut unanswered),
        };
        Readings {
            preflight,
            primary,
            unanswered,
        }
    }

    /// Runs the remaining steps of a claimed failover: pre-flight gate, switch, alert,
    /// completion. Every step checks what is already done, so a resumed run repeats nothing.
    pub(crate) async fn execute(
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
                exec.preflight = preflight_checks(def, &r.preflight);
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

        if exec.switched_at.is_none() {
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
                )
                .await
            {
                Ok(()) => {}
                Err(cause) => return Err(self.fail_step(def, state, exec, "switch", cause).await),
            }
            self.emit(
                Some(&def.name),
                self.clock.now(),
                &[(
                    "SwitchLatency",
                    (self.clock.now() - exec.decided_at) as f64,
                    Unit::Milliseconds,
                )],
                &[],
            );
        }

        let pending = exec.alerted_at.is_none().then(|| {
            let record = self.step_record(
                &exec,
                "switch",
                format!(
                    "primary health check {} forced unhealthy ({} -> {})",
                    def.primary.health_check_id,
                    exec.prior.map_or("unknown".to_string(), |p| p.to_string()),
                    HealthCheckSettings::FORCED_UNHEALTHY
                ),
            );
            (failover_alert(def, &exec), record)
        });
        let now = self.clock.now();
        let (state, exec) = self
            .close_with_alert(def, state, exec, pending, "alert")
            .await?;
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
            let (saved, updated) = tokio::join!(
                self.write_transition(&def.name, expected, &next),
                self.health.update(id, hc.version, target)
            );
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
    pub(crate) async fn execute_failback(
        &self,
        def: &ServiceDefinition,
        mut state: ServiceState,
    ) -> Result<ServiceOutcome, EngineError> {
        let Some(mut exec) = state.execution.clone() else {
            return Ok(self.outcome(def, "held", &state, "no execution recorded".into()));
        };
        if let (Some(target), None) = (exec.prior, exec.switched_at) {
            let hc = match self.health.get(&def.primary.health_check_id).await {
                Ok(hc) => hc,
                Err(e) => {
                    return Err(self
                        .fail_step(def, state, exec, "read primary health check", e.to_string())
                        .await)
                }
            };
            if let Err(cause) = self
                .set_primary_check(def, &mut state, &mut exec, hc, target)
                .await
            {
                return Err(self.fail_step(def, state, exec, "restore", cause).await);
            }
        }
        let pending = exec.alerted_at.is_none().then(|| {
            let what = match exec.prior {
                Some(p) => format!(
                    "primary health check {} restored to {p}",
                    def.primary.health_check_id
                ),
                None => "nothing to restore (the check was never changed)".to_string(),
            };
            let record = self.step_record(&exec, "failback", what);
            (crate::alert::failback_alert(def, &exec), record)
        });
        let now = self.clock.now();
        let (state, exec) = self
            .close_with_alert(def, state, exec, pending, "alert")
            .await?;
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
            .close_with_alert(def, state, exec, pending, "blocked alert")
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

    /// A step failed: keep what is done, release the lease so a redelivery or the reconciler
    /// can finish at once, and fail the invocation so it is retried.
    ///
    /// A switch that could not be made (or a secondary that could not be read) is announced
    /// once per epoch with a PENDING alert, after the release that records it has landed.
    async fn fail_step(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        mut exec: Execution,
        step: &'static str,
        cause: String,
    ) -> EngineError {
        error!(service = %def.name, epoch = exec.epoch, step, cause = %cause, "step failed; releasing the lease for a retry");
        let announce = exec.pending_alerted_at.is_none() && SWITCH_STEPS.contains(&step);
        if announce {
            exec.pending_alerted_at = Some(self.clock.now());
        }
        match self.release(def, state, &exec).await {
            Ok(()) if announce => {
                let alert = pending_alert(def, &exec, step, &cause);
                match self.notifier.publish(&alert).await {
                    Ok(id) => {
                        warn!(service = %def.name, epoch = exec.epoch, message_id = %id, subject = %alert.subject, "switch pending; alert published")
                    }
                    Err(e) => {
                        error!(service = %def.name, epoch = exec.epoch, subject = %alert.subject, error = %e, "the PENDING alert was not delivered; the reconciler escalates if the switch stays stuck")
                    }
                }
            }
            Ok(()) => {}
            Err(e) => {
                warn!(error = %e, "could not release the lease; it expires at the invocation deadline")
            }
        }
        self.step_failed(def, exec.epoch, step, cause)
    }

    /// Saves `exec` over `state` (guarded by its version) with the lease released.
    async fn release(
        &self,
        def: &ServiceDefinition,
        mut state: ServiceState,
        exec: &Execution,
    ) -> Result<(), String> {
        let expected = state.version;
        let mut exec = exec.clone();
        exec.lease_until = 0;
        state.version += 1;
        state.execution = Some(exec);
        match self.write_transition(&def.name, expected, &state).await {
            Ok(ControlWrite::Written) => Ok(()),
            Ok(ControlWrite::Conflict(_)) => Err("the control state changed meanwhile".into()),
            Err(e) => Err(e.to_string()),
        }
    }

    fn step_failed(
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

    /// The last round trip of a transition: the alert, the closing state write and the
    /// audit record go out together. The closing write already marks the alert sent, so no
    /// redelivery can send it twice; if SNS refuses it, the write is taken back (the
    /// transition reopens with the lease released) and the retry sends it. Without the time
    /// for that round trip left, nothing is sent and the retry closes. Returns the closed
    /// state and the execution with the SNS message id, which only this invocation knows.
    async fn close_with_alert(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        exec: Execution,
        pending: Option<(Alert, HistoryRecord)>,
        step: &'static str,
    ) -> Result<(ServiceState, Execution), EngineError> {
        let now = self.clock.now();
        if pending.is_some() && exec.lease_until - now < CLOSE_BUDGET_MS {
            return Err(self
                .fail_step(
                    def,
                    state,
                    exec,
                    step,
                    "too little time left to publish and record the alert; the retry sends it"
                        .into(),
                )
                .await);
        }
        let mut marked = exec.clone();
        marked.alerted_at.get_or_insert(now);
        let mut done = closing_state(&state, &marked, now);
        let write = self.write_transition(&def.name, state.version, &done);
        let Some((alert, record)) = pending else {
            return match write.await {
                Ok(ControlWrite::Written) => Ok((done, marked)),
                Ok(ControlWrite::Conflict(_)) => {
                    Err(self.ownership_lost(def, exec.epoch, "closing write"))
                }
                Err(e) => Err(self
                    .fail_step(def, state, exec, "closing write", e.to_string())
                    .await),
            };
        };
        let (published, saved, audited) = tokio::join!(
            self.notifier.publish(&alert),
            write,
            self.store.append_history(&def.name, &record)
        );
        if let Err(e) = audited {
            warn!(error = %e, "audit record for the step not written; the state item keeps it");
        }
        let mut saved = saved;
        // Someone else wrote the item meanwhile (a pause, a vote expiry, drift bookkeeping)
        // while the transition is still ours: close on top of their write, once.
        if let Ok(ControlWrite::Conflict(Some(cur))) = &saved {
            if published.is_ok() && is_open(cur, &exec) {
                done = closing_state(cur, &marked, now);
                saved = self.write_transition(&def.name, cur.version, &done).await;
            }
        }
        match (published, saved) {
            (Ok(id), Ok(ControlWrite::Written)) => {
                info!(service = %def.name, epoch = exec.epoch, message_id = %id, subject = %alert.subject, "alert published");
                marked.alert_message_id = Some(id);
                done.execution = Some(marked.clone());
                Ok((done, marked))
            }
            (Ok(id), Ok(ControlWrite::Conflict(_))) => {
                warn!(service = %def.name, epoch = exec.epoch, message_id = %id, "alert published, but the transition is no longer this invocation's");
                Err(self.ownership_lost(def, exec.epoch, step))
            }
            (Ok(id), Err(e)) => {
                // Sent but not recorded: record it now so the retry only closes.
                marked.alert_message_id = Some(id);
                Err(self
                    .fail_step(
                        def,
                        state,
                        marked,
                        "closing write",
                        format!("the alert was sent but the closing write failed: {e}"),
                    )
                    .await)
            }
            (Err(e), Ok(ControlWrite::Written)) => {
                self.take_back(def, state, done.version, &exec, &alert, &e.to_string())
                    .await;
                Err(self.step_failed(def, exec.epoch, step, e.to_string()))
            }
            (Err(e), Ok(ControlWrite::Conflict(cur))) => match cur {
                // Our write did not land and the transition is still ours: free it now.
                Some(cur) if is_open(&cur, &exec) => {
                    Err(self.fail_step(def, *cur, exec, step, e.to_string()).await)
                }
                _ => {
                    warn!(service = %def.name, epoch = exec.epoch, error = %e, "alert not published and the transition is no longer this invocation's");
                    Err(self.ownership_lost(def, exec.epoch, step))
                }
            },
            (Err(e), Err(we)) => {
                // The write may have landed all the same: release the lease over the state
                // before it, or else take the closing write back.
                if self.release(def, state.clone(), &exec).await.is_err() {
                    self.take_back(def, state, done.version, &exec, &alert, &e.to_string())
                        .await;
                }
                Err(self.step_failed(
                    def,
                    exec.epoch,
                    step,
                    format!("{e}; the closing write failed too: {we}"),
                ))
            }
        }
    }

    /// Reopens a transition whose closing write landed but whose alert SNS refused.
    async fn take_back(
        &self,
        def: &ServiceDefinition,
        before: ServiceState,
        closed_version: u64,
        exec: &Execution,
        alert: &Alert,
        publish_error: &str,
    ) {
        let mut reopened = before;
        reopened.version = closed_version;
        if let Err(undo) = self.release(def, reopened, exec).await {
            error!(
                service = %def.name, epoch = exec.epoch, subject = %alert.subject,
                alert_message = %alert.message, publish_error, undo_error = %undo,
                "ALERT NOT DELIVERED and the control table records it as sent: page the on-call by hand"
            );
            self.emit(
                Some(&def.name),
                self.clock.now(),
                &[("AlertsLost", 1.0, Unit::Count)],
                &[],
            );
        }
    }

    fn ownership_lost(
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

    /// A held-back quorum is audited once per vote; the daily cap also pages, once a day.
    async fn record_refusal(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        hold: &Hold,
        obs: &AlarmObservation,
    ) -> Result<(), EngineError> {
        let now = self.clock.now();
        let votes = decision::live_votes(def, state, now);
        let record = HistoryRecord {
            at: now,
            epoch: state.epoch,
            kind: "refusal".into(),
            actor: self.function.into(),
            what: format!("automatic failover not started ({})", hold.label()),
            why: hold.to_string(),
            votes: votes.clone(),
            key: format!("refusal#{}#{}", hold.label(), obs.event_id),
        };
        self.emit(
            Some(&def.name),
            now,
            &[("Refusals", 1.0, Unit::Count)],
            &[("reason", hold.label())],
        );
        let (audited, paged) = tokio::join!(
            self.store.append_history(&def.name, &record),
            self.page_daily_cap(def, state, hold, &votes, now)
        );
        audited.map_err(EngineError::Store)?;
        paged
    }

    /// Claims the day's cap page with a version-guarded write, then publishes; a failed
    /// publish gives the claim back so the retry pages.
    async fn page_daily_cap(
        &self,
        def: &ServiceDefinition,
        state: &ServiceState,
        hold: &Hold,
        votes: &[VoteRecord],
        now: Millis,
    ) -> Result<(), EngineError> {
        let Hold::DailyCap { count, .. } = hold else {
            return Ok(());
        };
        if state
            .cap_paged_at
            .is_some_and(|t| now - t < decision::DAY_MS)
        {
            return Ok(());
        }
        let mut next = state.clone();
        next.version += 1;
        next.cap_paged_at = Some(now);
        match self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            ControlWrite::Conflict(_) => Ok(()),
            ControlWrite::Written => {
                let alert = crate::alert::capped_alert(def, state.epoch, *count, votes);
                if let Err(e) = self.notifier.publish(&alert).await {
                    let mut undo = next.clone();
                    undo.version += 1;
                    undo.cap_paged_at = state.cap_paged_at;
                    let _ = self
                        .store
                        .write_control(&def.name, next.version, &undo)
                        .await;
                    return Err(EngineError::StepFailed {
                        service: def.name.clone(),
                        epoch: state.epoch,
                        step: "daily cap page",
                        cause: e.to_string(),
                    });
                }
                Ok(())
            }
        }
    }

    fn step_record(&self, exec: &Execution, step: &str, what: String) -> HistoryRecord {
        HistoryRecord {
            at: self.clock.now(),
            epoch: exec.epoch,
            kind: "step".into(),
            actor: exec.owner.clone(),
            what: format!("{step}: {what}"),
            why: match &exec.trigger {
                Trigger::Quorum { quorum, .. } => format!("quorum of {quorum} observers in ALARM"),
                Trigger::Operator {
                    requested_by,
                    reason,
                    forced,
                } => {
                    format!(
                        "{requested_by}: {reason}{}",
                        if *forced { " (forced)" } else { "" }
                    )
                }
            },
            votes: exec.votes.clone(),
            key: format!("step#{step}"),
        }
    }

    fn count_ignored(&self, service: Option<&str>, reason: &str) {
        self.emit(
            service,
            self.clock.now(),
            &[("IgnoredEvents", 1.0, Unit::Count)],
            &[("reason", reason)],
        );
    }

    fn outcome(
        &self,
        def: &ServiceDefinition,
        outcome: &'static str,
        state: &ServiceState,
        detail: String,
    ) -> ServiceOutcome {
        ServiceOutcome {
            service: def.name.clone(),
            outcome,
            phase: state.phase,
            epoch: state.epoch,
            detail,
        }
    }

    /// Publishes an alert outside the failover steps (used by other entry points).
    pub async fn publish(&self, alert: &Alert) -> Result<String, AwsError> {
        self.notifier.publish(alert).await
    }
}

/// What the alert's round trip needs at most (the SDK's operation timeout is 8 s), so a
/// closing write never lands with its alert cut off by the invocation's deadline.
const CLOSE_BUDGET_MS: Millis = 9_000;

fn closing_state(base: &ServiceState, exec: &Execution, now: Millis) -> ServiceState {
    let mut closing = base.clone();
    closing.execution = Some(exec.clone());
    complete_transition(&closing, now)
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

/// Steps whose failure leaves a decided switch waiting (announced with a PENDING alert).
const SWITCH_STEPS: [&str; 4] = [
    "pre-flight",
    "read primary health check",
    "switch",
    "restore",
];

/// The item still holds this invocation's unfinished transition.
fn is_open(current: &ServiceState, exec: &Execution) -> bool {
    current
        .execution
        .as_ref()
        .is_some_and(|e| e.epoch == exec.epoch && e.owner == exec.owner && e.completed_at.is_none())
}

/// A pre-flight reading for the decision core (which sees only the error's text), noting
/// the reads that got no answer.
fn reading<T>(
    what: &str,
    r: Option<Result<T, AwsError>>,
    unanswered: &mut Vec<String>,
) -> Option<Result<T, String>> {
    r.map(|r| {
        r.map_err(|e| {
            if e.kind == ErrorKind::Unavailable {
                unanswered.push(format!("{what}: {e}"));
            }
            e.to_string()
        })
    })
}

fn def_has_preflight(def: &ServiceDefinition) -> bool {
    let pf = &def.preflight;
    pf.secondary_health_check || pf.secondary_alarm_arn.is_some() || pf.replica_lag.is_some()
}

/// How the Lambda runtime reports an engine error: a stable type and a readable message.
impl From<EngineError> for lambda_runtime::Diagnostic {
    fn from(e: EngineError) -> lambda_runtime::Diagnostic {
        lambda_runtime::Diagnostic {
            error_type: e.kind().to_string(),
            error_message: e.to_string(),
        }
    }
}

impl From<&lambda_runtime::Context> for Invocation {
    fn from(ctx: &lambda_runtime::Context) -> Invocation {
        let raw = Millis::try_from(ctx.deadline).unwrap_or(Millis::MAX);
        // Lambda sends an epoch-millis deadline; cargo lambda's emulator sends the timeout
        // itself (e.g. 600000). Anything before 2001 is such a duration: count it from now.
        let deadline = if raw < 1_000_000_000_000 {
            chrono::Utc::now().timestamp_millis().saturating_add(raw)
        } else {
            raw
        };
        Invocation {
            request_id: ctx.request_id.clone(),
            deadline,
        }
    }
}
