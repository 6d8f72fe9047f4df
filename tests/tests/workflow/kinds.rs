//! Every step kind against moto, the dry run and the capacity floor.

use failover::api::operator_response::StepStatus as Report;
use failover::Phase;
use integration_tests::harness::provision::runbook::provision_function;
use integration_tests::*;
use serde_json::json;

use super::*;

const FUNCTION: &str = "checkout-cutover";

fn function_arn() -> String {
    format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:{FUNCTION}")
}

/// Scale the group and the ECS service, promote the replica (approval), then call the
/// user's Lambda; the group's warm count as the capacity floor (met).
fn four_steps(r: &RunbookResources) -> ServiceSpec {
    let mut steps = r.workflow();
    steps
        .as_array_mut()
        .unwrap()
        .push(json!({"id": "notify", "kind": "invoke", "function_arn": function_arn()}));
    World::checkout_with_alarms()
        .workflow(steps)
        .capacity(r.capacity_floor())
}

#[tokio::test]
async fn each_step_kind_runs_against_moto_scaled_at_once_promoted_on_approval_then_the_lambda() {
    let bed = Bed::start(four_steps).await;
    let (w, r) = (&bed.w, &bed.r);
    let arn = provision_function(&w.emulator, &w.sdk, r.region, FUNCTION).await;
    assert_eq!(arn, function_arn());
    let c = r.capacity;
    let plan = bed.workflow().await;
    assert_eq!(
        (plan.direction.as_str(), plan.progress.as_str()),
        ("planned", "0/4")
    );

    let mark = bed.tap.settled_mark();
    bed.quorum().await;
    // In moto: both scale steps at their targets, the replica still a replica.
    let g = r.group(&w.sdk).await.unwrap();
    assert_eq!(
        (g.min, g.desired, g.max),
        (c.group_full, c.group_full, c.group_max)
    );
    assert_eq!(
        g.in_service, c.group_full as usize,
        "moto starts them at once"
    );
    let s = r.ecs(&w.sdk).await.unwrap();
    assert_eq!((s.desired, s.running), (c.service_full, c.service_full));
    let db = r.replica_role(&w.sdk).await.unwrap();
    assert_eq!(db.replica_of.as_deref(), Some(r.primary_db_arn.as_str()));

    // On the wire: the switch, its alert, then one call per automatic step, each read
    // back before and after.
    let calls = bed.calls_since(mark);
    assert_eq!(changes(&calls), ["UpdateAutoScalingGroup", "UpdateService"]);
    let at = |pred: &dyn Fn(&TappedCall) -> bool| calls.iter().position(pred).unwrap();
    let switch = at(&|c| c.operation == "UpdateHealthCheck");
    let alert = at(&|c| c.operation == "Publish" && c.detail.starts_with("[FAILOVER]"));
    let scale = at(&|c| c.operation == "UpdateAutoScalingGroup");
    assert!(
        switch < alert && alert < scale,
        "switch, alert, then the steps"
    );
    assert_eq!(
        runbook_calls(&calls[alert..]),
        [
            "DescribeAutoScalingGroups",
            // The adapter reads the group's max (a step without one raises it to desired).
            "DescribeAutoScalingGroups",
            "UpdateAutoScalingGroup",
            "DescribeAutoScalingGroups",
            "DescribeServices",
            "UpdateService",
            "DescribeServices"
        ],
        "the capacity floor's read came before the switch"
    );

    let alerts = bed.alerts().await;
    assert_eq!(
        event_types(&alerts),
        ["failover", "step_done", "step_done", "approval"]
    );
    let failover = the(&alerts, "failover");
    for line in [
        "1. scale-web (autoscaling_group) autoscaling group checkout-asg (eu-west-1): set min 6, desired 6 [automatic]",
        "2. scale-api (ecs_service) ECS service checkout-prod/checkout-api (eu-west-1): set desired count 8 [automatic]",
        "3. promote-db (rds_read_replica) RDS read replica checkout-replica (eu-west-1): promote the read replica to a standalone writer [needs approval]",
        "autoscaling group checkout-asg (eu-west-1) InService instances: 2 (needs at least 2)",
    ] {
        assert!(failover.message.contains(line), "{line}\n{}", failover.message);
    }
    assert!(failover
        .message
        .contains(&format!("4. notify (invoke) Lambda {arn}")));
    assert_eq!(
        subjects(&alerts[1..3]),
        [
            "[STEP DONE] checkout: scale-web (epoch 1)",
            "[STEP DONE] checkout: scale-api (epoch 1)"
        ]
    );
    assert!(
        alerts[1]
            .message
            .contains("verified: min 6 desired 6 max 12"),
        "{}",
        alerts[1].message
    );
    let page = the(&alerts, "approval");
    assert_eq!(
        page.subject,
        "[APPROVAL NEEDED] checkout: approve promote-db (epoch 1)"
    );
    let wf = bed.workflow().await;
    assert_eq!(
        (wf.direction.as_str(), wf.progress.as_str()),
        ("failover", "2/4")
    );
    assert_eq!(wf.current.as_deref(), Some("promote-db"));
    assert_eq!(
        bed.step_statuses().await,
        [
            ("scale-web", "done"),
            ("scale-api", "done"),
            ("promote-db", "awaiting_approval"),
            ("notify", "waiting")
        ]
        .map(|(a, b)| (a.to_string(), b.to_string()))
    );

    // The operator sends the page's approve request, filled in.
    let mut approve = request_in(&page.message, "approve");
    approve["reason"] = json!("replica lag 0s, writes stopped in us-east-1");
    approve["requested_by"] = json!("carol");
    let mark = bed.tap.settled_mark();
    let answer = bed.operate(approve).await;
    assert!(answer.ok, "{answer:?}");
    assert!(
        answer
            .steps
            .iter()
            .any(|s| s.name == "step promote-db" && s.status == Report::Done),
        "{:?}",
        answer.steps
    );
    let db = r.replica_role(&w.sdk).await.unwrap();
    assert!(db.standalone(), "promoted: {db}");
    assert_eq!(db.status, "available");
    assert_eq!(
        changes(&bed.calls_since(mark)),
        ["PromoteReadReplica", "Invoke"]
    );

    let alerts = bed.alerts().await;
    assert_eq!(
        subjects(&alerts),
        [
            "[STEP DONE] checkout: promote-db (epoch 1)",
            "[STEP DONE] checkout: notify (epoch 1)"
        ]
    );
    for part in [
        "approved: by carol (replica lag 0s",
        "standalone (promoted), available",
    ] {
        assert!(
            alerts[0].message.contains(part),
            "{part}\n{}",
            alerts[0].message
        );
    }
    let wf = bed.workflow().await;
    assert_eq!(wf.progress, "4/4");
    assert!(wf.ended_at.is_some() && wf.current.is_none());
    // moto's Docker-less Lambda answers what it was given: the transition, with the key
    // that stays the same on every attempt.
    let answered = wf.steps[3].result.clone().unwrap_or_default();
    for part in [
        r#""idempotency_key":"checkout#1#notify""#,
        r#""direction":"failover""#,
        r#""service":"checkout""#,
        r#""attempt":1"#,
    ] {
        assert!(answered.contains(part), "{part}: {answered}");
    }
    assert!(wf.steps[2]
        .answered
        .as_deref()
        .is_some_and(|a| a.starts_with("approved by carol")));

    let audit = bed.audit("workflow").await;
    for what in [
        "step scale-web done",
        "step scale-api done",
        "step promote-db waits for approval (page 1)",
        "step promote-db done",
        "step notify done",
        "workflow ended: 4/4 steps done",
    ] {
        assert!(audit.iter().any(|a| a == what), "{what}: {audit:?}");
    }
    assert!(bed
        .audit("operator")
        .await
        .iter()
        .any(|a| a == "approve step promote-db"));

    // The next reconciler run has nothing left to do.
    let mark = bed.tap.settled_mark();
    bed.advance_secs(60);
    bed.reconcile().await;
    assert_eq!(changes(&bed.calls_since(mark)), Vec::<String>::new());
    assert!(bed.alerts().await.is_empty());
}

#[tokio::test]
async fn a_dry_run_lists_the_workflow_with_what_moto_shows_now_and_changes_nothing() {
    let bed = Bed::start(four_steps).await;
    let (w, r) = (&bed.w, &bed.r);
    provision_function(&w.emulator, &w.sdk, r.region, FUNCTION).await;
    let state = w.state_item().await;
    let history = w.history().await.len();
    let before = (
        r.group(&w.sdk).await,
        r.ecs(&w.sdk).await,
        r.replica_role(&w.sdk).await,
    );

    let mark = bed.tap.settled_mark();
    let dry = bed
        .operate(
            json!({"action": "failover", "service": "checkout", "dry_run": true,
                        "reason": "drill", "requested_by": "carol"}),
        )
        .await;
    assert!(dry.ok && dry.dry_run, "{dry:?}");
    let plan: Vec<(&str, Report, &str)> = dry
        .steps
        .iter()
        .filter(|s| s.name.starts_with("workflow "))
        .map(|s| (s.name.as_str(), s.status, s.detail.as_str()))
        .collect();
    let replica = format!(
        "RDS read replica checkout-replica (eu-west-1): promote the read replica to a standalone writer (now replica of {}, status available) [waits for approval]",
        r.primary_db_arn
    );
    let lambda = format!(
        "Lambda {}: invoke with the transition; its answer is recorded [automatic, after the switch]",
        function_arn()
    );
    assert_eq!(
        plan,
        [
            ("workflow scale-web", Report::WouldDo, "autoscaling group checkout-asg (eu-west-1): set min 6, desired 6 (now min 2 desired 2 max 12 (2 InService)) [automatic, after the switch]"),
            ("workflow scale-api", Report::WouldDo, "ECS service checkout-prod/checkout-api (eu-west-1): set desired count 8 (now desired 2 (2 running)) [automatic, after the switch]"),
            ("workflow promote-db", Report::WouldDo, replica.as_str()),
            ("workflow notify", Report::WouldDo, lambda.as_str()),
        ]
    );

    // Reads only, on the wire and in moto.
    let calls = bed.calls_since(mark);
    let wrote: Vec<String> = calls
        .iter()
        .filter(|c| c.mutates())
        .map(|c| c.label())
        .collect();
    assert_eq!(wrote, Vec::<String>::new());
    assert_eq!(
        changes(&calls),
        Vec::<String>::new(),
        "nothing invoked either"
    );
    assert!(runbook_calls(&calls).contains(&"DescribeDBInstances".to_string()));
    assert_eq!(w.state_item().await, state);
    assert_eq!(w.history().await.len(), history);
    assert!(bed.alerts().await.is_empty());
    let after = (
        r.group(&w.sdk).await,
        r.ecs(&w.sdk).await,
        r.replica_role(&w.sdk).await,
    );
    assert_eq!(after, before);
    assert_eq!(hc(w, &w.primary).await, (false, false, 1), "not switched");
}

#[tokio::test]
async fn a_secondary_below_its_capacity_floor_blocks_the_failover() {
    for kind in ["autoscaling_group", "ecs_service"] {
        let bed = Bed::start(|r| {
            let floor = match kind {
                "autoscaling_group" => r.capacity_floor(),
                _ => json!({"kind": "ecs_service", "region": r.region, "cluster": r.cluster,
                            "service": r.ecs_service, "at_least": r.capacity.service_warm}),
            };
            World::checkout_with_alarms()
                .workflow(r.workflow())
                .capacity(floor)
        })
        .await;
        let (w, r) = (&bed.w, &bed.r);
        // One instance (one task) lost before the incident: one below the floor of 2.
        let secondary = in_region(&w.sdk, r.region);
        let detail = if kind == "autoscaling_group" {
            aws_sdk_autoscaling::Client::new(&secondary)
                .update_auto_scaling_group()
                .auto_scaling_group_name(&r.group)
                .min_size(1)
                .desired_capacity(1)
                .send()
                .await
                .unwrap();
            assert_eq!(r.group(&w.sdk).await.unwrap().in_service, 1);
            "autoscaling group checkout-asg (eu-west-1) InService instances: 1, below the floor of 2: the secondary cannot take the traffic yet"
        } else {
            aws_sdk_ecs::Client::new(&secondary)
                .update_service()
                .cluster(&r.cluster)
                .service(&r.ecs_service)
                .desired_count(1)
                .send()
                .await
                .unwrap();
            assert_eq!(r.ecs(&w.sdk).await.unwrap().running, 1);
            "ECS service checkout-prod/checkout-api (eu-west-1) running tasks: 1, below the floor of 2: the secondary cannot take the traffic yet"
        };
        let floor_before = (r.group(&w.sdk).await, r.ecs(&w.sdk).await);

        let mark = bed.tap.settled_mark();
        assert_eq!(bed.alarm(0, "ALARM").await, "vote_recorded");
        assert_eq!(bed.alarm(1, "ALARM").await, "blocked", "{kind}");
        let alerts = bed.alerts().await;
        assert_eq!(event_types(&alerts), ["blocked"], "{kind}");
        assert!(
            alerts[0].message.contains(detail),
            "{kind}: {}",
            alerts[0].message
        );
        let status = bed
            .operate(json!({"action": "status", "service": "checkout"}))
            .await;
        assert_eq!(status.status[0].phase, Phase::Blocked);
        assert_eq!(
            status.status[0]
                .workflow
                .as_ref()
                .map(|w| w.direction.as_str()),
            Some("planned"),
            "nothing switched: no workflow ran"
        );
        let calls = bed.calls_since(mark);
        assert!(
            !calls.iter().any(|c| c.operation == "UpdateHealthCheck"),
            "{kind}"
        );
        assert_eq!(changes(&calls), Vec::<String>::new(), "{kind}");
        assert_eq!(
            hc(w, &w.primary).await,
            (false, false, 1),
            "{kind}: not switched"
        );
        assert_eq!((r.group(&w.sdk).await, r.ecs(&w.sdk).await), floor_before);
    }
}
