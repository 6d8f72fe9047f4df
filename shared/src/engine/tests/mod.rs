//! The engine over in-memory ports, deterministically: the helpers every suite shares.

mod alarm;
mod audit;
mod bad_input;
mod catalog;
mod enforce;
mod held;
mod interruptions;
mod operator;
mod outbox;
mod preflight;
mod readiness;
mod reconcile;
mod reconcile_scale;
mod recovery;
mod standing;
mod switch_metric;
mod switch_modes;
mod workflow;
mod workflow_plan;
mod workflow_steps;

use std::sync::Arc;

use serde_json::{json, Value};

use crate::api::operator_response::OperatorResponse;
use crate::api::reports::ReconcileReport;
use crate::engine::{Engine, EngineError, Invocation, ReconcileSettings};
use crate::ports::Clock;
use crate::testing::*;

pub(crate) const T0: i64 = 1_795_000_000_000;
const PRIMARY: &str = "hc-primary";
const SECONDARY: &str = "hc-secondary";

pub(crate) fn observer(i: usize) -> String {
    let region = ["us-east-1", "us-west-2", "eu-west-1"][i];
    format!("arn:aws:cloudwatch:{region}:123456789012:alarm:checkout-canary-{i}")
}

fn definition(extra: Value) -> String {
    let mut def = json!({
        "name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": PRIMARY},
        "secondary": {"region": "eu-west-1", "health_check_id": SECONDARY},
        "observers": [observer(0), observer(1), observer(2)],
        "quorum": 2
    });
    if let (Some(d), Some(e)) = (def.as_object_mut(), extra.as_object()) {
        for (k, v) in e {
            d.insert(k.clone(), v.clone());
        }
    }
    def.to_string()
}

pub(crate) type TestEngine =
    Engine<MemStore, MemHealthChecks, MemAlarms, MemNotifier, FakeClock, MemRunbook>;

fn engine_with(extra: Value) -> Arc<TestEngine> {
    let store = MemStore::default();
    store
        .catalog
        .lock()
        .unwrap()
        .push(("checkout".into(), definition(extra)));
    let health = MemHealthChecks::default();
    health.add(PRIMARY, false);
    health.add(SECONDARY, true);
    let clock = FakeClock::default();
    clock.set(T0);
    Arc::new(
        Engine::new(
            store,
            health,
            MemAlarms::default(),
            MemNotifier::default(),
            clock,
            "test",
        )
        .with_runbook(MemRunbook::default()),
    )
}

pub(crate) fn engine() -> Arc<TestEngine> {
    engine_with(json!({}))
}

/// The `event_type` of every alert sent so far, in order.
pub(crate) fn alert_kinds(e: &TestEngine) -> Vec<String> {
    e.notifier
        .sent()
        .iter()
        .map(|a| a.event_type.clone())
        .collect()
}

/// An EventBridge alarm event for observer `i` whose state changed at `at`.
pub(crate) fn event(i: usize, state: &str, at: i64, id: &str) -> Value {
    let ts = chrono::DateTime::from_timestamp_millis(at)
        .unwrap()
        .to_rfc3339();
    let arn = observer(i);
    let name = arn.rsplit(':').next().unwrap().to_string();
    json!({
        "version": "0", "id": id, "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": "123456789012", "time": ts,
        "region": "us-east-1", "resources": [arn],
        "detail": {"alarmName": name, "configuration": {"metrics": []},
                   "state": {"value": state, "reason": "canary failing", "timestamp": ts}}
    })
}

pub(crate) fn inv(id: &str, clock_now: i64) -> Invocation {
    Invocation {
        request_id: id.into(),
        deadline: clock_now + 60_000,
    }
}

async fn send(e: &TestEngine, ev: &Value, id: &str) -> Result<Vec<&'static str>, EngineError> {
    let out = e.handle_alarm_event(ev, &inv(id, e.clock.now())).await?;
    Ok(out.services.iter().map(|s| s.outcome).collect())
}

fn op(action: &str, extra: Value) -> Value {
    let mut v = json!({"action": action, "service": "checkout", "reason": "planned maintenance", "requested_by": "alice"});
    if let (Some(d), Some(e)) = (v.as_object_mut(), extra.as_object()) {
        for (k, x) in e {
            d.insert(k.clone(), x.clone());
        }
    }
    v
}

async fn operate(e: &TestEngine, payload: Value) -> OperatorResponse {
    e.handle_operator_request(&payload, &inv("op", e.clock.now()))
        .await
        .unwrap()
}

async fn reconcile(e: &TestEngine) -> ReconcileReport {
    e.reconcile(
        &inv("reconciler", e.clock.now()),
        &ReconcileSettings::default(),
    )
    .await
    .unwrap()
}
