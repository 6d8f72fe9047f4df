//! The operator's requests and responses: parsed by hand from JSON so that every error
//! names the field at fault.

use serde::Serialize;
use serde_json::{Map, Value};

use crate::state::{Millis, Phase};

pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_REQUESTED_BY_CHARS: usize = 100;
/// A pause longer than this is almost certainly a mistake; resume and pause again instead.
pub const MAX_PAUSE_MS: Millis = 7 * 86_400_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Failover,
    Failback,
    Status,
    Pause,
    Resume,
}

impl Action {
    const ALL: [Action; 5] = [
        Action::Failover,
        Action::Failback,
        Action::Status,
        Action::Pause,
        Action::Resume,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Failover => "failover",
            Action::Failback => "failback",
            Action::Status => "status",
            Action::Pause => "pause",
            Action::Resume => "resume",
        }
    }

    pub fn mutates(self) -> bool {
        self != Action::Status
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OperatorRequest {
    pub action: Action,
    pub service: Option<String>,
    pub reason: String,
    pub requested_by: String,
    pub dry_run: bool,
    pub force: bool,
    pub until: Option<Millis>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum RequestError {
    #[error("the request must be a JSON object, e.g. {{\"action\": \"status\"}}")]
    NotAnObject,
    #[error("field '{field}': {message}")]
    Field { field: String, message: String },
}

fn field_err(field: &str, message: impl Into<String>) -> RequestError {
    RequestError::Field {
        field: field.to_string(),
        message: message.into(),
    }
}

fn type_name(v: &Value) -> &'static str {
    match v {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

fn string<'a>(obj: &'a Map<String, Value>, field: &str) -> Result<Option<&'a str>, RequestError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(None),
        Some(Value::String(s)) => Ok(Some(s)),
        Some(other) => Err(field_err(
            field,
            format!("expected a string, got {}", type_name(other)),
        )),
    }
}

fn boolean(obj: &Map<String, Value>, field: &str) -> Result<bool, RequestError> {
    match obj.get(field) {
        None | Some(Value::Null) => Ok(false),
        Some(Value::Bool(b)) => Ok(*b),
        Some(other) => Err(field_err(
            field,
            format!("expected true or false, got {}", type_name(other)),
        )),
    }
}

/// Free text that lands in audit records and alerts: required, bounded, one line.
fn text(obj: &Map<String, Value>, field: &str, max: usize) -> Result<String, RequestError> {
    let s = string(obj, field)?.map(str::trim).unwrap_or_default();
    if s.is_empty() {
        return Err(field_err(
            field,
            "is required for this action and must not be empty",
        ));
    }
    if s.chars().count() > max {
        return Err(field_err(field, format!("is longer than {max} characters")));
    }
    if s.chars()
        .any(|c| c.is_control() || crate::alert::is_invisible_format(c))
    {
        return Err(field_err(
            field,
            "must be one line without control or invisible formatting characters",
        ));
    }
    Ok(s.to_string())
}

const KNOWN_FIELDS: [&str; 7] = [
    "action",
    "service",
    "reason",
    "requested_by",
    "dry_run",
    "force",
    "until",
];

pub fn parse_request(payload: &Value, now: Millis) -> Result<OperatorRequest, RequestError> {
    let obj = payload.as_object().ok_or(RequestError::NotAnObject)?;
    if let Some(unknown) = obj.keys().find(|k| !KNOWN_FIELDS.contains(&k.as_str())) {
        let shown: String = unknown.chars().take(60).collect();
        return Err(field_err(
            &shown,
            format!("unknown field; known fields: {}", KNOWN_FIELDS.join(", ")),
        ));
    }
    let action_text = string(obj, "action")?.ok_or_else(|| field_err("action", "is required"))?;
    let action = Action::ALL
        .into_iter()
        .find(|a| a.as_str() == action_text)
        .ok_or_else(|| {
            let shown: String = action_text.chars().take(60).collect();
            field_err(
                "action",
                format!(
                    "unknown action '{shown}'; use failover, failback, status, pause or resume"
                ),
            )
        })?;
    let service = match string(obj, "service")? {
        Some(s) if valid_service_name(s) => Some(s.to_string()),
        Some(_) => {
            return Err(field_err(
                "service",
                "is not a service name (1-80 of A-Z a-z 0-9 _ . -)",
            ))
        }
        None if action == Action::Status => None,
        None => return Err(field_err("service", "is required for this action")),
    };
    let (reason, requested_by) = if action.mutates() {
        (
            text(obj, "reason", MAX_REASON_CHARS)?,
            text(obj, "requested_by", MAX_REQUESTED_BY_CHARS)?,
        )
    } else {
        (String::new(), String::new())
    };
    let dry_run = boolean(obj, "dry_run")?;
    let force = boolean(obj, "force")?;
    if force && !matches!(action, Action::Failover | Action::Failback) {
        return Err(field_err("force", "applies only to failover and failback"));
    }
    let until = match string(obj, "until")? {
        None => None,
        Some(_) if action != Action::Pause => {
            return Err(field_err("until", "applies only to pause"))
        }
        Some(s) => {
            let t = chrono::DateTime::parse_from_rfc3339(s)
                .map_err(|e| {
                    field_err(
                        "until",
                        format!("expected an RFC 3339 time like 2026-11-23T06:00:00Z: {e}"),
                    )
                })?
                .timestamp_millis();
            if t <= now {
                return Err(field_err("until", "is in the past"));
            }
            if t - now > MAX_PAUSE_MS {
                return Err(field_err("until", "is more than 7 days away"));
            }
            Some(t)
        }
    };
    Ok(OperatorRequest {
        action,
        service,
        reason,
        requested_by,
        dry_run,
        force,
        until,
    })
}

fn valid_service_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= 80
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "kebab-case")]
pub enum StepStatus {
    Done,
    Skipped,
    Failed,
    WouldDo,
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct StepReport {
    pub name: String,
    pub status: StepStatus,
    pub detail: String,
}

impl StepReport {
    pub fn new(name: &str, status: StepStatus, detail: impl Into<String>) -> Self {
        StepReport {
            name: name.to_string(),
            status,
            detail: detail.into(),
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct OperatorResponse {
    pub ok: bool,
    pub action: Action,
    pub service: Option<String>,
    pub phase_before: Option<Phase>,
    pub phase_after: Option<Phase>,
    pub epoch: Option<u64>,
    pub dry_run: bool,
    pub steps: Vec<StepReport>,
    pub message: String,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub status: Vec<Value>,
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    const NOW: Millis = 1_795_000_000_000;

    #[test]
    fn valid_requests_parse() {
        let r = parse_request(
            &json!({"action": "failover", "service": "checkout", "reason": "planned", "requested_by": "alice", "dry_run": true, "force": false}),
            NOW,
        )
        .unwrap();
        assert_eq!(
            (r.action, r.service.as_deref(), r.dry_run, r.force),
            (Action::Failover, Some("checkout"), true, false)
        );
        assert_eq!(
            parse_request(&json!({"action": "status"}), NOW)
                .unwrap()
                .service,
            None
        );
        let until = chrono::DateTime::from_timestamp_millis(NOW + 3_600_000)
            .unwrap()
            .to_rfc3339();
        let p = parse_request(
            &json!({"action": "pause", "service": "checkout", "reason": "db upgrade", "requested_by": "bob", "until": until}),
            NOW,
        )
        .unwrap();
        assert_eq!(p.until, Some(NOW + 3_600_000));
    }

    #[test]
    fn bad_requests_name_the_field() {
        let long = "x".repeat(501);
        let past = chrono::DateTime::from_timestamp_millis(NOW - 1000)
            .unwrap()
            .to_rfc3339();
        let far = chrono::DateTime::from_timestamp_millis(NOW + 8 * 86_400_000)
            .unwrap()
            .to_rfc3339();
        let cases = [
            (json!(null), "JSON object"),
            (json!([]), "JSON object"),
            (json!("status"), "JSON object"),
            (json!({}), "'action': is required"),
            (
                json!({"action": 1}),
                "'action': expected a string, got a number",
            ),
            (json!({"action": "explode"}), "unknown action 'explode'"),
            (
                json!({"action": "status", "verbose": true}),
                "'verbose': unknown field",
            ),
            (json!({"action": "failover"}), "'service': is required"),
            (
                json!({"action": "failover", "service": ""}),
                "'service': is not a service name",
            ),
            (
                json!({"action": "failover", "service": "a b"}),
                "'service': is not a service name",
            ),
            (
                json!({"action": "failover", "service": "checkout"}),
                "'reason': is required",
            ),
            (
                json!({"action": "failover", "service": "checkout", "reason": "  "}),
                "'reason': is required",
            ),
            (
                json!({"action": "failover", "service": "checkout", "reason": long}),
                "'reason': is longer than 500",
            ),
            (
                json!({"action": "failover", "service": "checkout", "reason": "a\nb", "requested_by": "x"}),
                "'reason': must be one line",
            ),
            (
                json!({"action": "failover", "service": "checkout", "reason": "r"}),
                "'requested_by': is required",
            ),
            (
                json!({"action": "failover", "service": "checkout", "reason": "r", "requested_by": 7}),
                "'requested_by': expected a string",
            ),
            (
                json!({"action": "failover", "service": "checkout", "reason": "r", "requested_by": "a", "dry_run": "yes"}),
                "'dry_run': expected true or false",
            ),
            (
                json!({"action": "failover", "service": "checkout", "reason": "r", "requested_by": "a", "force": 1}),
                "'force': expected true or false",
            ),
            (
                json!({"action": "pause", "service": "checkout", "reason": "r", "requested_by": "a", "force": true}),
                "'force': applies only",
            ),
            (
                json!({"action": "resume", "service": "checkout", "reason": "r", "requested_by": "a", "until": "2030-01-01T00:00:00Z"}),
                "'until': applies only to pause",
            ),
            (
                json!({"action": "pause", "service": "checkout", "reason": "r", "requested_by": "a", "until": "tomorrow"}),
                "'until': expected an RFC 3339",
            ),
            (
                json!({"action": "pause", "service": "checkout", "reason": "r", "requested_by": "a", "until": past}),
                "'until': is in the past",
            ),
            (
                json!({"action": "pause", "service": "checkout", "reason": "r", "requested_by": "a", "until": far}),
                "'until': is more than 7 days",
            ),
        ];
        for (payload, want) in cases {
            let err = parse_request(&payload, NOW).unwrap_err().to_string();
            assert!(
                err.contains(want),
                "{payload}: {err:?} should contain {want:?}"
            );
        }
    }
}
