//! The project's own alarm-event fixtures (in `shared/tests/fixtures/events/`), and helpers
//! that make them fresh.

use std::path::PathBuf;

use chrono::{DateTime, Utc};
use serde_json::{json, Value};

/// Every fixture: both shapes, metric, metric-math and composite alarms, tags, OK.
pub const FIXTURES: [&str; 7] = [
    "alarm-action-composite.json",
    "alarm-action-metric.json",
    "eventbridge-composite-alarm.json",
    "eventbridge-metric-alarm-to-alarm.json",
    "eventbridge-metric-alarm-to-ok.json",
    "eventbridge-metric-math-from-insufficient-data.json",
    "eventbridge-with-alarm-tags.json",
];

pub fn fixtures_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/tests/fixtures/events")
}

/// A fixture as shipped (its timestamps are in the past: stale).
pub fn fixture(name: &str) -> Value {
    let path = fixtures_dir().join(name);
    let text = std::fs::read_to_string(&path)
        .unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
        // The samples' alarms are in another account; the functions accept only their own.
        .replace("210987654321", crate::ACCOUNT_ID);
    serde_json::from_str(&text).unwrap_or_else(|e| panic!("parsing {}: {e}", path.display()))
}

/// A fixture whose envelope time and state timestamp are `at`.
pub fn fresh_fixture(name: &str, at: DateTime<Utc>) -> Value {
    let mut v = fixture(name);
    set_times(&mut v, at);
    v
}

/// Rewrites `time` and the state's `timestamp`, in CloudWatch's two formats.
pub fn set_times(event: &mut Value, at: DateTime<Utc>) {
    let z = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let plus = at.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
    event["time"] = json!(z);
    for data in ["detail", "alarmData"] {
        if event.get(data).is_some() {
            event[data]["state"]["timestamp"] = json!(plus);
        }
    }
}

/// The observer (alarm ARN) an event is from.
pub fn observer_of(event: &Value) -> String {
    event["resources"][0]
        .as_str()
        .or_else(|| event["alarmArn"].as_str())
        .unwrap_or_default()
        .to_string()
}
