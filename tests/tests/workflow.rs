//! The runbook after the switch (issue 16) on the wire: real incidents on moto (the
//! observers' alarms set with SetAlarmState, their events delivered to the alarm-trigger
//! path), the engine in this process over the real SDK clients, every AWS call through a
//! recording tap, on a hand-moved clock so the reconciler runs "as its schedule would"
//! without waiting minutes. What is asserted is what a user sees: the workflow's resources
//! read back from moto (not through the tap), the alerts on the topic's SQS sink, the audit
//! records, `status`'s `workflow`, and the calls on the wire.
//!
//! - `kinds`: every step kind against moto (Auto Scaling, ECS, the read replica's
//!   promotion on approval, a Lambda), the dry run, the capacity floor.
//! - `answers`: a decline, and the re-page of an unanswered approval.
//! - `failures`: a step failing then succeeding, a crash at each step boundary.
//! - `failback`: the scale-back, the database left to a human.
//!
//! Aurora's global clusters are not here: moto 5.2.5 has no SwitchoverGlobalCluster or
//! FailoverGlobalCluster (see `runbook_adapters.rs` and the adapter's mock tests).

#[path = "workflow/answers.rs"]
mod answers;
#[path = "workflow/failback.rs"]
mod failback;
#[path = "workflow/failures.rs"]
mod failures;
#[path = "workflow/kinds.rs"]
mod kinds;

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use failover::adapters::aws::{
    AwsRunbook, CloudWatchAlarms, DynamoStore, Route53HealthChecks, SnsNotifier,
};
use failover::api::operator_response::{OperatorResponse, WorkflowStatus};
use failover::api::reports::ReconcileReport;
use failover::engine::{Invocation, ReconcileSettings};
use failover::ports::ControlStore;
use integration_tests::harness::provision::runbook::{RunbookCapacity, RunbookResources};
use integration_tests::harness::provision::ServiceSpec;
use integration_tests::harness::tap::{AwsTap, TappedCall};
use integration_tests::*;
use serde_json::{json, Value};

/// The engine as the functions wire it (with the runbook's clients), on a test clock.
pub type RunbookEngine<S = DynamoStore> =
    failover::Engine<S, Route53HealthChecks, CloudWatchAlarms, SnsNotifier, TestClock, AwsRunbook>;

/// A world with the workflow's resources, a tap in front of moto and the engine on it.
pub struct Bed<S = DynamoStore> {
    pub w: World,
    pub r: RunbookResources,
    pub clock: TestClock,
    pub tap: Arc<AwsTap>,
    pub engine: RunbookEngine<S>,
    invocations: AtomicUsize,
}

impl Bed<DynamoStore> {
    /// `checkout` with its observers as real alarms and the catalog entry `shape` gives.
    pub async fn start(shape: impl FnOnce(&RunbookResources) -> ServiceSpec) -> Bed {
        Bed::start_with_store(shape, |store, _| store).await
    }
}

impl<S: ControlStore> Bed<S> {
    /// [`Bed::start`] with the control table's adapter wrapped by `wrap` (given the tap).
    pub async fn start_with_store(
        shape: impl FnOnce(&RunbookResources) -> ServiceSpec,
        wrap: impl FnOnce(DynamoStore, Arc<AwsTap>) -> S,
    ) -> Bed<S> {
        let (w, r) = World::start_runbook(RunbookCapacity::default(), shape).await;
        let clock = TestClock::now_wall();
        let tap = Arc::new(w.tap());
        let sdk = tap.sdk_config(&w.sdk);
        let p = w.ports(&sdk);
        let engine = failover::Engine::new(
            wrap(p.store, tap.clone()),
            p.health_checks,
            p.alarms,
            p.notifier,
            clock.clone(),
            "test",
        )
        .with_runbook(AwsRunbook::new(&sdk));
        Bed {
            w,
            r,
            clock,
            tap,
            engine,
            invocations: AtomicUsize::new(0),
        }
    }

    /// A fresh invocation with a minute to run, as Lambda gives the functions.
    pub fn inv(&self, who: &str) -> Invocation {
        let n = self.invocations.fetch_add(1, Ordering::SeqCst);
        Invocation {
            request_id: format!("{who}-{n}"),
            deadline: self.clock.millis() + 60_000,
        }
    }

    pub fn advance_secs(&self, secs: i64) {
        self.clock.advance_ms(secs * 1000);
    }

    /// Observer `i` enters `state` in moto; its event goes to the alarm-trigger path.
    /// The outcome for `checkout`.
    pub async fn alarm(&self, i: usize, state: &str) -> String {
        let event = self.w.alarm(i, state, &format!("{state}-{i}")).await;
        // Boxed: the engine's futures are too big for a test thread's stack in debug builds.
        let out = Box::pin(
            self.engine
                .handle_alarm_event(&event, &self.inv("alarm-trigger")),
        )
        .await
        .expect("the alarm event is handled");
        out.services[0].outcome.to_string()
    }

    /// Observers 1 and 2 alarm: the second completes the quorum and fails over.
    pub async fn quorum(&self) {
        assert_eq!(self.alarm(0, "ALARM").await, "vote_recorded");
        assert_eq!(self.alarm(1, "ALARM").await, "failed_over");
    }

    pub async fn operate(&self, request: Value) -> OperatorResponse {
        Box::pin(
            self.engine
                .handle_operator_request(&request, &self.inv("operator")),
        )
        .await
        .unwrap_or_else(|e| panic!("{request}: {e}"))
    }

    /// The operator's `approve` or `decline` of `step`, by carol.
    pub async fn answer(&self, action: &str, step: &str) -> OperatorResponse {
        self.operate(
            json!({"action": action, "service": "checkout", "step": step,
                            "reason": "replica caught up", "requested_by": "carol"}),
        )
        .await
    }

    /// One reconciler run with the schedule's settings.
    pub async fn reconcile(&self) -> ReconcileReport {
        Box::pin(
            self.engine
                .reconcile(&self.inv("reconciler"), &ReconcileSettings::default()),
        )
        .await
        .expect("the reconciler runs")
    }

    /// `status`'s `workflow` for `checkout`.
    pub async fn workflow(&self) -> WorkflowStatus {
        let r = self
            .operate(json!({"action": "status", "service": "checkout"}))
            .await;
        r.status[0]
            .workflow
            .clone()
            .expect("status shows the workflow")
    }

    /// (step id, status) as `status` shows them.
    pub async fn step_statuses(&self) -> Vec<(String, String)> {
        self.workflow()
            .await
            .steps
            .into_iter()
            .map(|s| (s.id, s.status))
            .collect()
    }

    /// The alerts that reached the topic since the last call.
    pub async fn alerts(&self) -> Vec<SnsEnvelope> {
        self.w.alerts().await
    }

    /// The audit records' `what` of `kind`, oldest first.
    pub async fn audit(&self, kind: &str) -> Vec<String> {
        let mut items = self.w.history().await;
        items.sort_by_key(|h| h["sk"].as_s().cloned().unwrap_or_default());
        items
            .iter()
            .filter(|h| h["kind"].as_s().is_ok_and(|k| k == kind))
            .map(|h| h["what"].as_s().cloned().unwrap_or_default())
            .collect()
    }

    /// The calls on the wire since `mark` (waiting for those in flight).
    pub fn calls_since(&self, mark: usize) -> Vec<TappedCall> {
        self.tap
            .settled_since(mark, std::time::Duration::from_secs(5))
    }
}

/// The runbook's changes among `calls` (Auto Scaling, ECS, RDS, Lambda), e.g.
/// `UpdateAutoScalingGroup`, `Invoke`, with `(refused: ..)` when they failed.
pub fn changes(calls: &[TappedCall]) -> Vec<String> {
    calls
        .iter()
        .filter_map(|c| {
            let op = match (c.service.as_str(), c.operation.as_str()) {
                ("lambda", op) if op.ends_with("/invocations") => "Invoke".to_string(),
                ("autoscaling" | "ecs" | "rds", op)
                    if !op.starts_with("Describe") && !op.starts_with("List") =>
                {
                    op.to_string()
                }
                _ => return None,
            };
            Some(if c.succeeded() {
                op
            } else {
                format!("{op} (refused: HTTP {})", c.status)
            })
        })
        .collect()
}

/// Every runbook call among `calls`, reads included (operation names).
pub fn runbook_calls(calls: &[TappedCall]) -> Vec<String> {
    calls
        .iter()
        .filter(|c| matches!(c.service.as_str(), "autoscaling" | "ecs" | "rds" | "lambda"))
        .map(|c| c.operation.clone())
        .collect()
}

pub fn event_types(alerts: &[SnsEnvelope]) -> Vec<String> {
    alerts
        .iter()
        .map(|a| a.attribute("event_type").unwrap_or_default())
        .collect()
}

pub fn subjects(alerts: &[SnsEnvelope]) -> Vec<String> {
    alerts.iter().map(|a| a.subject.clone()).collect()
}

/// The alert of `event_type` among `alerts` (the only one).
pub fn the(alerts: &[SnsEnvelope], event_type: &str) -> SnsEnvelope {
    let found: Vec<&SnsEnvelope> = alerts
        .iter()
        .filter(|a| a.attribute("event_type").as_deref() == Some(event_type))
        .collect();
    assert_eq!(found.len(), 1, "{event_type} in {:?}", subjects(alerts));
    found[0].clone()
}

/// The JSON request in an `[APPROVAL NEEDED]` page whose action is `action`.
pub fn request_in(message: &str, action: &str) -> Value {
    message
        .lines()
        .filter_map(|l| serde_json::from_str::<Value>(l.trim()).ok())
        .find(|v| v["action"] == action)
        .unwrap_or_else(|| panic!("no {action} request in: {message}"))
}

/// `r.workflow()`'s steps, by id.
pub fn step_of(r: &RunbookResources, id: &str) -> Value {
    r.workflow()
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["id"] == id)
        .cloned()
        .unwrap_or_else(|| panic!("no step {id}"))
}
