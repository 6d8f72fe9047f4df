//! A human's answer to an approval, or its absence: a decline ends the workflow with a
//! page saying what was left undone; an unanswered approval pages again once per
//! escalation interval.

use integration_tests::*;
use serde_json::json;

use super::*;

#[tokio::test]
async fn a_decline_leaves_the_replica_a_replica_and_pages_what_was_left_undone() {
    // The promotion sits between the two scale steps: the one after it is left undone.
    let bed = Bed::start(|r| {
        let steps = json!([
            step_of(r, "scale-web"),
            step_of(r, "promote-db"),
            step_of(r, "scale-api")
        ]);
        World::checkout_with_alarms().workflow(steps)
    })
    .await;
    let (w, r) = (&bed.w, &bed.r);
    let c = r.capacity;
    bed.quorum().await;
    let alerts = bed.alerts().await;
    assert_eq!(event_types(&alerts), ["failover", "step_done", "approval"]);
    let page = the(&alerts, "approval");
    assert_eq!(
        request_in(&page.message, "decline"),
        json!({"action": "decline", "service": "checkout", "step": "promote-db",
               "reason": "<why>", "requested_by": "<you>"})
    );

    bed.advance_secs(120);
    let mark = bed.tap.settled_mark();
    let declined = bed
        .operate(
            json!({"action": "decline", "service": "checkout", "step": "promote-db",
                        "reason": "the primary DB is fine, only the web tier failed",
                        "requested_by": "carol"}),
        )
        .await;
    assert!(declined.ok, "{declined:?}");
    assert!(
        declined.message.contains("declined"),
        "{}",
        declined.message
    );
    assert_eq!(
        changes(&bed.calls_since(mark)),
        Vec::<String>::new(),
        "nothing called"
    );

    let alerts = bed.alerts().await;
    assert_eq!(event_types(&alerts), ["workflow_declined"]);
    let page = &alerts[0];
    assert_eq!(
        page.subject,
        "[WORKFLOW DECLINED] checkout: promote-db (epoch 1)"
    );
    for line in [
        "was declined by carol (the primary DB is fine, only the web tier failed)",
        "- promote-db (declined): promote the read replica to a standalone writer on RDS read replica checkout-replica (eu-west-1)",
        "- scale-api (skipped): set desired count 8 on ECS service checkout-prod/checkout-api (eu-west-1)",
        "Done before it: scale-web",
    ] {
        assert!(page.message.contains(line), "{line}\n{}", page.message);
    }
    // In moto: the replica still replicates from the primary, the service was not scaled,
    // the group scaled before the question stays.
    let db = r.replica_role(&w.sdk).await.unwrap();
    assert_eq!(
        db.replica_of.as_deref(),
        Some(r.primary_db_arn.as_str()),
        "{db}"
    );
    assert_eq!(r.ecs(&w.sdk).await.unwrap().desired, c.service_warm);
    assert_eq!(r.group(&w.sdk).await.unwrap().desired, c.group_full);

    let wf = bed.workflow().await;
    assert!(wf.ended_at.is_some());
    assert_eq!(
        bed.step_statuses().await,
        [
            ("scale-web", "done"),
            ("promote-db", "declined"),
            ("scale-api", "skipped")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );
    assert!(
        wf.steps[1]
            .answered
            .as_deref()
            .is_some_and(|a| a.starts_with("declined by carol")),
        "{:?}",
        wf.steps[1]
    );
    let audit = bed.audit("workflow").await;
    assert!(
        audit
            .iter()
            .any(|a| a == "workflow ended: step promote-db declined"),
        "{audit:?}"
    );
    assert!(bed
        .audit("operator")
        .await
        .iter()
        .any(|a| a.starts_with("decline step promote-db")));

    // A late approve is refused; the reconciler neither promotes nor pages again.
    let late = bed.answer("approve", "promote-db").await;
    assert!(!late.ok);
    assert!(
        late.message.contains("already declined by carol"),
        "{}",
        late.message
    );
    let mark = bed.tap.settled_mark();
    bed.advance_secs(20 * 60);
    bed.reconcile().await;
    assert_eq!(changes(&bed.calls_since(mark)), Vec::<String>::new());
    let later = bed.alerts().await;
    assert!(
        !event_types(&later)
            .iter()
            .any(|t| t == "approval" || t == "workflow_declined"),
        "{:?}",
        subjects(&later)
    );
    assert!(r.replica_role(&w.sdk).await.unwrap().replica_of.is_some());
}

#[tokio::test]
async fn an_unanswered_approval_pages_again_once_per_escalation_interval() {
    let bed = Bed::start(|r| World::checkout_with_alarms().workflow(r.workflow())).await;
    bed.quorum().await;
    let first = the(&bed.alerts().await, "approval");
    assert_eq!(
        first.subject,
        "[APPROVAL NEEDED] checkout: approve promote-db (epoch 1)"
    );

    // The reconciler every minute for 31 minutes; the interval is 15.
    let mut paged_at = Vec::new();
    for minute in 1..=31 {
        bed.advance_secs(60);
        bed.reconcile().await;
        for page in bed.alerts().await {
            if page.attribute("event_type").as_deref() == Some("approval") {
                paged_at.push((minute, page.subject.clone()));
                assert!(page.message.contains("waiting since"), "{}", page.message);
            }
        }
    }
    assert_eq!(
        paged_at,
        [
            (
                15,
                "[APPROVAL NEEDED] checkout: approve promote-db (re-page 2, epoch 1)".into()
            ),
            (
                30,
                "[APPROVAL NEEDED] checkout: approve promote-db (re-page 3, epoch 1)".into()
            ),
        ]
    );
    let audit = bed.audit("workflow").await;
    for page in 1..=3 {
        let what = format!("step promote-db waits for approval (page {page})");
        assert_eq!(
            audit.iter().filter(|a| **a == what).count(),
            1,
            "{what}: {audit:?}"
        );
    }
    assert!(bed
        .r
        .replica_role(&bed.w.sdk)
        .await
        .unwrap()
        .replica_of
        .is_some());

    // Answered, the pages stop.
    let approved = bed.answer("approve", "promote-db").await;
    assert!(approved.ok, "{approved:?}");
    assert!(bed.r.replica_role(&bed.w.sdk).await.unwrap().standalone());
    bed.advance_secs(20 * 60);
    bed.reconcile().await;
    let after: Vec<String> = event_types(&bed.alerts().await);
    assert_eq!(
        after.iter().filter(|t| *t == "approval").count(),
        0,
        "{after:?}"
    );
    assert!(after.contains(&"step_done".to_string()), "{after:?}");
}
