//! What the secondary and the primary's health check look like before a switch, read in
//! parallel (and in parallel with the claim on the deciding event).

use super::Engine;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::{preflight_checks, HealthReading, PreflightReadings};
use crate::domain::event::ObservedState;
use crate::domain::probe::PROBE_STALE_MS;
use crate::domain::state::PreflightCheck;
use crate::domain::switch::SwitchMode;
use crate::domain::time::{fmt_time, Millis};
use crate::domain::workflow::CapacityFloor;
use crate::ports::{
    AwsError, Clock, CloudWatch, ControlStore, ErrorKind, HealthCheckConfig, HealthChecks,
    Notifier, Runbook,
};

/// How far back the secondary's HealthCheckStatus metric is read.
const HEALTH_LOOKBACK_MS: Millis = 5 * 60_000;
/// How long the deciding path waits for that read (CloudWatch in us-east-1).
const HEALTH_READ_WAIT: std::time::Duration = std::time::Duration::from_secs(2);

/// What the secondary and the primary's health check looked like, read in parallel with the claim.
pub(crate) struct Readings {
    pub(crate) preflight: PreflightReadings,
    /// Not read in metric and both modes (no Route 53 API call before the switch).
    pub(crate) primary: Result<HealthCheckConfig, AwsError>,
    /// Metric and both modes: the secondary's health read from Route 53's HealthCheckStatus
    /// metric, and why it could not be (no answer, no recent datapoint): a switch that needs
    /// no Route 53 API decides on the other signals then, and says so.
    pub(crate) health_unread: Option<String>,
    /// Pre-flight reads that got no answer (throttled, 5xx, timed out): the secondary's
    /// readiness is unknown, which is a reason to retry, not to block.
    pub(crate) unanswered: Vec<String>,
}

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    pub(crate) async fn read_readiness(&self, def: &ServiceDefinition) -> Readings {
        if def.switch.mode != SwitchMode::HealthCheck {
            return self.read_readiness_without_route53(def).await;
        }
        let pf = &def.preflight;
        let now = self.clock.now();
        let health = async {
            if pf.secondary_health_check {
                Some(self.health.status(&def.secondary.health_check_id).await)
            } else {
                None
            }
        };
        let alarm = self.read_secondary_alarm(def);
        let lag = self.read_replica_lag(def, now);
        let (secondary_health, secondary_alarm, replica_lag, primary, capacity) = tokio::join!(
            health,
            alarm,
            lag,
            self.health.get(&def.primary.health_check_id),
            self.read_capacity(def)
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
            capacity: reading("capacity", capacity, &mut unanswered),
        };
        Readings {
            preflight,
            primary,
            unanswered,
            health_unread: None,
        }
    }

    /// The secondary's warm capacity (InService instances or running tasks), when the
    /// pre-flight names a floor.
    pub(super) async fn read_capacity(
        &self,
        def: &ServiceDefinition,
    ) -> Option<Result<Option<i32>, AwsError>> {
        // Boxed: the SDK's futures are large, and this one sits inside the deciding path's.
        Some(match def.preflight.capacity.as_ref()? {
            CapacityFloor::AutoscalingGroup { region, name, .. } => {
                Box::pin(self.runbook.group(region, name))
                    .await
                    .map(|g| g.map(|g| g.in_service))
            }
            CapacityFloor::EcsService {
                region,
                cluster,
                service,
                ..
            } => Box::pin(self.runbook.ecs_service(region, cluster, service))
                .await
                .map(|s| s.map(|s| s.running)),
        })
    }

    /// The secondary's readiness alarm, when the pre-flight names one.
    async fn read_secondary_alarm(
        &self,
        def: &ServiceDefinition,
    ) -> Option<Result<Option<ObservedState>, AwsError>> {
        let arn = def.preflight.secondary_alarm_arn.as_ref()?;
        Some(self.alarms.alarm_state(arn).await)
    }

    /// The replica lag in seconds (the decision compares with `max_seconds`; the metric may
    /// be in ms), when the pre-flight names one.
    async fn read_replica_lag(
        &self,
        def: &ServiceDefinition,
        now: Millis,
    ) -> Option<Result<Option<f64>, AwsError>> {
        let spec = def.preflight.replica_lag.as_ref()?;
        Some(
            self.alarms
                .replica_lag(spec, now)
                .await
                .map(|v| v.map(|v| spec.to_seconds(v))),
        )
    }

    /// Metric and both modes: the same signals, with the secondary's health from Route 53's
    /// `HealthCheckStatus` metric (CloudWatch, us-east-1) instead of GetHealthCheckStatus,
    /// so that nothing before the switch waits for Route 53's API. An answer of "unhealthy"
    /// still blocks; no answer (or no recent datapoint) does not: Route 53 keeps answering
    /// with the primary while the secondary record's own check is unhealthy.
    async fn read_readiness_without_route53(&self, def: &ServiceDefinition) -> Readings {
        let pf = &def.preflight;
        let now = self.clock.now();
        let health = async {
            if !pf.secondary_health_check {
                return None;
            }
            let id = &def.secondary.health_check_id;
            // us-east-1 may be the impaired region: its answer is waited for briefly.
            let read = self.alarms.health_statuses(
                std::slice::from_ref(id),
                now - HEALTH_LOOKBACK_MS,
                now,
            );
            let points = tokio::time::timeout(HEALTH_READ_WAIT, read)
                .await
                .unwrap_or_else(|_| {
                    Err(AwsError::new(
                        "cloudwatch",
                        "GetMetricData",
                        ErrorKind::Unavailable,
                        format!("no answer within {} s", HEALTH_READ_WAIT.as_secs()),
                    ))
                });
            Some(points.map(|mut p| p.remove(id).and_then(|v| v.last().copied())))
        };
        let alarm = self.read_secondary_alarm(def);
        let lag = self.read_replica_lag(def, now);
        let (health, secondary_alarm, replica_lag, capacity) =
            tokio::join!(health, alarm, lag, self.read_capacity(def));
        let mut unanswered = Vec::new();
        let mut health_unread = None;
        let secondary_health = match health {
            None => None,
            Some(Ok(Some(p))) if now - p.at <= PROBE_STALE_MS => Some(Ok(HealthReading {
                healthy_checkers: u32::from(p.value >= 1.0),
                checkers: 1,
            })),
            Some(Ok(Some(p))) => {
                health_unread = Some(format!(
                    "its HealthCheckStatus metric has no datapoint since {}",
                    fmt_time(p.at)
                ));
                None
            }
            Some(Ok(None)) => {
                health_unread = Some("its HealthCheckStatus metric has no recent datapoint".into());
                None
            }
            Some(Err(e)) if e.kind == ErrorKind::Unavailable => {
                health_unread = Some(format!("HealthCheckStatus could not be read: {e}"));
                None
            }
            // Refused (access denied, a bad request): a fault to fix, never a pass.
            Some(Err(e)) => Some(Err(e.to_string())),
        };
        let preflight = PreflightReadings {
            secondary_health,
            secondary_alarm: reading("secondary alarm", secondary_alarm, &mut unanswered),
            replica_lag: reading("replica lag", replica_lag, &mut unanswered),
            capacity: reading("capacity", capacity, &mut unanswered),
        };
        Readings {
            preflight,
            primary: Err(AwsError::new(
                "route53",
                "GetHealthCheck",
                ErrorKind::Rejected,
                "not read: this service switches without Route 53's API",
            )),
            unanswered,
            health_unread,
        }
    }
}

/// The pre-flight's checks from the readings: in metric and both modes a secondary health
/// check that could not be read counts as passed, with the reason in its detail, and a
/// health read from the metric says so.
pub(crate) fn readiness_checks(def: &ServiceDefinition, r: &Readings) -> Vec<PreflightCheck> {
    let mut checks = preflight_checks(def, &r.preflight);
    if def.switch.mode == SwitchMode::HealthCheck || !def.preflight.secondary_health_check {
        return checks;
    }
    let name = format!("secondary health check {}", def.secondary.health_check_id);
    if let Some(c) = checks.iter_mut().find(|c| c.name == name) {
        match &r.health_unread {
            Some(why) => {
                c.ok = true;
                c.detail = format!(
                    "could not be read ({why}); decided on the signals that need no Route 53 API \
                     (Route 53 keeps answering with the primary while the secondary's own check is unhealthy)"
                );
            }
            None => {
                c.detail = format!(
                    "{} (Route 53's HealthCheckStatus metric)",
                    if c.ok { "healthy" } else { "unhealthy" }
                );
            }
        }
    }
    checks
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
    pf.secondary_health_check
        || pf.secondary_alarm_arn.is_some()
        || pf.replica_lag.is_some()
        || pf.capacity.is_some()
}
