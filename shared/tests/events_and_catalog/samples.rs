//! Every recorded sample parses to the observation expected of it, tolerated variations
//! too, and the observers it names are found in a catalog.

use super::*;

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
