//! The standing quorum. CloudWatch sends an event only when an alarm changes state, so an
//! observer that stays in ALARM never votes again: the reconciler reads the alarms behind
//! the stored ALARM votes (one DescribeAlarms per observer region and 100 names) and marks
//! the votes it finds still in ALARM confirmed, which keeps them live. The reconciler then
//! re-assesses the service through the alarm path's own `decide`. The switch alarms
//! (`switch.alarm_arn`) are read in the same calls.

use std::collections::{BTreeMap, HashMap};

use futures::future::join_all;
use tracing::{info, warn};

use super::{Engine, EngineError};
use crate::domain::arn::AlarmArn;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::standing_alarms;
use crate::domain::event::ObservedState;
use crate::domain::state::ServiceState;
use crate::ports::{
    Clock, CloudWatch, ControlStore, HealthChecks, Notifier, Runbook, VoteWrite,
    MAX_ALARMS_PER_READ,
};

/// What one run read of the alarms behind standing ALARM votes (and of the switch alarms,
/// read in the same DescribeAlarms calls).
#[derive(Debug, Default)]
pub(crate) struct AlarmReadings {
    /// By alarm ARN; an alarm that was not read (or does not exist) is absent.
    pub states: HashMap<String, ObservedState>,
    /// The alarms asked for that were not read, by ARN, with why: absent from `states`
    /// does not mean "does not exist" for these.
    pub unread: HashMap<String, String>,
    /// Reads that failed: their votes are not confirmed this run.
    pub errors: Vec<String>,
    /// When the reads were answered (an OK found by them is dated so: an upper bound).
    pub at: crate::domain::time::Millis,
}

impl AlarmReadings {
    /// The alarm as read: `Ok(None)` when it does not exist, `Err` when it was not read.
    pub(crate) fn get(&self, arn: &str) -> Result<Option<ObservedState>, String> {
        match self.unread.get(arn) {
            Some(why) => Err(why.clone()),
            None => Ok(self.states.get(arn).copied()),
        }
    }
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
    /// Reads every alarm that stands behind an ALARM vote of these services, and the
    /// `extra` alarms (the switch alarms), batched per region, the batches in parallel.
    /// Nothing to read: no call.
    pub(super) async fn read_standing_alarms<'a>(
        &self,
        services: impl Iterator<Item = (&'a ServiceDefinition, &'a ServiceState)>,
        extra: impl Iterator<Item = String>,
    ) -> AlarmReadings {
        let mut arns: Vec<String> = Vec::new();
        for (def, state) in services {
            arns.extend(standing_alarms(def, state).into_iter().map(|(arn, _)| arn));
        }
        arns.extend(extra);
        self.read_alarms(arns).await
    }

    /// The current state of these alarms: one DescribeAlarms per region and 100 names,
    /// the calls in parallel. The same alarm named twice is read once.
    pub(crate) async fn read_alarms(&self, arns: Vec<String>) -> AlarmReadings {
        let mut readings = AlarmReadings::default();
        // region -> alarm name -> ARN (the same alarm may observe several services).
        let mut by_region: BTreeMap<String, BTreeMap<String, String>> = BTreeMap::new();
        for arn in arns {
            match AlarmArn::parse(&arn) {
                Some(a) => {
                    by_region
                        .entry(a.region.to_string())
                        .or_default()
                        .insert(a.alarm_name.to_string(), arn.clone());
                }
                None => {
                    readings
                        .unread
                        .insert(arn.clone(), "not a CloudWatch alarm ARN".into());
                }
            }
        }
        let batches: Vec<(String, Vec<String>)> = by_region
            .iter()
            .flat_map(|(region, names)| {
                let names: Vec<String> = names.keys().cloned().collect();
                names
                    .chunks(MAX_ALARMS_PER_READ)
                    .map(|chunk| (region.clone(), chunk.to_vec()))
                    .collect::<Vec<_>>()
            })
            .collect();
        let results = join_all(
            batches
                .iter()
                .map(|(region, names)| self.alarms.alarm_states(region, names)),
        )
        .await;
        readings.at = self.clock.now();
        for ((region, names), result) in batches.iter().zip(results) {
            let arns = by_region.get(region);
            match result {
                Ok(states) => {
                    for (name, state) in states {
                        if let Some(arn) = arns.and_then(|m| m.get(&name)) {
                            readings.states.insert(arn.clone(), state);
                        }
                    }
                }
                Err(e) => {
                    warn!(region = %region, alarms = names.len(), error = %e, "alarms could not be read; the votes behind them are not confirmed and the switch alarms among them not checked this run");
                    let why = format!("reading {} alarms in {region}: {e}", names.len());
                    for name in names {
                        if let Some(arn) = arns.and_then(|m| m.get(name)) {
                            readings.unread.insert(arn.clone(), e.to_string());
                        }
                    }
                    readings.errors.push(why);
                }
            }
        }
        readings
    }

    /// Marks this service's ALARM votes confirmed where the read found the alarm still in
    /// ALARM (one conditional write; a newer event in the meantime wins). Returns the
    /// state to go on with and how many votes were confirmed.
    pub(super) async fn confirm_standing(
        &self,
        def: &ServiceDefinition,
        state: ServiceState,
        readings: &AlarmReadings,
    ) -> Result<(ServiceState, usize), EngineError> {
        let still: Vec<(String, i64)> = standing_alarms(def, &state)
            .into_iter()
            .filter(|(arn, _)| readings.states.get(arn) == Some(&ObservedState::Alarm))
            .collect();
        if still.is_empty() {
            return Ok((state, 0));
        }
        let now = self.clock.now();
        match self
            .store
            .confirm_votes(&def.name, &still, now)
            .await
            .map_err(EngineError::Store)?
        {
            VoteWrite::Recorded(next) => {
                info!(service = %def.name, confirmed = still.len(), "standing ALARM votes confirmed by reading the alarms");
                Ok((next, still.len()))
            }
            VoteWrite::NotNewer(current) => {
                info!(service = %def.name, "a vote changed since it was read; the newer event stands, confirmation waits for the next run");
                Ok((current, 0))
            }
        }
    }
}
