//! Reads the primary's probe (`primary.probe_health_check_id`) from Route 53's
//! `HealthCheckStatus` metric: CloudWatch's data plane, no Route 53 API call.

use super::Engine;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::probe::{probe_health, ProbeHealth};
use crate::domain::time::{secs, Millis};
use crate::ports::{Clock, CloudWatch, ControlStore, HealthChecks, Notifier, Runbook};

/// The window read besides `failback_min_healthy_seconds`, so that "healthy for at least"
/// can reach past the minimum.
const PROBE_EXTRA_WINDOW_MS: Millis = 10 * 60_000;

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    /// The probes of `defs` that have one, read together (500 series a GetMetricData call).
    pub(crate) async fn read_probes(&self, defs: &[&ServiceDefinition]) -> Vec<ProbeHealth> {
        let ids: Vec<String> = defs
            .iter()
            .filter_map(|d| d.primary.probe_health_check_id.clone())
            .collect();
        if ids.is_empty() {
            return Vec::new();
        }
        let now = self.clock.now();
        let window = defs
            .iter()
            .map(|d| secs(d.failback_min_healthy_seconds))
            .max()
            .unwrap_or(0)
            + PROBE_EXTRA_WINDOW_MS;
        match self.alarms.health_statuses(&ids, now - window, now).await {
            // Two services may share a probe: each reads the same series.
            Ok(points) => ids
                .iter()
                .map(|id| {
                    let series: Vec<(Millis, f64)> = points
                        .get(id)
                        .into_iter()
                        .flatten()
                        .map(|p| (p.at, p.value))
                        .collect();
                    probe_health(id, &series, now)
                })
                .collect(),
            Err(e) => ids
                .iter()
                .map(|id| ProbeHealth::unreadable(id, e.to_string()))
                .collect(),
        }
    }

    /// The service's probe, if it has one.
    pub(crate) async fn read_probe(&self, def: &ServiceDefinition) -> Option<ProbeHealth> {
        def.primary.probe_health_check_id.as_ref()?;
        self.read_probes(&[def]).await.pop()
    }
}
