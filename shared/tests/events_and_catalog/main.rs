//! Alarm event parsing against the recorded samples in `fixtures/events/`, a table of bad
//! payloads, and properties showing that no input makes the parser panic.

mod bad_payloads;
mod never_panic;
mod samples;

use chrono::{Duration, TimeZone, Utc};
use failover::domain::catalog::{Catalog, ServiceDefinition};
use failover::domain::event::{
    parse_alarm_event, AlarmObservation, EventError, EventShape, ObservedState,
};
use proptest::prelude::*;
use serde_json::{json, Value};

const FIXTURES: [(&str, &str); 7] = [
    (
        "eventbridge-metric-alarm-to-alarm",
        include_str!("../fixtures/events/eventbridge-metric-alarm-to-alarm.json"),
    ),
    (
        "eventbridge-metric-alarm-to-ok",
        include_str!("../fixtures/events/eventbridge-metric-alarm-to-ok.json"),
    ),
    (
        "eventbridge-metric-math-from-insufficient-data",
        include_str!("../fixtures/events/eventbridge-metric-math-from-insufficient-data.json"),
    ),
    (
        "eventbridge-composite-alarm",
        include_str!("../fixtures/events/eventbridge-composite-alarm.json"),
    ),
    (
        "eventbridge-with-alarm-tags",
        include_str!("../fixtures/events/eventbridge-with-alarm-tags.json"),
    ),
    (
        "alarm-action-metric",
        include_str!("../fixtures/events/alarm-action-metric.json"),
    ),
    (
        "alarm-action-composite",
        include_str!("../fixtures/events/alarm-action-composite.json"),
    ),
];

fn fixture(name: &str) -> Value {
    let (_, text) = FIXTURES
        .iter()
        .find(|(n, _)| *n == name)
        .unwrap_or_else(|| panic!("no fixture {name}"));
    serde_json::from_str(text).unwrap_or_else(|e| panic!("fixture {name}: {e}"))
}

/// Unix millis of 2026-11-20 (the fixtures' day) at h:m:s.ms UTC, computed by chrono.
fn nov20(h: u32, m: u32, s: u32, ms: i64) -> i64 {
    let t = Utc
        .with_ymd_and_hms(2026, 11, 20, h, m, s)
        .single()
        .expect("valid date")
        + Duration::milliseconds(ms);
    t.timestamp_millis()
}

fn arn(region: &str, name: &str) -> String {
    format!("arn:aws:cloudwatch:{region}:210987654321:alarm:{name}")
}

fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a '/'");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.insert(key.to_string(), value);
        }
        _ => panic!("no object at {parent}"),
    }
    v
}

fn remove(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').expect("pointer with a '/'");
    match v.pointer_mut(parent) {
        Some(Value::Object(m)) => {
            m.remove(key);
        }
        _ => panic!("no object at {parent}"),
    }
    v
}

fn eb() -> Value {
    fixture("eventbridge-metric-alarm-to-alarm")
}

fn action() -> Value {
    fixture("alarm-action-metric")
}
