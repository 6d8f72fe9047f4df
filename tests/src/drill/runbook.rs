//! The `runbook` scenario (issue 16): the checkout service has a workflow on resources
//! provisioned in moto ([`crate::harness::provision::runbook`]): scale the secondary's
//! Auto Scaling group and ECS service (automatic), then promote the cross-region read
//! replica (approval required). Two observers alarm: the switch, the [FAILOVER] alert,
//! both scale steps done and verified, the promotion waits with one [APPROVAL NEEDED]
//! page; the operator approves; the replica is promoted; the observers recover and
//! [RECOVERED] carries the measured RTO.
//!
//! After every step the drill reads the resources back from moto itself (not through the
//! tap) and the workflow's record from the control table, says what moved on the
//! timeline, and checks both against the step's [`RunbookExpect`].

use aws_config::SdkConfig;
use serde_json::Value;

use super::checks::{self, Check};
use super::report::workflow::events;
use super::report::{AlertSeen, StepRecord};
use super::scenario::{Act, Step, Totals};
use super::timeline::{Kind, Timeline};
use super::{stage, Change, Snapshot, Stage, TappedCall};
use crate::harness::provision::runbook::{
    provision_runbook, DbRead, GroupRead, RunbookCapacity, RunbookResources, ServiceRead,
};
use crate::harness::provision::with_workflow;
use crate::put_catalog_entry;

/// The step a human approves.
pub const PROMOTE: &str = "promote-db";

pub const DESCRIPTION: &str = "two of three observers alarm: one failover, then the runbook: \
     the secondary's Auto Scaling group and ECS service scaled at once (verified by reading \
     them back), the replica's promotion waits for a human ([APPROVAL NEEDED]); the operator \
     approves, the replica is promoted (verified standalone); the observers recover: \
     [RECOVERED] with the measured RTO";

pub const TOTALS: Totals = Totals {
    failovers: 1,
    failbacks: 0,
    alerts: &[
        "failover",
        "step_done",
        "step_done",
        "approval",
        "step_done",
        "recovered",
    ],
    final_phase: "FAILED_OVER",
    failover_by: "alarm-trigger",
    switch: "health_check",
};

/// What a step must leave behind in the workflow's resources and record.
#[derive(Debug, Clone, Default)]
pub struct RunbookExpect {
    /// The group's min and desired, read back from moto.
    pub group: Option<(i32, i32)>,
    /// The ECS service's desired count, read back from moto.
    pub ecs_desired: Option<i32>,
    /// The replica is standalone (promoted) or still a read replica, read back from moto.
    pub standalone: Option<bool>,
    /// Workflow steps' status in the control table: `(id, status)`.
    pub steps: &'static [(&'static str, &'static str)],
    /// The operator's `status` shows this `workflow.progress`.
    pub progress: Option<&'static str>,
    /// The step's `[APPROVAL NEEDED]` page for this workflow step carries the exact
    /// approve and decline requests.
    pub asks_approval: Option<&'static str>,
}

impl Step {
    pub(super) fn runbook(mut self, expect: RunbookExpect) -> Step {
        self.expect.runbook = Some(expect);
        self
    }
}

/// The script.
pub(super) fn steps() -> Vec<Step> {
    use Act::*;
    const ACTIVE: &str = "PRIMARY_ACTIVE";
    const FAILED_OVER: &str = "FAILED_OVER";
    let c = RunbookCapacity::default();
    let warm = RunbookExpect {
        group: Some((c.group_warm, c.group_warm)),
        ecs_desired: Some(c.service_warm),
        standalone: Some(false),
        ..RunbookExpect::default()
    };
    let scaled = RunbookExpect {
        group: Some((c.group_full, c.group_full)),
        ecs_desired: Some(c.service_full),
        standalone: Some(false),
        steps: &[
            ("scale-web", "done"),
            ("scale-api", "done"),
            (PROMOTE, "awaiting_approval"),
        ],
        ..RunbookExpect::default()
    };
    let promoted = RunbookExpect {
        standalone: Some(true),
        steps: &[
            ("scale-web", "done"),
            ("scale-api", "done"),
            (PROMOTE, "done"),
        ],
        ..scaled.clone()
    };
    vec![
        Step::new(
            Status,
            "operator status before the incident: the secondary pre-warmed, the replica replicating",
        )
        .expect("ok", &[], false, ACTIVE)
        .runbook(warm),
        Step::new(Alarm(1, "ALARM"), "observer 1 goes to ALARM").expect(
            "vote_recorded",
            &[],
            false,
            ACTIVE,
        ),
        Step::new(
            Alarm(2, "ALARM"),
            "observer 2 goes to ALARM: quorum, the switch, then the workflow: both scale steps at once, the promotion waits for approval",
        )
        .expect(
            "failed_over",
            &["failover", "step_done", "step_done", "approval"],
            true,
            FAILED_OVER,
        )
        .audited("workflow")
        .runbook(RunbookExpect {
            asks_approval: Some(PROMOTE),
            ..scaled.clone()
        }),
        Step::new(Alarm(3, "ALARM"), "observer 3 goes to ALARM").expect(
            "held",
            &[],
            true,
            FAILED_OVER,
        ),
        Step::new(
            Status,
            "operator status: the workflow at 2/3, the promotion awaiting approval",
        )
        .expect("ok", &[], true, FAILED_OVER)
        .runbook(RunbookExpect {
            progress: Some("2/3"),
            ..scaled.clone()
        }),
        Step::new(
            Approve(PROMOTE),
            "the operator approves the promotion: PromoteReadReplica, verified by reading it back",
        )
        .expect("ok", &["step_done"], true, FAILED_OVER)
        .audited("workflow")
        .runbook(promoted.clone()),
        Step::new(Alarm(1, "OK"), "observer 1 recovers").expect("held", &[], true, FAILED_OVER),
        Step::new(Alarm(2, "OK"), "observer 2 recovers").expect("held", &[], true, FAILED_OVER),
        Step::new(
            Alarm(3, "OK"),
            "observer 3 recovers: every observer OK again, [RECOVERED] with the measured RTO",
        )
        .expect("held", &["recovered"], true, FAILED_OVER),
        Step::new(
            Reconcile,
            "reconciler run: the workflow is finished, nothing to verify or retry",
        )
        .expect("in_sync", &[], true, FAILED_OVER)
        .runbook(promoted.clone()),
        Step::new(Status, "operator status after the incident: the workflow at 3/3")
            .expect("ok", &[], true, FAILED_OVER)
            .runbook(RunbookExpect {
                progress: Some("3/3"),
                ..promoted
            }),
    ]
}

/// The resources as read back from moto.
#[derive(Debug, Clone, PartialEq)]
struct View {
    group: Option<GroupRead>,
    ecs: Option<ServiceRead>,
    replica: Option<DbRead>,
}

impl View {
    async fn read(r: &RunbookResources, sdk: &SdkConfig) -> View {
        let (group, ecs, replica) = tokio::join!(r.group(sdk), r.ecs(sdk), r.replica_role(sdk));
        View {
            group,
            ecs,
            replica,
        }
    }
}

fn shown<T: std::fmt::Display>(v: &Option<T>) -> String {
    v.as_ref()
        .map_or_else(|| "not found".to_string(), T::to_string)
}

/// The scenario's resources and what the drill last read of them.
pub(super) struct Runbook {
    pub resources: RunbookResources,
    view: View,
}

/// What one step showed, for [`Runbook::observe`].
pub(super) struct Observed<'a> {
    pub expect: Option<&'a RunbookExpect>,
    pub before: &'a Snapshot,
    pub after: &'a Snapshot,
    pub response: &'a Result<Value, String>,
    pub alerts: &'a [AlertSeen],
}

/// Provisions the workflow's resources and lays the workflow and the capacity floor over
/// the stage's catalog entry, before the functions start (none has cached the entry).
pub(super) async fn setup(stage: &mut Stage, tl: &mut Timeline) -> Runbook {
    let resources = provision_runbook(&stage.sdk, stage::SERVICE, RunbookCapacity::default()).await;
    tl.say(None, Kind::Setup, resources.describe());
    let (workflow, floor) = (resources.workflow(), resources.capacity_floor());
    with_workflow(&mut stage.definition, Some(&workflow), Some(&floor));
    put_catalog_entry(
        &stage.sdk,
        stage::TABLE,
        stage::SERVICE,
        &stage.definition.to_string(),
    )
    .await;
    let c = resources.capacity;
    tl.say(
        None,
        Kind::Setup,
        format!(
            "catalog entry {}: workflow scale-web (group {} to min/desired {}, on failback {}), scale-api (ECS {} to {}, on failback {}), {PROMOTE} (PromoteReadReplica {}, approval required: the kind's default); pre-flight capacity: {} InService >= {} (PutItem)",
            stage::SERVICE,
            resources.group,
            c.group_full,
            c.group_warm,
            resources.ecs_service,
            c.service_full,
            c.service_warm,
            resources.replica,
            resources.group,
            c.group_warm,
        ),
    );
    let view = View::read(&resources, &stage.sdk).await;
    Runbook { resources, view }
}

impl Runbook {
    /// Reads the resources back, says what moved (and which workflow events the control
    /// table recorded) on the timeline, and checks the step's expectations. Returns the
    /// resources' changes for the step's record.
    pub(super) async fn observe(
        &mut self,
        sdk: &SdkConfig,
        tl: &mut Timeline,
        all: &mut Vec<Check>,
        n: usize,
        seen: Observed<'_>,
    ) -> Vec<Change> {
        let r = &self.resources;
        let now = View::read(r, sdk).await;
        let mut changes = Vec::new();
        let mut moved = |resource: String, before: String, after: String| {
            if before != after {
                tl.say(
                    Some(n),
                    Kind::Change,
                    format!("{resource}: {before} -> {after} (read back from moto)"),
                );
                changes.push(Change {
                    resource,
                    before,
                    after,
                });
            }
        };
        moved(
            format!("Auto Scaling group {}/{}", r.region, r.group),
            shown(&self.view.group),
            shown(&now.group),
        );
        moved(
            format!("ECS service {}/{}/{}", r.region, r.cluster, r.ecs_service),
            shown(&self.view.ecs),
            shown(&now.ecs),
        );
        moved(
            format!("RDS instance {}/{}", r.region, r.replica),
            shown(&self.view.replica),
            shown(&now.replica),
        );
        let run = |s: &Snapshot| s.execution.as_ref().and_then(|e| e.workflow.clone());
        let (old, new) = (run(seen.before), run(seen.after));
        let old_events = old.as_ref().map(events).unwrap_or_default();
        for (id, event, at, detail) in new.as_ref().map(events).unwrap_or_default() {
            if !old_events.contains(&(id.clone(), event, at, detail.clone())) {
                let at = chrono::DateTime::from_timestamp_millis(at)
                    .map(|t| t.format("%H:%M:%S%.3f").to_string())
                    .unwrap_or_default();
                tl.say(
                    Some(n),
                    Kind::Change,
                    format!("workflow {id}: {event} at {at} ({detail})"),
                );
            }
        }
        if let Some(e) = seen.expect {
            self.check(tl, all, n, e, &now, new.as_ref(), &seen);
        }
        self.view = now;
        changes
    }

    #[allow(clippy::too_many_arguments)]
    fn check(
        &self,
        tl: &mut Timeline,
        all: &mut Vec<Check>,
        n: usize,
        e: &RunbookExpect,
        now: &View,
        run: Option<&failover::domain::workflow_run::WorkflowRun>,
        seen: &Observed<'_>,
    ) {
        let r = &self.resources;
        let mut held = Vec::new();
        let mut check = |what: String, ok: bool, found: String| {
            if ok {
                held.push(what.clone());
            }
            checks::record(all, tl, Some(n), what, ok, found);
        };
        if let Some((min, desired)) = e.group {
            check(
                format!(
                    "group {} at min {min} desired {desired} (read back from moto)",
                    r.group
                ),
                now.group
                    .is_some_and(|g| g.min == min && g.desired == desired),
                shown(&now.group),
            );
        }
        if let Some(desired) = e.ecs_desired {
            check(
                format!(
                    "ECS service {} at desired {desired} (read back from moto)",
                    r.ecs_service
                ),
                now.ecs.is_some_and(|s| s.desired == desired),
                shown(&now.ecs),
            );
        }
        if let Some(standalone) = e.standalone {
            check(
                format!(
                    "{} {} (read back from moto)",
                    r.replica,
                    if standalone {
                        "standalone: promoted, no replication source"
                    } else {
                        "still a read replica"
                    }
                ),
                now.replica
                    .as_ref()
                    .is_some_and(|d| d.standalone() == standalone),
                shown(&now.replica),
            );
        }
        if !e.steps.is_empty() {
            let found: Vec<(String, &str)> = run
                .map(|w| {
                    w.steps
                        .iter()
                        .map(|s| (s.id().to_string(), s.status.as_str()))
                        .collect()
                })
                .unwrap_or_default();
            let want: Vec<(String, &str)> = e
                .steps
                .iter()
                .map(|(id, st)| (id.to_string(), *st))
                .collect();
            check(
                format!(
                    "workflow steps in the control table: {}",
                    e.steps
                        .iter()
                        .map(|(id, st)| format!("{id} {st}"))
                        .collect::<Vec<_>>()
                        .join(", ")
                ),
                found == want,
                format!("{found:?}"),
            );
        }
        if let Some(progress) = e.progress {
            let got = seen.response.as_ref().ok().and_then(|v| {
                v["status"][0]["workflow"]["progress"]
                    .as_str()
                    .map(str::to_string)
            });
            check(
                format!("status shows the workflow at {progress}"),
                got.as_deref() == Some(progress),
                format!("{got:?}"),
            );
        }
        if let Some(id) = e.asks_approval {
            let page = seen.alerts.iter().find(|a| a.event_type == "approval");
            let compact = |s: &str| s.split_whitespace().collect::<String>();
            let body = page.map(|a| compact(&a.message)).unwrap_or_default();
            let carries = |action: &str| {
                body.contains(&format!(r#""action":"{action}""#))
                    && body.contains(&format!(r#""step":"{id}""#))
            };
            check(
                format!(
                    "[APPROVAL NEEDED] {}: approve {id} (epoch ..), carrying the approve and decline requests",
                    stage::SERVICE
                ),
                page.is_some_and(|a| {
                    a.subject.starts_with(&format!(
                        "[APPROVAL NEEDED] {}: approve {id} (epoch ",
                        stage::SERVICE
                    ))
                }) && carries("approve")
                    && carries("decline"),
                page.map_or("no approval page".to_string(), |a| {
                    format!("{}: {}", a.subject, a.message)
                }),
            );
        }
        if all.iter().filter(|c| c.step == Some(n)).all(|c| c.ok) && !held.is_empty() {
            tl.say(Some(n), Kind::Check, format!("ok: {}", held.join("; ")));
        }
    }
}

/// The scenario-wide checks of the workflow: each change made once on the wire, the
/// promotion only after the approval, the workflow finished.
pub(super) fn check_incident(
    steps: &[StepRecord],
    calls: &[TappedCall],
    last: &Snapshot,
) -> Vec<Check> {
    let mut out = Vec::new();
    let mut check = |what: String, ok: bool, found: String| {
        out.push(Check {
            step: None,
            what,
            ok,
            found,
        })
    };
    for op in [
        "UpdateAutoScalingGroup",
        "UpdateService",
        "PromoteReadReplica",
    ] {
        let made: Vec<String> = calls
            .iter()
            .filter(|c| c.operation == op)
            .map(TappedCall::label)
            .collect();
        check(
            format!("exactly one {op} on the wire (each workflow step applied once)"),
            made.len() == 1,
            format!("{} [{}]", made.len(), made.join("; ")),
        );
    }
    let promoted_in: Vec<String> = steps
        .iter()
        .filter(|s| s.calls.iter().any(|c| c.operation == "PromoteReadReplica"))
        .map(|s| format!("step {} ({:?})", s.n, s.act))
        .collect();
    check(
        format!("PromoteReadReplica only in the operator's approval of {PROMOTE}"),
        promoted_in.len() == 1
            && steps.iter().any(|s| {
                s.act == Act::Approve(PROMOTE)
                    && s.calls.iter().any(|c| c.operation == "PromoteReadReplica")
            }),
        promoted_in.join(", "),
    );
    let run = last.execution.as_ref().and_then(|e| e.workflow.as_ref());
    let approval = run
        .and_then(|w| w.step(PROMOTE))
        .and_then(|s| Some((s.approval.as_ref()?, s.started_at)));
    check(
        format!("{PROMOTE} started after its approval, one [APPROVAL NEEDED] page"),
        approval.is_some_and(|(a, started)| {
            a.pages == 1
                && a.decision
                    .as_ref()
                    .is_some_and(|d| d.approved && started.is_some_and(|s| s >= d.at))
        }),
        format!("{approval:?}"),
    );
    check(
        "the workflow finished: 3/3 done".into(),
        run.is_some_and(|w| w.progress() == "3/3" && w.ended_at.is_some()),
        run.map_or("no workflow".to_string(), |w| {
            format!("{} ended {:?}", w.progress(), w.ended_at)
        }),
    );
    out
}
