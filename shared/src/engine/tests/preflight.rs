//! The pre-flight gate's settings over in-memory ports: the replica lag's unit, what a
//! secondary alarm in INSUFFICIENT_DATA counts as, and alarms outside the deployment's
//! account refused at catalog load.

use super::*;
use crate::domain::arn::HomeAccount;
use crate::domain::event::ObservedState;
use crate::domain::state::Phase;

const SECONDARY_ALARM: &str = "arn:aws:cloudwatch:eu-west-1:123456789012:alarm:checkout-secondary";

/// Two observers alarm; the outcome of the deciding event.
async fn incident(e: &TestEngine) -> &'static str {
    send(e, &event(0, "ALARM", T0 - 1000, "a"), "r1")
        .await
        .unwrap();
    let out = send(e, &event(1, "ALARM", T0, "b"), "r2").await.unwrap();
    assert_eq!(out.len(), 1, "{out:?}");
    out[0]
}

/// The pre-flight check recorded with the decision whose name starts with `name`.
fn recorded_check(e: &TestEngine, name: &str) -> (bool, String) {
    let exec = e.store.state("checkout").execution.expect("a decision");
    let check = exec
        .preflight
        .iter()
        .find(|c| c.name.starts_with(name))
        .unwrap_or_else(|| panic!("no check {name}: {:?}", exec.preflight));
    (check.ok, check.detail.clone())
}

#[tokio::test]
async fn replica_lag_in_milliseconds_is_compared_in_seconds() {
    // Aurora's AuroraGlobalDBReplicationLag is in milliseconds; the limit is in seconds.
    let lag = |unit: Option<&str>| {
        let mut spec = json!({"region": "eu-west-1", "namespace": "AWS/RDS",
            "metric_name": "AuroraGlobalDBReplicationLag", "max_seconds": 30});
        if let Some(u) = unit {
            spec["unit"] = json!(u);
        }
        json!({"preflight": {"replica_lag": spec}})
    };
    for (unit, raw, want, detail) in [
        // 5 s of lag: ready.
        (
            Some("milliseconds"),
            5_000.0,
            "failed_over",
            "5.0s (limit 30s)",
        ),
        // 31 s of lag: over the limit.
        (
            Some("milliseconds"),
            31_000.0,
            "blocked",
            "31.0s is over the limit of 30s",
        ),
        // The same 5,000 read as seconds (the default) is over the limit.
        (None, 5_000.0, "blocked", "5000.0s is over the limit of 30s"),
        (Some("seconds"), 12.0, "failed_over", "12.0s (limit 30s)"),
    ] {
        let e = engine_with(lag(unit));
        *e.alarms.lag.lock().unwrap() = Some(raw);
        assert_eq!(incident(&e).await, want, "unit {unit:?}, value {raw}");
        let (ok, got) = recorded_check(&e, "replica lag");
        assert_eq!((ok, got.as_str()), (want == "failed_over", detail));
    }
}

#[tokio::test]
async fn a_secondary_alarm_in_insufficient_data_counts_as_the_catalog_says() {
    let with = |setting: Option<&str>| {
        let mut pf =
            json!({"secondary_health_check": false, "secondary_alarm_arn": SECONDARY_ALARM});
        if let Some(s) = setting {
            pf["secondary_alarm_insufficient_data"] = json!(s);
        }
        json!({ "preflight": pf })
    };
    use ObservedState::{Alarm, InsufficientData, Ok};
    for (setting, state, want) in [
        (None, Some(InsufficientData), "blocked"),
        (Some("not_ready"), Some(InsufficientData), "blocked"),
        (Some("ready"), Some(InsufficientData), "failed_over"),
        // "ready" is about INSUFFICIENT_DATA only: ALARM and a missing alarm still block.
        (Some("ready"), Some(Alarm), "blocked"),
        (Some("ready"), None, "blocked"),
        (Some("ready"), Some(Ok), "failed_over"),
    ] {
        let e = engine_with(with(setting));
        if let Some(s) = state {
            e.alarms
                .states
                .lock()
                .unwrap()
                .insert(SECONDARY_ALARM.into(), s);
        }
        assert_eq!(
            incident(&e).await,
            want,
            "setting {setting:?}, alarm {state:?}"
        );
        let phase = e.store.state("checkout").phase;
        let want_phase = if want == "blocked" {
            Phase::Blocked
        } else {
            Phase::FailedOver
        };
        assert_eq!(phase, want_phase, "setting {setting:?}, alarm {state:?}");
    }
}

/// The engine over the same in-memory ports as [`engine_with`], in `home`.
fn engine_in(home: &str) -> TestEngine {
    let store = MemStore::default();
    store
        .catalog
        .lock()
        .unwrap()
        .push(("checkout".into(), definition(json!({}))));
    let health = MemHealthChecks::default();
    health.add(PRIMARY, false);
    health.add(SECONDARY, true);
    let clock = FakeClock::default();
    clock.set(T0);
    let mut e = Engine::new(
        store,
        health,
        MemAlarms::default(),
        MemNotifier::default(),
        clock,
        "test",
    )
    .with_runbook(MemRunbook::default());
    e.home_account = HomeAccount::of_arn(home);
    assert!(e.home_account.is_some(), "{home}");
    e
}

#[tokio::test]
async fn observers_outside_the_deployments_account_are_refused_at_catalog_load() {
    // The observers are in 123456789012: a deployment there protects the service.
    let e = engine_in("arn:aws:sns:us-east-1:123456789012:failover-alerts");
    assert_eq!(e.catalog().await.unwrap().len(), 1);
    assert_eq!(incident(&e).await, "failed_over");

    // A deployment in another account (or partition) cannot read those alarms: the entry
    // is refused, so their events reach no service and nothing is switched.
    for home in [
        "arn:aws:sns:us-east-1:210987654321:failover-alerts",
        "arn:aws-cn:sns:cn-north-1:123456789012:failover-alerts",
    ] {
        let e = engine_in(home);
        assert!(e.catalog().await.unwrap().is_empty(), "{home}");
        let out = e
            .handle_alarm_event(&event(0, "ALARM", T0, "a"), &inv("r", T0))
            .await
            .unwrap();
        assert!(out.services.is_empty(), "{home}: {out:?}");
        assert_eq!(out.ignored.as_deref(), Some("unknown observer"), "{home}");
        assert!(!e.health.get_now(PRIMARY).settings.forces_unhealthy());
    }
}
