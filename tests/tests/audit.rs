//! The audit history on the wire (moto, the real SDK clients): a failover interrupted by a
//! refused switch and finished by the reconciler leaves one decision record (votes,
//! pre-flight, prior flags, who, why), one record of the failed step with its attempt, and
//! one closing record, whoever wrote them.

use failover::domain::history::HistoryRecord;
use failover::engine::ReconcileSettings;
use failover::ports::ControlStore;
use integration_tests::*;
use serde_json::json;

fn of_kind<'a>(history: &'a [HistoryRecord], kind: &str) -> Vec<&'a HistoryRecord> {
    history.iter().filter(|h| h.kind == kind).collect()
}

#[tokio::test]
async fn an_interrupted_failover_is_audited_once_per_decision_and_per_failed_attempt() {
    let w = World::start(json!({})).await;
    let engine = w.engine_failing_first_switch();
    let now = chrono::Utc::now();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("first-vote"),
        )
        .await
        .unwrap();
    let err = engine
        .handle_alarm_event(
            &fresh_fixture("alarm-action-metric.json", now),
            &inv("deciding-vote"),
        )
        .await
        .unwrap_err();
    assert!(err.to_string().contains("switch"), "{err}");

    let history = engine.store.recent_history("checkout", 100).await.unwrap();
    let decisions = of_kind(&history, "decision");
    assert_eq!(decisions.len(), 1, "recorded at the claim: {history:#?}");
    let failed = of_kind(&history, "step_failed");
    assert_eq!(failed.len(), 1, "{history:#?}");
    assert_eq!(failed[0].key, "step_failed#switch#1");
    assert!(
        failed[0].what.starts_with("switch failed (attempt 1): ")
            && failed[0].what.contains("UpdateHealthCheck"),
        "{}",
        failed[0].what
    );
    assert_eq!(failed[0].actor, "deciding-vote");
    assert_eq!(failed[0].epoch, 1);

    // The reconciler finishes the transition through the same steps.
    let report = engine
        .reconcile(&inv("reconciler"), &ReconcileSettings::default())
        .await
        .unwrap();
    assert_eq!(report.resumed, 1, "{report:?}");
    assert!(hc(&w, &w.primary).await.0, "switched");

    let history = engine.store.recent_history("checkout", 100).await.unwrap();
    let decisions = of_kind(&history, "decision");
    assert_eq!(
        decisions.len(),
        1,
        "one decision, however often written: {history:#?}"
    );
    let d = decisions[0];
    assert_eq!((d.epoch, d.key.as_str()), (1, "decision"));
    assert_eq!(d.actor, "deciding-vote", "who claimed it");
    assert_eq!(d.why, "quorum of 2 of 3 observers in ALARM");
    assert_eq!(d.votes.len(), 2, "{:?}", d.votes);
    assert!(
        d.what
            .contains("failover decided, epoch 1: us-east-1 -> eu-west-1"),
        "{}",
        d.what
    );
    assert!(
        d.what
            .contains("primary check before: Disabled=false Inverted=false"),
        "{}",
        d.what
    );
    assert_eq!(of_kind(&history, "step_failed").len(), 1);
    let steps = of_kind(&history, "step");
    assert_eq!(steps.len(), 1, "{history:#?}");
    assert!(steps[0].what.starts_with("switch: "), "{}", steps[0].what);
    assert_eq!(steps[0].actor, "reconciler", "who finished it");

    // The same items as the table holds them, with their TTL.
    let items = w.history().await;
    let decision_items: Vec<_> = items
        .iter()
        .filter(|i| i["kind"].as_s().unwrap() == "decision")
        .collect();
    assert_eq!(decision_items.len(), 1);
    assert!(decision_items[0]["sk"]
        .as_s()
        .unwrap()
        .ends_with("#00000001#decision"));
    assert!(decision_items[0].contains_key("expires_at"));
}
