//! The pre-flight gate on the wire (moto, the real SDK clients, the engine in process):
//! a replica lag published in milliseconds, a secondary readiness alarm in
//! INSUFFICIENT_DATA (set with SetAlarmState), and a gateway's 502/504 page (no AWS error
//! code) on the secondary's pre-flight read, injected by the tap: the switch waits
//! (PENDING) instead of blocking, and completes once answers come back.

use failover::adapters::aws::AwsEngine;
use failover::domain::state::{Phase, ServiceState};
use failover::engine::{EngineError, ReconcileSettings};
use failover::ports::ControlStore;
use integration_tests::harness::tap::{AwsTap, FaultKind};
use integration_tests::*;
use serde_json::{json, Value};

const SECONDARY_ALARM: &str = "checkout-secondary-ready";

/// Writes `checkout`'s catalog entry with `preflight`.
async fn catalog(w: &World, preflight: Value) {
    let def = json!({"name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": w.primary},
        "secondary": {"region": "eu-west-1", "health_check_id": w.secondary},
        "observers": w.observers, "quorum": 2, "preflight": preflight});
    put_catalog_entry(&w.sdk, &w.config.table, "checkout", &def.to_string()).await;
}

/// The secondary's readiness alarm, in `state`; its ARN.
async fn secondary_alarm(w: &World, state: &str) -> String {
    let arn = put_alarm(&w.sdk, "eu-west-1", SECONDARY_ALARM).await;
    set_alarm_state(&w.sdk, "eu-west-1", SECONDARY_ALARM, state).await;
    arn
}

/// Two observers' ALARM events (the second decides); the deciding event's outcome.
async fn incident(engine: &AwsEngine) -> Result<String, EngineError> {
    let now = chrono::Utc::now();
    let first = fresh_fixture("eventbridge-with-alarm-tags.json", now);
    let out = engine.handle_alarm_event(&first, &inv("first")).await?;
    assert_eq!(out.services[0].outcome, "vote_recorded", "{out:?}");
    let deciding = fresh_fixture("alarm-action-metric.json", now);
    let out = engine
        .handle_alarm_event(&deciding, &inv("deciding"))
        .await?;
    Ok(out.services[0].outcome.to_string())
}

async fn state(engine: &AwsEngine) -> ServiceState {
    engine.store.load_state("checkout").await.expect("state")
}

/// The detail of the recorded pre-flight check whose name starts with `name`.
fn check_detail(state: &ServiceState, name: &str) -> String {
    let exec = state.execution.as_ref().expect("a decision");
    exec.preflight
        .iter()
        .find(|c| c.name.starts_with(name))
        .map(|c| format!("{} {}", if c.ok { "ok" } else { "not ready" }, c.detail))
        .unwrap_or_else(|| panic!("no check {name}: {:?}", exec.preflight))
}

async fn put_lag(w: &World, value: f64) {
    aws_sdk_cloudwatch::Client::new(&in_region(&w.sdk, "eu-west-1"))
        .put_metric_data()
        .namespace("AWS/RDS")
        .metric_data(
            aws_sdk_cloudwatch::types::MetricDatum::builder()
                .metric_name("AuroraGlobalDBReplicationLag")
                .dimensions(
                    aws_sdk_cloudwatch::types::Dimension::builder()
                        .name("DBClusterIdentifier")
                        .value("checkout-eu")
                        .build(),
                )
                .value(value)
                .timestamp(aws_smithy_types::DateTime::from_millis(
                    chrono::Utc::now().timestamp_millis() - 30_000,
                ))
                .build(),
        )
        .send()
        .await
        .expect("PutMetricData");
}

/// Item 8: Aurora publishes its global replication lag in milliseconds. 4,000 ms is 4 s,
/// under a 30 s limit: with `unit: milliseconds` the failover proceeds; read as seconds
/// (the default) the same datapoint blocks it.
#[tokio::test]
async fn aurora_lag_in_milliseconds_passes_the_gate_it_would_fail_as_seconds() {
    for (unit, want, detail) in [
        (Some("milliseconds"), "failed_over", "ok 4.0s (limit 30s)"),
        (
            None,
            "blocked",
            "not ready 4000.0s is over the limit of 30s",
        ),
    ] {
        let w = World::start(json!({})).await;
        let mut lag = json!({"region": "eu-west-1", "namespace": "AWS/RDS",
            "metric_name": "AuroraGlobalDBReplicationLag",
            "dimensions": {"DBClusterIdentifier": "checkout-eu"}, "max_seconds": 30});
        if let Some(u) = unit {
            lag["unit"] = json!(u);
        }
        catalog(
            &w,
            json!({"secondary_health_check": false, "replica_lag": lag}),
        )
        .await;
        put_lag(&w, 4_000.0).await;
        let engine = w.engine();
        assert_eq!(incident(&engine).await.unwrap(), want, "unit {unit:?}");
        let s = state(&engine).await;
        assert_eq!(check_detail(&s, "replica lag"), detail, "unit {unit:?}");
    }
}

/// Item 8: an idle passive secondary's readiness alarm often has no data. By default
/// INSUFFICIENT_DATA is not ready (blocked); with
/// `secondary_alarm_insufficient_data: ready` the failover proceeds.
#[tokio::test]
async fn a_secondary_alarm_in_insufficient_data_counts_as_the_catalog_says() {
    for (setting, want, phase) in [
        (None, "blocked", Phase::Blocked),
        (Some("ready"), "failed_over", Phase::FailedOver),
    ] {
        let w = World::start(json!({})).await;
        let alarm = secondary_alarm(&w, "INSUFFICIENT_DATA").await;
        let mut pf = json!({"secondary_health_check": false, "secondary_alarm_arn": alarm});
        if let Some(s) = setting {
            pf["secondary_alarm_insufficient_data"] = json!(s);
        }
        catalog(&w, pf).await;
        let engine = w.engine();
        assert_eq!(incident(&engine).await.unwrap(), want, "{setting:?}");
        assert_eq!(state(&engine).await.phase, phase, "{setting:?}");
        let (disabled, inverted, _) = hc(&w, &w.primary).await;
        assert_eq!(disabled && inverted, want == "failed_over", "{setting:?}");
    }
}

/// Item 9: `service`'s API (SigV4 name) answers the secondary's pre-flight read with a
/// gateway's 502/504 HTML page, no AWS error code. The readiness is unknown, not refused:
/// the decision is kept and the switch waits (FAILING_OVER, one PENDING alert, not
/// BLOCKED). The gateway recovers; one reconciler run completes the switch.
async fn gateway_page_on_the_preflight_waits_then_completes(
    w: World,
    service: &str,
    preflight: Value,
) {
    catalog(&w, preflight).await;
    let tap: AwsTap = w.tap();
    let engine = w.engine_through(&tap);

    let now = chrono::Utc::now();
    let first = fresh_fixture("eventbridge-with-alarm-tags.json", now);
    engine
        .handle_alarm_event(&first, &inv("first"))
        .await
        .unwrap();
    tap.set_outage(service, Some(FaultKind::Gateway));
    let deciding = fresh_fixture("alarm-action-metric.json", now);
    let waiting = engine.handle_alarm_event(&deciding, &inv("deciding")).await;
    let injected = tap.faults_injected();
    assert!(
        injected.keys().any(|k| k == "HTTP 502" || k == "HTTP 504"),
        "the gateway answered: {injected:?}"
    );
    let err = waiting.expect_err("the switch waits for the secondary's readiness");
    assert_eq!(err.kind(), "StepFailed", "{err}");
    assert!(err.to_string().contains("pre-flight"), "{err}");
    let s = state(&engine).await;
    assert_eq!(s.phase, Phase::FailingOver, "waiting, not blocked: {err}");
    assert_eq!(s.epoch, 1);
    let exec = s.execution.as_ref().expect("the decision");
    assert!(exec.blocked_reason.is_none(), "{:?}", exec.blocked_reason);
    assert!(exec.switched_at.is_none());
    let kinds: Vec<String> = w
        .alerts()
        .await
        .iter()
        .filter_map(|a| a.attribute("event_type"))
        .collect();
    assert_eq!(kinds, ["pending"], "one PENDING alert, no BLOCKED page");

    tap.set_outage(service, None);
    let report = engine
        .reconcile(&inv("reconciler"), &ReconcileSettings::default())
        .await
        .expect("a reconciler run");
    assert_eq!(report.resumed, 1, "{report:?}");
    let s = state(&engine).await;
    assert_eq!((s.phase, s.epoch), (Phase::FailedOver, 1));
    let (disabled, inverted, _) = hc(&w, &w.primary).await;
    assert!(disabled && inverted, "primary forced unhealthy");
    let kinds: Vec<String> = w
        .alerts()
        .await
        .iter()
        .filter_map(|a| a.attribute("event_type"))
        .collect();
    assert_eq!(kinds, ["failover"], "one failover alert");
}

#[tokio::test]
async fn a_gateway_page_from_route53_on_the_secondarys_health_check_waits_instead_of_blocking() {
    let w = World::start(json!({})).await;
    gateway_page_on_the_preflight_waits_then_completes(
        w,
        "route53",
        json!({"secondary_health_check": true}),
    )
    .await;
}

#[tokio::test]
async fn a_gateway_page_from_cloudwatch_on_the_secondarys_alarm_waits_instead_of_blocking() {
    let w = World::start(json!({})).await;
    let alarm = secondary_alarm(&w, "OK").await;
    gateway_page_on_the_preflight_waits_then_completes(
        w,
        "monitoring",
        json!({"secondary_health_check": false, "secondary_alarm_arn": alarm}),
    )
    .await;
}
