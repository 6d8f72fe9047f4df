//! One attempt at a workflow step: read the resource back (already at the target: done,
//! no call), make the step's call, read it back again. `invoke` has nothing to read back:
//! its answer is the outcome. The run around it (claims, outcomes, pages) is `workflow`.

use serde_json::json;

use super::Engine;
use crate::domain::catalog::ServiceDefinition;
use crate::domain::state::{Execution, TransitionKind};
use crate::domain::text::clip;
use crate::domain::workflow::{arn_region, StepAction};
use crate::domain::workflow_run::{
    aurora_move, check_group, check_promoted, check_service, check_writer, ReadBack, StepRun,
    MAX_RESULT_CHARS,
};
use crate::ports::{Clock, CloudWatch, ControlStore, HealthChecks, Notifier, Runbook};

/// What one attempt at a step came to.
pub(super) enum Outcome {
    Done(String),
    Applied(String),
    Failed(String),
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
    /// One attempt: read back (done already: no call), call, read back.
    pub(super) async fn perform(
        &self,
        def: &ServiceDefinition,
        exec: &Execution,
        s: &StepRun,
    ) -> Outcome {
        let action = &s.step.action;
        if let StepAction::Invoke { function_arn } = action {
            let payload = invoke_payload(def, exec, s);
            return match Box::pin(self.runbook.invoke(function_arn, &payload)).await {
                Ok(answer) => match answer.function_error {
                    None => Outcome::Done(format!(
                        "answered: {}",
                        clip(&answer.payload, MAX_RESULT_CHARS)
                    )),
                    Some(kind) => Outcome::Failed(format!(
                        "the function failed ({kind}): {}",
                        clip(&answer.payload, MAX_RESULT_CHARS)
                    )),
                },
                Err(e) => Outcome::Failed(e.to_string()),
            };
        }
        match Box::pin(self.read_back(action)).await {
            Ok(ReadBack::AtTarget(seen)) => return Outcome::Done(format!("{seen} (already)")),
            Ok(ReadBack::InProgress(seen)) => return Outcome::Applied(seen),
            Ok(ReadBack::NotYet(_)) => {}
            Err(e) => return Outcome::Failed(format!("read before the change: {e}")),
        }
        // Boxed, like every SDK call here: their futures are large in debug builds.
        let called = Box::pin(async {
            match action {
                StepAction::AutoscalingGroup {
                    region,
                    name,
                    min,
                    max,
                    desired,
                } => {
                    self.runbook
                        .set_group(region, name, *min, *max, *desired)
                        .await
                }
                StepAction::EcsService {
                    region,
                    cluster,
                    service,
                    desired,
                } => {
                    self.runbook
                        .set_ecs_service(region, cluster, service, *desired)
                        .await
                }
                StepAction::RdsReadReplica { region, identifier } => {
                    self.runbook.promote_replica(region, identifier).await
                }
                StepAction::AuroraGlobal {
                    global_cluster,
                    target_cluster_arn,
                    allow_data_loss,
                } => {
                    self.runbook
                        .move_writer(
                            arn_region(target_cluster_arn),
                            global_cluster,
                            target_cluster_arn,
                            aurora_move(&exec.trigger, *allow_data_loss),
                        )
                        .await
                }
                StepAction::Invoke { .. } => Ok(()),
            }
        })
        .await;
        if let Err(e) = called {
            return Outcome::Failed(e.to_string());
        }
        match Box::pin(self.read_back(action)).await {
            Ok(ReadBack::AtTarget(seen)) => Outcome::Done(seen),
            Ok(ReadBack::InProgress(seen)) => Outcome::Applied(seen),
            // Accepted; a database shows the change only once it starts.
            Ok(ReadBack::NotYet(seen)) if s.step.is_database() => Outcome::Applied(seen),
            Ok(ReadBack::NotYet(seen)) => Outcome::Failed(format!(
                "accepted, but the read-back does not show the change: {seen}"
            )),
            Err(e) => Outcome::Applied(format!(
                "accepted; the read-back failed ({e}): read again on the next run"
            )),
        }
    }

    pub(super) async fn read_back(
        &self,
        action: &StepAction,
    ) -> Result<ReadBack, crate::ports::AwsError> {
        Ok(match action {
            StepAction::AutoscalingGroup {
                region,
                name,
                min,
                max,
                desired,
            } => check_group(
                *min,
                *max,
                *desired,
                self.runbook.group(region, name).await?,
            ),
            StepAction::EcsService {
                region,
                cluster,
                service,
                desired,
            } => check_service(
                *desired,
                self.runbook.ecs_service(region, cluster, service).await?,
            ),
            StepAction::RdsReadReplica { region, identifier } => {
                check_promoted(self.runbook.db_instance(region, identifier).await?.as_ref())
            }
            StepAction::AuroraGlobal {
                global_cluster,
                target_cluster_arn,
                ..
            } => check_writer(
                target_cluster_arn,
                self.runbook
                    .global_cluster(arn_region(target_cluster_arn), global_cluster)
                    .await?
                    .as_ref(),
            ),
            StepAction::Invoke { .. } => {
                ReadBack::NotYet("a Lambda has nothing to read back".into())
            }
        })
    }
}

/// What the user's Lambda is given: the transition, and a key that is the same on every
/// attempt so that it can tell a retry from a new transition.
fn invoke_payload(def: &ServiceDefinition, exec: &Execution, s: &StepRun) -> String {
    let who = match &exec.trigger {
        crate::domain::state::Trigger::Quorum { quorum, observers } => {
            format!("automatic: quorum {quorum} of {observers} observers")
        }
        crate::domain::state::Trigger::Operator { requested_by, .. } => {
            format!("operator {requested_by}")
        }
    };
    json!({
        "service": def.name,
        "epoch": exec.epoch,
        "direction": match exec.kind {
            TransitionKind::Failover => "failover",
            TransitionKind::Failback => "failback",
        },
        "step": s.step.id,
        "idempotency_key": format!("{}#{}#{}", def.name, exec.epoch, s.step.id),
        "attempt": s.attempts,
        "who": who,
        "trigger": exec.trigger,
        "votes": exec.votes,
        "primary_region": def.primary.region,
        "secondary_region": def.secondary.region,
        "decided_at": exec.decided_at,
    })
    .to_string()
}
