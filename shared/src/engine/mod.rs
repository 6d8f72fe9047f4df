//! The steps of every workflow, over the ports: one implementation of each, which the
//! functions call as thin entry points.
//!
//! `alarm` takes an observer's vote to a decision; `transition` claims and carries out a
//! failover or failback, `close` sends its alert with the closing write, `guards` keeps it
//! single-owner and resumable, `readiness` reads the secondary before a switch, `switch`
//! switches without Route 53's API (metric) or with both mechanisms, `probe` reads the
//! primary's never-flipped check; `operator`,
//! `pause` and `status` are the operator's actions; `reconcile` is the reconciler's run.

mod alarm;
mod catalog;
mod close;
mod guards;
mod operator;
mod outbox;
mod pause;
mod probe;
mod readiness;
pub mod reconcile;
mod recovery;
mod standing;
mod status;
mod switch;
mod transition;
mod workflow;
mod workflow_answer;
mod workflow_calls;
mod workflow_view;

#[cfg(test)]
mod tests;

use tokio::sync::Mutex;

use crate::api::operator_request::RequestError;
use crate::api::reports::{ServiceOutcome, SERVICE_OUTCOMES};
use crate::domain::alert::Alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::event::EventError;
use crate::domain::state::ServiceState;
use crate::domain::time::Millis;
use crate::metrics::{self, Unit};
use crate::ports::{
    AwsError, Clock, CloudWatch, ControlStore, HealthChecks, NoRunbook, Notifier, Runbook,
};

pub use catalog::{CATALOG_KEEPER, CATALOG_MISS_REFRESH_MS, CATALOG_TTL_MS};
pub use reconcile::ReconcileSettings;
pub use switch::ROUTE53_WAIT;

use catalog::CatalogCache;

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
    BadRequest(#[from] RequestError),
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

/// The steps over their ports: the control table, Route 53's health checks, CloudWatch's
/// alarms, the alert topic and the clock.
pub struct Engine<S, H, A, N, C, R = NoRunbook> {
    pub store: S,
    pub health: H,
    pub alarms: A,
    pub notifier: N,
    pub clock: C,
    /// The runbook's resources (`engine::workflow`).
    pub runbook: R,
    /// The function name used in metrics and audit records.
    pub function: &'static str,
    /// EMF metric lines on stdout (on in Lambda; the demo turns them off).
    pub metrics: bool,
    /// The deployment's partition and account: catalog entries naming alarms outside it are
    /// refused. Set where the functions start (`adapters::aws::engine_from_env`); `None` checks nothing.
    pub home_account: Option<crate::domain::arn::HomeAccount>,
    catalog: Mutex<CatalogCache>,
    /// Where the reconciler's next ListHealthChecks starts (`None`: the first page). Kept
    /// while the process lives (a warm Lambda), so an account with more checks than one
    /// run reads is covered over several runs; a cold start begins at the first page.
    check_cursor: std::sync::Mutex<Option<String>>,
}

impl<S, H, A, N, C> Engine<S, H, A, N, C, NoRunbook> {
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
            runbook: NoRunbook,
            function,
            metrics: true,
            home_account: None,
            catalog: Mutex::new(CatalogCache::default()),
            check_cursor: std::sync::Mutex::new(None),
        }
    }
}

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R> {
    /// The same engine with runbook clients for the workflow steps.
    pub fn with_runbook<W: Runbook>(self, runbook: W) -> Engine<S, H, A, N, C, W> {
        Engine {
            store: self.store,
            health: self.health,
            alarms: self.alarms,
            notifier: self.notifier,
            clock: self.clock,
            runbook,
            function: self.function,
            metrics: self.metrics,
            home_account: self.home_account,
            catalog: self.catalog,
            check_cursor: self.check_cursor,
        }
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
    pub(super) fn emit(
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

    pub(super) fn outcome(
        &self,
        def: &ServiceDefinition,
        outcome: &'static str,
        state: &ServiceState,
        detail: String,
    ) -> ServiceOutcome {
        debug_assert!(SERVICE_OUTCOMES.contains(&outcome), "{outcome}");
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
