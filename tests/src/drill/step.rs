//! One step of the incident: the scripted act (an alarm state set and its event, a
//! duplicate, a stale redelivery, an operator request, a reconciler tick), the
//! function's invocation, and everything observed after it.

use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use failover::domain::history::HistoryRecord;
use serde_json::{json, Value};

use super::checks::{self, Check, StepSeen};
use super::describe::{describe_calls, describe_decision, outcome_of, shorten};
use super::report::{self, AlertSeen, StepRecord, Switch};
use super::timeline::{Kind, Timeline};
use super::{stage, Act, AwsTap, Scenario, Snapshot, Stage, Step};
use crate::{receive_sns_messages, set_times, LambdaWatch};

/// Runs the steps one after another and keeps what spans them.
pub(super) struct StepRunner<'a> {
    pub scenario: Scenario,
    pub stage: &'a Stage,
    pub watch: &'a LambdaWatch,
    pub tap: &'a AwsTap,
    pub origin: Instant,
    /// The state each observer's alarm is in (index = observer - 1).
    pub alarm_states: Vec<&'static str>,
    pub last_events: Vec<Option<Value>>,
    /// Functions invoked so far (for cold starts).
    pub invoked: Vec<&'static str>,
    pub checks: Vec<Check>,
    pub alerts: Vec<AlertSeen>,
    pub switches: Vec<Switch>,
    /// The workflow's resources (the runbook scenario).
    pub runbook: Option<super::runbook::Runbook>,
}

/// What a step invokes: the function, its request and the request in one line.
struct Invocation {
    function: &'static str,
    request: Value,
    summary: String,
    /// When the alarm entered its state (alarm steps), wall clock.
    alarm_at: Option<DateTime<Utc>>,
}

impl<'a> StepRunner<'a> {
    pub fn new(
        scenario: Scenario,
        stage: &'a Stage,
        watch: &'a LambdaWatch,
        tap: &'a AwsTap,
        origin: Instant,
    ) -> Self {
        StepRunner {
            scenario,
            stage,
            watch,
            tap,
            origin,
            alarm_states: vec!["OK"; stage.observers.len()],
            last_events: vec![None; stage.observers.len()],
            invoked: Vec::new(),
            checks: Vec::new(),
            alerts: Vec::new(),
            switches: Vec::new(),
            runbook: None,
        }
    }

    /// Runs step `n` from the world `before`; returns its record and the world after it.
    pub async fn run_step(
        &mut self,
        tl: &mut Timeline,
        n: usize,
        step: &Step,
        before: &Snapshot,
    ) -> (StepRecord, Snapshot) {
        let stage = self.stage;
        tl.say(Some(n), Kind::Step, step.title.clone());
        if let Some(wait) = step.after {
            tl.say(
                Some(n),
                Kind::Scripted,
                format!(
                    "time passes: {} s without any event (vote_window_seconds = {})",
                    wait.as_secs(),
                    self.scenario
                        .vote_window_seconds()
                        .map_or("the deployment's".to_string(), |w| w.to_string())
                ),
            );
            tokio::time::sleep(wait).await;
        }
        let newest = before.switch.as_ref().and_then(|s| s.datapoints.last());
        if let Some(newest) = newest.filter(|_| step.act != Act::Status) {
            // The metric is read back in one-second periods: a datapoint published in the
            // same second as the newest one would merge with it (Maximum), so the clock
            // passes to the next second first.
            let next_second = (newest.0 / 1000 + 1) * 1000;
            let wait = next_second - Utc::now().timestamp_millis();
            if wait > 0 {
                tl.say(
                    Some(n),
                    Kind::Scripted,
                    format!("{wait} ms pass, so that a new PrimaryForcedOut datapoint falls in a later second than the newest one (the drill reads the metric back from moto in 1 s periods)"),
                );
                tokio::time::sleep(Duration::from_millis(wait as u64 + 20)).await;
            }
        }
        if let Some(healthy) = step.probe {
            if let Some(probe) = stage.report_probe(healthy).await {
                tl.say(
                    Some(n),
                    Kind::Scripted,
                    format!(
                        "Route 53's checkers report the primary's probe {probe} {}: AWS/Route53 HealthCheckStatus {} (PutMetricData; moto evaluates no health check)",
                        if healthy { "healthy" } else { "unhealthy" },
                        u8::from(healthy)
                    ),
                );
            }
        }
        let Invocation {
            function,
            request,
            summary: request_summary,
            alarm_at,
        } = self.act(tl, n, step.act).await;

        let cold_start = !self.invoked.contains(&function);
        if cold_start {
            self.invoked.push(function);
        }
        tl.say(
            Some(n),
            Kind::Arrived,
            format!("{function}: {request_summary}"),
        );
        let mark = self.tap.mark();
        let start = self.origin.elapsed();
        let response = self.watch.invoke(function, &request).await;
        let end = self.origin.elapsed();
        let calls = self.tap.since(mark);
        let (outcome, detail) = outcome_of(function, step.act, &response);
        let took = end.saturating_sub(start);
        let shown = if detail.starts_with(&format!("{outcome}:")) {
            detail.clone()
        } else {
            format!("{outcome}: {detail}")
        };
        tl.say(
            Some(n),
            Kind::Decided,
            format!(
                "{function}: {shown}  [{} ms{}]",
                took.as_millis(),
                if cold_start {
                    ", incl. the function's cold start"
                } else {
                    ""
                }
            ),
        );

        let wait = if step.expect.alerts.is_empty() {
            Duration::ZERO
        } else {
            Duration::from_secs(3)
        };
        let envelopes = receive_sns_messages(&stage.sdk, &stage.queue_url, wait).await;
        let received = self.origin.elapsed();
        let mut after = stage.snapshot().await;
        self.play_switch_alarm(tl, n, &mut after).await;
        let new_epoch = after.execution.as_ref().map(|e| e.epoch);
        if new_epoch.is_some() && new_epoch != before.execution.as_ref().map(|e| e.epoch) {
            if let Some(exec) = &after.execution {
                tl.say(Some(n), Kind::Decision, describe_decision(exec));
            }
        }
        let audit: Vec<HistoryRecord> = before.new_history(&after).into_iter().cloned().collect();
        for h in &audit {
            let why = if h.why.is_empty() {
                String::new()
            } else {
                format!(" (why: {})", shorten(&h.why, 140))
            };
            tl.say(
                Some(n),
                Kind::Audit,
                format!("{}: {}{why}", h.kind, shorten(&h.what, 160)),
            );
        }
        let mut changes = before.changes(&after, stage);
        for c in &changes {
            tl.say(
                Some(n),
                Kind::Change,
                format!("{}: {} -> {}", c.resource, c.before, c.after),
            );
        }
        if before.forced_out() != after.forced_out() {
            let by_check = before.primary.forced_unhealthy() != after.primary.forced_unhealthy();
            let by_metric = before.switch.as_ref().map(|s| s.forced_out())
                != after.switch.as_ref().map(|s| s.forced_out());
            self.switches.push(Switch {
                step: n,
                function,
                forced: after.forced_out(),
                mechanism: match (by_metric, by_check) {
                    (true, true) => "metric and health check",
                    (true, false) => "metric",
                    _ => "health check",
                },
                before: before.switch_label(),
                after: after.switch_label(),
            });
            let (record, why) = report::derive_answer(&after.primary, after.switch.as_ref());
            tl.say(
                Some(n),
                Kind::Change,
                format!(
                    "Route 53 would now answer {RECORD} with the {record} record (derived: {why})",
                    RECORD = stage::RECORD
                ),
            );
        }
        let published: Vec<f64> = match (&before.switch, &after.switch) {
            (Some(b), Some(a)) => a
                .datapoints
                .iter()
                .filter(|p| !b.datapoints.contains(p))
                .map(|p| p.1)
                .collect(),
            _ => Vec::new(),
        };
        if !published.is_empty() {
            tl.say(
                Some(n),
                Kind::Change,
                format!(
                    "switch metric read back from moto: {} new PrimaryForcedOut datapoint(s) {published:?}",
                    published.len()
                ),
            );
        }
        let mut alerts = Vec::new();
        for e in envelopes {
            let attr = |name: &str| e.attribute(name).unwrap_or_default();
            let alert = AlertSeen {
                step: n,
                subject: e.subject.clone(),
                message: e.message.clone(),
                event_type: attr("event_type"),
                severity: attr("severity"),
                epoch: attr("epoch"),
                published_at: e
                    .raw
                    .get("Timestamp")
                    .and_then(Value::as_str)
                    .and_then(|t| DateTime::parse_from_rfc3339(t).ok())
                    .map(|t| t.with_timezone(&Utc)),
                received,
            };
            tl.say(
                Some(n),
                Kind::Alert,
                format!(
                    "{}  (event_type {}, severity {}, epoch {})",
                    alert.subject, alert.event_type, alert.severity, alert.epoch
                ),
            );
            alerts.push(alert);
        }
        tl.say(Some(n), Kind::Calls, describe_calls(&calls));
        if let Some(runbook) = self.runbook.as_mut() {
            let seen = super::runbook::Observed {
                expect: step.expect.runbook.as_ref(),
                before,
                after: &after,
                response: &response,
                alerts: &alerts,
            };
            let moved = runbook
                .observe(&stage.sdk, tl, &mut self.checks, n, seen)
                .await;
            changes.extend(moved);
        }

        checks::check_step(
            &mut self.checks,
            tl,
            n,
            &step.expect,
            &StepSeen {
                outcome: &outcome,
                detail: &detail,
                alerts: &alerts,
                after: &after,
                audit: &audit,
                calls: &calls,
                published: &published,
                observers: &stage
                    .observers
                    .iter()
                    .map(|o| o.arn.clone())
                    .collect::<Vec<_>>(),
            },
        );

        self.alerts.extend(alerts.iter().cloned());
        let record = StepRecord {
            n,
            title: step.title.clone(),
            act: step.act,
            function,
            request_summary,
            request,
            start,
            end,
            cold_start,
            response,
            outcome,
            detail,
            alarm_at,
            calls,
            changes,
            alerts,
            audit,
            phase_after: after.phase.clone(),
            primary_after: after.primary,
            switch_after: after.switch.clone(),
            published,
            execution_after: after.execution.clone(),
        };
        (record, after)
    }

    /// Plays CloudWatch for the switch alarm, which moto does not evaluate: the alarm
    /// (Maximum >= 1 over 60 s) goes to ALARM when the newest PrimaryForcedOut datapoint is
    /// 1 and back to OK when it is 0, set with SetAlarmState and said on the timeline.
    async fn play_switch_alarm(&mut self, tl: &mut Timeline, n: usize, after: &mut Snapshot) {
        let (Some(alarm), Some(view)) = (&self.stage.switch_alarm, after.switch.as_mut()) else {
            return;
        };
        let Some(value) = view.value() else {
            return;
        };
        let want = if value >= 1.0 { "ALARM" } else { "OK" };
        if view.alarm == want {
            return;
        }
        let (_, reported) = self.stage.set_alarm(alarm.region, &alarm.name, want).await;
        tl.say(
            Some(n),
            Kind::Scripted,
            format!(
                "CloudWatch alarm {}/{}: {} -> {want} (SetAlarmState, as CloudWatch would from the datapoint PrimaryForcedOut={value}; moto evaluates no alarm)",
                alarm.region, alarm.name, view.alarm
            ),
        );
        view.alarm = reported;
    }

    /// Performs the scripted part of `act` (e.g. sets the alarm in the emulator) and
    /// builds the invocation that delivers it.
    async fn act(&mut self, tl: &mut Timeline, n: usize, act: Act) -> Invocation {
        let stage = self.stage;
        let operator = |request: Value| Invocation {
            function: "operator",
            summary: request.to_string(),
            request,
            alarm_at: None,
        };
        let alarm_trigger = |event: Value, summary: String| Invocation {
            function: "alarm-trigger",
            request: event,
            summary,
            alarm_at: None,
        };
        match act {
            Act::Alarm(i, state) => {
                let observer = &stage.observers[i - 1];
                let previous = self.alarm_states[i - 1];
                let (at, reported) = stage
                    .set_alarm(observer.region, &observer.name, state)
                    .await;
                self.alarm_states[i - 1] = state;
                tl.say(
                    Some(n),
                    Kind::Scripted,
                    format!(
                        "CloudWatch alarm {}/{}: {previous} -> {state} (SetAlarmState; the emulator reports {reported} since {})",
                        observer.region,
                        observer.name,
                        at.format("%H:%M:%S%.3f")
                    ),
                );
                if reported != state {
                    checks::record(
                        &mut self.checks,
                        tl,
                        Some(n),
                        format!("the emulator reports {} in {state}", observer.name),
                        false,
                        reported.clone(),
                    );
                }
                let id = format!("drill-{}-{n}", self.scenario);
                let event = stage.event(observer, state, previous, at, &id);
                self.last_events[i - 1] = Some(event.clone());
                let summary = format!(
                    "{} from {}: {previous} -> {state}, state time {}",
                    observer.shape.label(),
                    observer.label(),
                    at.format("%H:%M:%S%.3f")
                );
                Invocation {
                    alarm_at: Some(at),
                    ..alarm_trigger(event, summary)
                }
            }
            Act::Duplicate(i) => {
                let observer = &stage.observers[i - 1];
                let event = self.last_events[i - 1]
                    .clone()
                    .expect("a duplicate follows an event of the same observer");
                let summary = format!(
                    "the same {} from {} again (at-least-once delivery)",
                    observer.shape.label(),
                    observer.label()
                );
                alarm_trigger(event, summary)
            }
            Act::Stale(i) => {
                let observer = &stage.observers[i - 1];
                let mut event = self.last_events[i - 1]
                    .clone()
                    .expect("a stale redelivery follows an event of the same observer");
                let old = Utc::now() - chrono::Duration::minutes(11);
                set_times(&mut event, old);
                let summary = format!(
                    "{} from {} dated {} (11 min ago; max_event_age_seconds = {})",
                    observer.shape.label(),
                    observer.label(),
                    old.format("%H:%M:%S"),
                    stage::MAX_EVENT_AGE_SECONDS
                );
                alarm_trigger(event, summary)
            }
            Act::Status => operator(json!({"action": "status", "service": stage::SERVICE})),
            Act::Failback => operator(json!({"action": "failback", "service": stage::SERVICE,
                "reason": "primary healthy again, incident closed (drill)",
                "requested_by": "drill"})),
            Act::ForcedFailback => {
                operator(json!({"action": "failback", "service": stage::SERVICE,
                "reason": "primary checked by hand, incident closed (drill)",
                "requested_by": "drill", "force": true}))
            }
            Act::Failover => operator(json!({"action": "failover", "service": stage::SERVICE,
                "reason": "planned move to eu-west-1 (drill)",
                "requested_by": "drill"})),
            Act::Approve(id) => operator(json!({"action": "approve", "service": stage::SERVICE,
                "step": id, "reason": "replica lag checked, writes stopped on the primary (drill)",
                "requested_by": "drill"})),
            Act::Decline(id) => operator(json!({"action": "decline", "service": stage::SERVICE,
                "step": id, "reason": "the primary's database is still the writer (drill)",
                "requested_by": "drill"})),
            Act::Reconcile => {
                let now = Utc::now();
                let tick = json!({"version": "0", "id": format!("drill-tick-{n}"),
                    "detail-type": "Scheduled Event", "source": "aws.events",
                    "account": crate::ACCOUNT_ID, "time": now.to_rfc3339(), "region": crate::REGION,
                    "resources": [format!("arn:aws:events:{}:{}:rule/failover-reconciler", crate::REGION, crate::ACCOUNT_ID)],
                    "detail": {}});
                Invocation {
                    function: "reconciler",
                    request: tick,
                    summary: "EventBridge scheduled event (tick)".to_string(),
                    alarm_at: None,
                }
            }
        }
    }
}
