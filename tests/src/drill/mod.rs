//! The failover drill: a whole incident through the real Lambda runtime.
//!
//! [`run`] starts a moto server, provisions what a deployment would have (see
//! [`stage`]), starts the three functions under `cargo lambda watch` and drives a
//! scripted incident ([`Scenario`]) through `cargo lambda invoke`: alarm states set in the
//! emulator and the matching events delivered, duplicates, a stale redelivery, a
//! reconciler run, the operator. Every step's result is checked against what the
//! product must do; the timeline, a summary (latencies, AWS calls, alerts, Route 53, RTO
//! budget) and the checks come back as a [`DrillReport`], which [`report`] writes as JSON
//! and as a self-contained HTML page.
//!
//! The functions reach moto through an [`AwsTap`] (a recording proxy on loopback), so
//! every AWS call they make is counted on the wire; the drill's own calls go to moto
//! directly and are not counted.
//!
//! Everything the drill starts (moto, the tap, `cargo lambda watch` and the function
//! processes) is owned by values that stop it on drop: dropping the future returned by
//! [`run`] (e.g. on Ctrl-C) or a panic cleans up too.

pub mod report;
pub mod scenario;
pub mod stage;
pub mod tap;

use std::collections::BTreeMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::time::{Duration, Instant};

use chrono::{DateTime, Utc};
use failover::history::HistoryRecord;
use serde_json::{json, Value};

pub use scenario::{Act, Expect, Scenario, Step, Totals};
pub use stage::{Change, HealthCheckFlags, RecordView, Snapshot, Stage};
pub use tap::{AwsTap, TappedCall};

use crate::{receive_sns_messages, set_times, workspace_root, Emulator, LambdaWatch};

/// The functions the drill runs.
pub const FUNCTIONS: [&str; 3] = ["alarm-trigger", "operator", "reconciler"];

/// How to run a drill.
#[derive(Debug, Clone)]
pub struct DrillOptions {
    pub scenario: Scenario,
    /// Where `report.json` and `report.html` go (created if missing); `None`: no files.
    pub out_dir: Option<PathBuf>,
    /// Print the timeline while the drill runs (the demo); otherwise it is only kept in
    /// the report (the tests print it when a check fails).
    pub echo: bool,
}

impl DrillOptions {
    /// The demo's defaults: print as it goes, reports under `target/drill/`.
    pub fn demo(scenario: Scenario) -> Self {
        DrillOptions {
            scenario,
            out_dir: Some(default_out_dir()),
            echo: true,
        }
    }
}

/// `<workspace>/target/drill`.
pub fn default_out_dir() -> PathBuf {
    workspace_root().join("target/drill")
}

/// What kind of timeline line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Setup,
    Step,
    Scripted,
    Arrived,
    Decided,
    Decision,
    Audit,
    Change,
    Alert,
    Calls,
    Check,
    Fail,
}

impl Kind {
    pub fn tag(self) -> &'static str {
        match self {
            Kind::Setup => "setup",
            Kind::Step => "step",
            Kind::Scripted => "scripted",
            Kind::Arrived => "->",
            Kind::Decided => "<-",
            Kind::Decision => "DECIDED",
            Kind::Audit => "audit",
            Kind::Change => "CHANGE",
            Kind::Alert => "ALERT",
            Kind::Calls => "calls",
            Kind::Check => "check",
            Kind::Fail => "FAIL",
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            Kind::Setup => "setup",
            Kind::Step => "step",
            Kind::Scripted => "scripted",
            Kind::Arrived => "arrived",
            Kind::Decided => "response",
            Kind::Decision => "decision",
            Kind::Audit => "audit",
            Kind::Change => "change",
            Kind::Alert => "alert",
            Kind::Calls => "calls",
            Kind::Check => "check",
            Kind::Fail => "fail",
        }
    }
}

/// One timeline line.
#[derive(Debug, Clone)]
pub struct Line {
    /// Since the drill began.
    pub t: Duration,
    /// The step (1-based), or `None` during setup and the summary.
    pub step: Option<usize>,
    pub kind: Kind,
    pub text: String,
}

impl Line {
    pub fn render(&self) -> String {
        match self.kind {
            Kind::Step => format!(
                "\n[{:>7.2}s] step {} {}",
                self.t.as_secs_f64(),
                self.step.unwrap_or(0),
                self.text
            ),
            _ => format!(
                "[{:>7.2}s]   {:<8} {}",
                self.t.as_secs_f64(),
                self.kind.tag(),
                self.text
            ),
        }
    }
}

/// The timeline as it is written, printed live when `echo`.
#[derive(Debug)]
pub struct Timeline {
    origin: Instant,
    echo: bool,
    pub lines: Vec<Line>,
}

impl Timeline {
    fn say(&mut self, step: Option<usize>, kind: Kind, text: impl Into<String>) {
        let line = Line {
            t: self.origin.elapsed(),
            step,
            kind,
            text: text.into(),
        };
        if self.echo {
            println!("{}", line.render());
        }
        self.lines.push(line);
    }
}

/// One expectation and whether it held.
#[derive(Debug, Clone)]
pub struct Check {
    /// The step (1-based), or `None` for the scenario-wide checks.
    pub step: Option<usize>,
    pub what: String,
    pub ok: bool,
    /// What was found.
    pub found: String,
}

/// An alert as the SQS subscriber received it.
#[derive(Debug, Clone)]
pub struct AlertSeen {
    pub step: usize,
    pub subject: String,
    pub event_type: String,
    pub severity: String,
    pub epoch: String,
    /// SNS's `Timestamp` of the notification (when it was published).
    pub published_at: Option<DateTime<Utc>>,
    /// When the drill received it, since the drill began.
    pub received: Duration,
}

/// A change of the primary's health check: a failover (forced unhealthy) or a failback.
#[derive(Debug, Clone)]
pub struct Switch {
    pub step: usize,
    /// The function whose invocation made it.
    pub function: &'static str,
    /// `true`: forced unhealthy (failover); `false`: restored (failback).
    pub forced: bool,
    pub before: String,
    pub after: String,
}

/// One step as it ran.
#[derive(Debug, Clone)]
pub struct StepRecord {
    pub n: usize,
    pub title: String,
    pub act: Act,
    pub function: &'static str,
    /// What was invoked, in one line.
    pub request_summary: String,
    pub request: Value,
    /// The invoke, since the drill began.
    pub start: Duration,
    pub end: Duration,
    /// The first invoke of this function (includes its start-up).
    pub cold_start: bool,
    /// The function's response, or cargo lambda's error report.
    pub response: Result<Value, String>,
    pub outcome: String,
    pub detail: String,
    /// When the alarm entered its state (alarm steps), wall clock.
    pub alarm_at: Option<DateTime<Utc>>,
    pub calls: Vec<TappedCall>,
    pub changes: Vec<Change>,
    pub alerts: Vec<AlertSeen>,
    pub audit: Vec<HistoryRecord>,
    pub phase_after: String,
    pub primary_after: HealthCheckFlags,
    pub execution_after: Option<failover::state::Execution>,
}

/// Latencies of the first automatic decision (wall-clock millis).
#[derive(Debug, Clone)]
pub struct Latency {
    /// The step whose event completed the quorum.
    pub step: usize,
    /// What was decided: `failed_over` or `blocked`.
    pub outcome: String,
    /// When the quorum-completing alarm entered ALARM (CloudWatch's state timestamp).
    pub quorum_alarm_at: i64,
    /// When its event was handed to alarm-trigger.
    pub delivered_at: i64,
    pub decided_at: i64,
    pub switched_at: Option<i64>,
    /// SNS's timestamp of the alert.
    pub alert_published_at: Option<i64>,
    /// When the drill's SQS subscriber had it.
    pub alert_received_at: Option<i64>,
}

/// The RTO budget line: configured detection, measured decision, DNS TTL.
#[derive(Debug, Clone)]
pub struct RtoBudget {
    pub hc_interval_s: i64,
    pub hc_threshold: i64,
    pub detection_s: f64,
    /// Quorum alarm -> primary forced unhealthy, measured.
    pub measured_s: f64,
    pub ttl_s: i64,
    pub total_s: f64,
}

/// Everything the drill saw and concluded.
#[derive(Debug, Clone)]
pub struct DrillReport {
    pub scenario: Scenario,
    /// Every check passed.
    pub held: bool,
    pub started_at: DateTime<Utc>,
    /// When the incident (step 1) began, since the drill began.
    pub incident_start: Duration,
    pub duration: Duration,
    pub emulator_endpoint: String,
    pub tap_endpoint: String,
    pub invoke_port: u16,
    pub primary_hc: String,
    pub secondary_hc: String,
    pub definition: Value,
    pub lines: Vec<Line>,
    pub steps: Vec<StepRecord>,
    pub checks: Vec<Check>,
    pub calls: Vec<TappedCall>,
    pub alerts: Vec<AlertSeen>,
    pub switches: Vec<Switch>,
    pub records_before: Vec<RecordView>,
    pub records_after: Vec<RecordView>,
    pub final_phase: String,
    pub final_epoch: u64,
    pub final_primary: HealthCheckFlags,
    pub final_secondary: HealthCheckFlags,
    pub latency: Option<Latency>,
    pub rto: Option<RtoBudget>,
    /// The summary block, as printed.
    pub summary: Vec<String>,
    pub json_path: Option<PathBuf>,
    pub html_path: Option<PathBuf>,
    pub functions_log: Option<PathBuf>,
}

impl DrillReport {
    /// The checks that failed.
    pub fn failures(&self) -> Vec<&Check> {
        self.checks.iter().filter(|c| !c.ok).collect()
    }

    /// The whole timeline and summary as text (what the demo prints).
    pub fn text(&self) -> String {
        let mut out: Vec<String> = self.lines.iter().map(Line::render).collect();
        out.extend(self.summary.iter().cloned());
        out.join("\n")
    }

    /// The alerts' `event_type`s, in the order received.
    pub fn alert_types(&self) -> Vec<&str> {
        self.alerts.iter().map(|a| a.event_type.as_str()).collect()
    }

    /// Each step's title and outcome.
    pub fn outcomes(&self) -> Vec<(&str, &str)> {
        self.steps
            .iter()
            .map(|s| (s.title.as_str(), s.outcome.as_str()))
            .collect()
    }

    /// The calls the functions made, by operation.
    pub fn calls_by_operation(&self) -> BTreeMap<String, usize> {
        let mut m = BTreeMap::new();
        for c in &self.calls {
            *m.entry(c.operation.clone()).or_insert(0) += 1;
        }
        m
    }
}

/// Runs the drill. Returns the report whether or not the product held (see
/// [`DrillReport::held`]); panics only when the harness itself cannot work (moto or
/// cargo lambda missing, the emulator refusing to provision).
pub async fn run(options: DrillOptions) -> DrillReport {
    let origin = Instant::now();
    let started_at = Utc::now();
    let scenario = options.scenario;
    let mut tl = Timeline {
        origin,
        echo: options.echo,
        lines: Vec::new(),
    };
    if options.echo {
        println!(
            "Failover drill, scenario '{scenario}': {}",
            scenario.description()
        );
    }

    let emulator = tokio::task::spawn_blocking(Emulator::start)
        .await
        .expect("starting moto");
    tl.say(
        None,
        Kind::Setup,
        format!(
            "emulator: moto on {} (pid {}, started in {:.1} s)",
            emulator.endpoint(),
            emulator.pid(),
            emulator.startup_time().as_secs_f64()
        ),
    );
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, emulator.port()));
    let stage = {
        let mut say = |s: String| tl.say(None, Kind::Setup, s);
        Stage::provision(emulator, &mut say).await
    };
    if scenario.secondary_not_ready() {
        let (_, state) = stage
            .set_alarm(stage::SECONDARY_REGION, stage::SECONDARY_ALARM, "ALARM")
            .await;
        tl.say(
            None,
            Kind::Scripted,
            format!(
                "the secondary is not ready: CloudWatch alarm {}/{} OK -> {state} (SetAlarmState)",
                stage::SECONDARY_REGION,
                stage::SECONDARY_ALARM
            ),
        );
    }

    let tap = AwsTap::start(upstream, origin).expect("starting the AWS call tap");
    let env = stage.function_env(&tap.endpoint());
    let watch = {
        let env = env.clone();
        tokio::task::spawn_blocking(move || LambdaWatch::start(&FUNCTIONS, &env))
            .await
            .expect("starting cargo lambda watch")
    };
    tl.say(
        None,
        Kind::Setup,
        format!(
            "functions: cargo lambda watch on 127.0.0.1:{} (pid {}) serving {}; their AWS calls go through the recording tap {} to moto",
            watch.port(),
            watch.pid(),
            FUNCTIONS.join(", "),
            tap.endpoint()
        ),
    );
    let records_before = stage.records().await;
    let mut before = stage.snapshot().await;
    let incident_start = origin.elapsed();

    let mut ctx = Ctx {
        scenario,
        stage: &stage,
        watch: &watch,
        tap: &tap,
        origin,
        alarm_states: vec!["OK"; stage.observers.len()],
        last_events: vec![None; stage.observers.len()],
        invoked: Vec::new(),
        checks: Vec::new(),
        alerts: Vec::new(),
        switches: Vec::new(),
    };
    let mut steps = Vec::new();
    for (i, step) in scenario.steps().into_iter().enumerate() {
        let (record, after) = ctx.run_step(&mut tl, i + 1, &step, &before).await;
        steps.push(record);
        before = after;
    }

    let records_after = stage.records().await;
    let calls = tap.all();
    let Ctx {
        mut checks,
        alerts,
        switches,
        ..
    } = ctx;
    checks.extend(scenario_checks(
        scenario,
        &steps,
        &alerts,
        &switches,
        &calls,
        &records_before,
        &records_after,
        &before,
        &stage.secondary_hc,
    ));
    for c in checks.iter().filter(|c| c.step.is_none()) {
        let kind = if c.ok { Kind::Check } else { Kind::Fail };
        tl.say(
            None,
            kind,
            format!(
                "{}: {}{}",
                if c.ok { "ok" } else { "expected" },
                c.what,
                if c.ok {
                    String::new()
                } else {
                    format!(", found {}", c.found)
                }
            ),
        );
    }

    let latency = latency(&steps, &alerts, started_at);
    let rto = latency.as_ref().and_then(|l| {
        let switched = l.switched_at?;
        let detection_s = (stage.hc_interval * stage.hc_threshold) as f64;
        let measured_s = (switched - l.quorum_alarm_at) as f64 / 1000.0;
        Some(RtoBudget {
            hc_interval_s: stage.hc_interval,
            hc_threshold: stage.hc_threshold,
            detection_s,
            measured_s,
            ttl_s: stage::RECORD_TTL,
            total_s: detection_s + measured_s + stage::RECORD_TTL as f64,
        })
    });

    // Keep the functions' logs with the report: the watcher's log goes when it stops.
    let functions_log = options.out_dir.as_ref().and_then(|dir| {
        std::fs::create_dir_all(dir).ok()?;
        let path = dir.join("functions.log");
        std::fs::copy(watch.log_path(), &path).ok()?;
        Some(path)
    });
    let invoke_port = watch.port();
    let tap_endpoint = tap.endpoint();
    drop(watch);
    drop(tap);

    let held = checks.iter().all(|c| c.ok);
    let mut report = DrillReport {
        scenario,
        held,
        started_at,
        incident_start,
        duration: origin.elapsed(),
        emulator_endpoint: stage.emulator.endpoint(),
        tap_endpoint,
        invoke_port,
        primary_hc: stage.primary_hc.clone(),
        secondary_hc: stage.secondary_hc.clone(),
        definition: stage.definition.clone(),
        lines: tl.lines,
        steps,
        checks,
        calls,
        alerts,
        switches,
        records_before,
        records_after,
        final_phase: before.phase.clone(),
        final_epoch: before.epoch,
        final_primary: before.primary,
        final_secondary: before.secondary,
        latency,
        rto,
        summary: Vec::new(),
        json_path: None,
        html_path: None,
        functions_log,
    };
    drop(stage);
    report.summary = report::summary(&report);
    if let Some(dir) = &options.out_dir {
        match report::write(&report, dir) {
            Ok((json, html)) => {
                report.json_path = Some(json.clone());
                report.html_path = Some(html.clone());
                report.summary.push(format!(
                    "Reports: {} and {}{}",
                    json.display(),
                    html.display(),
                    report
                        .functions_log
                        .as_ref()
                        .map(|p| format!(" (function logs: {})", p.display()))
                        .unwrap_or_default()
                ));
            }
            Err(e) => report.summary.push(format!(
                "Reports could not be written to {}: {e}",
                dir.display()
            )),
        }
    }
    if options.echo {
        for line in &report.summary {
            println!("{line}");
        }
    }
    report
}

struct Ctx<'a> {
    scenario: Scenario,
    stage: &'a Stage,
    watch: &'a LambdaWatch,
    tap: &'a AwsTap,
    origin: Instant,
    /// The state each observer's alarm is in (index = observer - 1).
    alarm_states: Vec<&'static str>,
    last_events: Vec<Option<Value>>,
    /// Functions invoked so far (for cold starts).
    invoked: Vec<&'static str>,
    checks: Vec<Check>,
    alerts: Vec<AlertSeen>,
    switches: Vec<Switch>,
}

impl Ctx<'_> {
    async fn run_step(
        &mut self,
        tl: &mut Timeline,
        n: usize,
        step: &Step,
        before: &Snapshot,
    ) -> (StepRecord, Snapshot) {
        let stage = self.stage;
        tl.say(Some(n), Kind::Step, step.title.clone());
        let mut alarm_at = None;
        let (function, request, request_summary) = match step.act {
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
                    self.check(
                        tl,
                        Some(n),
                        format!("the emulator reports {} in {state}", observer.name),
                        false,
                        reported.clone(),
                    );
                }
                alarm_at = Some(at);
                let id = format!("drill-{}-{n}", self.scenario);
                let event = stage.event(observer, state, previous, at, &id);
                self.last_events[i - 1] = Some(event.clone());
                let summary = format!(
                    "{} from {}: {previous} -> {state}, state time {}",
                    observer.shape.label(),
                    observer.label(),
                    at.format("%H:%M:%S%.3f")
                );
                ("alarm-trigger", event, summary)
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
                ("alarm-trigger", event, summary)
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
                ("alarm-trigger", event, summary)
            }
            Act::Status => {
                let req = json!({"action": "status", "service": stage::SERVICE});
                let summary = req.to_string();
                ("operator", req, summary)
            }
            Act::Failback => {
                let req = json!({"action": "failback", "service": stage::SERVICE,
                    "reason": "primary healthy again, incident closed (drill)",
                    "requested_by": "drill"});
                let summary = req.to_string();
                ("operator", req, summary)
            }
            Act::Failover => {
                let req = json!({"action": "failover", "service": stage::SERVICE,
                    "reason": "planned move to eu-west-1 (drill)",
                    "requested_by": "drill"});
                let summary = req.to_string();
                ("operator", req, summary)
            }
            Act::Reconcile => {
                let now = Utc::now();
                let req = json!({"version": "0", "id": format!("drill-tick-{n}"),
                    "detail-type": "Scheduled Event", "source": "aws.events",
                    "account": crate::ACCOUNT_ID, "time": now.to_rfc3339(), "region": crate::REGION,
                    "resources": [format!("arn:aws:events:{}:{}:rule/failover-reconciler", crate::REGION, crate::ACCOUNT_ID)],
                    "detail": {}});
                (
                    "reconciler",
                    req,
                    "EventBridge scheduled event (tick)".to_string(),
                )
            }
        };

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
        let after = stage.snapshot().await;
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
        let changes = before.changes(&after, stage);
        for c in &changes {
            tl.say(
                Some(n),
                Kind::Change,
                format!("{}: {} -> {}", c.resource, c.before, c.after),
            );
        }
        if before.primary.forced_unhealthy() != after.primary.forced_unhealthy() {
            self.switches.push(Switch {
                step: n,
                function,
                forced: after.primary.forced_unhealthy(),
                before: before.primary.to_string(),
                after: after.primary.to_string(),
            });
        }
        let mut alerts = Vec::new();
        for e in envelopes {
            let attr = |name: &str| e.attribute(name).unwrap_or_default();
            let alert = AlertSeen {
                step: n,
                subject: e.subject.clone(),
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

        // The step's expectations.
        let e = &step.expect;
        let mut ok_parts = Vec::new();
        let mut expect = |ctx: &mut Self, what: String, ok: bool, found: String| {
            if ok {
                ok_parts.push(what.clone());
            }
            ctx.check(tl, Some(n), what, ok, found);
        };
        expect(
            self,
            format!("outcome {}", e.outcome),
            outcome == e.outcome,
            format!("{outcome} ({detail})"),
        );
        if let Some(text) = e.detail_contains {
            expect(
                self,
                format!("the outcome says '{text}'"),
                detail.contains(text),
                detail.clone(),
            );
        }
        let types: Vec<&str> = alerts.iter().map(|a| a.event_type.as_str()).collect();
        expect(
            self,
            if e.alerts.is_empty() {
                "no alert".to_string()
            } else {
                format!("alerts: {}", e.alerts.join(", "))
            },
            types == e.alerts,
            format!("{types:?}"),
        );
        expect(
            self,
            if e.primary_forced {
                "primary forced unhealthy".to_string()
            } else {
                "primary not forced unhealthy".to_string()
            },
            after.primary.forced_unhealthy() == e.primary_forced,
            after.primary.to_string(),
        );
        expect(
            self,
            format!("phase {}", e.phase),
            after.phase == e.phase,
            after.phase.clone(),
        );
        if let Some(kind) = e.audit {
            let kinds: Vec<&str> = audit.iter().map(|h| h.kind.as_str()).collect();
            expect(
                self,
                format!("a '{kind}' record in the audit history"),
                kinds.contains(&kind),
                format!("{kinds:?}"),
            );
        }
        if let Some(count) = e.calls {
            expect(
                self,
                format!("{count} AWS calls"),
                calls.len() == count,
                format!("{} ({})", calls.len(), describe_calls(&calls)),
            );
        }
        if self
            .checks
            .iter()
            .filter(|c| c.step == Some(n))
            .all(|c| c.ok)
        {
            tl.say(Some(n), Kind::Check, format!("ok: {}", ok_parts.join("; ")));
        }

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
            execution_after: after.execution.clone(),
        };
        (record, after)
    }

    fn check(
        &mut self,
        tl: &mut Timeline,
        step: Option<usize>,
        what: String,
        ok: bool,
        found: String,
    ) {
        if !ok {
            tl.say(step, Kind::Fail, format!("expected {what}, found {found}"));
        }
        self.checks.push(Check {
            step,
            what,
            ok,
            found,
        });
    }
}

/// The step's outcome in one word, and a readable detail, from the function's response.
fn outcome_of(function: &str, act: Act, response: &Result<Value, String>) -> (String, String) {
    let v = match response {
        Ok(v) => v,
        Err(e) => return ("error".into(), shorten(e, 300)),
    };
    match function {
        "alarm-trigger" => {
            if let Some(reason) = v["ignored"].as_str() {
                return ("ignored".into(), reason.to_string());
            }
            let s = &v["services"][0];
            match s["outcome"].as_str() {
                Some(o) => (
                    o.to_string(),
                    format!(
                        "{} (phase {}, epoch {})",
                        s["detail"].as_str().unwrap_or_default(),
                        s["phase"].as_str().unwrap_or_default(),
                        s["epoch"]
                    ),
                ),
                None => ("no_service".into(), v.to_string()),
            }
        }
        "operator" if act == Act::Status => {
            let s = &v["status"][0];
            let preflight: Vec<String> = s["preflight"]
                .as_array()
                .map(|a| {
                    a.iter()
                        .map(|c| {
                            format!(
                                "{} {}",
                                c["name"].as_str().unwrap_or_default(),
                                if c["ok"].as_bool() == Some(true) {
                                    "ok"
                                } else {
                                    "NOT ok"
                                }
                            )
                        })
                        .collect()
                })
                .unwrap_or_default();
            let hc = &s["primary"]["health_check"];
            let outcome = if v["ok"].as_bool() == Some(true) {
                "ok"
            } else {
                "refused"
            };
            (
                outcome.into(),
                format!(
                    "{} epoch {}; {} of {} votes live; primary check Disabled={} Inverted={}; pre-flight: {}; cooldown {} s",
                    s["phase"].as_str().unwrap_or_default(),
                    s["epoch"],
                    s["live_votes"].as_array().map_or(0, Vec::len),
                    s["quorum"],
                    hc["disabled"],
                    hc["inverted"],
                    preflight.join(", "),
                    s["cooldown_remaining_seconds"]
                ),
            )
        }
        "operator" => {
            let outcome = if v["ok"].as_bool() == Some(true) {
                "ok"
            } else {
                "refused"
            };
            (
                outcome.into(),
                format!(
                    "{} [{} -> {}]",
                    v["message"].as_str().unwrap_or_default(),
                    v["phase_before"].as_str().unwrap_or("?"),
                    v["phase_after"].as_str().unwrap_or("?"),
                ),
            )
        }
        _ => {
            let count = |k: &str| v[k].as_u64().unwrap_or(u64::MAX);
            let empty = |k: &str| v[k].as_array().is_some_and(Vec::is_empty);
            let in_sync = count("services") == count("checked")
                && count("drifts") == 0
                && count("resumed") == 0
                && count("escalations") == 0
                && empty("errors")
                && empty("not_reached");
            (
                if in_sync { "in_sync" } else { "not_in_sync" }.into(),
                format!(
                    "checked {} of {} services, {} drifts, {} resumed, {} escalations, errors {}, not reached {}",
                    v["checked"], v["services"], v["drifts"], v["resumed"], v["escalations"],
                    v["errors"], v["not_reached"]
                ),
            )
        }
    }
}

/// A decided transition in one line: what, by whom, why, and the pre-flight results.
fn describe_decision(exec: &failover::state::Execution) -> String {
    use failover::state::{TransitionKind, Trigger};
    let kind = match exec.kind {
        TransitionKind::Failover => "failover",
        TransitionKind::Failback => "failback",
    };
    let why = match &exec.trigger {
        Trigger::Quorum { quorum, observers } => {
            let votes: Vec<String> = exec
                .votes
                .iter()
                .map(|v| {
                    format!(
                        "{} since {}",
                        failover::decision::alarm_name(&v.observer),
                        DateTime::from_timestamp_millis(v.at)
                            .map(|t| t.format("%H:%M:%S%.3f").to_string())
                            .unwrap_or_default()
                    )
                })
                .collect();
            format!(
                "quorum: {} of {observers} observers in ALARM, {quorum} needed ({})",
                exec.votes.len(),
                votes.join(", ")
            )
        }
        Trigger::Operator {
            requested_by,
            reason,
            forced,
        } => format!(
            "operator {requested_by}: {reason}{}",
            if *forced { " (forced)" } else { "" }
        ),
    };
    let preflight: Vec<String> = exec
        .preflight
        .iter()
        .map(|c| format!("{} {}", c.name, if c.ok { "ok" } else { "NOT ok" }))
        .collect();
    let mut out = format!(
        "epoch {} {kind}, claimed by {}: {why}",
        exec.epoch, exec.owner
    );
    if !preflight.is_empty() {
        out.push_str(&format!("; pre-flight: {}", preflight.join(", ")));
    }
    if let Some(b) = &exec.blocked_reason {
        out.push_str(&format!("; BLOCKED: {b}"));
    }
    out
}

/// `4 AWS calls, 2 sequential: UpdateItem service#checkout/state, PutItem ...`.
pub fn describe_calls(calls: &[TappedCall]) -> String {
    if calls.is_empty() {
        return "0 AWS calls".into();
    }
    let depth = sequential_round_trips(calls);
    let writes = calls.iter().filter(|c| c.wrote()).count();
    let refused = calls.iter().filter(|c| !c.succeeded()).count();
    let list: Vec<String> = calls.iter().map(TappedCall::label).collect();
    format!(
        "{} AWS calls ({writes} writes applied{}), {depth} sequential: {}",
        calls.len(),
        if refused > 0 {
            format!(", {refused} refused")
        } else {
            String::new()
        },
        list.join(", ")
    )
}

/// The longest chain of calls in which each starts after the previous one ended.
pub fn sequential_round_trips(calls: &[TappedCall]) -> usize {
    let as_calls: Vec<failover::aws::Call> = calls
        .iter()
        .map(|c| failover::aws::Call {
            service: c.service.clone(),
            operation: c.operation.clone(),
            start: c.start,
            end: c.end,
        })
        .collect();
    failover::aws::critical_path_depth(&as_calls)
}

fn shorten(s: &str, max: usize) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    if one_line.chars().count() <= max {
        one_line
    } else {
        let cut: String = one_line.chars().take(max).collect();
        format!("{cut}…")
    }
}

#[allow(clippy::too_many_arguments)]
fn scenario_checks(
    scenario: Scenario,
    steps: &[StepRecord],
    alerts: &[AlertSeen],
    switches: &[Switch],
    calls: &[TappedCall],
    records_before: &[RecordView],
    records_after: &[RecordView],
    last: &Snapshot,
    secondary_hc: &str,
) -> Vec<Check> {
    let totals = scenario.totals();
    let mut out = Vec::new();
    let mut check = |what: String, ok: bool, found: String| {
        out.push(Check {
            step: None,
            what,
            ok,
            found,
        })
    };
    let failovers: Vec<&Switch> = switches.iter().filter(|s| s.forced).collect();
    let failbacks: Vec<&Switch> = switches.iter().filter(|s| !s.forced).collect();
    let describe = |list: &[&Switch]| {
        list.iter()
            .map(|s| format!("step {} by {}", s.step, s.function))
            .collect::<Vec<_>>()
            .join(", ")
    };
    check(
        format!(
            "{} automatic failover(s), by alarm-trigger",
            totals.failovers
        ),
        failovers.len() == totals.failovers
            && failovers.iter().all(|s| s.function == "alarm-trigger"),
        format!("{} [{}]", failovers.len(), describe(&failovers)),
    );
    check(
        format!(
            "{} failback(s), by the operator only (no automatic failback)",
            totals.failbacks
        ),
        failbacks.len() == totals.failbacks && failbacks.iter().all(|s| s.function == "operator"),
        format!("{} [{}]", failbacks.len(), describe(&failbacks)),
    );
    let types: Vec<&str> = alerts.iter().map(|a| a.event_type.as_str()).collect();
    check(
        if totals.alerts.is_empty() {
            "no alert at all".to_string()
        } else {
            format!("alerts sent: exactly {}", totals.alerts.join(", "))
        },
        types == totals.alerts,
        format!("{types:?}"),
    );
    let updates = calls
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck")
        .count();
    check(
        format!(
            "{} UpdateHealthCheck call(s) on the wire (one per switch)",
            totals.failovers + totals.failbacks
        ),
        updates == totals.failovers + totals.failbacks,
        updates.to_string(),
    );
    let publishes = calls.iter().filter(|c| c.operation == "Publish").count();
    check(
        format!(
            "{} SNS Publish call(s) on the wire (one per alert)",
            totals.alerts.len()
        ),
        publishes == totals.alerts.len(),
        publishes.to_string(),
    );
    let errors: Vec<String> = steps
        .iter()
        .filter_map(|s| {
            s.response
                .as_ref()
                .err()
                .map(|e| format!("step {}: {e}", s.n))
        })
        .collect();
    check(
        "every invocation answered (no function error)".into(),
        errors.is_empty(),
        errors.join("; "),
    );
    check(
        "the failover records are unchanged (only health-check flags move)".into(),
        records_before == records_after && records_before.len() == 2,
        format!("{records_after:?}"),
    );
    let on_secondary: Vec<String> = calls
        .iter()
        .filter(|c| c.operation == "UpdateHealthCheck" && c.detail.starts_with(secondary_hc))
        .map(TappedCall::label)
        .collect();
    check(
        "the secondary's health check is never changed".into(),
        on_secondary.is_empty(),
        on_secondary.join("; "),
    );
    check(
        format!("final phase {}", totals.final_phase),
        last.phase == totals.final_phase,
        last.phase.clone(),
    );
    out
}

/// The first automatic decision's latencies.
fn latency(
    steps: &[StepRecord],
    alerts: &[AlertSeen],
    started_at: DateTime<Utc>,
) -> Option<Latency> {
    let step = steps.iter().find(|s| {
        s.function == "alarm-trigger" && (s.outcome == "failed_over" || s.outcome == "blocked")
    })?;
    let exec = step.execution_after.as_ref()?;
    let wall = |d: Duration| started_at.timestamp_millis() + d.as_millis() as i64;
    let alert = alerts.iter().find(|a| a.step == step.n);
    Some(Latency {
        step: step.n,
        outcome: step.outcome.clone(),
        quorum_alarm_at: step.alarm_at?.timestamp_millis(),
        delivered_at: wall(step.start),
        decided_at: exec.decided_at,
        switched_at: exec.switched_at,
        alert_published_at: alert
            .and_then(|a| a.published_at)
            .map(|t| t.timestamp_millis())
            .or(exec.alerted_at),
        alert_received_at: alert.map(|a| wall(a.received)),
    })
}
