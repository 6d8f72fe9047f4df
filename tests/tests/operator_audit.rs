//! The operator's claim lands and its audit write is refused on the wire: the answer is
//! still ok with the epoch (the write is retried), with exactly one switch and one alert.
//! Before, the operator was told "failed" and the reconciler carried the transition out
//! a minute later anyway.

use std::sync::Arc;

use failover::adapters::clock::SystemClock;
use failover::api::operator_response::{OperatorResponse, StepStatus};
use failover::{Engine, Phase};
use integration_tests::harness::failing_ports::FailingStore;
use integration_tests::*;
use serde_json::json;

#[tokio::test]
async fn a_refused_audit_write_after_the_claim_is_retried_and_the_failover_answers_ok() {
    let w = World::start(json!({})).await;
    let tap = Arc::new(w.tap());
    let ports = w.ports(&tap.sdk_config(&w.sdk));
    let engine = Engine::new(
        FailingStore::first_history_refused(ports.store, tap.clone(), "operator"),
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
