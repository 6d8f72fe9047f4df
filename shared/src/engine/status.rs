//! The operator's `status`: each service's state, its primary check as read now, the
//! secondary's pre-flight, and its newest audit records.

use futures::future::join_all;

use super::{Engine, EngineError};
use crate::api::operator_request::{Action, OperatorRequest};
use crate::api::operator_response::{
    CatalogStatus, EndpointStatus, HealthCheckStatus, OperatorResponse, PauseStatus, PrimaryStatus,
    ServiceStatus, VoteStatus,
};
use crate::domain::catalog::{Catalog, ServiceDefinition};
use crate::domain::decision::{cooldown_remaining, live_votes, preflight_checks};
use crate::domain::time::fmt_time;
use crate::ports::{AlarmReader, Clock, ControlStore, HealthChecks, Notifier};

/// How many audit records `status` returns per service.
pub const STATUS_HISTORY: usize = 20;

impl<S, H, A, N, C> Engine<S, H, A, N, C>
where
    S: ControlStore,
    H: HealthChecks,
    A: AlarmReader,
    N: Notifier,
    C: Clock,
{
    pub(super) async fn status(
        &self,
        req: &OperatorRequest,
        defs: Vec<&ServiceDefinition>,
    ) -> Result<OperatorResponse, EngineError> {
        let catalog = self.cached_catalog().await;
        let catalog = catalog.as_deref();
        let reports = join_all(defs.iter().map(|def| self.service_status(def, catalog))).await;
        let mut r = OperatorResponse {
            ok: true,
            action: Action::Status,
            service: req.service.clone(),
            phase_before: None,
            phase_after: None,
            epoch: None,
            dry_run: req.dry_run,
            steps: Vec::new(),
            message: String::new(),
            next: None,
            status: Vec::new(),
        };
        for report in reports {
            r.status.push(report?);
        }
        if let [one] = r.status.as_slice() {
            r.phase_before = Some(one.phase);
            r.phase_after = r.phase_before;
            r.epoch = Some(one.epoch);
        }
        r.message = format!("{} service(s)", r.status.len());
        // Entries that never parsed have no status of their own: named here, unprotected.
        let unprotected: Vec<String> = catalog
            .into_iter()
            .flat_map(Catalog::refusals)
            .filter(|(key, r)| {
                r.last_good_since.is_none()
                    && req.service.as_deref().is_none_or(|n| n == key.as_str())
            })
            .map(|(_, r)| r.error.to_string())
            .collect();
        if !unprotected.is_empty() {
            r.message.push_str(&format!(
                "; NOT PROTECTED (no definition parses): {}",
                unprotected.join("; ")
            ));
        }
        Ok(r)
    }

    async fn service_status(
        &self,
        def: &ServiceDefinition,
        catalog: Option<&Catalog>,
    ) -> Result<ServiceStatus, EngineError> {
        let now = self.clock.now();
        let (state, history, readings) = tokio::join!(
            self.store.load_state(&def.name),
            self.store.recent_history(&def.name, STATUS_HISTORY),
            self.read_readiness(def)
        );
        let state = state.map_err(EngineError::Store)?;
        let history = history.map_err(EngineError::Store)?;
        let health_check = match &readings.primary {
            Ok(h) => HealthCheckStatus::Read {
                disabled: h.settings.disabled,
                inverted: h.settings.inverted,
                version: h.version,
            },
            Err(e) => HealthCheckStatus::Unreadable {
                error: e.to_string(),
            },
        };
        let votes = state
            .votes
            .iter()
            .map(|(observer, v)| {
                let vote = VoteStatus {
                    state: v.state,
                    at: fmt_time(v.at),
                    reason: v.reason.clone(),
                };
                (observer.clone(), vote)
            })
            .collect();
        let paused = state
            .pause
            .as_ref()
            .filter(|p| p.active_at(now))
            .map(|p| PauseStatus {
                reason: p.reason.clone(),
                requested_by: p.requested_by.clone(),
                since: fmt_time(p.since),
                until: p.until.map(fmt_time),
            });
        Ok(ServiceStatus {
            service: def.name.clone(),
            phase: state.phase,
            epoch: state.epoch,
            primary: PrimaryStatus {
                region: def.primary.region.clone(),
                health_check_id: def.primary.health_check_id.clone(),
                health_check,
            },
            secondary: EndpointStatus {
                region: def.secondary.region.clone(),
                health_check_id: def.secondary.health_check_id.clone(),
            },
            live_votes: live_votes(def, &state, now),
            quorum: def.quorum,
            votes,
            preflight: preflight_checks(def, &readings.preflight),
            paused,
            cooldown_remaining_seconds: cooldown_remaining(def, &state, now)
                .map_or(0, |ms| ms / 1000),
            execution: state.execution,
            history,
            catalog: catalog.and_then(|c| c.refusal(&def.name)).and_then(|r| {
                Some(CatalogStatus::LastGood {
                    since: fmt_time(r.since),
                    field: r.error.field.clone(),
                    error: r.error.message.clone(),
                    definition_since: fmt_time(r.last_good_since?),
                })
            }),
        })
    }
}
