//! The operator's claim lands and its audit write is refused on the wire: the answer is
//! still ok with the epoch (the write is retried), with exactly one switch and one alert.
//! Before, the operator was told "failed" and the reconciler carried the transition out
//! a minute later anyway.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use failover::adapters::aws::DynamoStore;
use failover::adapters::clock::SystemClock;
use failover::api::operator_response::{OperatorResponse, StepStatus};
use failover::domain::catalog::{CatalogItem, KeptVersions};
use failover::domain::history::HistoryRecord;
use failover::domain::state::{ServiceState, Vote};
use failover::ports::{AwsError, ControlStore, ControlWrite, VoteWrite};
use failover::{Engine, Millis, Phase};
use integration_tests::harness::tap::{AwsTap, FaultKind};
use integration_tests::*;
use serde_json::json;

/// The control table through the tap, which takes DynamoDB down for exactly the operator's
/// first audit write: every SDK attempt of that PutItem is refused on the wire (throttled),
/// so the port call fails as it would in a real throttling burst. Only the timing is
/// arranged here; the refusals are the tap's.
struct RefuseFirstOperatorAudit {
    inner: DynamoStore,
    tap: Arc<AwsTap>,
    armed: AtomicBool,
}

impl ControlStore for RefuseFirstOperatorAudit {
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
        if record.kind == "operator" && self.armed.swap(false, Ordering::SeqCst) {
            self.tap.set_outage("dynamodb", Some(FaultKind::Throttle));
            let refused = self.inner.append_history(service, record).await;
            self.tap.set_outage("dynamodb", None);
            return refused;
        }
        self.inner.append_history(service, record).await
    }
}

#[tokio::test]
async fn a_refused_audit_write_after_the_claim_is_retried_and_the_failover_answers_ok() {
    let w = World::start(json!({})).await;
    let tap = Arc::new(w.tap());
    let ports = w.ports(&tap.sdk_config(&w.sdk));
    let engine = Engine::new(
        RefuseFirstOperatorAudit {
            inner: ports.store,
            tap: tap.clone(),
            armed: AtomicBool::new(true),
        },
        ports.health_checks,
        ports.alarms,
        ports.notifier,
        SystemClock,
        "test",
    );
    let request = json!({"action": "failover", "service": "checkout",
        "reason": "planned: us-east-1 maintenance", "requested_by": "alice"});
    let r: OperatorResponse = engine
        .handle_operator_request(&request, &inv("op"))
        .await
        .expect("a landed claim is answered, not reported as an error");
    assert!(r.ok, "{r:?}");
    assert_eq!(
        (r.epoch, r.phase_after),
        (Some(1), Some(Phase::FailedOver)),
        "{r:?}"
    );
    let audit = r.steps.iter().find(|s| s.name == "audit").expect("audit");
    assert_eq!(audit.status, StepStatus::Done, "{r:?}");
    assert!(audit.detail.contains("attempt 2"), "{r:?}");
    assert!(
        r.next.as_deref().unwrap_or_default().contains("failback"),
        "{r:?}"
    );

    let calls = tap.all();
    let audits: Vec<_> = calls
        .iter()
        .filter(|c| c.operation == "PutItem" && c.detail.ends_with("history#operator#failover"))
        .collect();
    let refused = audits.iter().filter(|c| c.injected()).count();
    let written = audits.iter().filter(|c| c.wrote()).count();
    assert!(
        refused >= 1 && written == 1,
        "refused on the wire, then written once: {:?}",
        audits.iter().map(|c| c.label()).collect::<Vec<_>>()
    );
    let switches = calls
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck" && c.wrote())
        .count();
    assert_eq!(switches, 1, "exactly one switch");
    let alerts = w.alerts().await;
    let kinds: Vec<_> = alerts
        .iter()
        .map(|a| a.attribute("event_type").unwrap_or_default())
        .collect();
    assert_eq!(kinds, ["failover"], "exactly one alert");
    let records = w
        .history()
        .await
        .iter()
        .filter(|h| {
            h.get("sk")
                .and_then(|s| s.as_s().ok())
                .is_some_and(|s| s.contains("#operator#failover"))
        })
        .count();
    assert_eq!(records, 1, "one operator audit record");
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "the primary is forced unhealthy");
}
