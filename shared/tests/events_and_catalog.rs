//! Alarm event parsing against the recorded samples in `fixtures/events/`, a table of bad
//! payloads, and properties showing that no input makes the parser panic.

use chrono::{Duration, TimeZone, Utc};
use failover::catalog::{Catalog, ServiceDefinition};
use failover::event::{parse_alarm_event, AlarmObservation, EventError, EventShape, ObservedState};
use proptest::prelude::*;
use serde_json::{json, Value};

const FIXTURES: [(&str, &str); 7] = [
    (
        "eventbridge-metric-alarm-to-alarm",
        include_str!("fixtures/events/eventbridge-metric-alarm-to-alarm.json"),
    ),
    (
        "eventbridge-metric-alarm-to-ok",
        include_str!("fixtures/events/eventbridge-metric-alarm-to-ok.json"),
    ),
    (
        "eventbridge-metric-math-from-insufficient-data",
        include_str!("fixtures/events/eventbridge-metric-math-from-insufficient-data.json"),
    ),
    (
        "eventbridge-composite-alarm",
        include_str!("fixtures/events/eventbridge-composite-alarm.json"),
    ),
    (
        "eventbridge-with-alarm-tags",
        include_str!("fixtures/events/eventbridge-with-alarm-tags.json"),
    ),
    (
        "alarm-action-metric",
        include_str!("fixtures/events/alarm-action-metric.json"),
    ),
    (
        "alarm-action-composite",
        include_str!("fixtures/events/alarm-action-composite.json"),
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

#[test]
fn every_fixture_parses_to_the_expected_observation() {
    struct Expected {
        fixture: &'static str,
        observer: String,
        state: ObservedState,
        shape: EventShape,
        state_changed_at: i64,
        event_time: i64,
        event_id: String,
        reason_starts: &'static str,
    }
    let eb_case = |fixture, observer: String, state, changed, time, id: &str, reason| Expected {
        fixture,
        observer,
        state,
        shape: EventShape::EventBridge,
        state_changed_at: changed,
        event_time: time,
        event_id: id.to_string(),
        reason_starts: reason,
    };
    let action_case = |fixture, observer: String, changed, time, reason| Expected {
        fixture,
        event_id: format!("alarm-action:{observer}:{changed}"),
        observer,
        state: ObservedState::Alarm,
        shape: EventShape::AlarmAction,
        state_changed_at: changed,
        event_time: time,
        reason_starts: reason,
    };
    let cases = [
        eb_case(
            "eventbridge-metric-alarm-to-alarm",
            arn("eu-west-1", "checkout-canary-euw1"),
            ObservedState::Alarm,
            nov20(9, 14, 2, 205),
            nov20(9, 14, 2, 0),
            "7d1b4a52-3e0c-4f1a-9b55-2c8f0e6a91d4",
            "Threshold Crossed: 2 out of the last 2 datapoints [0.0",
        ),
        eb_case(
            "eventbridge-metric-alarm-to-ok",
            arn("eu-west-1", "checkout-canary-euw1"),
            ObservedState::Ok,
            nov20(9, 31, 40, 13),
            nov20(9, 31, 40, 0),
            "0f3e9c1a-88d2-4b7e-a6a1-5d2c7b9e4f10",
            "Threshold Crossed: 2 out of the last 2 datapoints were not less",
        ),
        eb_case(
            "eventbridge-metric-math-from-insufficient-data",
            arn("ap-southeast-2", "checkout-error-ratio-apse2"),
            ObservedState::Alarm,
            nov20(9, 14, 9, 334),
            nov20(9, 14, 9, 0),
            "a2b7d0e4-19c6-4e21-8f3b-6e0d4c2a7b85",
            "Threshold Crossed: 1 datapoint",
        ),
        eb_case(
            "eventbridge-composite-alarm",
            arn("us-west-2", "checkout-usw2-composite"),
            ObservedState::Alarm,
            nov20(9, 14, 20, 77),
            nov20(9, 14, 20, 0),
            "5c9e2f77-0b41-4d8a-b3e6-91f0a7c2d3e8",
            "arn:aws:cloudwatch:us-west-2:210987654321:alarm:checkout-canary-usw2 transitioned",
        ),
        eb_case(
            "eventbridge-with-alarm-tags",
            arn("us-east-1", "checkout-canary-use1"),
            ObservedState::Alarm,
            nov20(9, 14, 5, 874),
            nov20(9, 14, 5, 0),
            "e81f0c3b-6a2d-4c97-8e15-3b7a9d0f2c64",
            "Threshold Crossed: 2 out of the last 2 datapoints were less",
        ),
        action_case(
            "alarm-action-metric",
            arn("us-west-2", "checkout-canary-usw2"),
            nov20(9, 14, 12, 901),
            nov20(9, 14, 12, 901),
            "Threshold Crossed: 2 out of the last 2 datapoints were less",
        ),
        action_case(
            "alarm-action-composite",
            arn("us-east-1", "checkout-use1-composite"),
            nov20(9, 14, 30, 220),
            nov20(9, 14, 30, 220),
            "arn:aws:cloudwatch:us-east-1:210987654321:alarm:checkout-canary-use1 transitioned",
        ),
    ];
    assert_eq!(cases.len(), FIXTURES.len());
    for case in cases {
        let obs = parse_alarm_event(&fixture(case.fixture))
            .unwrap_or_else(|e| panic!("{}: {e}", case.fixture));
        assert_eq!(obs.observer, case.observer, "{}", case.fixture);
        assert_eq!(
            Some(obs.alarm_name.as_str()),
            case.observer.rsplit(':').next(),
            "{}",
            case.fixture
        );
        assert_eq!(obs.state, case.state, "{}", case.fixture);
        assert_eq!(obs.shape, case.shape, "{}", case.fixture);
        assert_eq!(
            obs.state_changed_at, case.state_changed_at,
            "{}",
            case.fixture
        );
        assert_eq!(obs.event_time, case.event_time, "{}", case.fixture);
        assert_eq!(obs.event_id, case.event_id, "{}", case.fixture);
        assert!(
            obs.reason.starts_with(case.reason_starts),
            "{}: {}",
            case.fixture,
            obs.reason
        );
    }
}

#[test]
fn alarm_action_event_id_is_stable_across_redeliveries() {
    let a = parse_alarm_event(&action()).expect("parses");
    let b =
        parse_alarm_event(&set(action(), "/time", json!("2026-11-20T09:15:00Z"))).expect("parses");
    assert_eq!(a.event_id, b.event_id);
    assert_eq!(
        a.event_id,
        format!(
            "alarm-action:arn:aws:cloudwatch:us-west-2:210987654321:alarm:checkout-canary-usw2:{}",
            nov20(9, 14, 12, 901)
        )
    );
}

#[test]
fn both_offset_spellings_give_the_same_instant() {
    let spellings = [
        "2026-11-20T09:14:02.205Z",
        "2026-11-20T09:14:02.205+0000",
        "2026-11-20T09:14:02.205+00:00",
        "2026-11-20T10:14:02.205+0100",
        "2026-11-20T04:14:02.205-0500",
    ];
    for ts in spellings {
        let obs = parse_alarm_event(&set(eb(), "/detail/state/timestamp", json!(ts))).expect(ts);
        assert_eq!(obs.state_changed_at, nov20(9, 14, 2, 205), "{ts}");
    }
}

#[test]
fn tolerated_variations() {
    type Check = fn(&AlarmObservation) -> bool;
    let cases: Vec<(&str, Value, Check)> = vec![
        (
            "eventbridge without time falls back to the state timestamp",
            remove(eb(), "/time"),
            |o| o.event_time == o.state_changed_at,
        ),
        (
            "eventbridge time null",
            set(eb(), "/time", Value::Null),
            |o| o.event_time == o.state_changed_at,
        ),
        (
            "insufficient data",
            set(eb(), "/detail/state/value", json!("INSUFFICIENT_DATA")),
            |o| o.state == ObservedState::InsufficientData,
        ),
        (
            "no configuration",
            remove(eb(), "/detail/configuration"),
            |o| o.state == ObservedState::Alarm,
        ),
        (
            "configuration of an unknown shape",
            set(eb(), "/detail/configuration", json!([1, "x"])),
            |o| o.state == ObservedState::Alarm,
        ),
        (
            "reasonData as an object",
            set(eb(), "/detail/state/reasonData", json!({"a": 1})),
            |o| o.state == ObservedState::Alarm,
        ),
        (
            "reasonData not JSON",
            set(eb(), "/detail/state/reasonData", json!("{{{")),
            |o| o.state == ObservedState::Alarm,
        ),
        (
            "no previousState",
            remove(eb(), "/detail/previousState"),
            |o| o.state == ObservedState::Alarm,
        ),
        (
            "unknown extra fields",
            set(eb(), "/detail/somethingNew", json!({"x": [1, 2]})),
            |o| o.state == ObservedState::Alarm,
        ),
        (
            "alarm action without source",
            remove(action(), "/source"),
            |o| o.shape == EventShape::AlarmAction,
        ),
        (
            "long multibyte reason is cut to 500 chars",
            set(eb(), "/detail/state/reason", json!("é".repeat(600))),
            |o| o.reason.chars().count() == 500 && o.reason.chars().all(|c| c == 'é'),
        ),
        (
            "reason of exactly 500 chars kept",
            set(eb(), "/detail/state/reason", json!("👍".repeat(500))),
            |o| o.reason.chars().count() == 500,
        ),
        (
            "alarm name with a colon",
            {
                let v = set(eb(), "/detail/alarmName", json!("a:b"));
                set(v, "/resources", json!([arn("eu-west-1", "a:b")]))
            },
            |o| o.alarm_name == "a:b",
        ),
    ];
    for (case, payload, check) in cases {
        match parse_alarm_event(&payload) {
            Ok(obs) => assert!(check(&obs), "{case}: {obs:?}"),
            Err(e) => panic!("{case}: {e}"),
        }
    }
}

#[test]
fn bad_payloads_are_rejected_with_the_expected_error() {
    let huge = "x".repeat(1 << 20);
    type Check = fn(&EventError) -> bool;
    let cases: Vec<(&str, Value, Check)> = vec![
        ("a string", json!("hello"), |e| {
            matches!(e, EventError::NotAnAlarmEvent(_))
        }),
        ("an array", json!([eb()]), |e| {
            matches!(e, EventError::NotAnAlarmEvent(_))
        }),
        ("null", Value::Null, |e| {
            matches!(e, EventError::NotAnAlarmEvent(_))
        }),
        ("a number", json!(42), |e| {
            matches!(e, EventError::NotAnAlarmEvent(_))
        }),
        ("empty object", json!({}), |e| {
            matches!(e, EventError::NotAnAlarmEvent(_))
        }),
        (
            "both shapes",
            {
                let v = set(
                    eb(),
                    "/alarmArn",
                    json!(arn("eu-west-1", "checkout-canary-euw1")),
                );
                set(v, "/alarmData", json!({}))
            },
            |e| matches!(e, EventError::NotAnAlarmEvent(_)),
        ),
        ("detail-type without detail", remove(eb(), "/detail"), |e| {
            matches!(e, EventError::NotAnAlarmEvent(_))
        }),
        (
            "alarmArn without alarmData",
            remove(action(), "/alarmData"),
            |e| matches!(e, EventError::NotAnAlarmEvent(_)),
        ),
        (
            "wrong source",
            set(eb(), "/source", json!("aws.ec2")),
            |e| {
                *e == EventError::WrongSource {
                    found: "aws.ec2".into(),
                }
            },
        ),
        ("missing source", remove(eb(), "/source"), |e| {
            *e == EventError::MissingField("source")
        }),
        (
            "source not a string",
            set(eb(), "/source", json!(["aws.cloudwatch"])),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "source",
                        ..
                    }
                )
            },
        ),
        (
            "wrong detail-type",
            set(
                eb(),
                "/detail-type",
                json!("EC2 Instance State-change Notification"),
            ),
            |e| {
                *e == EventError::WrongDetailType {
                    found: "EC2 Instance State-change Notification".into(),
                }
            },
        ),
        (
            "detail-type null",
            set(eb(), "/detail-type", Value::Null),
            |e| *e == EventError::MissingField("detail-type"),
        ),
        (
            "alarm action wrong source",
            set(action(), "/source", json!("aws.events")),
            |e| matches!(e, EventError::WrongSource { .. }),
        ),
        (
            "alarm action source not a string",
            set(action(), "/source", json!(1)),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "source",
                        ..
                    }
                )
            },
        ),
        ("missing resources", remove(eb(), "/resources"), |e| {
            *e == EventError::MissingField("resources")
        }),
        ("empty resources", set(eb(), "/resources", json!([])), |e| {
            matches!(
                e,
                EventError::InvalidField {
                    field: "resources",
                    ..
                }
            )
        }),
        (
            "two resources",
            set(
                eb(),
                "/resources",
                json!([
                    arn("eu-west-1", "checkout-canary-euw1"),
                    arn("eu-west-1", "other")
                ]),
            ),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "resources",
                        ..
                    }
                )
            },
        ),
        (
            "non-alarm ARN",
            set(
                eb(),
                "/resources",
                json!(["arn:aws:sns:eu-west-1:210987654321:checkout-canary-euw1"]),
            ),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "resources",
                        ..
                    }
                )
            },
        ),
        (
            "alarm ARN with a short account",
            set(
                eb(),
                "/resources",
                json!(["arn:aws:cloudwatch:eu-west-1:2109876543:alarm:checkout-canary-euw1"]),
            ),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "resources",
                        ..
                    }
                )
            },
        ),
        (
            "resources not an array",
            set(
                eb(),
                "/resources",
                json!(arn("eu-west-1", "checkout-canary-euw1")),
            ),
            |e| {
                matches!(
                    e,
                    EventError::Malformed {
                        shape: EventShape::EventBridge,
                        ..
                    }
                )
            },
        ),
        (
            "eventbridge ARN/name mismatch",
            set(eb(), "/detail/alarmName", json!("checkout-canary-use1")),
            |e| {
                *e == EventError::AlarmNameMismatch {
                    arn_alarm_name: "checkout-canary-euw1".into(),
                    alarm_name: "checkout-canary-use1".into(),
                }
            },
        ),
        (
            "alarm action ARN/name mismatch",
            set(
                action(),
                "/alarmArn",
                json!(arn("us-west-2", "something-else")),
            ),
            |e| matches!(e, EventError::AlarmNameMismatch { .. }),
        ),
        (
            "alarmArn not an alarm ARN",
            set(action(), "/alarmArn", json!("checkout-canary-usw2")),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "alarmArn",
                        ..
                    }
                )
            },
        ),
        (
            "alarmArn a number",
            set(action(), "/alarmArn", json!(7)),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "alarmArn",
                        ..
                    }
                )
            },
        ),
        ("missing state", remove(eb(), "/detail/state"), |e| {
            *e == EventError::MissingField("detail.state")
        }),
        ("state null", set(eb(), "/detail/state", Value::Null), |e| {
            *e == EventError::MissingField("detail.state")
        }),
        (
            "state a string",
            set(eb(), "/detail/state", json!("ALARM")),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state",
                        ..
                    }
                )
            },
        ),
        (
            "missing state.value (the type would default it to OK)",
            remove(eb(), "/detail/state/value"),
            |e| *e == EventError::MissingField("detail.state.value"),
        ),
        (
            "alarm action missing state.value",
            remove(action(), "/alarmData/state/value"),
            |e| *e == EventError::MissingField("alarmData.state.value"),
        ),
        (
            "unknown state value",
            set(eb(), "/detail/state/value", json!("alarm")),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state.value",
                        ..
                    }
                )
            },
        ),
        (
            "state value a number",
            set(eb(), "/detail/state/value", json!(1)),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state.value",
                        ..
                    }
                )
            },
        ),
        (
            "missing state timestamp",
            remove(eb(), "/detail/state/timestamp"),
            |e| *e == EventError::MissingField("detail.state.timestamp"),
        ),
        (
            "bad state timestamp",
            set(eb(), "/detail/state/timestamp", json!("yesterday")),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state.timestamp",
                        ..
                    }
                )
            },
        ),
        (
            "state timestamp without offset",
            set(
                eb(),
                "/detail/state/timestamp",
                json!("2026-11-20T09:14:02.205"),
            ),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state.timestamp",
                        ..
                    }
                )
            },
        ),
        (
            "state timestamp as epoch number",
            set(
                eb(),
                "/detail/state/timestamp",
                json!(1_795_000_000_000_i64),
            ),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state.timestamp",
                        ..
                    }
                )
            },
        ),
        (
            "state timestamp out of range",
            set(
                eb(),
                "/detail/state/timestamp",
                json!("+999999-01-01T00:00:00Z"),
            ),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state.timestamp",
                        ..
                    }
                )
            },
        ),
        (
            "bad envelope time",
            set(eb(), "/time", json!("2026-13-40T00:00:00Z")),
            |e| matches!(e, EventError::InvalidField { field: "time", .. }),
        ),
        (
            "alarm action without time",
            remove(action(), "/time"),
            |e| *e == EventError::MissingField("time"),
        ),
        (
            "alarmData empty",
            set(action(), "/alarmData", json!({})),
            |e| *e == EventError::MissingField("alarmData.alarmName"),
        ),
        (
            "alarmData an array",
            set(action(), "/alarmData", json!([])),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "alarmData",
                        ..
                    }
                )
            },
        ),
        ("detail null", set(eb(), "/detail", Value::Null), |e| {
            matches!(
                e,
                EventError::InvalidField {
                    field: "detail",
                    ..
                }
            )
        }),
        (
            "alarmName a number",
            set(eb(), "/detail/alarmName", json!(12)),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.alarmName",
                        ..
                    }
                )
            },
        ),
        (
            "missing reason",
            remove(eb(), "/detail/state/reason"),
            |e| {
                matches!(
                    e,
                    EventError::Malformed {
                        shape: EventShape::EventBridge,
                        ..
                    }
                )
            },
        ),
        (
            "reason a number",
            set(action(), "/alarmData/state/reason", json!(5)),
            |e| {
                matches!(
                    e,
                    EventError::Malformed {
                        shape: EventShape::AlarmAction,
                        ..
                    }
                )
            },
        ),
        (
            "previousState with a bad timestamp",
            set(eb(), "/detail/previousState/timestamp", json!("soon")),
            |e| matches!(e, EventError::Malformed { .. }),
        ),
        ("missing id", remove(eb(), "/id"), |e| {
            *e == EventError::MissingField("id")
        }),
        ("empty id", set(eb(), "/id", json!("")), |e| {
            *e == EventError::MissingField("id")
        }),
        ("huge id", set(eb(), "/id", json!(huge)), |e| {
            matches!(e, EventError::InvalidField { field: "id", .. })
        }),
        (
            "huge source",
            set(eb(), "/source", json!(huge)),
            |e| matches!(e, EventError::WrongSource { found } if found.chars().count() <= 101),
        ),
        (
            "huge detail-type",
            set(eb(), "/detail-type", json!(huge)),
            |e| matches!(e, EventError::WrongDetailType { found } if found.chars().count() <= 101),
        ),
        (
            "huge alarm name",
            set(eb(), "/detail/alarmName", json!(huge)),
            |e| matches!(e, EventError::AlarmNameMismatch { alarm_name, .. } if alarm_name.chars().count() <= 101),
        ),
        (
            "huge state value",
            set(eb(), "/detail/state/value", json!(huge)),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state.value",
                        ..
                    }
                )
            },
        ),
        (
            "huge ARN",
            set(
                eb(),
                "/resources",
                json!([format!(
                    "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:{huge}"
                )]),
            ),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "resources",
                        ..
                    }
                )
            },
        ),
        (
            "huge string where an array is expected (serde quotes it)",
            set(eb(), "/resources", json!(huge)),
            |e| matches!(e, EventError::Malformed { message, .. } if message.chars().count() <= 301),
        ),
        (
            "right-to-left override in the alarm name",
            set(
                eb(),
                "/detail/alarmName",
                json!("checkout-canary-\u{202e}1wue"),
            ),
            |e| matches!(e, EventError::AlarmNameMismatch { alarm_name, .. } if alarm_name.contains("\\u{202e}")),
        ),
        (
            "zero-width space in the source",
            set(eb(), "/source", json!("aws.\u{200b}cloudwatch")),
            |e| matches!(e, EventError::WrongSource { found } if found == "aws.\\u{200b}cloudwatch"),
        ),
        (
            "NUL and newline in detail-type",
            set(
                eb(),
                "/detail-type",
                json!("CloudWatch Alarm State Change\u{0}\nforged log line"),
            ),
            |e| matches!(e, EventError::WrongDetailType { found } if !found.contains('\n') && !found.contains('\u{0}')),
        ),
        (
            "fullwidth letters in the state value",
            set(eb(), "/detail/state/value", json!("ＡＬＡＲＭ")),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "detail.state.value",
                        ..
                    }
                )
            },
        ),
        (
            "emoji alarm name in the ARN only",
            set(eb(), "/resources", json!([arn("eu-west-1", "🔥")])),
            |e| matches!(e, EventError::AlarmNameMismatch { .. }),
        ),
        (
            "control char in the ARN's alarm name",
            set(
                action(),
                "/alarmArn",
                json!(arn("us-west-2", "checkout\u{7}")),
            ),
            |e| {
                matches!(
                    e,
                    EventError::InvalidField {
                        field: "alarmArn",
                        ..
                    }
                )
            },
        ),
    ];
    assert!(cases.len() >= 20);
    for (case, payload, check) in &cases {
        match parse_alarm_event(payload) {
            Ok(obs) => panic!("{case}: accepted as {obs:?}"),
            Err(e) => {
                assert!(check(&e), "{case}: unexpected error {e:?}");
                let message = e.to_string();
                assert!(!message.is_empty(), "{case}");
                assert!(
                    message.chars().count() <= 700,
                    "{case}: message of {} chars",
                    message.chars().count()
                );
            }
        }
    }
}

#[test]
fn error_messages_name_the_field() {
    let cases = [
        (remove(eb(), "/detail/state/value"), "detail.state.value"),
        (
            set(eb(), "/detail/state/timestamp", json!("x")),
            "detail.state.timestamp",
        ),
        (set(eb(), "/source", json!("aws.ec2")), "source"),
        (set(eb(), "/detail-type", json!("x")), "detail-type"),
        (set(eb(), "/resources", json!([])), "resources"),
        (json!({}), "alarmArn"),
        (set(action(), "/alarmArn", json!("x")), "alarmArn"),
    ];
    for (payload, field) in cases {
        let message = parse_alarm_event(&payload)
            .map(|_| String::new())
            .unwrap_or_else(|e| e.to_string());
        assert!(message.contains(field), "{field}: {message}");
    }
}

#[test]
fn observations_match_a_catalog() {
    // The fixtures' observers, as a catalog would list them.
    let definition = json!({
        "name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": "hc-use1"},
        "secondary": {"region": "eu-west-1", "health_check_id": "hc-euw1"},
        "observers": [
            arn("eu-west-1", "checkout-canary-euw1"),
            arn("us-west-2", "checkout-canary-usw2"),
            arn("ap-southeast-2", "checkout-error-ratio-apse2"),
        ],
    });
    let (catalog, errors) =
        Catalog::from_entries([("checkout".to_string(), definition.to_string())]);
    assert!(errors.is_empty(), "{errors:?}");
    let def: &ServiceDefinition = catalog.service("checkout").expect("checkout");
    assert_eq!(def.quorum, 2);
    for name in [
        "eventbridge-metric-alarm-to-alarm",
        "alarm-action-metric",
        "eventbridge-metric-math-from-insufficient-data",
    ] {
        let obs = parse_alarm_event(&fixture(name)).expect(name);
        let names: Vec<&str> = catalog
            .services_observing(&obs.observer)
            .iter()
            .map(|s| s.name.as_str())
            .collect();
        assert_eq!(names, ["checkout"], "{name}");
    }
    let composite = parse_alarm_event(&fixture("eventbridge-composite-alarm")).expect("composite");
    assert!(catalog.services_observing(&composite.observer).is_empty());
}

// ---- properties ----

/// Keys and strings that steer random JSON towards the parser's interesting paths.
const KEYS: [&str; 16] = [
    "detail-type",
    "detail",
    "alarmArn",
    "alarmData",
    "source",
    "state",
    "value",
    "timestamp",
    "resources",
    "alarmName",
    "time",
    "id",
    "reason",
    "reasonData",
    "previousState",
    "configuration",
];
const STRINGS: [&str; 10] = [
    "aws.cloudwatch",
    "CloudWatch Alarm State Change",
    "ALARM",
    "OK",
    "INSUFFICIENT_DATA",
    "2026-11-20T09:14:02Z",
    "2026-11-20T09:14:30.220+0000",
    "arn:aws:cloudwatch:eu-west-1:210987654321:alarm:checkout-canary-euw1",
    "checkout-canary-euw1",
    "\u{202e}\u{0}é👍",
];

fn arb_string() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(&STRINGS[..]).prop_map(str::to_string),
        ".{0,16}",
        (0usize..3000).prop_map(|n| "ü".repeat(n)),
    ]
}

fn arb_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(Value::from),
        any::<f64>()
            .prop_map(|f| serde_json::Number::from_f64(f).map_or(Value::Null, Value::Number)),
        arb_string().prop_map(Value::String),
    ];
    leaf.prop_recursive(5, 64, 8, |inner| {
        let key = prop_oneof![
            prop::sample::select(&KEYS[..]).prop_map(str::to_string),
            ".{0,8}"
        ];
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..6).prop_map(Value::Array),
            prop::collection::vec((key, inner), 0..8)
                .prop_map(|kv| Value::Object(kv.into_iter().collect())),
        ]
    })
}

/// A JSON pointer to a node chosen by `seed`, descending at random.
fn pick_pointer(root: &Value, mut seed: u64) -> String {
    let mut pointer = String::new();
    let mut node = root;
    loop {
        let len = match node {
            Value::Object(m) => m.len(),
            Value::Array(a) => a.len(),
            _ => 0,
        };
        if len == 0 || seed % 5 == 0 {
            return pointer;
        }
        seed /= 5;
        let i = usize::try_from(seed % len as u64).unwrap_or(0);
        seed /= len as u64;
        let (token, child) = match node {
            Value::Object(m) => match m.iter().nth(i) {
                Some((k, c)) => (k.replace('~', "~0").replace('/', "~1"), c),
                None => return pointer,
            },
            Value::Array(a) => match a.get(i) {
                Some(c) => (i.to_string(), c),
                None => return pointer,
            },
            _ => return pointer,
        };
        pointer.push('/');
        pointer.push_str(&token);
        node = child;
    }
}

fn mutate(root: &mut Value, op: u8, seed: u64, pick: usize, new: Value) {
    let pointer = pick_pointer(root, seed);
    let Some(node) = root.pointer_mut(&pointer) else {
        return;
    };
    match (op % 5, node) {
        (1, Value::Object(m)) if !m.is_empty() => {
            let key = m.keys().nth(pick % m.len()).cloned().unwrap_or_default();
            m.remove(&key);
        }
        (1, Value::Array(a)) if !a.is_empty() => {
            a.remove(pick % a.len());
        }
        (2, Value::Object(m)) => {
            m.insert(KEYS[pick % KEYS.len()].to_string(), new);
        }
        (2, Value::Array(a)) => a.push(new),
        (3, Value::String(s)) => {
            *s = match pick % 5 {
                0 => s.chars().take(pick % (s.chars().count() + 1)).collect(),
                1 => format!("{s}\u{0}\u{202e}"),
                2 => s.to_lowercase(),
                3 => s.replace("+0000", "+00"),
                _ => s.repeat(1 + pick % 50),
            }
        }
        (_, node) => *node = new,
    }
}

fn check_result(payload: &Value) {
    match parse_alarm_event(payload) {
        Ok(obs) => {
            assert!(obs.reason.chars().count() <= 500);
            assert!(!obs.event_id.is_empty());
            assert!(obs
                .observer
                .ends_with(&format!(":alarm:{}", obs.alarm_name)));
        }
        Err(e) => assert!(e.to_string().chars().count() <= 700, "{e}"),
    }
}

/// 512 cases per property in `make test`; `make fuzz` sets `FUZZ_CASES` for a longer run.
fn fuzz_cases() -> u32 {
    std::env::var("FUZZ_CASES")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(512)
}

proptest! {
    #![proptest_config(ProptestConfig { cases: fuzz_cases(), ..ProptestConfig::default() })]

    #[test]
    fn arbitrary_json_never_panics(v in arb_json()) {
        check_result(&v);
    }

    #[test]
    fn arbitrary_json_under_a_shape_never_panics(detail in arb_json(), data in arb_json(), eventbridge in any::<bool>()) {
        let v = if eventbridge {
            json!({"source": "aws.cloudwatch", "detail-type": "CloudWatch Alarm State Change", "id": "x",
                   "resources": [arn("eu-west-1", "a")], "detail": detail})
        } else {
            json!({"alarmArn": arn("eu-west-1", "a"), "time": "2026-11-20T09:14:02Z", "alarmData": data})
        };
        check_result(&v);
    }

    #[test]
    fn mutated_fixtures_never_panic(
        which in 0..FIXTURES.len(),
        mutations in prop::collection::vec((any::<u8>(), any::<u64>(), any::<usize>(), arb_json()), 1..6),
    ) {
        let (name, _) = FIXTURES[which];
        let mut v = fixture(name);
        for (op, seed, pick, new) in mutations {
            mutate(&mut v, op, seed, pick, new);
        }
        check_result(&v);
    }
}
