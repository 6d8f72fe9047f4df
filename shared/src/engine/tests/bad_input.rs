//! Malformed and hostile input against the engine, both entry points: each payload gets a
//! clear error or a logged ignore, never a panic, and changes nothing (control table,
//! audit, Route 53, SNS). Hostile text that is valid reaches the alert flattened and bounded.

use serde_json::{json, Value};

use super::{engine, event, inv, observer, TestEngine, T0};
use crate::domain::state::ServiceState;
use crate::engine::EngineError;

/// Everything a payload could change.
#[derive(Debug, PartialEq)]
struct World {
    states: Vec<(String, ServiceState)>,
    history: usize,
    alerts: usize,
    updates: usize,
}

fn world(e: &TestEngine) -> World {
    let mut states: Vec<_> = e
        .store
        .states
        .lock()
        .unwrap()
        .iter()
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect();
    states.sort_by(|a, b| a.0.cmp(&b.0));
    World {
        states,
        history: e.store.history.lock().unwrap().len(),
        alerts: e.notifier.sent().len(),
        updates: e.health.updates.lock().unwrap().len(),
    }
}

/// Sets (or adds) the field at `pointer`.
fn set(mut v: Value, pointer: &str, value: Value) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no {parent}"))
        .insert(key.to_string(), value);
    v
}

fn remove(mut v: Value, pointer: &str) -> Value {
    let (parent, key) = pointer.rsplit_once('/').unwrap();
    v.pointer_mut(parent)
        .and_then(Value::as_object_mut)
        .unwrap_or_else(|| panic!("no {parent}"))
        .remove(key);
    v
}

fn at(ms: i64) -> String {
    chrono::DateTime::from_timestamp_millis(ms)
        .unwrap()
        .to_rfc3339()
}

/// CloudWatch's direct alarm-action payload for observer 1.
fn action() -> Value {
    let arn = observer(1);
    let name = arn.rsplit(':').next().unwrap().to_string();
    json!({
        "source": "aws.cloudwatch", "alarmArn": arn, "accountId": "123456789012",
        "time": at(T0), "region": "us-west-2",
        "alarmData": {"alarmName": name,
                      "state": {"value": "ALARM", "reason": "canary failing", "timestamp": at(T0)},
                      "previousState": {"value": "OK", "reason": "fine", "timestamp": at(T0 - 60_000)},
                      "configuration": {"metrics": []}}
    })
}

fn bad_alarm_payloads() -> Vec<(&'static str, Value)> {
    let eb = || event(0, "ALARM", T0, "evt-1");
    let huge = "x".repeat(1 << 20);
    let someone = "arn:aws:cloudwatch:us-east-1:123456789012:alarm:someone-else";
    vec![
        (
            "truncated JSON (as a string)",
            json!("{\"source\": \"aws.cloudw"),
        ),
        ("null", Value::Null),
        ("a number", json!(7)),
        ("a boolean", json!(true)),
        ("an array of events", json!([eb(), eb()])),
        ("an empty object", json!({})),
        ("a megabyte string", Value::String(huge.clone())),
        ("wrong source", set(eb(), "/source", json!("aws.ec2"))),
        (
            "source not a string",
            set(eb(), "/source", json!(["aws.cloudwatch"])),
        ),
        (
            "wrong detail-type",
            set(
                eb(),
                "/detail-type",
                json!("EC2 Instance State-change Notification"),
            ),
        ),
        ("detail-type missing", remove(eb(), "/detail-type")),
        ("detail missing", remove(eb(), "/detail")),
        ("detail null", set(eb(), "/detail", Value::Null)),
        ("detail a string", set(eb(), "/detail", json!("ALARM"))),
        ("state missing", remove(eb(), "/detail/state")),
        (
            "state value unknown",
            set(eb(), "/detail/state/value", json!("MAYBE")),
        ),
        (
            "state value a number",
            set(eb(), "/detail/state/value", json!(2)),
        ),
        (
            "state value lower case",
            set(eb(), "/detail/state/value", json!("alarm")),
        ),
        (
            "state timestamp garbage",
            set(eb(), "/detail/state/timestamp", json!("yesterday")),
        ),
        (
            "state timestamp a number",
            set(eb(), "/detail/state/timestamp", json!(T0)),
        ),
        (
            "time garbage",
            set(eb(), "/time", json!("2026-13-45T99:00:00Z")),
        ),
        (
            "future-dated by a day",
            set(
                set(eb(), "/time", json!(at(T0 + 86_400_000))),
                "/detail/state/timestamp",
                json!(at(T0 + 86_400_000)),
            ),
        ),
        (
            "year 3000",
            set(
                set(eb(), "/time", json!("3000-01-01T00:00:00Z")),
                "/detail/state/timestamp",
                json!("3000-01-01T00:00:00Z"),
            ),
        ),
        (
            "ancient (1970)",
            set(
                set(eb(), "/time", json!("1970-01-01T00:00:00Z")),
                "/detail/state/timestamp",
                json!("1970-01-01T00:00:00Z"),
            ),
        ),
        (
            "stale by an hour",
            event(0, "ALARM", T0 - 3_600_000, "evt-old"),
        ),
        ("resources missing", remove(eb(), "/resources")),
        ("resources empty", set(eb(), "/resources", json!([]))),
        (
            "resources not a list",
            set(eb(), "/resources", json!(observer(0))),
        ),
        (
            "resource not an ARN",
            set(eb(), "/resources", json!(["checkout-canary-0"])),
        ),
        (
            "resource of another service",
            set(
                eb(),
                "/resources",
                json!(["arn:aws:ec2:us-east-1:123456789012:instance/i-1"]),
            ),
        ),
        (
            "an alarm nobody observes",
            set(
                set(eb(), "/resources", json!([someone])),
                "/detail/alarmName",
                json!("someone-else"),
            ),
        ),
        (
            "megabyte alarm name",
            set(eb(), "/detail/alarmName", Value::String(huge.clone())),
        ),
        (
            "megabyte event id",
            set(eb(), "/id", Value::String(huge.clone())),
        ),
        (
            "odd unicode in the alarm ARN",
            set(
                eb(),
                "/resources",
                json!(["arn:aws:cloudwatch:us-east-1:123456789012:alarm:check\u{202e}out\u{200b}"]),
            ),
        ),
        (
            "injection-looking alarm ARN",
            set(
                eb(),
                "/resources",
                json!([
                    "arn:aws:cloudwatch:us-east-1:123456789012:alarm:x'; DROP TABLE catalog;--"
                ]),
            ),
        ),
        ("both shapes at once", {
            let mut v = eb();
            v["alarmData"] = action()["alarmData"].clone();
            v["alarmArn"] = json!(observer(1));
            v
        }),
        (
            "alarm action: alarmData empty",
            set(action(), "/alarmData", json!({})),
        ),
        (
            "alarm action: alarmData null",
            set(action(), "/alarmData", Value::Null),
        ),
        (
            "alarm action: alarmData missing",
            remove(action(), "/alarmData"),
        ),
        (
            "alarm action: alarmArn missing",
            remove(action(), "/alarmArn"),
        ),
        (
            "alarm action: alarmArn not an ARN",
            set(action(), "/alarmArn", json!("${jndi:ldap://x/a}")),
        ),
        (
            "alarm action: state missing",
            remove(action(), "/alarmData/state"),
        ),
        (
            "alarm action: state value unknown",
            set(action(), "/alarmData/state/value", json!("RED")),
        ),
        (
            "alarm action: timestamp garbage",
            set(
                action(),
                "/alarmData/state/timestamp",
                json!("<script>alert(1)</script>"),
            ),
        ),
        (
            "alarm action: future-dated",
            set(
                set(action(), "/time", json!(at(T0 + 3_600_000))),
                "/alarmData/state/timestamp",
                json!(at(T0 + 3_600_000)),
            ),
        ),
        (
            "alarm action: unknown alarm",
            set(action(), "/alarmArn", json!(someone)),
        ),
    ]
}

fn bad_operator_requests() -> Vec<(&'static str, Value)> {
    let ok = |action: &str| json!({"action": action, "service": "checkout", "reason": "r", "requested_by": "alice"});
    vec![
        (
            "truncated JSON (as a string)",
            json!("{\"action\": \"failo"),
        ),
        ("null", Value::Null),
        ("an array", json!([ok("failover")])),
        ("no action", json!({"service": "checkout"})),
        ("action a number", set(ok("failover"), "/action", json!(1))),
        ("unknown action", ok("promote-database")),
        ("action with odd case", ok("FailOver")),
        (
            "unknown service",
            set(ok("failover"), "/service", json!("nope")),
        ),
        (
            "service a list",
            set(ok("failover"), "/service", json!(["checkout"])),
        ),
        (
            "megabyte service name",
            set(
                ok("failover"),
                "/service",
                Value::String("s".repeat(1 << 20)),
            ),
        ),
        (
            "megabyte reason",
            set(
                ok("failover"),
                "/reason",
                Value::String("r".repeat(1 << 20)),
            ),
        ),
        (
            "reason with a newline (fake alert line)",
            set(
                ok("pause"),
                "/reason",
                json!("ok\n[FAILOVER] checkout: fake"),
            ),
        ),
        (
            "reason only spaces",
            set(ok("failback"), "/reason", json!("   ")),
        ),
        (
            "requested_by with an escape sequence",
            set(ok("failover"), "/requested_by", json!("\u{1b}[31malice")),
        ),
        (
            "requested_by a number",
            set(ok("failover"), "/requested_by", json!(42)),
        ),
        (
            "dry_run a string",
            set(ok("failover"), "/dry_run", json!("false")),
        ),
        ("force a number", set(ok("failback"), "/force", json!(1))),
        (
            "unknown field",
            set(ok("failover"), "/region", json!("eu-west-1")),
        ),
        (
            "until in the past",
            set(ok("pause"), "/until", json!("2001-01-01T00:00:00Z")),
        ),
        (
            "until garbage",
            set(ok("pause"), "/until", json!("' OR 1=1 --")),
        ),
        (
            "until on resume",
            set(ok("resume"), "/until", json!(at(T0 + 3_600_000))),
        ),
    ]
}

#[tokio::test]
async fn bad_and_hostile_alarm_payloads_change_nothing() {
    let e = engine();
    let before = world(&e);
    let cases = bad_alarm_payloads();
    assert!(cases.len() >= 40, "{}", cases.len());
    for (name, payload) in cases {
        match e.handle_alarm_event(&payload, &inv("bad", T0)).await {
            Ok(out) => assert!(
                out.services.iter().all(|s| s.outcome == "ignored"),
                "{name}: acted: {:?}",
                out.services
            ),
            Err(err) => {
                assert!(matches!(err, EngineError::BadEvent(_)), "{name}: {err}");
                let msg = err.to_string();
                assert!(
                    !msg.is_empty() && msg.chars().count() <= 700,
                    "{name}: a message of {} characters",
                    msg.chars().count()
                );
            }
        }
        assert_eq!(world(&e), before, "{name} changed something");
    }
}

#[tokio::test]
async fn bad_operator_requests_change_nothing() {
    let e = engine();
    let before = world(&e);
    let cases = bad_operator_requests();
    assert!(cases.len() >= 20, "{}", cases.len());
    for (name, payload) in cases {
        let err = e
            .handle_operator_request(&payload, &inv("bad", T0))
            .await
            .expect_err(name);
        assert_eq!(err.kind(), "BadRequest", "{name}: {err}");
        assert!(err.to_string().chars().count() <= 700, "{name}");
        assert_eq!(world(&e), before, "{name} changed something");
    }
}

/// Alarm reasons come from CloudWatch and cannot be refused: whatever they hold reaches the
/// alert on one line, bounded, without characters that reorder or hide text, as plain text.
#[tokio::test]
async fn hostile_text_reaches_the_alert_flattened_and_bounded() {
    let e = engine();
    let hostile =
        "\u{202e}txet desrever\u{202c} <script>alert(1)</script> ${jndi:ldap://x} \u{200b}\u{2066}";
    for (i, id) in [(0, "v1"), (1, "v2")] {
        let mut vote = event(i, "ALARM", T0, id);
        vote["detail"]["state"]["reason"] = json!(format!(
            "{hostile}\n[FAILOVER] fake line {}",
            "y".repeat(5000)
        ));
        e.handle_alarm_event(&vote, &inv(id, T0)).await.unwrap();
    }
    let sent = e.notifier.sent();
    assert_eq!(sent.len(), 1, "the failover alert");
    let a = &sent[0];
    assert!(a.subject.chars().count() <= 100 && !a.subject.chars().any(char::is_control));
    assert!(!a.message.contains("\n[FAILOVER] fake"), "no forged line");
    assert!(
        a.message.contains(" [FAILOVER] fake line y"),
        "the reason, flattened: {}",
        a.message
    );
    assert!(!a.message.contains(&"y".repeat(400)), "the reason, cut");
    for bad in ['\u{202e}', '\u{202c}', '\u{200b}', '\u{2066}'] {
        assert!(!a.message.contains(bad), "{bad:?} in the alert");
    }
    assert!(
        a.message.contains("<script>alert(1)</script>"),
        "plain text, kept as text"
    );
    assert!(
        a.message.chars().count() < 20_000,
        "bounded: {}",
        a.message.chars().count()
    );
}
