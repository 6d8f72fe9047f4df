//! "What was changed" for a switch by metric or by both mechanisms: which one landed, and
//! whether Route 53's API was needed.

use std::fmt::Write;

use crate::domain::catalog::ServiceDefinition;
use crate::domain::state::{Execution, HealthCheckSettings, TransitionKind};
use crate::domain::switch::{SwitchMode, SWITCH_METRIC, SWITCH_NAMESPACE};
use crate::domain::time::fmt_time;

/// The mechanisms that landed, as the alert and the audit name them.
pub fn switched_by(def: &ServiceDefinition, exec: &Execution) -> String {
    let metric = exec.metric_switched_at.is_some();
    let check = exec.check_switched_at.is_some()
        || (def.switch.mode == SwitchMode::HealthCheck && exec.switched_at.is_some());
    let route53 = match (def.switch.mode, check) {
        (SwitchMode::HealthCheck, _) => "Route 53's API was needed",
        (SwitchMode::Metric, _) => "Route 53's API was not needed",
        (SwitchMode::Both, true) => "Route 53's API answered too (not needed)",
        (SwitchMode::Both, false) => "Route 53's API was not needed (it did not answer)",
    };
    let which = match (metric, check) {
        (true, true) => "metric and health check",
        (true, false) => "metric",
        (false, true) => "health check",
        (false, false) => "nothing yet",
    };
    format!("switched by: {which}; {route53}")
}

/// The lines under "What was changed" for `metric` and `both` services.
pub(super) fn data_plane_changes(m: &mut String, def: &ServiceDefinition, exec: &Execution) {
    let value = match exec.kind {
        TransitionKind::Failover => 1,
        TransitionKind::Failback => 0,
    };
    let region = def.switch.metric_region().unwrap_or("?");
    let alarm = def
        .switch
        .alarm()
        .map_or("?".to_string(), |a| a.alarm_name.to_string());
    let _ = writeln!(m, "  {}", switched_by(def, exec));
    match exec.metric_switched_at {
        Some(at) => {
            let _ = writeln!(
                m,
                "  CloudWatch metric {SWITCH_NAMESPACE}/{SWITCH_METRIC} Service={} in {region}: {value} (PutMetricData accepted at {}).",
                def.name,
                fmt_time(at)
            );
            let _ = writeln!(
                m,
                "  The switch alarm {alarm} follows within about a minute, then Route 53's CALCULATED check on the primary record; the reconciler republishes the value every run and reports a drift if the alarm disagrees."
            );
        }
        None => {
            let _ = writeln!(m, "  CloudWatch metric {SWITCH_NAMESPACE}/{SWITCH_METRIC} Service={} in {region}: not published yet.", def.name);
        }
    }
    if def.switch.uses_health_check() {
        let target = match exec.kind {
            TransitionKind::Failover => HealthCheckSettings::FORCED_UNHEALTHY.to_string(),
            TransitionKind::Failback => exec
                .prior
                .map_or("unchanged (never flipped)".into(), |p| p.to_string()),
        };
        match (exec.check_switched_at, &exec.route53_unanswered) {
            (Some(_), _) => {
                let _ = writeln!(
                    m,
                    "  Route 53 health check {} (primary): -> {target}, verified by read-back.",
                    def.primary.health_check_id
                );
            }
            (None, Some(why)) => {
                let _ = writeln!(
                    m,
                    "  Route 53 health check {} (primary): NOT changed yet ({why}); the reconciler completes it when Route 53's API answers.",
                    def.primary.health_check_id
                );
            }
            (None, None) => {}
        }
    }
    let _ = writeln!(m);
}
