//! The steps of every workflow, over the ports: one implementation of each, which the
//! functions call as thin entry points.
//!
//! `alarm` takes an observer's vote to a decision; `transition` claims and carries out a
//! failover or failback, `close` sends its alert with the closing write, `guards` keeps it
//! single-owner and resumable, `readiness` reads the secondary before a switch; `operator`,
//! `pause` and `status` are the operator's actions; `reconcile` is the reconciler's run.

mod alarm;
mod close;
mod guards;
mod operator;
mod pause;
mod readiness;
pub mod reconcile;
mod standing;
mod status;
mod transition;

#[cfg(test)]
mod tests;

use std::sync::Arc;

use tokio::sync::Mutex;
use tracing::{error, warn};

use crate::api::operator_request::RequestError;
use crate::api::reports::{ServiceOutcome, SERVICE_OUTCOMES};
use crate::domain::alert::Alert;
use crate::domain::catalog::{Catalog, ServiceDefinition};
use crate::domain::event::EventError;
use crate::domain::state::ServiceState;
use crate::domain::time::Millis;
use crate::metrics::{self, Unit};
use crate::ports::{AlarmReader, AwsError, Clock, ControlStore, HealthChecks, Notifier};

pub use reconcile::ReconcileSettings;

/// The catalog is re-read at most this often.
pub const CATALOG_TTL_MS: Millis = 60_000;

/// A catalog that does not know a requested service or observer (a new entry) is re-read
/// at once, but a miss re-reads at most this often, so a flood of events from unknown
/// alarms cannot turn into a flood of Queries. A failed re-read is retried no sooner.
pub const CATALOG_MISS_REFRESH_MS: Millis = 10_000;

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
    /// The deployment's partition and account: catalog entries naming alarms outside it are
    /// refused. Set where the functions start (`adapters::aws::engine_from_env`); `None` checks nothing.
    pub home_account: Option<crate::domain::arn::HomeAccount>,
    catalog: Mutex<CatalogCache>,
}

/// The last good catalog and when it was read; when a miss last re-read it; when a
/// re-read last failed.
#[derive(Default)]
struct CatalogCache {
    catalog: Option<(Arc<Catalog>, Millis)>,
    miss_read_at: Option<Millis>,
    failed_at: Option<Millis>,
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
            home_account: None,
            catalog: Mutex::new(CatalogCache::default()),
        }
    }

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

    /// The cached catalog, re-read when older than a minute. Bad entries are logged by
    /// name and field and skipped; if a re-read fails, the last good catalog is kept.
    pub async fn catalog(&self) -> Result<Arc<Catalog>, EngineError> {
        self.catalog_with(|_| true).await
    }

    /// The cached catalog, re-read as [`Engine::catalog`] does, and also at once when `knows`
    /// is false for it (a service or observer added since it was read); a miss re-reads at
    /// most once every [`CATALOG_MISS_REFRESH_MS`].
    pub async fn catalog_with(
        &self,
        knows: impl Fn(&Catalog) -> bool,
    ) -> Result<Arc<Catalog>, EngineError> {
        self.catalog_refreshed_on_miss(knows, 0).await
    }

    /// As [`Engine::catalog_with`] for an alarm event: a miss re-reads only a catalog read
    /// at least [`CATALOG_MISS_REFRESH_MS`] ago, so an event from an alarm that is no
    /// observer costs no call within 10 s of a read (the path stays free of round trips).
    pub async fn catalog_for_event(
        &self,
        knows: impl Fn(&Catalog) -> bool,
    ) -> Result<Arc<Catalog>, EngineError> {
        self.catalog_refreshed_on_miss(knows, CATALOG_MISS_REFRESH_MS)
            .await
    }

    async fn catalog_refreshed_on_miss(
        &self,
        knows: impl Fn(&Catalog) -> bool,
        min_age: Millis,
    ) -> Result<Arc<Catalog>, EngineError> {
        let now = self.clock.now();
        let mut cached = self.catalog.lock().await;
        let since = |t: Option<Millis>| t.is_none_or(|t| now - t >= CATALOG_MISS_REFRESH_MS);
        if let Some((catalog, loaded_at)) = cached.catalog.clone() {
            let stale = now - loaded_at >= CATALOG_TTL_MS;
            let miss = !stale
                && since(cached.miss_read_at)
                && now - loaded_at >= min_age
                && !knows(&catalog);
            if !since(cached.failed_at) || !(stale || miss) {
                return Ok(catalog);
            }
            if miss {
                cached.miss_read_at = Some(now);
            }
        }
        match self.store.load_catalog().await {
            Ok(entries) => {
                let (catalog, errors) =
                    Catalog::from_entries_in(entries, self.home_account.as_ref());
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
                cached.catalog = Some((catalog.clone(), now));
                cached.failed_at = None;
                Ok(catalog)
            }
            Err(e) => {
                let Some((catalog, _)) = cached.catalog.clone() else {
                    return Err(EngineError::Catalog(e));
                };
                cached.failed_at = Some(now);
                warn!(error = %e, "catalog re-read failed; keeping the last good one");
                Ok(catalog)
            }
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
