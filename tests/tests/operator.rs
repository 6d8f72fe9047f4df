//! The operator's actions against moto, through the real SDK clients, and the built
//! operator binary through the Lambda Runtime API.

use std::collections::HashMap;

use aws_sdk_dynamodb::types::AttributeValue;
use failover::api::operator_response::{HealthCheckStatus, OperatorResponse, StepStatus};
use integration_tests::*;
use serde_json::{json, Value};

fn req(action: &str, extra: Value) -> Value {
    let mut v = json!({"action": action, "service": "checkout", "reason": "planned: us-east-1 maintenance", "requested_by": "alice"});
    if let (Some(d), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            d.insert(k.clone(), x.clone());
        }
    }
    v
}

async fn operate(engine: &failover::adapters::aws::AwsEngine, payload: Value) -> OperatorResponse {
    engine
        .handle_operator_request(&payload, &inv("op"))
        .await
        .unwrap_or_else(|e| panic!("{payload}: {e}"))
}

/// Every item in the table, both health checks, and what reached the topic's queue.
async fn world_snapshot(
    w: &World,
) -> (
    Vec<HashMap<String, AttributeValue>>,
    (bool, bool, i64),
    (bool, bool, i64),
    usize,
) {
    let mut items = aws_sdk_dynamodb::Client::new(&w.sdk)
        .scan()
        .table_name(&w.config.table)
        .consistent_read(true)
        .send()
        .await
        .unwrap()
        .items
        .unwrap_or_default();
    items.sort_by_key(|i| format!("{:?}{:?}", i.get("pk"), i.get("sk")));
    (
        items,
        hc(w, &w.primary).await,
        hc(w, &w.secondary).await,
        w.alerts().await.len(),
    )
}

#[tokio::test]
async fn failover_status_failback_round_trip_restores_the_prior_flags_exactly() {
    let w = World::start(json!({})).await;
    // Someone had disabled the check (which reads as healthy): that is what must come back.
    w.set_primary_flags(true, false).await;
    let engine = w.engine();

    let r = operate(&engine, req("failover", json!({}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.phase_after, Some(failover::Phase::FailedOver));
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "forced unhealthy");
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].attribute("event_type").as_deref(),
        Some("failover")
    );
    assert!(
        alerts[0].message.contains("operator alice"),
        "{}",
        alerts[0].message
    );

    let status = operate(&engine, json!({"action": "status", "service": "checkout"})).await;
    let s = &status.status[0];
    assert_eq!(s.phase, failover::Phase::FailedOver);
    assert!(
        matches!(
            s.primary.health_check,
            HealthCheckStatus::Read { inverted: true, .. }
        ),
        "{s}"
    );
    assert!(s.history.iter().any(|h| h.kind == "operator"), "{s}");
    let all = operate(&engine, json!({"action": "status"})).await;
    assert_eq!(all.status.len(), 1);

    let r = operate(
        &engine,
        req("failback", json!({"reason": "primary healthy since 09:40"})),
    )
    .await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.phase_after, Some(failover::Phase::PrimaryActive));
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert_eq!(
        (disabled, inverted),
        (true, false),
        "exactly the prior flags"
    );
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].attribute("event_type").as_deref(),
        Some("failback")
    );
    assert_eq!(alerts[0].attribute("epoch").as_deref(), Some("2"));
}

#[tokio::test]
async fn planned_failover_is_refused_while_the_secondary_is_not_ready_and_forced_on_request() {
    // The secondary's alarm in ALARM.
    let w = World::start(json!({})).await;
    let alarm = put_alarm(&w.sdk, "eu-west-1", "checkout-secondary").await;
    set_alarm_state(&w.sdk, "eu-west-1", "checkout-secondary", "ALARM").await;
    let def = json!({"name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": w.primary},
        "secondary": {"region": "eu-west-1", "health_check_id": w.secondary},
        "observers": w.observers, "quorum": 2,
        "preflight": {"secondary_alarm_arn": alarm}});
    put_catalog_entry(&w.sdk, "failover-control", "checkout", &def.to_string()).await;
    let engine = w.engine();
    let before = world_snapshot(&w).await;
    let r = operate(&engine, req("failover", json!({}))).await;
    assert!(!r.ok && r.message.contains("not ready"), "{r:?}");
    assert!(
        r.steps
            .iter()
            .any(|s| s.detail.contains("checkout-secondary: ALARM")),
        "{r:?}"
    );
    assert_eq!(
        world_snapshot(&w).await,
        before,
        "a refusal changes nothing"
    );
    let r = operate(&engine, req("failover", json!({"force": true}))).await;
    assert!(r.ok, "{r:?}");
    let alerts = w.alerts().await;
    assert!(
        alerts[0].message.contains("FORCED"),
        "{}",
        alerts[0].message
    );
    let state = w.state_item().await.unwrap();
    let exec = state["exec"].as_m().unwrap();
    let trigger = exec["trigger"].as_m().unwrap();
    assert_eq!(
        trigger["forced"].as_bool().unwrap(),
        &true,
        "recorded as forced"
    );

    // Replica lag over its limit.
    let w = World::start(json!({"preflight": {"replica_lag": {
        "region": "eu-west-1", "namespace": "AWS/RDS", "metric_name": "ReplicaLag",
        "dimensions": {"DBInstanceIdentifier": "checkout-replica"}, "max_seconds": 30}}}))
    .await;
    aws_sdk_cloudwatch::Client::new(&in_region(&w.sdk, "eu-west-1"))
        .put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("ReplicaLag")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("DBInstanceIdentifier")
                        .value("checkout-replica")
                        .build(),
                )
                .value(95.0)
                .timestamp(aws_smithy_types::DateTime::from_millis(
                    chrono::Utc::now().timestamp_millis() - 30_000,
                ))
                .build(),
        )
        .send()
        .await
        .unwrap();
    let engine = w.engine();
    let r = operate(&engine, req("failover", json!({}))).await;
    assert!(!r.ok, "{r:?}");
    assert!(
        r.steps
            .iter()
            .any(|s| s.detail.contains("95.0s is over the limit of 30s")),
        "{r:?}"
    );
    assert!(
        operate(&engine, req("failover", json!({"force": true})))
            .await
            .ok
    );
}

#[tokio::test]
async fn failback_is_refused_while_an_observer_still_votes_alarm_and_forced_on_request() {
    let w = World::start(json!({})).await;
    let engine = w.engine();
    let now = chrono::Utc::now();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("a"),
        )
        .await
        .unwrap();
    engine
        .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
        .await
        .unwrap();
    assert!(hc(&w, &w.primary).await.0);
    w.alerts().await;
    let before = world_snapshot(&w).await;
    let r = operate(&engine, req("failback", json!({}))).await;
    assert!(!r.ok && r.message.contains("still vote ALARM"), "{r:?}");
    assert_eq!(world_snapshot(&w).await, before);
    // One observer recovers: the other still votes.
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-metric-alarm-to-ok.json", now),
            &inv("c"),
        )
        .await
        .unwrap();
    assert!(!operate(&engine, req("failback", json!({}))).await.ok);
    let r = operate(&engine, req("failback", json!({"force": true}))).await;
    assert!(r.ok, "{r:?}");
    assert!(!hc(&w, &w.primary).await.0);
}

#[tokio::test]
async fn dry_runs_leave_table_health_checks_and_topic_unchanged() {
    let w = World::start(json!({})).await;
    let engine = w.engine();
    let until = (chrono::Utc::now() + chrono::Duration::hours(1)).to_rfc3339();
    for payload in [
        req("failover", json!({"dry_run": true})),
        req("pause", json!({"dry_run": true, "until": until})),
    ] {
        let before = world_snapshot(&w).await;
        let r = operate(&engine, payload.clone()).await;
        assert!(r.ok && r.dry_run, "{payload}: {r:?}");
        assert_eq!(world_snapshot(&w).await, before, "{payload}");
    }
    assert!(operate(&engine, req("pause", json!({}))).await.ok);
    w.alerts().await; // drain: only what the dry run would send counts
    let before = world_snapshot(&w).await;
    assert!(
        operate(&engine, req("resume", json!({"dry_run": true})))
            .await
            .ok
    );
    assert_eq!(world_snapshot(&w).await, before, "resume dry run");
    assert!(operate(&engine, req("resume", json!({}))).await.ok);
    assert!(operate(&engine, req("failover", json!({}))).await.ok);
    w.alerts().await;
    let before = world_snapshot(&w).await;
    let r = operate(&engine, req("failback", json!({"dry_run": true}))).await;
    assert!(r.ok, "{r:?}");
    assert_eq!(world_snapshot(&w).await, before, "failback dry run");
}

#[tokio::test]
async fn repeated_requests_change_once_and_alert_once() {
    let w = World::start(json!({})).await;
    let engine = w.engine();
    for _ in 0..3 {
        assert!(operate(&engine, req("failover", json!({}))).await.ok);
    }
    assert_eq!(w.alerts().await.len(), 1);
    for _ in 0..3 {
        assert!(operate(&engine, req("failback", json!({}))).await.ok);
    }
    let alerts = w.alerts().await;
    assert_eq!(alerts.len(), 1);
    assert_eq!(
        alerts[0].attribute("event_type").as_deref(),
        Some("failback")
    );
    assert_eq!(w.state_item().await.unwrap()["epoch"].as_n().unwrap(), "2");
}

#[tokio::test]
async fn pause_blocks_the_automated_path_and_resume_acts_on_a_live_quorum() {
    let w = World::start(json!({})).await;
    let engine = w.engine();
    assert!(
        operate(
            &engine,
            req(
                "pause",
                json!({"reason": "db upgrade", "requested_by": "bob"})
            )
        )
        .await
        .ok
    );
    let now = chrono::Utc::now();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("a"),
        )
        .await
        .unwrap();
    engine
        .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
        .await
        .unwrap();
    assert!(!hc(&w, &w.primary).await.0, "paused: no switch");
    let state = w.state_item().await.unwrap();
    assert_eq!(
        state.keys().filter(|k| k.starts_with("vote#")).count(),
        2,
        "votes recorded"
    );
    let types: Vec<Option<String>> = w
        .alerts()
        .await
        .iter()
        .map(|a| a.attribute("event_type"))
        .collect();
    assert_eq!(types, [Some("pause".to_string()), Some("held".to_string())]);

    let r = operate(
        &engine,
        req(
            "resume",
            json!({"reason": "upgrade done", "requested_by": "bob"}),
        ),
    )
    .await;
    assert!(r.ok, "{r:?}");
    assert_eq!(r.phase_after, Some(failover::Phase::FailedOver), "{r:?}");
    assert!(hc(&w, &w.primary).await.0);
    let types: Vec<Option<String>> = w
        .alerts()
        .await
        .iter()
        .map(|a| a.attribute("event_type"))
        .collect();
    assert_eq!(
        types,
        [Some("resume".to_string()), Some("failover".to_string())]
    );
}

#[tokio::test]
async fn an_expired_pause_no_longer_blocks() {
    use failover::ports::ControlStore;
    let w = World::start(json!({})).await;
    let store = failover::adapters::aws::DynamoStore::new(
        aws_sdk_dynamodb::Client::new(&w.sdk),
        &w.config.table,
    );
    let now_ms = chrono::Utc::now().timestamp_millis();
    let paused = failover::ServiceState {
        version: 1,
        pause: Some(failover::domain::state::Pause {
            reason: "db upgrade".into(),
            requested_by: "bob".into(),
            since: now_ms - 3_600_000,
            until: Some(now_ms - 1000),
        }),
        ..Default::default()
    };
    store.write_control("checkout", 0, &paused).await.unwrap();
    let engine = w.engine();
    let now = chrono::Utc::now();
    engine
        .handle_alarm_event(
            &fresh_fixture("eventbridge-with-alarm-tags.json", now),
            &inv("a"),
        )
        .await
        .unwrap();
    let out = engine
        .handle_alarm_event(&fresh_fixture("alarm-action-metric.json", now), &inv("b"))
        .await
        .unwrap();
    assert_eq!(out.services[0].outcome, "failed_over");
}

#[tokio::test]
async fn bad_payloads_get_a_clear_error_and_change_nothing() {
    let w = World::start(json!({})).await;
    let engine = w.engine();
    let before = world_snapshot(&w).await;
    let long = "x".repeat(600);
    let cases = [
        (json!(null), "JSON object"),
        (json!([1, 2]), "JSON object"),
        (json!("failover"), "JSON object"),
        (json!({}), "'action'"),
        (json!({"action": ["failover"]}), "'action'"),
        (
            json!({"action": "delete-everything", "service": "checkout"}),
            "'action'",
        ),
        (json!({"action": "status", "service": "nope"}), "'service'"),
        (
            json!({"action": "failover", "service": "nope", "reason": "r", "requested_by": "a"}),
            "'service'",
        ),
        (
            json!({"action": "failover", "reason": "r", "requested_by": "a"}),
            "'service'",
        ),
        (
            json!({"action": "failover", "service": 42, "reason": "r", "requested_by": "a"}),
            "'service'",
        ),
        (
            json!({"action": "failover", "service": "checkout", "requested_by": "a"}),
            "'reason'",
        ),
        (
            json!({"action": "failover", "service": "checkout", "reason": "", "requested_by": "a"}),
            "'reason'",
        ),
        (
            json!({"action": "failover", "service": "checkout", "reason": long, "requested_by": "a"}),
            "'reason'",
        ),
        (
            json!({"action": "failback", "service": "checkout", "reason": "r"}),
            "'requested_by'",
        ),
        (
            json!({"action": "failback", "service": "checkout", "reason": "r", "requested_by": "a\u{0007}"}),
            "'requested_by'",
        ),
        (
            json!({"action": "failover", "service": "checkout", "reason": "r", "requested_by": "a", "dry_run": "true"}),
            "'dry_run'",
        ),
        (
            json!({"action": "failover", "service": "checkout", "reason": "r", "requested_by": "a", "force": "yes"}),
            "'force'",
        ),
        (
            json!({"action": "pause", "service": "checkout", "reason": "r", "requested_by": "a", "until": "next week"}),
            "'until'",
        ),
        (
            json!({"action": "pause", "service": "checkout", "reason": "r", "requested_by": "a", "until": "2001-01-01T00:00:00Z"}),
            "'until'",
        ),
        (
            json!({"action": "resume", "service": "checkout", "reason": "r", "requested_by": "a", "force": true}),
            "'force'",
        ),
        (
            json!({"action": "status", "servce": "checkout"}),
            "'servce'",
        ),
    ];
    for (payload, field) in cases {
        let err = engine
            .handle_operator_request(&payload, &inv("bad"))
            .await
            .expect_err("must be refused");
        assert_eq!(err.kind(), "BadRequest", "{payload}");
        assert!(err.to_string().contains(field), "{payload}: {err}");
    }
    assert_eq!(world_snapshot(&w).await, before);
}

#[tokio::test]
async fn the_built_operator_runs_through_the_runtime_api() {
    let w = World::start(json!({})).await;
    let mut env = w.emulator.function_env();
    env.push(("FAILOVER_TABLE".into(), w.config.table.clone()));
    env.push(("ALERT_TOPIC_ARN".into(), w.config.topic_arn.clone()));
    let watch = LambdaWatch::start(&["operator"], &env);
    let out: OperatorResponse = watch
        .invoke_as("operator", &req("failover", json!({})))
        .await
        .expect("failover");
    assert!(out.ok, "{out:?}");
    assert_eq!(out.phase_after, Some(failover::Phase::FailedOver));
    assert!(
        out.steps
            .iter()
            .any(|s| s.name == "switch" && s.status == StepStatus::Done),
        "{out:?}"
    );
    let out: OperatorResponse = watch
        .invoke_as("operator", &json!({"action": "status"}))
        .await
        .expect("status");
    assert_eq!(out.status[0].phase, failover::Phase::FailedOver, "{out:?}");
    let err = watch
        .invoke(
            "operator",
            &json!({"action": "failover", "service": "checkout"}),
        )
        .await
        .expect_err("no reason");
    assert!(
        err.contains("BadRequest") && err.contains("reason"),
        "{err}"
    );
    let out: OperatorResponse = watch
        .invoke_as("operator", &req("failback", json!({})))
        .await
        .expect("failback");
    assert!(out.ok, "{out:?}");
    assert!(!hc(&w, &w.primary).await.0);
    assert_eq!(w.alerts().await.len(), 2);
}

#[tokio::test]
async fn a_service_added_while_the_built_operator_runs_is_known_at_once() {
    let w = World::start(json!({})).await;
    let mut env = w.emulator.function_env();
    env.push(("FAILOVER_TABLE".into(), w.config.table.clone()));
    env.push(("ALERT_TOPIC_ARN".into(), w.config.topic_arn.clone()));
    let watch = LambdaWatch::start(&["operator"], &env);
    let status = |service: &str| json!({"action": "status", "service": service});
    let out: OperatorResponse = watch
        .invoke_as("operator", &status("checkout"))
        .await
        .expect("status of checkout");
    assert_eq!(out.status[0].service, "checkout", "{out:?}");
    // Terraform adds a service while the function is warm (its catalog cached).
    let payments = json!({"name": "payments",
        "primary": {"region": "us-east-1", "health_check_id": w.primary},
        "secondary": {"region": "eu-west-1", "health_check_id": w.secondary},
        "observers": w.observers, "quorum": 2});
    put_catalog_entry(&w.sdk, &w.config.table, "payments", &payments.to_string()).await;
    let out: OperatorResponse = watch
        .invoke_as("operator", &status("payments"))
        .await
        .expect("status of the service added a moment ago");
    assert_eq!(out.status.len(), 1, "{out:?}");
    assert_eq!(
        (out.status[0].service.as_str(), out.status[0].phase),
        ("payments", failover::Phase::PrimaryActive),
        "{out:?}"
    );
    // A planned failover of it works at once too.
    let out: OperatorResponse = watch
        .invoke_as(
            "operator",
            &json!({"action": "failover", "service": "payments", "reason": "new service drill",
                    "requested_by": "alice"}),
        )
        .await
        .expect("failover of the new service");
    assert!(out.ok && out.epoch == Some(1), "{out:?}");
}
