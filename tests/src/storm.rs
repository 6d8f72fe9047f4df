//! Alarm storms: many services, three observers each, every event duplicated, shuffled, with
//! stale redeliveries and OK events mixed in, delivered to alarm-trigger through the Lambda
//! Runtime API by several function processes at once. The expected decisions come from the
//! script, not from the output: a service fails over exactly when at least two of its
//! observers send a fresh ALARM (the OKs in the script are older than the ALARMs they meet,
//! and stale events never count).

use std::collections::{BTreeMap, BTreeSet};
use std::net::{Ipv4Addr, SocketAddr};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use crate::harness::alerts::receive_sns_messages;
use crate::harness::emulator::{Emulator, ACCOUNT_ID};
use crate::harness::lambda_watch::{LambdaWatch, LambdaWatchOptions};
use crate::harness::provision::resources::get_health_check;
use crate::harness::provision::{provision_service, ControlPlane, Observers, ServiceSpec};
use crate::harness::random::XorShift;
use crate::harness::tap::AwsTap;

const TABLE: &str = "failover-storm";
const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

#[derive(Debug, Clone, Copy)]
pub struct StormPlan {
    pub services: usize,
    /// Each event is delivered 1 to this many times.
    pub max_copies: usize,
    /// Concurrent alarm-trigger processes (and concurrent deliveries).
    pub processes: u32,
    pub seed: u64,
}

#[derive(Debug, Clone)]
pub struct StormReport {
    pub plan: StormPlan,
    /// Distinct events in the script, and deliveries (with the copies).
    pub events: usize,
    pub deliveries: usize,
    pub stale: usize,
    pub expected_failovers: usize,
    pub failovers: usize,
    pub failover_alerts: usize,
    pub other_alerts: usize,
    pub invocation_errors: usize,
    pub aws_calls: usize,
    pub elapsed: Duration,
}

impl StormReport {
    pub fn deliveries_per_second(&self) -> f64 {
        self.deliveries as f64 / self.elapsed.as_secs_f64()
    }
    pub fn calls_per_delivery(&self) -> f64 {
        self.aws_calls as f64 / self.deliveries as f64
    }
}

fn observer(service: usize, k: usize) -> String {
    format!(
        "arn:aws:cloudwatch:{}:{ACCOUNT_ID}:alarm:svc-{service:03}-canary-{k}",
        REGIONS[k]
    )
}

fn alarm_event(arn: &str, state: &str, at: chrono::DateTime<chrono::Utc>, id: &str) -> Value {
    let ts = at.format("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
    let region = arn.split(':').nth(3).unwrap();
    let name = arn.rsplit(':').next().unwrap();
    json!({
        "version": "0", "id": id, "detail-type": "CloudWatch Alarm State Change",
        "source": "aws.cloudwatch", "account": ACCOUNT_ID, "time": ts, "region": region,
        "resources": [arn],
        "detail": {"alarmName": name, "configuration": {"metrics": []},
                   "state": {"value": state, "reason": "storm", "timestamp": ts}}
    })
}

/// How many of service `i`'s observers alarm: 3, 2, 1, 0 in turn.
fn alarming(i: usize) -> usize {
    3 - i % 4
}

/// The script: every distinct event, and whether each service must fail over.
fn script(
    plan: &StormPlan,
    now: chrono::DateTime<chrono::Utc>,
) -> (Vec<Value>, usize, BTreeSet<String>) {
    let mut events = Vec::new();
    let mut stale = 0;
    let mut expected = BTreeSet::new();
    for i in 0..plan.services {
        let n = alarming(i);
        if n >= 2 {
            expected.insert(format!("svc-{i:03}"));
        }
        for k in 0..3 {
            let arn = observer(i, k);
            // An older OK for everyone (recovered before the incident): never counts against
            // a newer ALARM, whatever the delivery order.
            events.push(alarm_event(
                &arn,
                "OK",
                now - chrono::Duration::seconds(120),
                &format!("ok-{i}-{k}"),
            ));
            // A stale ALARM redelivered hours late: ignored.
            events.push(alarm_event(
                &arn,
                "ALARM",
                now - chrono::Duration::hours(2),
                &format!("stale-{i}-{k}"),
            ));
            stale += 1;
            if k < n {
                events.push(alarm_event(
                    &arn,
                    "ALARM",
                    now - chrono::Duration::seconds(5),
                    &format!("alarm-{i}-{k}"),
                ));
            }
        }
    }
    (events, stale, expected)
}

/// Provisions `plan.services` services, runs the storm and checks every invariant; `Err` says
/// what did not hold (the report is still returned inside for the figures).
pub async fn run(plan: StormPlan) -> Result<StormReport, (String, Option<StormReport>)> {
    let fail = |m: String| (m, None);
    let emulator = Emulator::start();
    let sdk = emulator.sdk_config().await;
    let plane = ControlPlane::create(&sdk, TABLE, "storm-alerts").await;
    let mut primaries = BTreeMap::new();
    let mut secondaries = BTreeMap::new();
    for i in 0..plan.services {
        let observers = (0..3).map(|k| observer(i, k)).collect();
        let spec = ServiceSpec::new(format!("svc-{i:03}"), Observers::Arns(observers));
        let service = provision_service(&sdk, TABLE, spec).await;
        primaries.insert(service.name.clone(), service.primary_hc);
        secondaries.insert(service.name, service.secondary_hc);
    }

    let tap = AwsTap::start(
        SocketAddr::from((Ipv4Addr::LOCALHOST, emulator.port())),
        Instant::now(),
    )
    .map_err(|e| fail(format!("tap: {e}")))?;
    let mut env = emulator.function_env_through(&tap.endpoint());
    env.push(("FAILOVER_TABLE".into(), TABLE.into()));
    env.push(("ALERT_TOPIC_ARN".into(), plane.topic_arn));
    env.push(("RUST_LOG".into(), "warn".into()));
    let watch = tokio::task::spawn_blocking(move || {
        LambdaWatch::start_with(LambdaWatchOptions {
            functions: vec!["alarm-trigger".into()],
            env,
            concurrency: plan.processes,
            invoke_timeout: Duration::from_secs(60),
        })
    })
    .await
    .map_err(|e| fail(format!("cargo lambda watch: {e}")))?;
    let watch = Arc::new(watch);

    let now = chrono::Utc::now();
    let (events, stale, expected) = script(&plan, now);
    let mut rng = XorShift::unmixed(plan.seed);
    let mut deliveries: Vec<Value> = Vec::new();
    for e in &events {
        for _ in 0..=rng.below(plan.max_copies as u64) {
            deliveries.push(e.clone());
        }
    }
    rng.shuffle(&mut deliveries);
    let total = deliveries.len();
    let mark = tap.mark();
    let started = Instant::now();
    let gate = Arc::new(tokio::sync::Semaphore::new(plan.processes as usize));
    let mut tasks = Vec::with_capacity(total);
    for d in deliveries {
        let (watch, gate) = (watch.clone(), gate.clone());
        tasks.push(tokio::spawn(async move {
            let _permit = gate.acquire_owned().await.unwrap();
            watch.invoke("alarm-trigger", &d).await
        }));
    }
    let mut errors = Vec::new();
    for t in tasks {
        if let Err(e) = t.await.unwrap() {
            errors.push(e);
        }
    }
    let elapsed = started.elapsed();
    let aws_calls = tap.settled_since(mark, Duration::from_secs(2)).len();

    // What happened, read back from the emulator.
    let alerts = receive_sns_messages(&sdk, &plane.queue_url, Duration::from_secs(2)).await;
    let mut failover_alerts: BTreeMap<String, usize> = BTreeMap::new();
    let mut other_alerts = 0;
    for a in &alerts {
        match a.attribute("event_type").as_deref() {
            Some("failover") => {
                *failover_alerts
                    .entry(a.attribute("service").unwrap_or_default())
                    .or_default() += 1
            }
            _ => other_alerts += 1,
        }
    }
    let mut failed_over = BTreeSet::new();
    let mut problems = Vec::new();
    for (name, id) in &primaries {
        let (disabled, inverted, _) = get_health_check(&sdk, id).await;
        if disabled && inverted {
            failed_over.insert(name.clone());
        } else if disabled || inverted {
            problems.push(format!("{name}: primary half-switched"));
        }
        let secondary = get_health_check(&sdk, &secondaries[name]).await;
        if secondary.0 || secondary.1 {
            problems.push(format!("{name}: the secondary's check was changed"));
        }
    }
    let report = StormReport {
        plan,
        events: events.len(),
        deliveries: total,
        stale,
        expected_failovers: expected.len(),
        failovers: failed_over.len(),
        failover_alerts: failover_alerts.values().sum(),
        other_alerts,
        invocation_errors: errors.len(),
        aws_calls,
        elapsed,
    };
    if failed_over != expected {
        problems.push(format!(
            "failed over {} services, the script says {}; differing: {:?}",
            failed_over.len(),
            expected.len(),
            failed_over
                .symmetric_difference(&expected)
                .collect::<Vec<_>>()
        ));
    }
    let store =
        failover::adapters::aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), TABLE);
    for name in primaries.keys() {
        use failover::ports::ControlStore;
        let want = u64::from(expected.contains(name));
        match store.load_state(name).await {
            Ok(state) if state.epoch == want => {}
            Ok(state) => problems.push(format!("{name}: epoch {}, expected {want}", state.epoch)),
            Err(e) => problems.push(format!("{name}: state unreadable: {e}")),
        }
    }
    for name in &expected {
        let n = failover_alerts.get(name).copied().unwrap_or(0);
        if n != 1 {
            problems.push(format!("{name}: {n} failover alerts"));
        }
    }
    if let Some(extra) = failover_alerts.keys().find(|s| !expected.contains(*s)) {
        problems.push(format!("{extra}: a failover alert without a quorum"));
    }
    if other_alerts > 0 {
        problems.push(format!("{other_alerts} alerts other than failover"));
    }
    if !errors.is_empty() {
        problems.push(format!(
            "{} invocations failed, e.g. {}",
            errors.len(),
            errors[0]
        ));
    }
    drop(watch);
    drop(tap);
    if problems.is_empty() {
        Ok(report)
    } else {
        Err((
            format!("seed {}: {}", plan.seed, problems.join("; ")),
            Some(report),
        ))
    }
}
