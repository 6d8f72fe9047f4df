//! The workflow around the transition: a dry run's plan changes nothing, failback scales
//! back and leaves the databases to a human, the capacity floor gates an automatic
//! failover, Aurora's move and the user's Lambda, and a run fixed at its start.

use super::workflow::{
    alerts, answer, changes, count, quorum, run, runbook_engine, statuses, three_steps, ASG, DB,
    ECS,
};
use super::*;
use crate::api::operator_response::StepStatus as Report;
use crate::domain::state::{Phase, TransitionKind};
use crate::domain::workflow_run::{InvokeAnswer, StepStatus};

const GLOBAL: &str = "checkout-global";
const USE1: &str = "arn:aws:rds:us-east-1:123456789012:cluster:checkout-use1";
const EUW1: &str = "arn:aws:rds:eu-west-1:123456789012:cluster:checkout-euw1";
const FUNCTION: &str = "arn:aws:lambda:eu-west-1:123456789012:function:mm2-cutover";

fn aurora(allow_data_loss: bool, approval: &str) -> Value {
    json!({"id": "promote-aurora", "kind": "aurora_global", "global_cluster": GLOBAL,
           "target_cluster_arn": EUW1, "allow_data_loss": allow_data_loss, "approval": approval})
}

fn invoke() -> Value {
    json!({"id": "kafka-cutover", "kind": "invoke", "function_arn": FUNCTION})
}

/// Every kind: the three steps, the Aurora move and the Lambda.
fn five_steps() -> Value {
    let mut steps = three_steps();
    let list = steps.as_array_mut().unwrap();
    list.push(aurora(false, "required"));
    list.push(invoke());
    steps
}

fn writer(e: &TestEngine) -> Option<String> {
    e.runbook.globals.lock().unwrap()[GLOBAL].writer_arn.clone()
}

#[tokio::test]
async fn a_dry_run_lists_every_step_with_its_change_and_what_it_shows_now_and_changes_nothing() {
    let e = runbook_engine(five_steps(), json!({}));
    e.runbook.add_global(GLOBAL, USE1);
    let before = (
        e.store.state("checkout"),
        e.store.history.lock().unwrap().len(),
    );
    let writes = e.store.control_writes();
    let r = operate(&e, op("failover", json!({"dry_run": true}))).await;
    assert!(r.ok && r.dry_run, "{r:?}");
    let plan: Vec<(&str, &str)> = r
        .steps
        .iter()
        .filter(|s| s.name.starts_with("workflow "))
        .map(|s| {
            assert_eq!(s.status, Report::WouldDo, "{s:?}");
            (s.name.as_str(), s.detail.as_str())
        })
        .collect();
    assert_eq!(
        plan,
        [
            ("workflow scale-web", "autoscaling group checkout-asg (eu-west-1): set min 12, desired 12 (now min 3 desired 3 max 20 (3 InService)) [automatic, after the switch]"),
            ("workflow scale-api", "ECS service prod/checkout (eu-west-1): set desired count 8 (now desired 2 (2 running)) [automatic, after the switch]"),
            ("workflow promote-db", "RDS read replica checkout-replica (eu-west-1): promote the read replica to a standalone writer (now replica of checkout-primary, status available) [waits for approval]"),
            ("workflow promote-aurora", "Aurora global database checkout-global -> arn:aws:rds:eu-west-1:123456789012:cluster:checkout-euw1: switch over the global database (SwitchoverGlobalCluster, no data loss) (now writer arn:aws:rds:us-east-1:123456789012:cluster:checkout-use1, status available) [waits for approval]"),
            ("workflow kafka-cutover", "Lambda arn:aws:lambda:eu-west-1:123456789012:function:mm2-cutover: invoke with the transition; its answer is recorded [automatic, after the switch]"),
        ]
    );
    // Reads only: nothing changed, written, audited or sent.
    assert_eq!(changes(&e), Vec::<String>::new());
    assert_eq!(e.runbook.count("Invoke"), 0);
    assert_eq!(e.store.control_writes(), writes, "no state write");
    assert_eq!(
        (
            e.store.state("checkout"),
            e.store.history.lock().unwrap().len()
        ),
        before
    );
    assert!(e.notifier.sent().is_empty());
    assert!(!e.health.get_now(PRIMARY).settings.forces_unhealthy());
}

#[tokio::test]
async fn failback_scales_back_and_leaves_the_databases_to_a_human_its_alert_says_what_to_do() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    e.clock.set(T0 + 60_000);
    assert!(answer(&e, "approve", "promote-db").await.ok);
    assert!(run(&e).ended_at.is_some());
    let promotions = e.runbook.count("PromoteReadReplica");

    // The observers recover; the failback's dry run shows the scale-back and the
    // database left alone.
    e.clock.set(T0 + 100_000);
    for i in 0..2 {
        send(&e, &event(i, "OK", T0 + 100_000, &format!("ok-{i}")), "ok")
            .await
            .unwrap();
    }
    e.clock.set(T0 + 120_000);
    let dry = operate(&e, op("failback", json!({"dry_run": true}))).await;
    let lines: Vec<(&str, Report)> = dry
        .steps
        .iter()
        .filter(|s| s.name.starts_with("workflow "))
        .map(|s| (s.name.as_str(), s.status))
        .collect();
    assert_eq!(
        lines,
        [
            ("workflow scale-web", Report::WouldDo),
            ("workflow scale-api", Report::WouldDo),
            ("workflow promote-db", Report::Skipped)
        ],
        "{:?}",
        dry.steps
    );
    let web = dry
        .steps
        .iter()
        .find(|s| s.name == "workflow scale-web")
        .unwrap();
    assert!(
        web.detail
            .starts_with("autoscaling group checkout-asg (eu-west-1): set min 3, desired 3 (now min 12 desired 12"),
        "{}",
        web.detail
    );

    let r = operate(&e, op("failback", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(e.store.state("checkout").phase, Phase::PrimaryActive);
    let g = e.runbook.groups.lock().unwrap()[ASG];
    assert_eq!(
        (g.min, g.desired, g.max),
        (3, 3, 20),
        "min and desired back"
    );
    assert_eq!(e.runbook.services.lock().unwrap()[ECS].desired, 2);
    assert_eq!(
        e.runbook.count("PromoteReadReplica"),
        promotions,
        "no database call"
    );
    assert!(e.runbook.dbs.lock().unwrap()[DB].replica_of.is_none());
    let w = run(&e);
    assert_eq!(w.direction, TransitionKind::Failback);
    let ids: Vec<&str> = w.steps.iter().map(|s| s.id()).collect();
    assert_eq!(ids, ["scale-web", "scale-api"]);
    assert_eq!(statuses(&e), [StepStatus::Done, StepStatus::Done]);
    assert!(w.ended_at.is_some());

    let kinds = alert_kinds(&e);
    assert_eq!(
        kinds[kinds.len() - 3..],
        ["failback", "step_done", "step_done"]
    );
    let failback = alerts(&e, "failback").remove(0);
    for line in [
        "Workflow on failback (scale-back, runs now)",
        "scale-web (autoscaling_group) autoscaling group checkout-asg (eu-west-1): set min 3, desired 3",
        "scale-api (ecs_service) ECS service prod/checkout (eu-west-1): set desired count 2",
        "Not reversed automatically (a human must do this",
        "- promote-db: if checkout-replica (eu-west-1) was promoted (the failover's [STEP DONE]), it is the writer now: re-create a read replica in us-east-1",
    ] {
        assert!(failback.message.contains(line), "{line}\n{}", failback.message);
    }
    let done = alerts(&e, "step_done").pop().unwrap();
    assert_eq!(done.subject, "[STEP DONE] checkout: scale-api (epoch 2)");
    assert!(
        done.message.contains("of the failback of checkout"),
        "{}",
        done.message
    );
}

#[tokio::test]
async fn the_capacity_floor_blocks_an_automatic_failover_below_it_and_passes_at_it() {
    let asg = json!({"preflight": {"capacity": {"kind": "autoscaling_group", "region": "eu-west-1",
        "name": "checkout-asg", "at_least": 6}}});
    let ecs = json!({"preflight": {"capacity": {"kind": "ecs_service", "region": "eu-west-1",
        "cluster": "prod", "service": "checkout", "at_least": 5}}});
    for (extra, warm, want, detail) in [
        (&asg, 5, "blocked", "autoscaling group checkout-asg (eu-west-1) InService instances: 5, below the floor of 6: the secondary cannot take the traffic yet"),
        (&asg, 6, "failed_over", "autoscaling group checkout-asg (eu-west-1) InService instances: 6 (needs at least 6)"),
        (&asg, 9, "failed_over", "autoscaling group checkout-asg (eu-west-1) InService instances: 9 (needs at least 6)"),
        (&ecs, 4, "blocked", "ECS service prod/checkout (eu-west-1) running tasks: 4, below the floor of 5: the secondary cannot take the traffic yet"),
        (&ecs, 5, "failed_over", "ECS service prod/checkout (eu-west-1) running tasks: 5 (needs at least 5)"),
    ] {
        let e = runbook_engine(three_steps(), extra.clone());
        e.runbook.groups.lock().unwrap().get_mut(ASG).unwrap().in_service = warm;
        e.runbook.services.lock().unwrap().get_mut(ECS).unwrap().running = warm;
        assert_eq!(quorum(&e).await, want, "{extra} at {warm}");
        let exec = e.store.state("checkout").execution.unwrap();
        let check = exec
            .preflight
            .iter()
            .find(|c| c.name == "capacity")
            .unwrap_or_else(|| panic!("{:?}", exec.preflight));
        assert_eq!((check.ok, check.detail.as_str()), (want == "failed_over", detail));
        if want == "blocked" {
            assert_eq!(e.store.state("checkout").phase, Phase::Blocked);
            assert_eq!(alert_kinds(&e), ["blocked"]);
            let page = &e.notifier.sent()[0];
            assert!(page.message.contains(detail), "{}", page.message);
            assert!(!e.health.get_now(PRIMARY).settings.forces_unhealthy());
            assert!(exec.workflow.is_none(), "nothing switched: no workflow");
            assert_eq!(changes(&e), Vec::<String>::new());
        } else {
            assert!(e.health.get_now(PRIMARY).settings.forces_unhealthy());
            assert_eq!(alert_kinds(&e)[0], "failover");
        }
    }
}

#[tokio::test]
async fn aurora_fails_over_with_data_loss_only_when_automatic_and_allowed() {
    // (allow_data_loss, who fails over, the call expected)
    for (allow, operator, want) in [
        (true, false, "FailoverGlobalCluster"),
        (false, false, "SwitchoverGlobalCluster"),
        (true, true, "SwitchoverGlobalCluster"),
    ] {
        let e = runbook_engine(json!([aurora(allow, "none")]), json!({}));
        e.runbook.add_global(GLOBAL, USE1);
        if operator {
            assert!(operate(&e, op("failover", json!({}))).await.ok);
        } else {
            assert_eq!(quorum(&e).await, "failed_over");
        }
        assert_eq!(
            changes(&e),
            [format!("{want} {GLOBAL}")],
            "{allow} {operator}"
        );
        assert_eq!(writer(&e).as_deref(), Some(EUW1));
        assert_eq!(statuses(&e), [StepStatus::Done]);
        let done = alerts(&e, "step_done").remove(0);
        assert!(
            done.message
                .contains(&format!("verified: writer {EUW1}, status available")),
            "{}",
            done.message
        );
    }
    // Approved by a human, an automatic failover's move is still the automatic one.
    let e = runbook_engine(json!([aurora(true, "required")]), json!({}));
    e.runbook.add_global(GLOBAL, USE1);
    assert_eq!(quorum(&e).await, "failed_over");
    let page = alerts(&e, "approval").remove(0);
    assert!(
        page.message
            .contains("FailoverGlobalCluster, AllowDataLoss"),
        "{}",
        page.message
    );
    assert!(answer(&e, "approve", "promote-aurora").await.ok);
    assert_eq!(changes(&e), [format!("FailoverGlobalCluster {GLOBAL}")]);
}

#[tokio::test]
async fn invoke_gives_the_lambda_the_transition_and_a_function_error_fails_the_step() {
    let e = runbook_engine(json!([invoke()]), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    let payloads = e.runbook.payloads.lock().unwrap().clone();
    assert_eq!(payloads.len(), 1);
    let p: Value = serde_json::from_str(&payloads[0]).unwrap();
    assert_eq!(p["service"], "checkout");
    assert_eq!(p["epoch"], 1);
    assert_eq!(p["direction"], "failover");
    assert_eq!(p["step"], "kafka-cutover");
    assert_eq!(p["idempotency_key"], "checkout#1#kafka-cutover");
    assert_eq!(p["who"], "automatic: quorum 2 of 3 observers");
    let voters: Vec<&str> = p["votes"]
        .as_array()
        .unwrap()
        .iter()
        .map(|v| v["observer"].as_str().unwrap())
        .collect();
    assert_eq!(voters, [observer(0), observer(1)]);
    let s = run(&e).steps[0].clone();
    assert_eq!(s.status, StepStatus::Done);
    assert_eq!(s.result.as_deref(), Some(r#"answered: {"ok":true}"#));

    // The function answers with an error: the step failed, with the answer.
    let e = runbook_engine(json!([invoke()]), json!({}));
    e.runbook.answers.lock().unwrap().insert(
        FUNCTION.into(),
        InvokeAnswer {
            function_error: Some("Unhandled".into()),
            payload: r#"{"errorMessage":"broker unreachable"}"#.into(),
        },
    );
    assert!(operate(&e, op("failover", json!({}))).await.ok);
    let p: Value = serde_json::from_str(&e.runbook.payloads.lock().unwrap()[0]).unwrap();
    assert_eq!(p["who"], "operator alice");
    let s = run(&e).steps[0].clone();
    assert_eq!(s.status, StepStatus::Failed);
    let want = r#"the function failed (Unhandled): {"errorMessage":"broker unreachable"}"#;
    assert_eq!(s.last_error.as_deref(), Some(want));
    let page = alerts(&e, "step_failed").remove(0);
    assert!(page.message.contains(want), "{}", page.message);
    // The retry gives the same key, so the function can tell it from a new transition.
    e.clock.set(T0 + 31_000);
    reconcile(&e).await;
    let payloads = e.runbook.payloads.lock().unwrap().clone();
    assert_eq!(payloads.len(), 2);
    let retry: Value = serde_json::from_str(&payloads[1]).unwrap();
    assert_eq!(retry["idempotency_key"], p["idempotency_key"]);
    assert_eq!(count(&e, "step_failed"), 1);
}

#[tokio::test]
async fn a_catalog_edit_mid_run_does_not_change_the_running_workflow() {
    let e = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    // The entry is edited: another replica, another size.
    let mut edited = three_steps();
    edited[0]["min"] = json!(20);
    edited[0]["desired"] = json!(20);
    edited[2]["identifier"] = json!("other-replica");
    e.runbook
        .add_replica("eu-west-1", "other-replica", "checkout-primary");
    {
        let mut catalog = e.store.catalog.lock().unwrap();
        let mut def: Value = serde_json::from_str(&catalog[0].1).unwrap();
        def["workflow"] = edited;
        catalog[0].1 = def.to_string();
    }
    e.clock.set(T0 + crate::engine::CATALOG_TTL_MS + 1000);
    let status = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    let w = status.status[0].workflow.clone().unwrap();
    assert_eq!(
        w.steps[2].target,
        "RDS read replica checkout-replica (eu-west-1)"
    );
    assert!(answer(&e, "approve", "promote-db").await.ok);
    assert_eq!(
        changes(&e)[2..],
        [format!("PromoteReadReplica {DB}")],
        "the replica the run began with"
    );
    assert!(e.runbook.dbs.lock().unwrap()["eu-west-1/other-replica"]
        .replica_of
        .is_some());
    reconcile(&e).await;
    assert_eq!(e.runbook.groups.lock().unwrap()[ASG].desired, 12);
    assert_eq!(e.runbook.count("UpdateAutoScalingGroup"), 1);
}

#[tokio::test]
async fn a_failover_recorded_without_a_run_never_gets_one_from_the_reconciler() {
    // A failover made before the catalog had a workflow.
    let e = engine_with(json!({}));
    assert_eq!(quorum(&e).await, "failed_over");
    assert!(e
        .store
        .state("checkout")
        .execution
        .unwrap()
        .workflow
        .is_none());
    {
        let mut catalog = e.store.catalog.lock().unwrap();
        let mut def: Value = serde_json::from_str(&catalog[0].1).unwrap();
        def["workflow"] = three_steps();
        catalog[0].1 = def.to_string();
    }
    e.runbook.add_group("eu-west-1", "checkout-asg", 3, 20, 3);
    // And a state item written before workflows existed, with the catalog's workflow.
    let f = runbook_engine(three_steps(), json!({}));
    assert_eq!(quorum(&f).await, "failed_over");
    let mut state = f.store.state("checkout");
    state.execution.as_mut().unwrap().workflow = None;
    f.store.set_state("checkout", state);
    let before = f.runbook.calls.lock().unwrap().len();
    let sent = f.notifier.sent().len();
    for engine in [&e, &f] {
        for at in [T0 + 61_000, T0 + 300_000] {
            engine.clock.set(at);
            reconcile(engine).await;
        }
        assert!(engine
            .store
            .state("checkout")
            .execution
            .unwrap()
            .workflow
            .is_none());
    }
    assert!(e.runbook.calls.lock().unwrap().is_empty());
    assert_eq!(f.runbook.calls.lock().unwrap().len(), before);
    assert_eq!(f.notifier.sent().len(), sent, "nothing sent");
    assert_eq!(count(&e, "step_done") + count(&e, "approval"), 0);
    // status shows the catalog's plan, not a run.
    let status = operate(&e, json!({"action": "status", "service": "checkout"})).await;
    let w = status.status[0].workflow.clone().unwrap();
    assert_eq!(w.direction, "planned");
    assert!(w.steps.iter().all(|s| s.status == "planned"));
}

/// An invoke step is started only with the function's timeout left (and a step's budget):
/// started with less, the invocation would end mid-call, its claim lapse, and every next
/// run call the function again without a page.
#[tokio::test]
async fn an_invoke_step_waits_for_an_invocation_with_the_functions_timeout_left() {
    let e = runbook_engine(json!([invoke()]), json!({}));
    e.clock.set(T0 - 1000);
    send(&e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    e.clock.set(T0);
    // 25 s left: the close's 9 and a scale step's 12 fit; the function's 25 and the
    // writes' 5 do not.
    let out = e
        .handle_alarm_event(
            &event(1, "ALARM", T0, "b"),
            &Invocation {
                request_id: "r2".into(),
                deadline: T0 + 25_000,
            },
        )
        .await
        .unwrap();
    assert_eq!(out.services[0].outcome, "failed_over");
    assert!(e.runbook.payloads.lock().unwrap().is_empty());
    assert_eq!(statuses(&e), [StepStatus::Waiting]);
    // The reconciler, with its minute, runs it.
    e.clock.set(T0 + 60_000);
    reconcile(&e).await;
    assert_eq!(e.runbook.payloads.lock().unwrap().len(), 1);
    assert_eq!(statuses(&e), [StepStatus::Done]);
}
