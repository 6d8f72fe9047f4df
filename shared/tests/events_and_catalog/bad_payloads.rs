//! A table of bad payloads, each refused with the error that says what is wrong with it.

use super::*;

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
