//! The operator's pause and resume of automatic actions. Votes are still recorded while
//! paused; on resume a quorum they make is acted on at once.

use super::operator::{operator_record, refuse, response};
use super::{Engine, EngineError, Invocation};
use crate::api::operator_request::OperatorRequest;
use crate::api::operator_response::{OperatorResponse, StepReport, StepStatus};
use crate::domain::alert::pause_alert;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::decision::{assess, Assessment};
use crate::domain::state::{Pause, ServiceState, Trigger};
use crate::domain::time::fmt_time;
use crate::ports::{
    Clock, CloudWatch, ControlStore, ControlWrite, HealthChecks, Notifier, Runbook,
};

use StepStatus::{Done, Failed, Skipped, WouldDo};

impl<S, H, A, N, C, R> Engine<S, H, A, N, C, R>
where
    S: ControlStore,
    H: HealthChecks,
    A: CloudWatch,
    N: Notifier,
    C: Clock,
    R: Runbook,
{
    pub(super) async fn pause(
        &self,
        def: &ServiceDefinition,
        req: &OperatorRequest,
        state: ServiceState,
        inv: &Invocation,
    ) -> Result<OperatorResponse, EngineError> {
        let now = self.clock.now();
        let mut r = response(req, &state);
        let until_text = req.until.map_or("resumed by hand".to_string(), fmt_time);
        if let Some(p) = state.pause.as_ref().filter(|p| p.active_at(now)) {
            if p.until == req.until {
                r.ok = true;
                r.steps
                    .push(StepReport::new("pause", Skipped, "already paused"));
                r.message = format!(
                    "{} is already paused until {until_text}: nothing done",
                    def.name
                );
                return Ok(r);
            }
        }
        if req.dry_run {
            r.ok = true;
            r.steps.push(StepReport::new(
                "pause",
                WouldDo,
                format!("pause automatic actions until {until_text}"),
            ));
            r.steps
                .push(StepReport::new("alert", WouldDo, "one pause alert"));
            r.message = format!("dry run: would pause {}", def.name);
            return Ok(r);
        }
        let pause = Pause {
            reason: req.reason.clone(),
            requested_by: req.requested_by.clone(),
            since: now,
            until: req.until,
        };
        let mut next = state.clone();
        next.version += 1;
        next.pause = Some(pause.clone());
        if let ControlWrite::Conflict(_) = self
            .store
            .write_control(&def.name, state.version, &next)
            .await
            .map_err(EngineError::Store)?
        {
            return Ok(refuse(
                r,
                "the state changed concurrently; nothing done, retry".into(),
            ));
        }
        r.steps.push(StepReport::new(
            "pause",
            Done,
            format!("automatic actions paused until {until_text}"),
        ));
        let alert = pause_alert(def, &pause, true, state.epoch);
        let record = operator_record(req, state.epoch, "pause", now, inv);
        let (published, first) = tokio::join!(
            self.notifier.publish(&alert),
            self.store.append_history(&def.name, &record)
        );
        r.steps.push(match published {
            Ok(id) => StepReport::new("alert", Done, format!("message {id}")),
            Err(e) => StepReport::new("alert", Failed, e.to_string()),
        });
        // The pause is written: an audit write that keeps failing does not undo it.
        r.ok = r.steps.iter().all(|s| s.status != Failed);
        r.steps
            .push(self.audit_landed(def, &record, first, inv).await);
        r.phase_after = Some(next.phase);
        r.next = Some(match req.until {
            Some(t) => format!(
                "automatic actions resume by themselves at {}, and a quorum standing then is \
                 acted on; action resume ends the pause sooner",
                fmt_time(t)
            ),
            None => "automatic actions stay paused until action resume".into(),
        });
        r.message = format!(
            "{} paused until {until_text}; votes are still recorded",
            def.name
        );
        Ok(r)
    }

    pub(super) async fn resume_automation(
        &self,
        def: &ServiceDefinition,
        req: &OperatorRequest,
        state: ServiceState,
        inv: &Invocation,
    ) -> Result<OperatorResponse, EngineError> {
        let now = self.clock.now();
        let mut r = response(req, &state);
        let mut current = state.clone();
        match &state.pause {
            None => r
                .steps
                .push(StepReport::new("resume", Skipped, "not paused")),
            Some(_) if req.dry_run => {
                r.steps
                    .push(StepReport::new("resume", WouldDo, "clear the pause"));
                r.steps
                    .push(StepReport::new("alert", WouldDo, "one resume alert"));
                current.pause = None;
            }
            Some(pause) => {
                current.version += 1;
                current.pause = None;
                if let ControlWrite::Conflict(_) = self
                    .store
                    .write_control(&def.name, state.version, &current)
                    .await
                    .map_err(EngineError::Store)?
                {
                    return Ok(refuse(
                        r,
                        "the state changed concurrently; nothing done, retry".into(),
                    ));
                }
                r.steps
                    .push(StepReport::new("resume", Done, "pause cleared"));
                let resumed = Pause {
                    reason: req.reason.clone(),
                    requested_by: req.requested_by.clone(),
                    since: pause.since,
                    until: Some(now),
                };
                let alert = pause_alert(def, &resumed, false, state.epoch);
                let record = operator_record(req, state.epoch, "resume", now, inv);
                let (published, first) = tokio::join!(
                    self.notifier.publish(&alert),
                    self.store.append_history(&def.name, &record)
                );
                r.steps.push(match published {
                    Ok(id) => StepReport::new("alert", Done, format!("message {id}")),
                    Err(e) => StepReport::new("alert", Failed, e.to_string()),
                });
                r.steps
                    .push(self.audit_landed(def, &record, first, inv).await);
            }
        }
        // Re-evaluate the live votes at once: a quorum held back by the pause acts now.
        match assess(def, &current, now) {
            Assessment::QuorumReached { votes } if req.dry_run => {
                r.steps.push(StepReport::new(
                    "evaluate",
                    WouldDo,
                    format!("{} live votes: automatic failover", votes.len()),
                ));
            }
            Assessment::QuorumReached { votes } => {
                let trigger = Trigger::Quorum {
                    quorum: def.quorum,
                    observers: def.observers.len() as u32,
                };
                // The resume has landed: a failover step that fails now is reported, and
                // finished by the reconciler, not turned into a failed resume.
                match self
                    .start_failover(def, current, votes, trigger, inv, true)
                    .await
                {
                    Ok(outcome) => r.steps.push(StepReport::new(
                        "evaluate",
                        Done,
                        format!("quorum live: {}", outcome.outcome),
                    )),
                    Err(e) => {
                        r.steps.push(StepReport::new(
                            "evaluate",
                            Failed,
                            format!("quorum live, the failover did not complete: {e}"),
                        ));
                        r.next = Some(
                            "the reconciler finishes the failover on its next run (every minute)"
                                .into(),
                        );
                    }
                }
            }
            other => r
                .steps
                .push(StepReport::new("evaluate", Skipped, describe(&other))),
        }
        r.ok = r
            .steps
            .iter()
            .all(|s| s.status != Failed || s.name == "audit");
        r.message = if req.dry_run {
            format!("dry run: would resume automatic actions for {}", def.name)
        } else if state.pause.is_some() {
            format!("automatic actions resumed for {}", def.name)
        } else {
            format!("{} was not paused: nothing to resume", def.name)
        };
        self.finish_phase(def, r).await
    }
}

fn describe(a: &Assessment) -> String {
    match a {
        Assessment::NoQuorum { live, quorum } => {
            format!("{live} of {quorum} votes live: no action")
        }
        Assessment::QuorumReached { votes } => format!("{} votes live", votes.len()),
        Assessment::ResumeDue { epoch } => {
            format!("epoch {epoch} unfinished: the next event or the reconciler resumes it")
        }
        Assessment::Held(h) => h.to_string(),
    }
}
