//! Ports that fail once, at an exact step: wrappers around the real SDK adapters for the
//! in-process engine tests. The call fails as the adapter reports a service that stayed
//! down through the SDK's retries, without being sent, and the rest of the run is real.
//!
//! Not the tap's fault injector ([`crate::harness::tap::faults`]), on purpose: that one
//! fails single attempts on the wire, which the SDK retries, by seed and request
//! identity; these fail one port call (the n-th control write, the first switch, the first
//! alert, the first audit record of a kind), which the wire cannot tell apart (a vote and a control write are both an
//! `UpdateItem` of the same item) and which retries would otherwise paper over.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use failover::domain::alert::Alert;
use failover::domain::catalog::{CatalogItem, KeptVersions};
use failover::domain::history::HistoryRecord;
use failover::domain::state::{HealthCheckSettings, ServiceState, Vote};
use failover::ports::{
    AwsError, ControlStore, ControlWrite, ErrorKind, HealthCheckConfig, HealthCheckPage,
    HealthChecks, Notifier, UpdateError, VoteWrite,
};
use failover::Millis;

use crate::harness::tap::{AwsTap, FaultKind};

fn unavailable(service: &'static str, operation: &'static str) -> AwsError {
    AwsError::new(service, operation, ErrorKind::Unavailable, "injected")
}

/// Route 53 refusing the first UpdateHealthCheck while armed.
pub struct FailFirstUpdate<H>(pub H, pub AtomicBool);

impl<H: HealthChecks> HealthChecks for FailFirstUpdate<H> {
    async fn get(&self, id: &str) -> Result<HealthCheckConfig, AwsError> {
        self.0.get(id).await
    }
    async fn list_page(&self, marker: Option<&str>) -> Result<HealthCheckPage, AwsError> {
        self.0.list_page(marker).await
    }
    async fn update(
        &self,
        id: &str,
        version: i64,
        s: HealthCheckSettings,
    ) -> Result<HealthCheckConfig, UpdateError> {
        if self.1.swap(false, Ordering::SeqCst) {
            return Err(UpdateError::Aws(unavailable(
                "route53",
                "UpdateHealthCheck",
            )));
        }
        self.0.update(id, version, s).await
    }
    async fn status(
        &self,
        id: &str,
    ) -> Result<failover::domain::decision::HealthReading, AwsError> {
        self.0.status(id).await
    }
}

/// SNS refusing the first Publish while armed.
pub struct FailFirstPublish<N>(pub N, pub AtomicBool);

impl<N: Notifier> Notifier for FailFirstPublish<N> {
    async fn publish(&self, alert: &Alert) -> Result<String, AwsError> {
        if self.1.swap(false, Ordering::SeqCst) {
            return Err(unavailable("sns", "Publish"));
        }
        self.0.publish(alert).await
    }
}

/// The control table failing one call, once: the n-th control write (1-based), or the first
/// audit record of a kind, refused on the wire by the tap's DynamoDB outage (every SDK attempt,
/// as in a real throttling burst; only the timing is arranged here).
pub struct FailingStore<S> {
    inner: S,
    n: usize,
    seen: AtomicUsize,
    history_outage: Option<(Arc<AwsTap>, &'static str)>,
    armed: AtomicBool,
}

impl<S> FailingStore<S> {
    pub fn nth_control_write(inner: S, n: usize) -> Self {
        FailingStore {
            inner,
            n,
            seen: AtomicUsize::new(0),
            history_outage: None,
            armed: AtomicBool::new(false),
        }
    }

    /// The first audit record of `kind` is written while `tap` refuses DynamoDB.
    pub fn first_history_refused(inner: S, tap: Arc<AwsTap>, kind: &'static str) -> Self {
        FailingStore {
            history_outage: Some((tap, kind)),
            armed: AtomicBool::new(true),
            ..FailingStore::nth_control_write(inner, usize::MAX)
        }
    }
}

impl<S: ControlStore> ControlStore for FailingStore<S> {
    async fn load_catalog(&self) -> Result<Vec<(String, String)>, AwsError> {
        self.inner.load_catalog().await
    }
    async fn load_catalog_items(&self) -> Result<Vec<CatalogItem>, AwsError> {
        self.inner.load_catalog_items().await
    }
    async fn write_kept(
        &self,
        service: &str,
        expected_rev: u64,
        next: &KeptVersions,
    ) -> Result<bool, AwsError> {
        self.inner.write_kept(service, expected_rev, next).await
    }
    async fn load_state(&self, service: &str) -> Result<ServiceState, AwsError> {
        self.inner.load_state(service).await
    }
    async fn load_states(
        &self,
        services: &[String],
    ) -> Result<std::collections::HashMap<String, ServiceState>, AwsError> {
        self.inner.load_states(services).await
    }
    async fn record_vote(
        &self,
        service: &str,
        observer: &str,
        vote: &Vote,
    ) -> Result<VoteWrite, AwsError> {
        self.inner.record_vote(service, observer, vote).await
    }
    async fn write_control(
        &self,
        service: &str,
        expected: u64,
        next: &ServiceState,
    ) -> Result<ControlWrite, AwsError> {
        if self.seen.fetch_add(1, Ordering::SeqCst) + 1 == self.n {
            return Err(unavailable("dynamodb", "UpdateItem"));
        }
        self.inner.write_control(service, expected, next).await
    }
    async fn confirm_votes(
        &self,
        service: &str,
        votes: &[(String, Millis)],
        confirmed_at: Millis,
    ) -> Result<VoteWrite, AwsError> {
        self.inner.confirm_votes(service, votes, confirmed_at).await
    }
    async fn expire_votes(
        &self,
        service: &str,
        votes: &[(String, Millis)],
    ) -> Result<bool, AwsError> {
        self.inner.expire_votes(service, votes).await
    }
    async fn recent_history(
        &self,
        service: &str,
        limit: usize,
    ) -> Result<Vec<HistoryRecord>, AwsError> {
        self.inner.recent_history(service, limit).await
    }
    async fn append_history(&self, service: &str, record: &HistoryRecord) -> Result<(), AwsError> {
        if let Some((tap, kind)) = &self.history_outage {
            if record.kind == *kind && self.armed.swap(false, Ordering::SeqCst) {
                tap.set_outage("dynamodb", Some(FaultKind::Throttle));
                let refused = self.inner.append_history(service, record).await;
                tap.set_outage("dynamodb", None);
                return refused;
            }
        }
        self.inner.append_history(service, record).await
    }
}
