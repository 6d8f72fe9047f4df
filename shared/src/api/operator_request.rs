//! The operator's request: read with serde (every error names the field by its path), then
//! checked against the action it is for.

use serde::de::{Deserializer, Error as _};
use serde::{Deserialize, Serialize};
use serde_json::Value;

use crate::domain::text::{is_invisible_format, json_type, quote_within};
use crate::domain::time::Millis;

pub const MAX_REASON_CHARS: usize = 500;
pub const MAX_REQUESTED_BY_CHARS: usize = 100;
/// A pause longer than this is almost certainly a mistake; resume and pause again instead.
pub const MAX_PAUSE_MS: Millis = 7 * 86_400_000;
/// Field names and serde's messages quoted in an error are cut to these many chars.
const MAX_QUOTED_FIELD_CHARS: usize = 60;
const MAX_QUOTED_MESSAGE_CHARS: usize = 300;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Action {
    Failover,
    Failback,
    Status,
    Pause,
    Resume,
    /// Approves the workflow step that waits for a human (`step`).
    Approve,
    /// Declines it: the workflow ends there.
    Decline,
}

impl Action {
    const ALL: [Action; 7] = [
        Action::Failover,
        Action::Failback,
        Action::Status,
        Action::Pause,
        Action::Resume,
        Action::Approve,
        Action::Decline,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Action::Failover => "failover",
            Action::Failback => "failback",
            Action::Status => "status",
            Action::Pause => "pause",
            Action::Resume => "resume",
            Action::Approve => "approve",
            Action::Decline => "decline",
        }
    }

    pub fn mutates(self) -> bool {
        self != Action::Status
    }
}

/// By hand, for messages that say what was sent and what is accepted.
impl<'de> Deserialize<'de> for Action {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let text = string(d)?.ok_or_else(|| D::Error::custom("expected a string, got null"))?;
        Action::ALL
            .into_iter()
            .find(|a| a.as_str() == text)
            .ok_or_else(|| {
                let shown: String = text.chars().take(MAX_QUOTED_FIELD_CHARS).collect();
                D::Error::custom(format!(
                    "unknown action '{shown}'; use failover, failback, status, pause, resume, approve or decline"
                ))
            })
    }
}

/// Which actions an invocation may take, from the alias it was invoked through (the
/// qualifier of the invoked function ARN). IAM cannot look into the payload, so each role
/// is allowed to invoke only its own alias (Terraform, `modules/access`) and the function
/// refuses what that alias does not allow. Unqualified or `$LATEST`: every action (for
/// principals allowed on the function itself, which the deployment's deny restricts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum OperatorScope {
    Every,
    /// The `approver` alias: approve, decline and status.
    Approvals,
    /// The `readonly` alias: status.
    ReadOnly,
}

impl OperatorScope {
    pub const OPERATOR_ALIAS: &'static str = "operator";
    pub const APPROVER_ALIAS: &'static str = "approver";
    pub const READONLY_ALIAS: &'static str = "readonly";

    /// From `arn:aws:lambda:<region>:<account>:function:<name>[:<qualifier>]`. An unknown
    /// alias allows status only: a new alias must be given its scope here first.
    pub fn of_invoked_arn(arn: &str) -> OperatorScope {
        match arn.split(':').nth(7) {
            None | Some("$LATEST") | Some(Self::OPERATOR_ALIAS) => OperatorScope::Every,
            Some(Self::APPROVER_ALIAS) => OperatorScope::Approvals,
            Some(_) => OperatorScope::ReadOnly,
        }
    }

    pub fn allows(self, action: Action) -> bool {
        match self {
            OperatorScope::Every => true,
            OperatorScope::Approvals => {
                matches!(action, Action::Approve | Action::Decline | Action::Status)
            }
            OperatorScope::ReadOnly => action == Action::Status,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            OperatorScope::Every => "operator",
            OperatorScope::Approvals => "approver",
            OperatorScope::ReadOnly => "read-only",
        }
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
    /// The workflow step `approve` and `decline` answer.
    pub step: Option<String>,
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

/// The request as sent. What is required depends on the action, so every field may be
/// absent here; `parse_request` says which one is missing.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RequestFields {
    #[serde(default)]
    action: Option<Action>,
    #[serde(default, deserialize_with = "string")]
    service: Option<String>,
    #[serde(default, deserialize_with = "string")]
    reason: Option<String>,
    #[serde(default, deserialize_with = "string")]
    requested_by: Option<String>,
    #[serde(default, deserialize_with = "boolean")]
    dry_run: bool,
    #[serde(default, deserialize_with = "boolean")]
    force: bool,
    #[serde(default, deserialize_with = "string")]
    until: Option<String>,
    #[serde(default, deserialize_with = "string")]
    step: Option<String>,
}

/// A string, or nothing (`null`); any other type is refused by name.
fn string<'de, D: Deserializer<'de>>(d: D) -> Result<Option<String>, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(None),
        Value::String(s) => Ok(Some(s)),
        other => Err(D::Error::custom(format!(
            "expected a string, got {}",
            json_type(&other)
        ))),
    }
}

/// `true` or `false`; `null` is `false`.
fn boolean<'de, D: Deserializer<'de>>(d: D) -> Result<bool, D::Error> {
    match Value::deserialize(d)? {
        Value::Null => Ok(false),
        Value::Bool(b) => Ok(b),
        other => Err(D::Error::custom(format!(
            "expected true or false, got {}",
            json_type(&other)
        ))),
    }
}

/// Free text that lands in audit records and alerts: required, bounded, one line.
fn text(value: Option<&str>, field: &str, max: usize) -> Result<String, RequestError> {
    let s = value.map(str::trim).unwrap_or_default();
    if s.is_empty() {
        return Err(field_err(
            field,
            "is required for this action and must not be empty",
        ));
    }
    if s.chars().count() > max {
        return Err(field_err(field, format!("is longer than {max} characters")));
    }
    if s.chars().any(|c| c.is_control() || is_invisible_format(c)) {
        return Err(field_err(
            field,
            "must be one line without control or invisible formatting characters",
        ));
    }
    Ok(s.to_string())
}

pub fn parse_request(payload: &Value, now: Millis) -> Result<OperatorRequest, RequestError> {
    if !payload.is_object() {
        return Err(RequestError::NotAnObject);
    }
    let fields: RequestFields = serde_path_to_error::deserialize(payload).map_err(|e| {
        field_err(
            &quote_within(&e.path().to_string(), MAX_QUOTED_FIELD_CHARS),
            quote_within(&e.inner().to_string(), MAX_QUOTED_MESSAGE_CHARS),
        )
    })?;
    let action = fields
        .action
        .ok_or_else(|| field_err("action", "is required"))?;
    let service = match fields.service {
        Some(s) if valid_service_name(&s) => Some(s),
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
            text(fields.reason.as_deref(), "reason", MAX_REASON_CHARS)?,
            text(
                fields.requested_by.as_deref(),
                "requested_by",
                MAX_REQUESTED_BY_CHARS,
            )?,
        )
    } else {
        (String::new(), String::new())
    };
    if fields.force && !matches!(action, Action::Failover | Action::Failback) {
        return Err(field_err("force", "applies only to failover and failback"));
    }
    let until = match fields.until {
        None => None,
        Some(_) if action != Action::Pause => {
            return Err(field_err("until", "applies only to pause"))
        }
        Some(s) => Some(pause_end(&s, now)?),
    };
    let answers = matches!(action, Action::Approve | Action::Decline);
    let step = match fields.step {
        Some(_) if !answers => {
            return Err(field_err("step", "applies only to approve and decline"))
        }
        Some(s) if valid_service_name(&s) && s.chars().count() <= 64 => Some(s),
        Some(_) => {
            return Err(field_err(
                "step",
                "is not a workflow step id (1-64 of A-Z a-z 0-9 _ . -)",
            ))
        }
        None if answers => return Err(field_err(
            "step",
            "is required for this action: the id of the step that waits for approval (see status)",
        )),
        None => None,
    };
    if answers && fields.dry_run {
        return Err(field_err(
            "dry_run",
            "does not apply to approve and decline",
        ));
    }
    Ok(OperatorRequest {
        action,
        service,
        reason,
        requested_by,
        dry_run: fields.dry_run,
        force: fields.force,
        until,
        step,
    })
}

/// A pause's end: an RFC 3339 time in the next 7 days.
fn pause_end(s: &str, now: Millis) -> Result<Millis, RequestError> {
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
    Ok(t)
}

fn valid_service_name(s: &str) -> bool {
    !s.is_empty()
        && s.chars().count() <= 80
        && s.chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '.' | '-'))
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
            (
                json!({"action": "status", "reason": 5}),
                "'reason': expected a string, got a number",
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
            (
                json!({"action": "approve", "service": "checkout", "reason": "r", "requested_by": "a"}),
                "'step': is required",
            ),
            (
                json!({"action": "decline", "service": "checkout", "reason": "r", "requested_by": "a", "step": "a b"}),
                "'step': is not a workflow step id",
            ),
            (
                json!({"action": "failover", "service": "checkout", "reason": "r", "requested_by": "a", "step": "db"}),
                "'step': applies only to approve and decline",
            ),
            (
                json!({"action": "approve", "service": "checkout", "step": "db", "requested_by": "a"}),
                "'reason': is required",
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

    #[test]
    fn the_alias_invoked_decides_which_actions_are_allowed() {
        let arn = "arn:aws:lambda:us-east-1:123456789012:function:failover-operator";
        assert_eq!(OperatorScope::of_invoked_arn(arn), OperatorScope::Every);
        assert_eq!(
            OperatorScope::of_invoked_arn(&format!("{arn}:operator")),
            OperatorScope::Every
        );
        let approver = OperatorScope::of_invoked_arn(&format!("{arn}:approver"));
        assert!(approver.allows(Action::Approve) && approver.allows(Action::Status));
        assert!(!approver.allows(Action::Failover) && !approver.allows(Action::Pause));
        let ro = OperatorScope::of_invoked_arn(&format!("{arn}:readonly"));
        assert!(ro.allows(Action::Status) && !ro.allows(Action::Approve));
        assert_eq!(
            OperatorScope::of_invoked_arn(&format!("{arn}:someday")),
            OperatorScope::ReadOnly
        );
    }

    #[test]
    fn a_huge_unknown_field_is_named_in_a_short_message() {
        let key = "\u{202e}k".repeat(100_000);
        let mut payload = json!({"action": "status"});
        payload[key.as_str()] = json!(1);
        let err = parse_request(&payload, NOW).unwrap_err().to_string();
        assert!(err.contains("unknown field"), "{err}");
        assert!(err.chars().count() < 700, "{} chars", err.chars().count());
        assert!(!err.contains('\u{202e}'), "{err}");
    }
}
