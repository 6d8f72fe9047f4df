//! Failback's scale-back: the scale steps go back to their `on_failback` targets in moto,
//! the promoted database is left alone and the failback alert says what a human must do.

use failover::api::operator_response::StepStatus as Report;
use failover::Phase;
use integration_tests::*;
use serde_json::json;

use super::*;

#[tokio::test]
async fn failback_scales_the_secondary_back_and_leaves_the_promoted_replica_to_a_human() {
    let bed = Bed::start(|r| World::checkout_with_alarms().workflow(r.workflow())).await;
    let (w, r) = (&bed.w, &bed.r);
    let c = r.capacity;
    bed.quorum().await;
    bed.advance_secs(60);
    assert!(bed.answer("approve", "promote-db").await.ok);
    assert!(r.replica_role(&w.sdk).await.unwrap().standalone());
    assert_eq!(bed.workflow().await.progress, "3/3");
    // The observers recover on the secondary: the failback's gate (no ALARM vote) opens.
    bed.advance_secs(60);
    for i in 0..3 {
        bed.alarm(i, "OK").await;
    }
    let before = event_types(&bed.alerts().await);
    assert_eq!(
        before.last().map(String::as_str),
        Some("recovered"),
        "{before:?}"
    );

    bed.advance_secs(60);
    let failback = |dry_run: bool| {
        json!({"action": "failback", "service": "checkout", "dry_run": dry_run,
               "reason": "us-east-1 healthy since 09:40", "requested_by": "carol"})
    };
    let dry = bed.operate(failback(true)).await;
    assert!(dry.ok && dry.dry_run, "{dry:?}");
    let plan: Vec<(&str, Report, &str)> = dry
        .steps
        .iter()
        .filter(|s| s.name.starts_with("workflow "))
        .map(|s| (s.name.as_str(), s.status, s.detail.as_str()))
        .collect();
    assert_eq!(
        plan,
        [
            ("workflow scale-web", Report::WouldDo, "autoscaling group checkout-asg (eu-west-1): set min 2, desired 2 (now min 6 desired 6 max 12 (6 InService)) [automatic, after the switch]"),
            ("workflow scale-api", Report::WouldDo, "ECS service checkout-prod/checkout-api (eu-west-1): set desired count 2 (now desired 8 (8 running)) [automatic, after the switch]"),
            ("workflow promote-db", Report::Skipped, "RDS read replica checkout-replica (eu-west-1): a database step is never reversed automatically; the failback alert says what a human must do"),
        ]
    );
    assert_eq!(
        r.group(&w.sdk).await.unwrap().desired,
        c.group_full,
        "a dry run"
    );

    let mark = bed.tap.settled_mark();
    let done = bed.operate(failback(false)).await;
    assert!(done.ok, "{done:?}");
    assert_eq!(done.phase_after, Some(Phase::PrimaryActive));
    let (disabled, inverted, _) = hc(w, &w.primary).await;
    assert!(!disabled && !inverted, "the primary's check restored");
    // In moto: min and desired back, the max kept; the service back; the promoted replica
    // still standalone (nothing re-creates a replica for you).
    let g = r.group(&w.sdk).await.unwrap();
    assert_eq!(
        (g.min, g.desired, g.max),
        (c.group_warm, c.group_warm, c.group_max)
    );
    assert_eq!(r.ecs(&w.sdk).await.unwrap().desired, c.service_warm);
    assert!(r.replica_role(&w.sdk).await.unwrap().standalone());
    let calls = bed.calls_since(mark);
    assert_eq!(changes(&calls), ["UpdateAutoScalingGroup", "UpdateService"]);
    assert!(
        !runbook_calls(&calls).iter().any(|op| op.contains("DB")),
        "no database call: {:?}",
        runbook_calls(&calls)
    );

    let alerts = bed.alerts().await;
    assert_eq!(event_types(&alerts), ["failback", "step_done", "step_done"]);
    let page = &alerts[0];
    for line in [
        "Workflow on failback (scale-back, runs now)",
        "scale-web (autoscaling_group) autoscaling group checkout-asg (eu-west-1): set min 2, desired 2",
        "scale-api (ecs_service) ECS service checkout-prod/checkout-api (eu-west-1): set desired count 2",
        "Not reversed automatically (a human must do this",
        "- promote-db: if checkout-replica (eu-west-1) was promoted (the failover's [STEP DONE]), it is the writer now: re-create a read replica in us-east-1",
    ] {
        assert!(page.message.contains(line), "{line}\n{}", page.message);
    }
    assert_eq!(
        subjects(&alerts[1..]),
        [
            "[STEP DONE] checkout: scale-web (epoch 2)",
            "[STEP DONE] checkout: scale-api (epoch 2)"
        ]
    );
    assert!(
        alerts[2].message.contains("of the failback of checkout"),
        "{}",
        alerts[2].message
    );
    let wf = bed.workflow().await;
    assert_eq!(
        (wf.direction.as_str(), wf.progress.as_str()),
        ("failback", "2/2")
    );
    assert!(wf.ended_at.is_some());

    // The next run changes nothing more.
    let mark = bed.tap.settled_mark();
    bed.advance_secs(60);
    bed.reconcile().await;
    assert_eq!(changes(&bed.calls_since(mark)), Vec::<String>::new());
}
