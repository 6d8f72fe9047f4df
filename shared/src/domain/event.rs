//! The two shapes in which a CloudWatch alarm state change reaches the function:
//! EventBridge's "CloudWatch Alarm State Change" event and CloudWatch's direct Lambda
//! alarm action. Both are reduced to one [`AlarmObservation`].

use std::fmt;

use aws_lambda_events::event::cloudwatch_alarms::{CloudWatchAlarm, CloudWatchAlarmData};
use aws_lambda_events::event::eventbridge::EventBridgeEvent;
use chrono::{DateTime, Utc};
use serde::Deserialize;
use serde_json::{Map, Value};

use super::arn::AlarmArn;
use super::text::{json_type, quote_capped, truncate_chars};

pub const CLOUDWATCH_SOURCE: &str = "aws.cloudwatch";
pub const ALARM_STATE_CHANGE_DETAIL_TYPE: &str = "CloudWatch Alarm State Change";
/// `reason` is kept for logs and notifications only; CloudWatch's can run to kilobytes.
pub const MAX_REASON_CHARS: usize = 500;
/// EventBridge ids are UUIDs; anything far longer is not a real event and would not fit a key.
pub const MAX_EVENT_ID_CHARS: usize = 256;
/// Values quoted in error messages are cut to this many chars.
const MAX_QUOTED_CHARS: usize = 100;
/// serde's messages quote the offending value, so they are capped too.
const MAX_SERDE_MESSAGE_CHARS: usize = 300;

// Configuration and reasonData are not used: `Value` accepts every variant (metric,
// metric-math, composite, missing configuration, reasonData as string or object) so
// that none of them can break the parse.
type AlarmData = CloudWatchAlarmData<Option<Value>, Value>;
type EventBridgeAlarm = EventBridgeEvent<AlarmData>;
type AlarmAction = CloudWatchAlarm<Option<Value>, Value>;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum ObservedState {
    Alarm,
    Ok,
    InsufficientData,
}

impl ObservedState {
    /// CloudWatch's spelling of the state.
    pub fn as_str(self) -> &'static str {
        match self {
            ObservedState::Alarm => "ALARM",
            ObservedState::Ok => "OK",
            ObservedState::InsufficientData => "INSUFFICIENT_DATA",
        }
    }

    /// Parses CloudWatch's spelling; `None` for anything else.
    pub fn from_cloudwatch(s: &str) -> Option<ObservedState> {
        [
            ObservedState::Alarm,
            ObservedState::Ok,
            ObservedState::InsufficientData,
        ]
        .into_iter()
        .find(|state| state.as_str() == s)
    }
}

impl fmt::Display for ObservedState {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum EventShape {
    EventBridge,
    AlarmAction,
}

impl fmt::Display for EventShape {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            EventShape::EventBridge => "EventBridge",
            EventShape::AlarmAction => "alarm action",
        })
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AlarmObservation {
    /// The alarm ARN.
    pub observer: String,
    pub alarm_name: String,
    pub state: ObservedState,
    /// Unix millis, from the state's `timestamp`.
    pub state_changed_at: i64,
    /// Unix millis, from the envelope `time` (the state timestamp when EventBridge omits it).
    pub event_time: i64,
    /// EventBridge `id`; for the alarm action "alarm-action:<alarm ARN>:<state timestamp millis>".
    pub event_id: String,
    /// The state's `reason`, at most [`MAX_REASON_CHARS`] chars.
    pub reason: String,
    pub shape: EventShape,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum EventError {
    /// Not a JSON object, or not exactly one of the two shapes.
    #[error("not a CloudWatch alarm event: {0}")]
    NotAnAlarmEvent(String),
    #[error("field 'source': expected '{CLOUDWATCH_SOURCE}', found '{found}'")]
    WrongSource { found: String },
    #[error("field 'detail-type': expected '{ALARM_STATE_CHANGE_DETAIL_TYPE}', found '{found}'")]
    WrongDetailType { found: String },
    #[error("missing field '{0}'")]
    MissingField(&'static str),
    #[error("invalid field '{field}': {message}")]
    InvalidField {
        field: &'static str,
        message: String,
    },
    /// The alarm named by the ARN is not the one named by `alarmName`.
    #[error("mismatched payload: the alarm ARN names alarm '{arn_alarm_name}' but alarmName is '{alarm_name}'")]
    AlarmNameMismatch {
        arn_alarm_name: String,
        alarm_name: String,
    },
    /// The typed parse failed (serde's message).
    #[error("malformed {shape} event: {message}")]
    Malformed { shape: EventShape, message: String },
}

/// Field paths, which differ between the shapes only in where the alarm data sits.
struct Fields {
    data: &'static str,
    alarm_name: &'static str,
    state: &'static str,
    state_value: &'static str,
    state_timestamp: &'static str,
}

const EVENTBRIDGE_FIELDS: Fields = Fields {
    data: "detail",
    alarm_name: "detail.alarmName",
    state: "detail.state",
    state_value: "detail.state.value",
    state_timestamp: "detail.state.timestamp",
};

const ALARM_ACTION_FIELDS: Fields = Fields {
    data: "alarmData",
    alarm_name: "alarmData.alarmName",
    state: "alarmData.state",
    state_value: "alarmData.state.value",
    state_timestamp: "alarmData.state.timestamp",
};

/// Reduces either alarm event shape to an [`AlarmObservation`]. Never panics on any input.
pub fn parse_alarm_event(payload: &Value) -> Result<AlarmObservation, EventError> {
    let Some(obj) = payload.as_object() else {
        return Err(EventError::NotAnAlarmEvent(format!(
            "expected a JSON object, found {}",
            json_type(payload)
        )));
    };
    // Decide the shape from the fields present, so that an error speaks about the shape
    // the sender meant rather than whichever parse failed last.
    let eventbridge = obj.contains_key("detail-type") && obj.contains_key("detail");
    let alarm_action = obj.contains_key("alarmArn") && obj.contains_key("alarmData");
    match (eventbridge, alarm_action) {
        (true, false) => parse_eventbridge(obj, payload),
        (false, true) => parse_alarm_action(obj, payload),
        (true, true) => Err(EventError::NotAnAlarmEvent(
            "has the fields of both shapes (`detail-type` and `detail` of EventBridge, \
             `alarmArn` and `alarmData` of the alarm action)"
                .into(),
        )),
        (false, false) => Err(EventError::NotAnAlarmEvent(
            "expected either `detail-type` and `detail` (EventBridge) or \
             `alarmArn` and `alarmData` (CloudWatch alarm action)"
                .into(),
        )),
    }
}

fn parse_eventbridge(
    obj: &Map<String, Value>,
    payload: &Value,
) -> Result<AlarmObservation, EventError> {
    let source = required_str(obj, "source")?;
    if source != CLOUDWATCH_SOURCE {
        return Err(EventError::WrongSource {
            found: quote(source),
        });
    }
    let detail_type = required_str(obj, "detail-type")?;
    if detail_type != ALARM_STATE_CHANGE_DETAIL_TYPE {
        return Err(EventError::WrongDetailType {
            found: quote(detail_type),
        });
    }
    let state = check_alarm_data(obj.get("detail"), &EVENTBRIDGE_FIELDS)?;
    // `time` is optional in the type; null and absent both mean "use the state timestamp".
    match obj.get("time") {
        None | Some(Value::Null) => {}
        Some(time) => {
            check_timestamp(time, "time")?;
        }
    }

    let event = EventBridgeAlarm::deserialize(payload)
        .map_err(|e| malformed(EventShape::EventBridge, &e))?;

    let resources = event
        .resources
        .ok_or(EventError::MissingField("resources"))?;
    let arn = match resources.as_slice() {
        [arn] => arn,
        other => {
            return Err(EventError::InvalidField {
                field: "resources",
                message: format!(
                    "expected exactly one CloudWatch alarm ARN, found {} entries",
                    other.len()
                ),
            })
        }
    };
    let arn_parts = AlarmArn::parse(arn).ok_or_else(|| EventError::InvalidField {
        field: "resources",
        message: format!("'{}' is not a CloudWatch alarm ARN", quote(arn)),
    })?;
    check_names_match(&arn_parts, &event.detail.alarm_name)?;

    let id = event.id.unwrap_or_default();
    if id.is_empty() {
        return Err(EventError::MissingField("id"));
    }
    if id.chars().count() > MAX_EVENT_ID_CHARS {
        return Err(EventError::InvalidField {
            field: "id",
            message: format!("longer than {MAX_EVENT_ID_CHARS} characters"),
        });
    }
    let reason = event
        .detail
        .state
        .map(|s| truncate_chars(&s.reason, MAX_REASON_CHARS).to_string())
        .unwrap_or_default();
    Ok(AlarmObservation {
        observer: arn.clone(),
        alarm_name: event.detail.alarm_name,
        state: state.value,
        state_changed_at: state.changed_at,
        event_time: event
            .time
            .map_or(state.changed_at, |t| t.timestamp_millis()),
        event_id: id,
        reason,
        shape: EventShape::EventBridge,
    })
}

fn parse_alarm_action(
    obj: &Map<String, Value>,
    payload: &Value,
) -> Result<AlarmObservation, EventError> {
    if let Some(source) = obj.get("source") {
        let source = source
            .as_str()
            .ok_or_else(|| not_a("source", "string", source))?;
        if source != CLOUDWATCH_SOURCE {
            return Err(EventError::WrongSource {
                found: quote(source),
            });
        }
    }
    let arn = required_str(obj, "alarmArn")?;
    let arn_parts = AlarmArn::parse(arn).ok_or_else(|| EventError::InvalidField {
        field: "alarmArn",
        message: format!("'{}' is not a CloudWatch alarm ARN", quote(arn)),
    })?;
    let state = check_alarm_data(obj.get("alarmData"), &ALARM_ACTION_FIELDS)?;
    // Required by the type, unlike EventBridge's.
    let time = obj.get("time").ok_or(EventError::MissingField("time"))?;
    check_timestamp(time, "time")?;

    let event =
        AlarmAction::deserialize(payload).map_err(|e| malformed(EventShape::AlarmAction, &e))?;
    check_names_match(&arn_parts, &event.alarm_data.alarm_name)?;

    let reason = event
        .alarm_data
        .state
        .map(|s| truncate_chars(&s.reason, MAX_REASON_CHARS).to_string())
        .unwrap_or_default();
    Ok(AlarmObservation {
        observer: arn.to_string(),
        // The alarm action has no id: derive a stable one so redeliveries deduplicate.
        event_id: format!("alarm-action:{arn}:{}", state.changed_at),
        alarm_name: event.alarm_data.alarm_name,
        state: state.value,
        state_changed_at: state.changed_at,
        event_time: event.time.timestamp_millis(),
        reason,
        shape: EventShape::AlarmAction,
    })
}

struct RawState {
    value: ObservedState,
    changed_at: i64,
}

/// Checks on the raw JSON what the typed parse would let through or report vaguely:
/// aws_lambda_events defaults a missing `state.value` to OK, which must not become a vote.
fn check_alarm_data(data: Option<&Value>, f: &Fields) -> Result<RawState, EventError> {
    let data = data.ok_or(EventError::MissingField(f.data))?;
    let data = data
        .as_object()
        .ok_or_else(|| not_a(f.data, "object", data))?;
    match data.get("alarmName") {
        None => return Err(EventError::MissingField(f.alarm_name)),
        Some(Value::String(_)) => {}
        Some(other) => return Err(not_a(f.alarm_name, "string", other)),
    }
    let state = match data.get("state") {
        None | Some(Value::Null) => return Err(EventError::MissingField(f.state)),
        Some(Value::Object(state)) => state,
        Some(other) => return Err(not_a(f.state, "object", other)),
    };
    let value = match state.get("value") {
        None | Some(Value::Null) => return Err(EventError::MissingField(f.state_value)),
        Some(Value::String(s)) => {
            ObservedState::from_cloudwatch(s).ok_or_else(|| EventError::InvalidField {
                field: f.state_value,
                message: format!("'{}' is not one of ALARM, OK, INSUFFICIENT_DATA", quote(s)),
            })?
        }
        Some(other) => return Err(not_a(f.state_value, "string", other)),
    };
    let timestamp = state
        .get("timestamp")
        .ok_or(EventError::MissingField(f.state_timestamp))?;
    let changed_at = check_timestamp(timestamp, f.state_timestamp)?;
    Ok(RawState { value, changed_at })
}

/// Parses a timestamp as chrono's serde impl will, to name the field when it is bad.
/// chrono accepts both `...Z` and CloudWatch's `...+0000` (offset without a colon).
fn check_timestamp(value: &Value, field: &'static str) -> Result<i64, EventError> {
    let s = value
        .as_str()
        .ok_or_else(|| not_a(field, "string", value))?;
    s.parse::<DateTime<Utc>>()
        .map(|t| t.timestamp_millis())
        .map_err(|e| EventError::InvalidField {
            field,
            message: format!("'{}' is not an RFC 3339 timestamp: {e}", quote(s)),
        })
}

fn check_names_match(arn: &AlarmArn<'_>, alarm_name: &str) -> Result<(), EventError> {
    if arn.alarm_name == alarm_name {
        Ok(())
    } else {
        Err(EventError::AlarmNameMismatch {
            arn_alarm_name: quote(arn.alarm_name),
            alarm_name: quote(alarm_name),
        })
    }
}

fn required_str<'a>(
    obj: &'a Map<String, Value>,
    field: &'static str,
) -> Result<&'a str, EventError> {
    match obj.get(field) {
        None | Some(Value::Null) => Err(EventError::MissingField(field)),
        Some(Value::String(s)) => Ok(s),
        Some(other) => Err(not_a(field, "string", other)),
    }
}

fn not_a(field: &'static str, expected: &str, found: &Value) -> EventError {
    EventError::InvalidField {
        field,
        message: format!("expected {expected}, found {}", json_type(found)),
    }
}

fn malformed(shape: EventShape, e: &serde_json::Error) -> EventError {
    EventError::Malformed {
        shape,
        message: quote_capped(&e.to_string(), MAX_SERDE_MESSAGE_CHARS),
    }
}

fn quote(s: &str) -> String {
    quote_capped(s, MAX_QUOTED_CHARS)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn chrono_accepts_both_cloudwatch_offsets() {
        let z: DateTime<Utc> = "2026-11-20T09:14:02Z".parse().unwrap();
        let no_colon: DateTime<Utc> = "2026-11-20T09:14:02.000+0000".parse().unwrap();
        let colon: DateTime<Utc> = "2026-11-20T09:14:02+00:00".parse().unwrap();
        assert_eq!(z, no_colon);
        assert_eq!(z, colon);
        // And through serde, as the typed parse does it.
        let via_serde: DateTime<Utc> =
            serde_json::from_value(serde_json::json!("2026-11-20T10:14:02.5+0100")).unwrap();
        assert_eq!(via_serde.timestamp_millis(), z.timestamp_millis() + 500);
    }

    #[test]
    fn state_spelling_round_trips() {
        for s in [
            ObservedState::Alarm,
            ObservedState::Ok,
            ObservedState::InsufficientData,
        ] {
            assert_eq!(ObservedState::from_cloudwatch(s.as_str()), Some(s));
            assert_eq!(
                serde_json::to_value(s).unwrap(),
                serde_json::json!(s.as_str())
            );
        }
        assert_eq!(ObservedState::from_cloudwatch("alarm"), None);
        assert_eq!(
            serde_json::to_value(EventShape::EventBridge).unwrap(),
            serde_json::json!("event_bridge")
        );
    }
}
