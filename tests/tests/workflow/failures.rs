//! Steps that fail or are cut short on the wire: Auto Scaling down during the failover
//! (the step pages once and the reconciler completes it after its backoff), and a crash at
//! each step boundary, made by the tap taking DynamoDB down for exactly one control write
//! (the claim's answer lost, the outcome refused, the outcome's answer lost): the next
//! reconciler run completes the step with exactly one Update call on the wire in all.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

use failover::domain::catalog::{CatalogItem, KeptVersions};
use failover::domain::history::HistoryRecord;
use failover::domain::state::{ServiceState, Vote};
use failover::domain::workflow_run::{StepRun, StepStatus};
use failover::ports::{AwsError, ControlStore, ControlWrite, VoteWrite};
use failover::Millis;
use integration_tests::harness::tap::{AwsTap, FaultKind};
use integration_tests::*;

use super::*;

fn spec(r: &RunbookResources) -> ServiceSpec {
    World::checkout_with_alarms().workflow(r.workflow())
}

/// How many of `op` reached moto and were applied, among `calls`.
fn applied(calls: &[TappedCall], op: &str) -> usize {
    calls
        .iter()
        .filter(|c| c.operation == op && c.succeeded())
        .count()
}

#[tokio::test]
async fn auto_scaling_down_during_the_failover_fails_the_step_once_then_a_retry_completes_it() {
    let bed = Bed::start(spec).await;
    let (w, r) = (&bed.w, &bed.r);
    let c = r.capacity;
    bed.tap
        .set_outage("autoscaling", Some(FaultKind::Unavailable));
    bed.quorum().await;

    // The switch and its alert went first; every Auto Scaling attempt came after them.
    let calls = bed.calls_since(0);
    let alert = calls
        .iter()
        .find(|c| c.operation == "Publish" && c.detail.starts_with("[FAILOVER]"))
        .expect("the failover alert");
    let switch = calls
        .iter()
        .find(|c| c.operation == "UpdateHealthCheck")
        .unwrap();
    let scaling: Vec<&TappedCall> = calls
        .iter()
        .filter(|c| c.service == "autoscaling")
        .collect();
    assert!(!scaling.is_empty());
    assert!(switch.end <= alert.start && scaling.iter().all(|c| c.start >= alert.end));
    assert!(scaling.iter().all(|c| c.injected()), "none reached moto");
    eprintln!(
        "switch answered at {:?}, [FAILOVER] published at {:?}, {} Auto Scaling attempt(s) after it until {:?}",
        switch.end,
        alert.end,
        scaling.len(),
        scaling.last().unwrap().end
    );
    let (disabled, inverted, _) = hc(w, &w.primary).await;
    assert!(disabled && inverted, "switched");
    let alerts = bed.alerts().await;
    assert_eq!(event_types(&alerts), ["failover", "step_failed"]);
    let page = the(&alerts, "step_failed");
    assert_eq!(page.subject, "[STEP FAILED] checkout: scale-web (epoch 1)");
    for part in ["503", "by the reconciler"] {
        assert!(page.message.contains(part), "{part}\n{}", page.message);
    }
    let wf = bed.workflow().await;
    let web = &wf.steps[0];
    assert_eq!((web.status.as_str(), web.attempts), ("failed", 1));
    assert!(
        web.last_error.as_deref().is_some_and(|e| e.contains("503")),
        "{web:?}"
    );
    assert!(web.next_attempt_at.is_some());
    assert_eq!(wf.steps[1].status, "waiting", "the steps after it wait");
    assert_eq!(r.group(&w.sdk).await.unwrap().desired, c.group_warm);

    // Auto Scaling is back. Before the backoff (30 s) the reconciler leaves the step alone.
    bed.tap.set_outage("autoscaling", None);
    let mark = bed.tap.settled_mark();
    bed.advance_secs(20);
    bed.reconcile().await;
    assert_eq!(runbook_calls(&bed.calls_since(mark)), Vec::<String>::new());
    assert!(bed.alerts().await.is_empty());
    // After it, one run completes it and goes on.
    bed.advance_secs(11);
    let mark = bed.tap.settled_mark();
    bed.reconcile().await;
    assert_eq!(
        changes(&bed.calls_since(mark)),
        ["UpdateAutoScalingGroup", "UpdateService"]
    );
    let g = r.group(&w.sdk).await.unwrap();
    assert_eq!((g.min, g.desired), (c.group_full, c.group_full));
    let alerts = bed.alerts().await;
    assert_eq!(
        subjects(&alerts),
        [
            "[STEP DONE] checkout: scale-web (epoch 1)",
            "[STEP DONE] checkout: scale-api (epoch 1)",
            "[APPROVAL NEEDED] checkout: approve promote-db (epoch 1)"
        ]
    );
    assert!(
        alerts[0].message.contains("attempts: 2"),
        "{}",
        alerts[0].message
    );
    let web = bed.workflow().await.steps[0].clone();
    assert_eq!((web.status.as_str(), web.attempts), ("done", 2));
    let audit = bed.audit("workflow").await;
    let failed = audit.iter().position(|a| a == "step scale-web failed");
    let done = audit.iter().position(|a| a == "step scale-web done");
    assert!(failed.is_some() && failed < done, "{audit:?}");
    assert_eq!(applied(&bed.calls_since(0), "UpdateAutoScalingGroup"), 1);
}

/// The control table's adapter, with the tap answering DynamoDB with `fault` for exactly
/// one control write: the first whose next state `when` matches (a crash there, on the
/// wire; the SDK's retries see the same fault).
struct CrashAt<S> {
    inner: S,
    tap: Arc<AwsTap>,
    when: fn(&ServiceState) -> bool,
    fault: FaultKind,
    armed: AtomicBool,
}

fn scale_web(state: &ServiceState) -> Option<&StepRun> {
    let run = state.execution.as_ref()?.workflow.as_ref()?;
    run.steps.iter().find(|s| s.step.id == "scale-web")
}

/// scale-web's claim.
fn claim(next: &ServiceState) -> bool {
    scale_web(next).is_some_and(|s| s.status == StepStatus::Running)
}

/// scale-web's outcome (done), its [STEP DONE] due with it.
fn outcome(next: &ServiceState) -> bool {
    scale_web(next).is_some_and(|s| s.status == StepStatus::Done)
}

impl<S: ControlStore> ControlStore for CrashAt<S> {
    async fn load_catalog(&self) -> Result<Vec<(String, String)>, AwsError> {
        self.inner.load_catalog().await
    }
    async fn load_catalog_items(&self) -> Result<Vec<CatalogItem>, AwsError> {
        self.inner.load_catalog_items().await
    }
    async fn write_kept(&self, s: &str, rev: u64, next: &KeptVersions) -> Result<bool, AwsError> {
        self.inner.write_kept(s, rev, next).await
    }
    async fn load_state(&self, service: &str) -> Result<ServiceState, AwsError> {
        self.inner.load_state(service).await
    }
    async fn load_states(
        &self,
        services: &[String],
    ) -> Result<std::collections::HashMap<String, ServiceState>, AwsError> {
        self.inner.load_states(services).await
    }
    async fn record_vote(&self, s: &str, o: &str, vote: &Vote) -> Result<VoteWrite, AwsError> {
        self.inner.record_vote(s, o, vote).await
    }
    async fn write_control(
        &self,
        service: &str,
        expected: u64,
        next: &ServiceState,
    ) -> Result<ControlWrite, AwsError> {
        if (self.when)(next) && self.armed.swap(false, Ordering::SeqCst) {
            self.tap.set_outage("dynamodb", Some(self.fault));
            let crashed = self.inner.write_control(service, expected, next).await;
            self.tap.set_outage("dynamodb", None);
            return crashed;
        }
        self.inner.write_control(service, expected, next).await
    }
    async fn confirm_votes(
        &self,
        s: &str,
        votes: &[(String, Millis)],
        at: Millis,
    ) -> Result<VoteWrite, AwsError> {
        self.inner.confirm_votes(s, votes, at).await
    }
    async fn expire_votes(&self, s: &str, votes: &[(String, Millis)]) -> Result<bool, AwsError> {
        self.inner.expire_votes(s, votes).await
    }
    async fn recent_history(&self, s: &str, limit: usize) -> Result<Vec<HistoryRecord>, AwsError> {
        self.inner.recent_history(s, limit).await
    }
    async fn append_history(&self, s: &str, record: &HistoryRecord) -> Result<(), AwsError> {
        self.inner.append_history(s, record).await
    }
}

/// The quorum's invocation crashes at `when` (DynamoDB answering `fault`); returns the
/// bed once that invocation is over, its [FAILOVER] sent and read.
async fn crash_during_failover(
    when: fn(&ServiceState) -> bool,
    fault: FaultKind,
) -> Bed<CrashAt<DynamoStore>> {
    let bed = Bed::start_with_store(spec, |inner, tap| CrashAt {
        inner,
        tap,
        when,
        fault,
        armed: AtomicBool::new(true),
    })
    .await;
    bed.quorum().await;
    assert!(
        !bed.engine.store.armed.load(Ordering::SeqCst),
        "the crash point was reached"
    );
    assert!(bed.tap.faults_injected().values().sum::<usize>() > 0);
    let (disabled, inverted, _) = hc(&bed.w, &bed.w.primary).await;
    assert!(disabled && inverted, "switched");
    assert_eq!(event_types(&bed.alerts().await), ["failover"]);
    bed
}

/// The next runs finish the workflow up to the approval: scale-web's [STEP DONE] once,
/// one UpdateAutoScalingGroup on the wire in all, the group at its target in moto.
async fn finished_with_one_update(bed: &Bed<CrashAt<DynamoStore>>, (runs, at): (usize, i64)) {
    let mut sent = Vec::new();
    for _ in 0..runs {
        bed.advance_secs(at);
        bed.reconcile().await;
        sent.extend(subjects(&bed.alerts().await));
    }
    assert_eq!(
        sent,
        [
            "[STEP DONE] checkout: scale-web (epoch 1)",
            "[STEP DONE] checkout: scale-api (epoch 1)",
            "[APPROVAL NEEDED] checkout: approve promote-db (epoch 1)"
        ]
    );
    let all = bed.calls_since(0);
    assert_eq!(
        applied(&all, "UpdateAutoScalingGroup"),
        1,
        "{:?}",
        changes(&all)
    );
    assert_eq!(applied(&all, "UpdateService"), 1);
    let c = bed.r.capacity;
    let g = bed.r.group(&bed.w.sdk).await.unwrap();
    assert_eq!((g.min, g.desired), (c.group_full, c.group_full));
    let wf = bed.workflow().await;
    assert_eq!(
        (wf.steps[0].status.as_str(), wf.steps[1].status.as_str()),
        ("done", "done")
    );
}

#[tokio::test]
async fn a_claim_whose_answer_was_lost_is_completed_after_its_lease_with_one_call() {
    let bed = crash_during_failover(claim, FaultKind::AnswerLost).await;
    // The claim landed, its invocation stopped there: no call made.
    let web = bed.workflow().await.steps[0].clone();
    assert_eq!((web.status.as_str(), web.attempts), ("running", 1));
    assert_eq!(changes(&bed.calls_since(0)), Vec::<String>::new());
    assert_eq!(
        bed.r.group(&bed.w.sdk).await.unwrap().desired,
        bed.r.capacity.group_warm
    );
    // While its lease (the invocation's deadline, a minute) lasts, nobody takes it.
    let mark = bed.tap.settled_mark();
    bed.advance_secs(30);
    bed.reconcile().await;
    assert_eq!(changes(&bed.calls_since(mark)), Vec::<String>::new());
    assert!(bed.alerts().await.is_empty());
    // After it: one call, done.
    finished_with_one_update(&bed, (1, 31)).await;
    assert_eq!(bed.workflow().await.steps[0].attempts, 2);
}

#[tokio::test]
async fn a_call_made_whose_outcome_write_was_refused_is_done_without_a_second_call() {
    let bed = crash_during_failover(outcome, FaultKind::Unavailable).await;
    // The group was scaled; the record of it never landed.
    assert_eq!(changes(&bed.calls_since(0)), ["UpdateAutoScalingGroup"]);
    assert_eq!(bed.workflow().await.steps[0].status, "running");
    finished_with_one_update(&bed, (1, 61)).await;
    let web = bed.workflow().await.steps[0].clone();
    assert!(
        web.result
            .as_deref()
            .is_some_and(|r| r.ends_with("(already)")),
        "read back at its target, not called again: {web:?}"
    );
}

#[tokio::test]
async fn an_outcome_write_whose_answer_was_lost_sends_its_step_done_once() {
    let bed = crash_during_failover(outcome, FaultKind::AnswerLost).await;
    // The outcome landed with its [STEP DONE] due; the invocation stopped before sending.
    assert_eq!(changes(&bed.calls_since(0)), ["UpdateAutoScalingGroup"]);
    assert_eq!(bed.workflow().await.steps[0].status, "done");
    finished_with_one_update(&bed, (2, 61)).await;
}
