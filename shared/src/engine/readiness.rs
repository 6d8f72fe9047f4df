//! What the secondary and the primary's health check look like before a switch, read in
//! parallel (and in parallel with the claim on the deciding event).

use super::Engine;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::PreflightReadings;
use crate::ports::{
    AlarmReader, AwsError, Clock, ControlStore, ErrorKind, HealthCheckConfig, HealthChecks,
    Notifier,
};

/// What the secondary and the primary's health check looked like, read in parallel with the claim.
pub(crate) struct Readings {
    pub(crate) preflight: PreflightReadings,
    pub(crate) primary: Result<HealthCheckConfig, AwsError>,
    /// Pre-flight reads that got no answer (throttled, 5xx, timed out): the secondary's
    /// readiness is unknown, which is a reason to retry, not to block.
    pub(crate) unanswered: Vec<String>,
}

impl<S, H, A, N, C> Engine<S, H, A, N, C>
where
    S: ControlStore,
    H: HealthChecks,
    A: AlarmReader,
    N: Notifier,
    C: Clock,
{
    pub(crate) async fn read_readiness(&self, def: &ServiceDefinition) -> Readings {
        let pf = &def.preflight;
        let now = self.clock.now();
        let health = async {
            if pf.secondary_health_check {
                Some(self.health.status(&def.secondary.health_check_id).await)
            } else {
                None
            }
        };
        let alarm = async {
            match &pf.secondary_alarm_arn {
                Some(arn) => Some(self.alarms.alarm_state(arn).await),
                None => None,
            }
        };
        // The decision compares seconds with `max_seconds`; the metric may be in ms.
        let lag = async {
            match &pf.replica_lag {
                Some(spec) => Some(
                    self.alarms
                        .replica_lag(spec, now)
                        .await
                        .map(|v| v.map(|v| spec.to_seconds(v))),
                ),
                None => None,
            }
        };
        let (secondary_health, secondary_alarm, replica_lag, primary) = tokio::join!(
            health,
            alarm,
            lag,
            self.health.get(&def.primary.health_check_id)
        );
        let mut unanswered = Vec::new();
        let preflight = PreflightReadings {
            secondary_health: reading(
                "secondary health check status",
                secondary_health,
                &mut unanswered,
            ),
            secondary_alarm: reading("secondary alarm", secondary_alarm, &mut unanswered),
            replica_lag: reading("replica lag", replica_lag, &mut unanswered),
        };
        Readings {
            preflight,
            primary,
            unanswered,
        }
    }
}

/// A pre-flight reading for the decision core (which sees only the error's text), noting
/// the reads that got no answer.
fn reading<T>(
    what: &str,
    r: Option<Result<T, AwsError>>,
    unanswered: &mut Vec<String>,
) -> Option<Result<T, String>> {
    r.map(|r| {
        r.map_err(|e| {
            if e.kind == ErrorKind::Unavailable {
                unanswered.push(format!("{what}: {e}"));
            }
            e.to_string()
        })
    })
}

pub(super) fn def_has_preflight(def: &ServiceDefinition) -> bool {
    let pf = &def.preflight;
    pf.secondary_health_check || pf.secondary_alarm_arn.is_some() || pf.replica_lag.is_some()
}
