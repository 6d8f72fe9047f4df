//! How a service's traffic is switched (`switch` in the catalog): Route 53's control plane
//! (force the primary's health check unhealthy), CloudWatch's data plane (a metric that a
//! CLOUDWATCH_METRIC health check under the primary's CALCULATED check watches), or both;
//! and what the reconciler expects the metric and its alarm to say.

use serde::{Deserialize, Serialize};

use super::arn::AlarmArn;
use super::event::ObservedState;
use super::state::{Phase, ServiceState, TransitionKind};
use super::time::Millis;

/// The switch metric: `RegionalFailover` / `PrimaryForcedOut` {`Service` = name}, 1 while
/// failed over, 0 while the primary is active.
pub const SWITCH_NAMESPACE: &str = "RegionalFailover";
pub const SWITCH_METRIC: &str = "PrimaryForcedOut";
pub const SWITCH_DIMENSION: &str = "Service";

/// Route 53 publishes every health check's status (1 healthy, 0 unhealthy) to CloudWatch in
/// us-east-1 only, once a minute: a data plane that answers when Route 53's API does not.
pub const HEALTH_STATUS_NAMESPACE: &str = "AWS/Route53";
pub const HEALTH_STATUS_METRIC: &str = "HealthCheckStatus";
pub const HEALTH_STATUS_DIMENSION: &str = "HealthCheckId";
pub const HEALTH_STATUS_REGION: &str = "us-east-1";

/// The switch alarm evaluates a 60 s period; CloudWatch and then Route 53 take a while more.
/// An alarm that still disagrees with the decision this long after it is a drift.
pub const SWITCH_ALARM_GRACE_MS: Millis = 5 * 60_000;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SwitchMode {
    /// Force the primary's health check unhealthy (UpdateHealthCheck, Route 53's API).
    #[default]
    HealthCheck,
    /// Publish `PrimaryForcedOut` = 1 (PutMetricData, a regional data plane).
    Metric,
    /// Both, in parallel; done when either has landed.
    Both,
}

impl SwitchMode {
    pub fn as_str(self) -> &'static str {
        match self {
            SwitchMode::HealthCheck => "health_check",
            SwitchMode::Metric => "metric",
            SwitchMode::Both => "both",
        }
    }
}

/// `switch` in a catalog entry.
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Switch {
    #[serde(default)]
    pub mode: SwitchMode,
    /// The alarm on the switch metric (metric and both modes); the metric is published in
    /// its region.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub alarm_arn: Option<String>,
}

impl Switch {
    pub fn uses_health_check(&self) -> bool {
        matches!(self.mode, SwitchMode::HealthCheck | SwitchMode::Both)
    }

    pub fn uses_metric(&self) -> bool {
        matches!(self.mode, SwitchMode::Metric | SwitchMode::Both)
    }

    /// The switch alarm, parsed (validated at catalog load, so `None` only in health_check mode).
    pub fn alarm(&self) -> Option<AlarmArn<'_>> {
        self.alarm_arn.as_deref().and_then(AlarmArn::parse)
    }

    /// Where the metric is published: the alarm's region.
    pub fn metric_region(&self) -> Option<&str> {
        self.alarm().map(|a| a.region)
    }
}

/// One way of switching, as the alert and the audit name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Mechanism {
    HealthCheck,
    Metric,
}

impl Mechanism {
    pub fn as_str(self) -> &'static str {
        match self {
            Mechanism::HealthCheck => "health_check",
            Mechanism::Metric => "metric",
        }
    }
}

/// The value the switch metric should carry for this state, if the decision fixes one:
/// 1 once a failover's switch has landed and until a failback is decided, 0 otherwise.
/// `None` while a transition is decided but its switch has not landed (the transition
/// publishes it).
pub fn decided_value(state: &ServiceState) -> Option<f64> {
    let exec = state.execution.as_ref();
    let landed = exec.is_some_and(|e| e.metric_switched_at.is_some() || e.switched_at.is_some());
    match state.phase {
        Phase::PrimaryActive | Phase::Blocked => Some(0.0),
        Phase::FailedOver => Some(1.0),
        Phase::FailingOver if landed => Some(1.0),
        Phase::FailingOver => None,
        // Until the failback's 0 is recorded as landed, say nothing: a 0 that landed but
        // was not recorded (a crash) must not be followed by a 1, and the alarm ignores
        // missing data.
        Phase::FailingBack => match exec.map(|e| e.kind) {
            Some(TransitionKind::Failback) if landed => Some(0.0),
            _ => None,
        },
    }
}

/// When the decided value took effect: the landing of the last transition's switch, else
/// the last transition.
fn decided_since(state: &ServiceState) -> Option<Millis> {
    let exec = state.execution.as_ref();
    exec.and_then(|e| e.metric_switched_at.or(e.switched_at))
        .or(state.last_transition_at)
}

/// The switch alarm disagrees with the decision for longer than [`SWITCH_ALARM_GRACE_MS`]:
/// (what was expected, what was found). INSUFFICIENT_DATA never counts: the alarm ignores
/// missing data, and the health check keeps its last known status.
pub fn switch_alarm_drift(
    state: &ServiceState,
    alarm: Option<ObservedState>,
    now: Millis,
) -> Option<(String, String)> {
    let value = decided_value(state)?;
    if decided_since(state).is_some_and(|t| now - t < SWITCH_ALARM_GRACE_MS) {
        return None;
    }
    let expected = if value >= 1.0 {
        ObservedState::Alarm
    } else {
        ObservedState::Ok
    };
    match alarm {
        Some(ObservedState::InsufficientData) => None,
        Some(found) if found == expected => None,
        Some(found) => Some((
            format!("switch alarm {expected} (PrimaryForcedOut={value})"),
            format!("switch alarm {found}"),
        )),
        None => Some((
            format!("switch alarm {expected} (PrimaryForcedOut={value})"),
            "the switch alarm does not exist".into(),
        )),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::state::{Execution, Trigger};

    fn exec(kind: TransitionKind, metric_at: Option<Millis>) -> Execution {
        Execution {
            epoch: 1,
            kind,
            trigger: Trigger::Quorum {
                quorum: 2,
                observers: 3,
            },
            decided_at: 0,
            votes: vec![],
            owner: "o".into(),
            lease_until: 0,
            preflight: vec![],
            prior: None,
            prior_note: None,
            version_before: None,
            version_after: None,
            switched_at: None,
            metric_switched_at: metric_at,
            check_switched_at: None,
            route53_unanswered: None,
            nothing_switched: false,
            blocked_reason: None,
            pending_alerted_at: None,
            alerted_at: None,
            alert_message_id: None,
            completed_at: None,
            recovery: None,
            workflow: None,
        }
    }

    fn state(phase: Phase, e: Option<Execution>) -> ServiceState {
        ServiceState {
            phase,
            execution: e,
            last_transition_at: Some(0),
            ..Default::default()
        }
    }

    #[test]
    fn the_decided_value_follows_the_landed_switch() {
        assert_eq!(decided_value(&state(Phase::PrimaryActive, None)), Some(0.0));
        assert_eq!(decided_value(&state(Phase::Blocked, None)), Some(0.0));
        assert_eq!(
            decided_value(&state(
                Phase::FailingOver,
                Some(exec(TransitionKind::Failover, None))
            )),
            None
        );
        assert_eq!(
            decided_value(&state(
                Phase::FailingOver,
                Some(exec(TransitionKind::Failover, Some(5)))
            )),
            Some(1.0)
        );
        assert_eq!(
            decided_value(&state(
                Phase::FailingBack,
                Some(exec(TransitionKind::Failback, None))
            )),
            None
        );
        assert_eq!(
            decided_value(&state(
                Phase::FailingBack,
                Some(exec(TransitionKind::Failback, Some(5)))
            )),
            Some(0.0)
        );
        assert_eq!(decided_value(&state(Phase::FailedOver, None)), Some(1.0));
    }

    #[test]
    fn an_alarm_that_disagrees_is_a_drift_only_after_the_grace() {
        let s = state(
            Phase::FailedOver,
            Some(exec(TransitionKind::Failover, Some(1_000))),
        );
        let ok = Some(ObservedState::Ok);
        assert_eq!(switch_alarm_drift(&s, ok, 1_000 + 60_000), None);
        let late = 1_000 + SWITCH_ALARM_GRACE_MS;
        let (expected, found) = switch_alarm_drift(&s, ok, late).unwrap();
        assert!(expected.contains("ALARM"), "{expected}");
        assert_eq!(found, "switch alarm OK");
        assert_eq!(
            switch_alarm_drift(&s, Some(ObservedState::Alarm), late),
            None
        );
        assert_eq!(
            switch_alarm_drift(&s, Some(ObservedState::InsufficientData), late),
            None
        );
        assert!(switch_alarm_drift(&s, None, late).is_some());
        let back = state(Phase::PrimaryActive, None);
        assert!(switch_alarm_drift(&back, Some(ObservedState::Alarm), late).is_some());
    }
}
