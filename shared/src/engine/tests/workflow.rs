//! The runbook after the switch over in-memory ports: automatic steps in the deciding
//! invocation after the failover alert, an approval step that pages with the exact
//! requests, approve, decline and re-page. The helpers serve the `workflow_*` suites too.

use super::*;
use crate::api::operator_response::StepStatus as Report;
use crate::domain::alert::Alert;
use crate::domain::state::Phase;
use crate::domain::workflow_run::{StepStatus, WorkflowRun};

pub(super) const ASG: &str = "eu-west-1/checkout-asg";
pub(super) const ECS: &str = "eu-west-1/prod/checkout";
pub(super) const DB: &str = "eu-west-1/checkout-replica";

/// Scale the group and the service (automatic), then promote the replica (approval).
pub(super) fn three_steps() -> Value {
    json!([
        {"id": "scale-web", "kind": "autoscaling_group", "region": "eu-west-1",
         "name": "checkout-asg", "min": 12, "desired": 12, "on_failback": {"min": 3, "desired": 3}},
        {"id": "scale-api", "kind": "ecs_service", "region": "eu-west-1", "cluster": "prod",
         "service": "checkout", "desired": 8, "on_failback": {"desired": 2}},
        {"id": "promote-db", "kind": "rds_read_replica", "region": "eu-west-1",
         "identifier": "checkout-replica"}
    ])
}

/// An engine whose catalog entry has `workflow` (and `extra`), with the resources it
/// names: the group at min 3 / desired 3 / max 20, the service at 2 tasks, the replica.
pub(super) fn runbook_engine(workflow: Value, extra: Value) -> Arc<TestEngine> {
    let mut def = json!({ "workflow": workflow });
    if let (Some(d), Some(x)) = (def.as_object_mut(), extra.as_object()) {
        d.extend(x.clone());
    }
    let e = engine_with(def);
    e.runbook.add_group("eu-west-1", "checkout-asg", 3, 20, 3);
    e.runbook.add_service("eu-west-1", "prod", "checkout", 2);
    e.runbook
        .add_replica("eu-west-1", "checkout-replica", "checkout-primary");
    e
}

/// Observer 0 alarms, then observer 1 (quorum): the deciding event's outcome.
pub(super) async fn quorum(e: &TestEngine) -> &'static str {
    e.clock.set(T0 - 1000);
    send(e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.clock.set(T0);
    let out = send(e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    out[0]
}

/// The current transition's workflow as stored.
pub(super) fn run(e: &TestEngine) -> WorkflowRun {
    e.store
        .state("checkout")
        .execution
        .and_then(|x| x.workflow)
        .expect("a workflow run")
}

pub(super) fn statuses(e: &TestEngine) -> Vec<StepStatus> {
    run(e).steps.iter().map(|s| s.status).collect()
}

pub(super) fn count(e: &TestEngine, kind: &str) -> usize {
    alert_kinds(e).iter().filter(|k| *k == kind).count()
}

pub(super) fn alerts(e: &TestEngine, kind: &str) -> Vec<Alert> {
    e.notifier
        .sent()
        .into_iter()
        .filter(|a| a.event_type == kind)
        .collect()
}

/// The runbook calls that change something, in order.
pub(super) fn changes(e: &TestEngine) -> Vec<String> {
    e.runbook
        .calls
        .lock()
        .unwrap()
        .iter()
        .filter(|c| !c.starts_with("Describe"))
        .cloned()
        .collect()
}

/// The operator's `approve` or `decline` of `step`.
pub(super) async fn answer(e: &TestEngine, action: &str, step: &str) -> OperatorResponse {
    operate(
        e,
        op(
            action,
            json!({"step": step, "reason": "replica caught up", "requested_by": "bob"}),
        ),
    )
    .await
}

/// The audit records' `what` for `kind`, oldest first.
pub(super) fn audit(e: &TestEngine, kind: &str) -> Vec<String> {
    e.store
        .history
        .lock()
        .unwrap()
        .iter()
        .filter(|(_, h)| h.kind == kind)
        .map(|(_, h)| h.what.clone())
        .collect()
}

/// The JSON request in an approval page whose action is `action`, as a value.
fn request_in(message: &str, action: &str) -> Value {
    message
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(|v| v["action"] == action)
        .unwrap_or_else(|| panic!("no {action} request in: {message}"))
}

#[tokio::test]
async fn quorum_switches_then_scales_verified_then_waits_for_approval_and_the_approve_promotes() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    // The switch's alert first, then each automatic step's, then the page for the promotion.
    assert_eq!(
        alert_kinds(&e),
        ["failover", "step_done", "step_done", "approval"]
    );
    let failover = &e.notifier.sent()[0];
    for line in [
        "1. scale-web (autoscaling_group) autoscaling group checkout-asg (eu-west-1): set min 12, desired 12 [automatic]",
        "2. scale-api (ecs_service) ECS service prod/checkout (eu-west-1): set desired count 8 [automatic]",
        "3. promote-db (rds_read_replica) RDS read replica checkout-replica (eu-west-1): promote the read replica to a standalone writer [needs approval]",
    ] {
        assert!(failover.message.contains(line), "{line}\n{}", failover.message);
    }
    // In order, each read back before and after its call.
    assert_eq!(
        e.runbook.calls.lock().unwrap().as_slice(),
        [
            format!("DescribeAutoScalingGroups {ASG}"),
            format!("UpdateAutoScalingGroup {ASG}"),
            format!("DescribeAutoScalingGroups {ASG}"),
            format!("DescribeServices {ECS}"),
            format!("UpdateService {ECS}"),
            format!("DescribeServices {ECS}"),
        ]
    );
    let g = e.runbook.groups.lock().unwrap()[ASG];
    assert_eq!((g.min, g.desired, g.max), (12, 12, 20));
    assert_eq!(e.runbook.services.lock().unwrap()[ECS].desired, 8);
    let done = alerts(&e, "step_done");
    assert_eq!(done[0].subject, "[STEP DONE] checkout: scale-web (epoch 1)");
    assert!(
        done[0]
            .message
            .contains("verified: min 12 desired 12 max 20"),
        "{}",
        done[0].message
    );
    assert_eq!(done[1].subject, "[STEP DONE] checkout: scale-api (epoch 1)");

    let r = run(&e);
    assert_eq!(
        statuses(&e),
        [
            StepStatus::Done,
            StepStatus::Done,
            StepStatus::AwaitingApproval
        ]
    );
    assert_eq!(r.steps[2].approval.as_ref().unwrap().pages, 1);
    assert!(r.ended_at.is_none());
    assert_eq!(
        e.runbook.count("PromoteReadReplica"),
        0,
        "waits for a human"
    );

    // status shows where it waits.
    let status = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    let w = status.status[0].workflow.clone().expect("the workflow");
    assert_eq!(
        (w.progress.as_str(), w.current.as_deref()),
        ("2/3", Some("promote-db"))
    );
    assert_eq!(w.steps[2].status, "awaiting_approval");
    assert!(w.steps[2].approval_requested_at.is_some());

    // The page carries the exact requests; the approve one, filled in, is what is sent.
    let page = alerts(&e, "approval").remove(0);
    assert_eq!(
        page.subject,
        "[APPROVAL NEEDED] checkout: approve promote-db (epoch 1)"
    );
    assert_eq!(page.severity, "critical");
    let decline = request_in(&page.message, "decline");
    assert_eq!(
        decline,
        json!({"action": "decline", "service": "checkout", "step": "promote-db",
               "reason": "<why>", "requested_by": "<you>"})
    );
    let mut approve = request_in(&page.message, "approve");
    assert_eq!(
        (&approve["service"], &approve["step"]),
        (&json!("checkout"), &json!("promote-db"))
    );
    approve["reason"] = json!("replica caught up");
    approve["requested_by"] = json!("bob");
    e.clock.set(T0 + 120_000);
    let r = operate(&e, approve).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(e.runbook.count("PromoteReadReplica"), 1);
    assert!(e.runbook.dbs.lock().unwrap()[DB].replica_of.is_none());
    assert!(
        r.steps
            .iter()
            .any(|s| s.name == "step promote-db" && s.status == Report::Done),
        "{:?}",
        r.steps
    );
    assert_eq!(
        alert_kinds(&e),
        [
            "failover",
            "step_done",
            "step_done",
            "approval",
            "step_done"
        ]
    );
    let promoted = alerts(&e, "step_done").pop().unwrap();
    assert_eq!(
        promoted.subject,
        "[STEP DONE] checkout: promote-db (epoch 1)"
    );
    assert!(
        promoted
            .message
            .contains("approved: by bob (replica caught up)")
            && promoted
                .message
                .contains("standalone (promoted), available"),
        "{}",
        promoted.message
    );
    assert!(run(&e).ended_at.is_some(), "the workflow ended");

    // The audit history has every step, the page and the operator's answer.
    let records = audit(&e, "workflow");
    for what in [
        "step scale-web done",
        "step scale-api done",
        "step promote-db waits for approval (page 1)",
        "step promote-db done",
        "workflow ended: 3/3 steps done",
    ] {
        assert!(records.iter().any(|r| r == what), "{what}: {records:?}");
    }
    assert!(
        audit(&e, "operator")
            .iter()
            .any(|w| w == "approve step promote-db"),
        "{:?}",
        audit(&e, "operator")
    );

    // status shows each step.
    let status = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    let w = status.status[0].workflow.clone().expect("the workflow");
    assert_eq!(
        (w.direction.as_str(), w.progress.as_str()),
        ("failover", "3/3")
    );
    assert!(w.ended_at.is_some() && w.current.is_none());
    let shown: Vec<(&str, &str)> = w
        .steps
        .iter()
        .map(|s| (s.id.as_str(), s.status.as_str()))
        .collect();
    assert_eq!(
        shown,
        [
            ("scale-web", "done"),
            ("scale-api", "done"),
            ("promote-db", "done")
        ]
    );
    assert!(w.steps[2]
        .answered
        .as_deref()
        .is_some_and(|a| a.starts_with("approved by bob")));
    // Later runs change nothing.
    reconcile(&e).await;
    assert_eq!(count(&e, "step_done"), 3);
    assert_eq!(e.runbook.count("PromoteReadReplica"), 1);
}

#[tokio::test]
async fn the_steps_never_run_before_the_failover_alert_and_never_delay_the_switch() {
    let e = runbook_engine(three_steps(), json!({}));
    // SNS refuses the failover alert: the switch is made, the transition stays open and no
    // step has run.
    e.notifier.failures.fail_next("publish");
    e.clock.set(T0 - 1000);
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.clock.set(T0);
    send(&e, &event(1, "ALARM", T0, "b"), "r2")
        .await
        .unwrap_err();
    assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
    assert!(e.runbook.calls.lock().unwrap().is_empty(), "no step yet");
    assert_eq!(count(&e, "failover"), 0);
    // The redelivery sends the alert, then runs the steps.
    assert_eq!(
        send(&e, &event(1, "ALARM", T0, "b"), "r3").await.unwrap(),
        ["failed_over"]
    );
    assert_eq!(
        alert_kinds(&e),
        ["failover", "step_done", "step_done", "approval"]
    );

    // A runbook whose every call fails does not hold the switch back either.
    let e = runbook_engine(three_steps(), json!({}));
    e.runbook.failures.fail_next("DescribeAutoScalingGroups");
    assert_eq!(quorum(&e).await, "failed_over");
    assert_eq!(e.store.state("checkout").phase, Phase::FailedOver);
    assert_eq!(alert_kinds(&e), ["failover", "step_failed"]);
    assert_eq!(statuses(&e)[0], StepStatus::Failed);
    assert_eq!(changes(&e), Vec::<String>::new());
}

#[tokio::test]
async fn a_decline_ends_the_workflow_pages_what_was_left_undone_and_later_answers_are_refused() {
    // The promotion sits between two automatic steps: the one after it is skipped.
    let steps = three_steps();
    let e = runbook_engine(json!([steps[0], steps[2], steps[1]]), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    assert_eq!(alert_kinds(&e), ["failover", "step_done", "approval"]);

    // Refusals that change nothing: a step that is not waiting, an unknown one.
    let writes = e.store.control_writes();
    let r = answer(&e, "approve", "scale-api").await;
    assert!(!r.ok);
    assert_eq!(
        r.message,
        "refused: step 'scale-api' is not waiting for approval (it is waiting; the workflow is at promote-db)"
    );
    let r = answer(&e, "approve", "scale-web").await;
    assert!(
        r.message
            .contains("step 'scale-web' is not waiting for approval (it is done"),
        "{}",
        r.message
    );
    let r = answer(&e, "decline", "promote-database").await;
    assert!(!r.ok);
    assert_eq!(
        r.message,
        "refused: no step 'promote-database' in the workflow of epoch 1 (steps: scale-web, promote-db, scale-api)"
    );
    assert_eq!(e.store.control_writes(), writes, "no write");

    e.clock.set(T0 + 60_000);
    let r = answer(&e, "decline", "promote-db").await;
    assert!(r.ok, "{r:?}");
    assert!(r.message.contains("declined"), "{}", r.message);
    assert_eq!(
        statuses(&e),
        [StepStatus::Done, StepStatus::Declined, StepStatus::Skipped]
    );
    assert!(run(&e).ended_at.is_some());
    assert_eq!(
        alert_kinds(&e),
        ["failover", "step_done", "approval", "workflow_declined"]
    );
    let page = alerts(&e, "workflow_declined").remove(0);
    assert_eq!(
        page.subject,
        "[WORKFLOW DECLINED] checkout: promote-db (epoch 1)"
    );
    for line in [
        "was declined by bob (replica caught up)",
        "- promote-db (declined): promote the read replica to a standalone writer on RDS read replica checkout-replica (eu-west-1)",
        "- scale-api (skipped): set desired count 8 on ECS service prod/checkout (eu-west-1)",
        "Done before it: scale-web",
    ] {
        assert!(page.message.contains(line), "{line}\n{}", page.message);
    }
    assert!(!page.message.contains("- scale-web"), "{}", page.message);
    assert_eq!(
        changes(&e),
        [format!("UpdateAutoScalingGroup {ASG}")],
        "nothing promoted, the service not scaled"
    );
    assert!(audit(&e, "workflow")
        .iter()
        .any(|w| w == "workflow ended: step promote-db declined"));

    // The same decline again: answered, nothing done; an approve now is refused.
    let writes = e.store.control_writes();
    let r = answer(&e, "decline", "promote-db").await;
    assert!(r.ok, "{r:?}");
    assert!(
        r.steps
            .iter()
            .any(|s| s.detail.starts_with("already declined by bob")),
        "{:?}",
        r.steps
    );
    let r = answer(&e, "approve", "promote-db").await;
    assert!(!r.ok);
    assert!(
        r.message
            .starts_with("refused: step 'promote-db' was already declined by bob"),
        "{}",
        r.message
    );
    assert_eq!(e.store.control_writes(), writes);
    reconcile(&e).await;
    assert_eq!(count(&e, "workflow_declined"), 1);
    assert_eq!(e.runbook.count("PromoteReadReplica"), 0);
    assert_eq!(e.runbook.count("UpdateService"), 0);
}

#[tokio::test]
async fn an_unanswered_approval_pages_again_only_after_the_escalation_interval() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    assert_eq!(count(&e, "approval"), 1);
    let settings = ReconcileSettings {
        escalation_interval_ms: 120_000,
        ..ReconcileSettings::default()
    };
    let tick = |at: i64| {
        let e = e.clone();
        async move {
            e.clock.set(at);
            e.reconcile(&inv("reconciler", at), &settings)
                .await
                .unwrap()
        }
    };
    // Every minute; the interval is two.
    tick(T0 + 60_000).await;
    tick(T0 + 119_000).await;
    assert_eq!(count(&e, "approval"), 1, "not on every run");
    tick(T0 + 120_000).await;
    assert_eq!(count(&e, "approval"), 2);
    let again = alerts(&e, "approval").pop().unwrap();
    assert_eq!(
        again.subject,
        "[APPROVAL NEEDED] checkout: approve promote-db (re-page 2, epoch 1)"
    );
    assert!(again.message.contains("waiting since"), "{}", again.message);
    tick(T0 + 180_000).await;
    assert_eq!(count(&e, "approval"), 2);
    tick(T0 + 240_000).await;
    assert_eq!(count(&e, "approval"), 3);
    let a = run(&e).steps[2].approval.clone().unwrap();
    assert_eq!(
        (a.pages, a.requested_at, a.last_paged_at),
        (3, T0, T0 + 240_000)
    );
    assert_eq!(e.runbook.count("PromoteReadReplica"), 0);
    // Answered, the pages stop.
    let r = answer(&e, "approve", "promote-db").await;
    assert!(r.ok, "{r:?}");
    tick(T0 + 600_000).await;
    assert_eq!(count(&e, "approval"), 3);
}

/// A reconciler that read the state before an approve claimed and ran the step, and whose
/// re-page write is retried over the approve's: it pages nothing and leaves the step done.
#[tokio::test]
async fn a_re_page_retried_over_an_approve_that_ran_the_step_pages_nothing() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    let catalog = e.catalog().await.unwrap();
    let def = catalog.service("checkout").unwrap();
    // The reconciler's read: waiting, a re-page due.
    let mut stale = e.store.state("checkout");
    e.clock.set(T0 + 600_000);
    let r = answer(&e, "approve", "promote-db").await;
    assert!(r.ok, "{r:?}");
    assert_eq!(statuses(&e)[2], StepStatus::Done);
    let by = super::super::workflow::StepOwner {
        owner: "reconciler".into(),
        lease_until: T0 + 660_000,
        repage_ms: 120_000,
    };
    e.advance_workflow(def, &mut stale, &by).await.unwrap();
    assert_eq!(statuses(&e)[2], StepStatus::Done, "not waiting again");
    assert_eq!(count(&e, "approval"), 1, "no page after the approve");
    reconcile(&e).await;
    assert_eq!(e.runbook.count("PromoteReadReplica"), 1);
    assert_eq!(count(&e, "step_done"), 3);
}

/// Two reconcilers due to re-page the same approval: one page, not two.
#[tokio::test]
async fn two_reconcilers_re_paging_the_same_approval_send_one_page() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    let catalog = e.catalog().await.unwrap();
    let def = catalog.service("checkout").unwrap();
    e.clock.set(T0 + 120_000);
    let by = |owner: &str| super::super::workflow::StepOwner {
        owner: owner.into(),
        lease_until: T0 + 180_000,
        repage_ms: 120_000,
    };
    let mut a = e.store.state("checkout");
    let mut b = a.clone();
    e.advance_workflow(def, &mut a, &by("a")).await.unwrap();
    e.advance_workflow(def, &mut b, &by("b")).await.unwrap();
    assert_eq!(count(&e, "approval"), 2, "the first page and one re-page");
    assert_eq!(run(&e).steps[2].approval.as_ref().unwrap().pages, 2);
}

/// A decline that read the step before an approve was recorded does not overwrite it.
#[tokio::test]
async fn a_decline_racing_an_approve_does_not_overwrite_it() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    let catalog = e.catalog().await.unwrap();
    let def = catalog.service("checkout").unwrap();
    // The decline's read, then the approve's write lands (its invocation ends before
    // it claims the step).
    let stale = e.store.state("checkout");
    let mut approved = stale.clone();
    approved.version += 1;
    let s = &mut approved
        .execution
        .as_mut()
        .unwrap()
        .workflow
        .as_mut()
        .unwrap()
        .steps[2];
    s.approval.as_mut().unwrap().decision = Some(crate::domain::workflow_run::ApprovalDecision {
        approved: true,
        by: "alice".into(),
        reason: "replica caught up".into(),
        at: T0 + 1,
        request_id: "op-a".into(),
    });
    e.store.set_state("checkout", approved);
    let req = crate::api::operator_request::parse_request(
        &op(
            "decline",
            json!({"step": "promote-db", "reason": "not yet", "requested_by": "bob"}),
        ),
        T0,
    )
    .unwrap();
    let r = e
        .answer_approval(def, &req, stale, &inv("op-b", T0 + 2))
        .await
        .unwrap();
    assert!(!r.ok, "{r:?}");
    let d = run(&e).steps[2].approval.clone().unwrap().decision.unwrap();
    assert!(d.approved && d.by == "alice", "{d:?}");
    assert_eq!(count(&e, "workflow_declined"), 0);
    reconcile(&e).await;
    assert_eq!(statuses(&e)[2], StepStatus::Done);
}

/// The page also gives the failoverctl commands, as they paste into a shell.
#[tokio::test]
async fn the_approval_page_gives_the_failoverctl_commands_too() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    let page = alerts(&e, "approval").remove(0);
    for line in [
        r#"  failoverctl approve checkout --step promote-db --reason "<why>""#,
        r#"  failoverctl decline checkout --step promote-db --reason "<why>""#,
    ] {
        assert!(
            page.message.lines().any(|l| l == line),
            "{line}\n{}",
            page.message
        );
    }
}
