//! Workflow steps that fail, crash or take minutes: a failing step pages once and is
//! retried after its backoff; a crash at each step boundary is completed exactly once; a
//! promotion in progress stays `applied` until the resource shows it done.

use super::workflow::{
    alerts, answer, changes, count, quorum, run, runbook_engine, statuses, three_steps, ASG, DB,
    ECS,
};
use super::*;
use crate::domain::state::Phase;
use crate::domain::workflow_run::{StepStatus, RETRY_FIRST_MS};
use crate::testing::WriteFault;

/// The quorum's deciding invocation with too little time left for a step (the close needs
/// 9 s, a step 12 s): it switches and alerts, and the steps are left to the reconciler.
async fn quorum_without_time_for_steps(e: &TestEngine) {
    e.clock.set(T0 - 1000);
    send(e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.clock.set(T0);
    let out = e
        .handle_alarm_event(
            &event(1, "ALARM", T0, "b"),
            &Invocation {
                request_id: "r2".into(),
                deadline: T0 + 10_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(out.services[0].outcome, "failed_over");
    assert_eq!(alert_kinds(e), ["failover"]);
    assert_eq!(statuses(e)[0], StepStatus::Waiting);
    assert!(e.runbook.calls.lock().unwrap().is_empty());
}

async fn reconcile_at(e: &TestEngine, at: i64) {
    e.clock.set(at);
    reconcile(e).await;
}

#[tokio::test]
async fn a_step_failing_then_succeeding_pages_once_and_is_retried_only_after_its_backoff() {
    let e = runbook_engine(three_steps(), json!({}));
    e.runbook.failures.fail_next("UpdateService");
    assert_eq!(quorum(&e).await, "failed_over");
    assert_eq!(alert_kinds(&e), ["failover", "step_done", "step_failed"]);
    let s = run(&e).steps[1].clone();
    assert_eq!((s.status, s.attempts), (StepStatus::Failed, 1));
    assert_eq!(s.next_attempt_at, Some(T0 + RETRY_FIRST_MS));
    assert!(
        s.last_error
            .as_deref()
            .unwrap()
            .contains("injected failure"),
        "{s:?}"
    );
    let page = alerts(&e, "step_failed").remove(0);
    assert_eq!(page.subject, "[STEP FAILED] checkout: scale-api (epoch 1)");
    for line in [
        "error:",
        "injected failure",
        "retry:    from",
        "by the reconciler",
    ] {
        assert!(page.message.contains(line), "{line}\n{}", page.message);
    }
    assert_eq!(
        statuses(&e)[2],
        StepStatus::Waiting,
        "the steps after it wait"
    );

    // Before the backoff the reconciler leaves it alone.
    let calls = e.runbook.calls.lock().unwrap().len();
    reconcile_at(&e, T0 + RETRY_FIRST_MS - 1).await;
    assert_eq!(e.runbook.calls.lock().unwrap().len(), calls, "no call");
    assert_eq!(count(&e, "step_failed"), 1);
    // After it, the step is done and the workflow moves on to the approval.
    reconcile_at(&e, T0 + RETRY_FIRST_MS).await;
    assert_eq!(
        alert_kinds(&e),
        [
            "failover",
            "step_done",
            "step_failed",
            "step_done",
            "approval"
        ]
    );
    assert_eq!(e.runbook.count("UpdateService"), 2, "two in all");
    assert_eq!(e.runbook.services.lock().unwrap()[ECS].desired, 8);
    let s = run(&e).steps[1].clone();
    assert_eq!((s.status, s.attempts), (StepStatus::Done, 2));
    let done = alerts(&e, "step_done").pop().unwrap();
    assert!(done.message.contains("attempts: 2"), "{}", done.message);
}

#[tokio::test]
async fn a_step_failing_twice_pages_once_and_backs_off_longer() {
    let e = runbook_engine(three_steps(), json!({}));
    e.runbook.failures.fail_next("UpdateService");
    e.runbook.failures.fail_next("UpdateService");
    assert_eq!(quorum(&e).await, "failed_over");
    reconcile_at(&e, T0 + RETRY_FIRST_MS).await;
    let s = run(&e).steps[1].clone();
    assert_eq!((s.status, s.attempts), (StepStatus::Failed, 2));
    // The second backoff is twice the first.
    assert_eq!(s.next_attempt_at, Some(T0 + 3 * RETRY_FIRST_MS));
    assert_eq!(count(&e, "step_failed"), 1, "paged once");
    reconcile_at(&e, T0 + 2 * RETRY_FIRST_MS).await;
    assert_eq!(e.runbook.count("UpdateService"), 2);
    reconcile_at(&e, T0 + 3 * RETRY_FIRST_MS).await;
    assert_eq!(e.runbook.count("UpdateService"), 3);
    assert_eq!(statuses(&e)[1], StepStatus::Done);
    assert_eq!(
        alert_kinds(&e),
        [
            "failover",
            "step_done",
            "step_failed",
            "step_done",
            "approval"
        ]
    );
}

#[tokio::test]
async fn a_claim_that_landed_but_whose_call_was_never_made_is_completed_with_one_call() {
    let e = runbook_engine(three_steps(), json!({}));
    quorum_without_time_for_steps(&e).await;
    // The reconciler's claim of the first step lands, and its answer is lost: it stops
    // there, as an invocation that died after its claim.
    let n = e.store.control_writes();
    *e.store.write_fault_at.lock().unwrap() = Some((n + 1, WriteFault::LandedButError));
    reconcile_at(&e, T0 + 1000).await;
    let s = run(&e).steps[0].clone();
    assert_eq!(s.status, StepStatus::Running);
    assert_eq!(s.owner.as_deref(), Some("reconciler"));
    assert_eq!(changes(&e), Vec::<String>::new(), "never called");
    // While the lease lasts, nobody else takes it.
    reconcile_at(&e, T0 + 30_000).await;
    assert_eq!(changes(&e), Vec::<String>::new());
    // After it, one call completes it, and the workflow goes on.
    reconcile_at(&e, T0 + 61_000).await;
    assert_eq!(
        changes(&e),
        [
            format!("UpdateAutoScalingGroup {ASG}"),
            format!("UpdateService {ECS}")
        ]
    );
    let s = run(&e).steps[0].clone();
    assert_eq!((s.status, s.attempts), (StepStatus::Done, 2));
    assert_eq!(
        alert_kinds(&e),
        ["failover", "step_done", "step_done", "approval"]
    );
    reconcile_at(&e, T0 + 200_000).await;
    assert_eq!(e.runbook.count("UpdateAutoScalingGroup"), 1);
}

#[tokio::test]
async fn a_call_made_but_whose_outcome_was_not_recorded_is_done_without_a_second_call() {
    let e = runbook_engine(three_steps(), json!({}));
    quorum_without_time_for_steps(&e).await;
    // Claim (n + 1), UpdateAutoScalingGroup, then the outcome's write (n + 2) fails.
    let n = e.store.control_writes();
    *e.store.fail_write_control_at.lock().unwrap() = Some(n + 2);
    reconcile_at(&e, T0 + 1000).await;
    assert_eq!(changes(&e), [format!("UpdateAutoScalingGroup {ASG}")]);
    let g = e.runbook.groups.lock().unwrap()[ASG];
    assert_eq!((g.min, g.desired), (12, 12), "the group is at its target");
    let s = run(&e).steps[0].clone();
    assert_eq!(s.status, StepStatus::Running, "the outcome is not recorded");
    assert_eq!(count(&e, "step_done"), 0);
    // After the lease: read back, at the target, done with no second call.
    reconcile_at(&e, T0 + 61_000).await;
    assert_eq!(e.runbook.count("UpdateAutoScalingGroup"), 1);
    let s = run(&e).steps[0].clone();
    assert_eq!(s.status, StepStatus::Done);
    assert!(s.result.as_deref().unwrap().ends_with("(already)"), "{s:?}");
    assert_eq!(count(&e, "step_done"), 2, "scale-web, then scale-api");
    assert_eq!(
        alerts(&e, "step_done")[0].subject,
        "[STEP DONE] checkout: scale-web (epoch 1)"
    );
}

#[tokio::test]
async fn a_promotion_made_but_not_recorded_is_not_promoted_again() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    // The approve's write (n + 1), the claim (n + 2), PromoteReadReplica, then the
    // outcome's write (n + 3) fails.
    let n = e.store.control_writes();
    *e.store.fail_write_control_at.lock().unwrap() = Some(n + 3);
    e.clock.set(T0 + 60_000);
    let r = answer(&e, "approve", "promote-db").await;
    assert!(r.ok, "the approval is recorded: {r:?}");
    assert!(
        r.steps
            .iter()
            .any(|s| s.name == "workflow" && s.detail.contains("the reconciler goes on")),
        "{:?}",
        r.steps
    );
    assert_eq!(e.runbook.count("PromoteReadReplica"), 1);
    assert!(e.runbook.dbs.lock().unwrap()[DB].replica_of.is_none());
    assert_eq!(statuses(&e)[2], StepStatus::Running);
    // The reconciler after the operator's lease: promoted already, so done.
    reconcile_at(&e, T0 + 121_000).await;
    assert_eq!(
        e.runbook.count("PromoteReadReplica"),
        1,
        "not promoted again"
    );
    assert_eq!(statuses(&e)[2], StepStatus::Done);
    assert!(run(&e).ended_at.is_some());
    let done = alerts(&e, "step_done").pop().unwrap();
    assert_eq!(done.subject, "[STEP DONE] checkout: promote-db (epoch 1)");
    assert!(
        done.message.contains("approved: by bob"),
        "{}",
        done.message
    );
    reconcile_at(&e, T0 + 200_000).await;
    assert_eq!(count(&e, "step_done"), 3);
}

#[tokio::test]
async fn an_outcome_write_lost_to_a_concurrent_writer_is_applied_again_on_top_of_it() {
    let e = runbook_engine(three_steps(), json!({}));
    quorum_without_time_for_steps(&e).await;
    // An operator's pause gets in between the claim (n + 1) and the outcome (n + 2).
    let n = e.store.control_writes();
    *e.store.write_fault_at.lock().unwrap() = Some((n + 2, WriteFault::Interleaved));
    reconcile_at(&e, T0 + 1000).await;
    let state = e.store.state("checkout");
    assert!(state.pause.is_some(), "the other writer's change is kept");
    let s = run(&e).steps[0].clone();
    assert_eq!(s.status, StepStatus::Done, "the outcome re-applied");
    assert_eq!(e.runbook.count("UpdateAutoScalingGroup"), 1);
    assert_eq!(
        alerts(&e, "step_done")[0].subject,
        "[STEP DONE] checkout: scale-web (epoch 1)"
    );
    assert_eq!(count(&e, "step_done"), 2);

    // The same write landing with its answer lost (the retry sees its own write): recorded
    // once, its alert sent once.
    let e = runbook_engine(three_steps(), json!({}));
    quorum_without_time_for_steps(&e).await;
    let n = e.store.control_writes();
    *e.store.write_fault_at.lock().unwrap() = Some((n + 2, WriteFault::LandedButConflict));
    reconcile_at(&e, T0 + 1000).await;
    reconcile_at(&e, T0 + 2000).await;
    assert_eq!(statuses(&e)[0], StepStatus::Done);
    assert_eq!(e.runbook.count("UpdateAutoScalingGroup"), 1);
    assert_eq!(
        alert_kinds(&e),
        ["failover", "step_done", "step_done", "approval"]
    );
    assert!(e.store.state("checkout").outbox.is_empty());
}

#[tokio::test]
async fn a_promotion_in_progress_stays_applied_until_the_instance_shows_it_done() {
    let e = runbook_engine(three_steps(), json!({}));
    *e.runbook.settle_status.lock().unwrap() = Some("modifying".into());
    assert_eq!(quorum(&e).await, "failed_over");
    e.clock.set(T0 + 60_000);
    let r = answer(&e, "approve", "promote-db").await;
    assert!(r.ok, "{r:?}");
    assert!(
        r.message.contains("at promote-db: applied"),
        "{}",
        r.message
    );
    let s = run(&e).steps[2].clone();
    assert_eq!(s.status, StepStatus::Applied);
    assert!(
        s.result.as_deref().unwrap().contains("status modifying"),
        "{s:?}"
    );
    assert_eq!(count(&e, "step_done"), 2, "not done yet");
    // Still modifying: read back, nothing called, nothing sent.
    reconcile_at(&e, T0 + 120_000).await;
    assert_eq!(statuses(&e)[2], StepStatus::Applied);
    assert_eq!(e.runbook.count("PromoteReadReplica"), 1);
    assert_eq!(count(&e, "step_done"), 2);
    let status = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    let w = status.status[0].workflow.clone().unwrap();
    assert_eq!(
        (w.current.as_deref(), w.steps[2].status.as_str()),
        (Some("promote-db"), "applied")
    );
    // Available: done on the next run.
    e.runbook.dbs.lock().unwrap().get_mut(DB).unwrap().status = "available".into();
    reconcile_at(&e, T0 + 180_000).await;
    assert_eq!(statuses(&e)[2], StepStatus::Done);
    assert_eq!(e.runbook.count("PromoteReadReplica"), 1);
    assert_eq!(count(&e, "step_done"), 3);
    assert!(run(&e).ended_at.is_some());
}

#[tokio::test]
async fn an_approval_page_whose_write_answer_was_lost_is_sent_once_by_the_next_run() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    let settings = ReconcileSettings {
        escalation_interval_ms: 120_000,
        ..ReconcileSettings::default()
    };
    // The re-page's write lands, its answer is lost: the page is due, not sent.
    let n = e.store.control_writes();
    *e.store.write_fault_at.lock().unwrap() = Some((n + 1, WriteFault::LandedButError));
    e.clock.set(T0 + 120_000);
    e.reconcile(&inv("reconciler", T0 + 120_000), &settings)
        .await
        .unwrap();
    assert_eq!(count(&e, "approval"), 1);
    assert_eq!(e.store.state("checkout").outbox.len(), 1, "due");
    // The next run sends it, once, and does not page a third time.
    e.clock.set(T0 + 180_000);
    e.reconcile(&inv("reconciler", T0 + 180_000), &settings)
        .await
        .unwrap();
    assert_eq!(count(&e, "approval"), 2);
    assert!(e.store.state("checkout").outbox.is_empty());
    assert_eq!(
        alerts(&e, "approval")[1].subject,
        "[APPROVAL NEEDED] checkout: approve promote-db (re-page 2, epoch 1)"
    );
    assert_eq!(run(&e).steps[2].approval.as_ref().unwrap().pages, 2);
}

/// A read-back refused (no permission to describe) would be refused on every run: the
/// applied step fails and pages once instead of waiting forever without a word, and the
/// retry reads first (done, never promoted twice).
#[tokio::test]
async fn an_applied_step_whose_read_back_is_refused_fails_and_pages_instead_of_waiting_forever() {
    let e = runbook_engine(three_steps(), json!({}));
    *e.runbook.settle_status.lock().unwrap() = Some("modifying".into());
    assert_eq!(quorum(&e).await, "failed_over");
    e.clock.set(T0 + 60_000);
    assert!(answer(&e, "approve", "promote-db").await.ok);
    assert_eq!(statuses(&e)[2], StepStatus::Applied);
    e.runbook.refusals.fail_next("DescribeDBInstances");
    reconcile_at(&e, T0 + 120_000).await;
    let s = run(&e).steps[2].clone();
    assert_eq!(s.status, StepStatus::Failed, "{s:?}");
    assert!(
        s.last_error.as_deref().unwrap().contains("refused"),
        "{s:?}"
    );
    assert_eq!(count(&e, "step_failed"), 1);
    // Fixed, and the promotion finished meanwhile: the retry reads it done.
    e.runbook.dbs.lock().unwrap().get_mut(DB).unwrap().status = "available".into();
    reconcile_at(&e, T0 + 120_000 + RETRY_FIRST_MS).await;
    assert_eq!(statuses(&e)[2], StepStatus::Done);
    assert_eq!(e.runbook.count("PromoteReadReplica"), 1);
    assert_eq!(count(&e, "step_failed"), 1);
}

#[tokio::test]
async fn a_promotion_stuck_in_progress_pages_once_after_30_minutes_and_is_still_read() {
    let e = runbook_engine(three_steps(), json!({}));
    *e.runbook.settle_status.lock().unwrap() = Some("modifying".into());
    assert_eq!(quorum(&e).await, "failed_over");
    e.clock.set(T0 + 60_000);
    assert!(answer(&e, "approve", "promote-db").await.ok);
    // Within 30 minutes of the call: read every run, no page.
    for m in 2..=30 {
        reconcile_at(&e, T0 + m * 60_000).await;
    }
    assert_eq!(count(&e, "step_failed"), 0);
    // Past it: one page, once, saying it is still in progress; the step stays applied.
    for m in 31..=40 {
        reconcile_at(&e, T0 + m * 60_000).await;
    }
    let failed = alerts(&e, "step_failed");
    assert_eq!(failed.len(), 1, "{failed:?}");
    assert!(
        failed[0].message.contains("still in progress 30m")
            && failed[0].message.contains("status modifying"),
        "{}",
        failed[0].message
    );
    assert_eq!(statuses(&e)[2], StepStatus::Applied);
    assert_eq!(
        e.runbook.count("PromoteReadReplica"),
        1,
        "never called again"
    );
    // It completes later: [STEP DONE] follows.
    e.runbook.dbs.lock().unwrap().get_mut(DB).unwrap().status = "available".into();
    reconcile_at(&e, T0 + 41 * 60_000).await;
    assert_eq!(statuses(&e)[2], StepStatus::Done);
    assert_eq!(count(&e, "step_done"), 3);
}

#[tokio::test]
async fn a_failback_waits_for_a_failover_step_in_flight_unless_forced() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    // The reconciler has claimed scale-web again (a retry) and holds it for a minute.
    let mut state = e.store.state("checkout");
    {
        let run = state.execution.as_mut().unwrap().workflow.as_mut().unwrap();
        run.steps[0].status = StepStatus::Running;
        run.steps[0].owner = Some("reconciler".into());
        run.steps[0].lease_until = Some(e.clock.now() + 60_000);
    }
    state.version += 1;
    e.store
        .states
        .lock()
        .unwrap()
        .insert("checkout".into(), state);
    let r = operate(&e, op("failback", json!({}))).await;
    assert!(!r.ok, "{r:?}");
    assert!(
        r.message.contains("workflow step 'scale-web' is running"),
        "{}",
        r.message
    );
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
    // Forced: it goes ahead and says what it forced past.
    let r = operate(&e, op("failback", json!({"force": true}))).await;
    assert!(
        r.steps
            .iter()
            .any(|s| s.name == "workflow" && s.detail.contains("still running")),
        "{r:?}"
    );
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
}
