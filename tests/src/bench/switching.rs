//! The switch benchmarks (issue 15): the deciding event in each switch mode, a region-wide
//! event (many services deciding at once under one process's Route 53 budget), and the
//! reconciler at 1,000 services ([`super::scale`]); each on the emulator as it is and under
//! the tap's modelled network ([`NetworkModel::aws`]).
//!
//! The engine runs in this process (the same code the alarm-trigger and reconciler Lambdas
//! run, built as they build it: [`failover::adapters::aws::engine`], the default Route 53
//! budget), its SDK clients on the recording tap. The handler is timed from the deciding
//! event's arrival (the call into `handle_alarm_event`) to its return.
//!
//! Separating the model from moto: under the model every call's time on the wire is its
//! service's modelled delay (slept by the tap before forwarding, calls overlapping) plus
//! moto's own time (moto still answers one request at a time). The "emulator" figures are
//! moto's and the handler's time alone; the "model floor" of a decision is the modelled
//! delay along its longest chain of sequential calls, what the decision would cost if
//! AWS answered in exactly the model's time and the handler took none; the "estimate" adds
//! the handler's own time to it (the latency minus the time any call was on the wire).
//!
//! Each deciding event is timed with the process's Route 53 budget idle (a second after the
//! previous one), as a lone incident finds it: back to back, three Route 53 calls a decision
//! at 4 a second would time the budget instead (the region-wide event measures that).

use std::time::{Duration, Instant};

use aws_config::SdkConfig;
use failover::adapters::aws::AwsEngine;
use failover::Config;
use serde_json::{json, Value};

use super::bulk;
use super::stats::{aws_time, json_opt, round, Summary};
use super::workload::{alarm_event, outcome_of};
use crate::harness::emulator::Emulator;
use crate::harness::provision::resources::{
    create_control_table, create_topic_with_queue, put_health_status,
};
use crate::harness::provision::Service;
use crate::harness::tap::{round_trips, AwsTap, NetworkModel, TappedCall};
use crate::harness::world::inv;

pub const MODES: [&str; 3] = ["health_check", "metric", "both"];
/// Targets under the model (issue 15): the deciding event's median latency.
pub const METRIC_TARGET_MS: f64 = 60.0;
pub const HEALTH_CHECK_TARGET_MS: f64 = 200.0;

/// The two conditions every figure is taken in.
#[derive(Debug, Clone)]
pub struct Condition {
    /// `emulator` (no modelled delay) or `model`.
    pub name: &'static str,
    pub model: Option<NetworkModel>,
}

pub fn conditions() -> Vec<Condition> {
    vec![
        Condition {
            name: "emulator",
            model: None,
        },
        Condition {
            name: "model",
            model: Some(NetworkModel::aws()),
        },
    ]
}

/// moto, the tap in front of it, the alert topic.
pub struct Lab {
    pub emulator: Emulator,
    pub sdk: SdkConfig,
    pub tap: AwsTap,
    pub topic_arn: String,
    /// The tap's clock origin.
    pub origin: Instant,
    tables: std::cell::Cell<usize>,
}

impl Lab {
    pub async fn start() -> Result<Lab, String> {
        let emulator = Emulator::start();
        let sdk = emulator.sdk_config().await;
        let (topic_arn, _queue) = create_topic_with_queue(&sdk, "bench-switch-alerts").await;
        let origin = Instant::now();
        let tap = AwsTap::start(
            std::net::SocketAddr::from((std::net::Ipv4Addr::LOCALHOST, emulator.port())),
            origin,
        )
        .map_err(|e| format!("tap: {e}"))?;
        Ok(Lab {
            emulator,
            sdk,
            tap,
            topic_arn,
            origin,
            tables: 0.into(),
        })
    }

    /// A fresh control table.
    pub async fn table(&self, what: &str) -> String {
        let n = self.tables.get();
        self.tables.set(n + 1);
        create_control_table(&self.sdk, &format!("bench-{what}-{n}")).await
    }

    /// A fresh engine (its own catalog cache and Route 53 budget, as a new process has)
    /// on the tap.
    pub fn engine(&self, table: &str, function: &'static str) -> AwsEngine {
        let config = Config {
            table: table.to_string(),
            topic_arn: self.topic_arn.clone(),
        };
        failover::adapters::aws::engine(&self.tap.sdk_config(&self.sdk), &config, function)
    }

    /// The calls recorded since `mark`, once every connection is filed.
    pub fn calls_since(&self, mark: usize) -> Vec<TappedCall> {
        self.tap.settled_since(mark, Duration::from_secs(5))
    }
}

/// Route 53's checkers say every secondary is healthy (moto evaluates none): what metric
/// and both modes read in the pre-flight.
pub async fn secondaries_healthy(sdk: &SdkConfig, services: &[Service]) {
    let now = chrono::Utc::now().timestamp_millis();
    for s in services {
        put_health_status(sdk, &s.secondary_hc, true, &[now - 60_000, now - 1_000]).await;
    }
}

/// The modelled delay along the longest chain of sequential calls (each starting after the
/// previous ended), each call weighing its service's delay.
pub fn model_floor(calls: &[TappedCall], model: &NetworkModel) -> Duration {
    let mut sorted: Vec<&TappedCall> = calls.iter().collect();
    sorted.sort_by_key(|c| c.end);
    let mut best = vec![Duration::ZERO; sorted.len()];
    for i in 0..sorted.len() {
        let own = model.delay(&sorted[i].service);
        best[i] = own;
        for j in 0..i {
            if sorted[j].end <= sorted[i].start {
                best[i] = best[i].max(best[j] + own);
            }
        }
    }
    best.into_iter().max().unwrap_or_default()
}

/// The most calls that started in any one second (sliding windows).
pub fn max_per_second(calls: &[&TappedCall]) -> usize {
    let mut starts: Vec<Duration> = calls.iter().map(|c| c.start).collect();
    starts.sort();
    let mut best = 0;
    let mut lo = 0;
    for hi in 0..starts.len() {
        while starts[hi] - starts[lo] >= Duration::from_secs(1) {
            lo += 1;
        }
        best = best.max(hi - lo + 1);
    }
    best
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// The deciding event of one mode in one condition: `runs` services, each given its first
/// vote, then the second (deciding) one timed.
pub async fn deciding(lab: &Lab, cond: &Condition, mode: &'static str, runs: usize) -> Value {
    lab.tap.set_network_model(None);
    let table = lab.table(&format!("decide-{mode}")).await;
    let services = bulk::provision(&lab.sdk, &table, "decide", runs, &|_| mode).await;
    secondaries_healthy(&lab.sdk, &services).await;
    lab.tap.set_network_model(cond.model.clone());
    let engine = lab.engine(&table, "alarm-trigger");
    let mut latency = Vec::new();
    let mut floors = Vec::new();
    let mut estimates = Vec::new();
    let mut handler = Vec::new();
    let (mut calls_n, mut r53_n, mut depth) = (Vec::new(), Vec::new(), Vec::new());
    let mut operations = Vec::new();
    let mut wrong = Vec::new();
    for (i, s) in services.iter().enumerate() {
        let first = alarm_event(
            &s.observers[0],
            "ALARM",
            chrono::Utc::now(),
            &format!("v1-{i}"),
        );
        let out = engine
            .handle_alarm_event(&first, &inv(&format!("v1-{i}")))
            .await;
        let o = out
            .map(|o| outcome_of(&json!(o)))
            .unwrap_or_else(|e| format!("error {e}"));
        if o != "vote_recorded" {
            wrong.push(format!("{mode} {}: first vote: {o}", s.name));
        }
        let deciding = alarm_event(
            &s.observers[1],
            "ALARM",
            chrono::Utc::now(),
            &format!("v2-{i}"),
        );
        if mode != "metric" {
            // The budget idle again: its window is a second (plus a margin).
            tokio::time::sleep(Duration::from_millis(1100)).await;
        }
        let mark = lab.tap.mark();
        let t0 = Instant::now();
        let out = engine
            .handle_alarm_event(&deciding, &inv(&format!("v2-{i}")))
            .await;
        let took = t0.elapsed();
        let from = t0 - lab.origin;
        let o = out
            .map(|o| outcome_of(&json!(o)))
            .unwrap_or_else(|e| format!("error {e}"));
        if o != "failed_over" {
            wrong.push(format!("{mode} {}: deciding vote: {o}", s.name));
        }
        // This handler's calls (none may outlive it; a call begun after it returned is
        // not its own).
        let mut calls = lab.calls_since(mark);
        calls.retain(|c| c.start <= from + took);
        latency.push(ms(took));
        let own = took.saturating_sub(aws_time(&calls, from, from + took));
        handler.push(ms(own));
        if let Some(m) = &cond.model {
            let floor = model_floor(&calls, m);
            floors.push(ms(floor));
            estimates.push(ms(floor + own));
        }
        calls_n.push(calls.len() as f64);
        r53_n.push(calls.iter().filter(|c| c.service == "route53").count() as f64);
        depth.push(round_trips(&calls) as f64);
        operations = calls.iter().map(|c| c.operation.clone()).collect();
    }
    lab.tap.set_network_model(None);
    json!({
        "mode": mode,
        "condition": cond.name,
        "runs": runs,
        "latency_ms": json_opt(&Summary::of(&latency)),
        "model_floor_ms": json_opt(&Summary::of(&floors)),
        "handler_ms": json_opt(&Summary::of(&handler)),
        "estimate_ms": json_opt(&Summary::of(&estimates)),
        "aws_calls": json_opt(&Summary::of(&calls_n)),
        "route53_calls": json_opt(&Summary::of(&r53_n)),
        "round_trips": json_opt(&Summary::of(&depth)),
        "operations_last_run": operations,
        "problems": wrong,
    })
}

/// A region-wide event: `count` services of `mode`, each with its first vote already in,
/// get their deciding vote at once, all handled by one process (one engine, one Route 53
/// budget).
pub async fn region_wide(lab: &Lab, cond: &Condition, mode: &'static str, count: usize) -> Value {
    lab.tap.set_network_model(None);
    let table = lab.table(&format!("region-{mode}")).await;
    let services = bulk::provision(&lab.sdk, &table, "region", count, &|_| mode).await;
    secondaries_healthy(&lab.sdk, &services).await;
    lab.tap.set_network_model(cond.model.clone());
    let engine = lab.engine(&table, "alarm-trigger");
    let mut wrong = Vec::new();
    let firsts = services.iter().enumerate().map(|(i, s)| {
        let e = alarm_event(
            &s.observers[0],
            "ALARM",
            chrono::Utc::now(),
            &format!("r1-{i}"),
        );
        let engine = &engine;
        async move {
            engine
                .handle_alarm_event(&e, &inv(&format!("r1-{i}")))
                .await
        }
    });
    for (s, out) in services.iter().zip(futures::future::join_all(firsts).await) {
        let o = out
            .map(|o| outcome_of(&json!(o)))
            .unwrap_or_else(|e| format!("error {e}"));
        if o != "vote_recorded" {
            wrong.push(format!("{mode} {}: first vote: {o}", s.name));
        }
    }
    let mark = lab.tap.mark();
    let t0 = Instant::now();
    let decidings = services.iter().enumerate().map(|(i, s)| {
        let e = alarm_event(
            &s.observers[1],
            "ALARM",
            chrono::Utc::now(),
            &format!("r2-{i}"),
        );
        let engine = &engine;
        async move {
            let out = engine
                .handle_alarm_event(&e, &inv(&format!("r2-{i}")))
                .await;
            (out, t0.elapsed())
        }
    });
    let results = futures::future::join_all(decidings).await;
    let all_done = t0.elapsed();
    let calls = lab.calls_since(mark);
    lab.tap.set_network_model(None);
    // Switched: the handler says so, or (health_check mode) the service's primary check was
    // forced on the wire; a handler that switched and then ran out of its invocation's
    // time before the alert (the retry sends it) is counted apart.
    let (mut switched, mut failed_over) = (0, 0);
    let mut done_at = Vec::new();
    let mut errors: Vec<String> = Vec::new();
    for (s, (out, at)) in services.iter().zip(results) {
        let o = out
            .map(|o| outcome_of(&json!(o)))
            .unwrap_or_else(|e| format!("error {e}"));
        let forced = calls.iter().any(|c| {
            c.operation == "UpdateHealthCheck" && c.succeeded() && c.detail.contains(&s.primary_hc)
        });
        if o == "failed_over" {
            failed_over += 1;
            done_at.push(ms(at));
        } else {
            errors.push(o.replace(&s.name, "<service>"));
        }
        if o == "failed_over" || (mode == "health_check" && forced) {
            switched += 1;
        } else {
            wrong.push(format!("{mode} {}: not switched: {o}", s.name));
        }
    }
    errors.sort();
    errors.dedup();
    let r53: Vec<&TappedCall> = calls.iter().filter(|c| c.service == "route53").collect();
    let per_second = max_per_second(&r53);
    let budget = failover::adapters::aws::budget::DEFAULT_ROUTE53_CALLS_PER_SECOND as usize;
    if per_second > budget {
        wrong.push(format!(
            "{mode}: {per_second} Route 53 calls in one second (budget {budget})"
        ));
    }
    let count_op = |op: &str| calls.iter().filter(|c| c.operation == op).count();
    // The mechanism that lands first: the forced check in health_check mode, the switch
    // metric (the only PutMetricData on this path) in metric and both modes.
    let landing = if mode == "health_check" {
        "UpdateHealthCheck"
    } else {
        "PutMetricData"
    };
    let from = t0 - lab.origin;
    let last_landed = calls
        .iter()
        .filter(|c| c.operation == landing && c.succeeded())
        .map(|c| c.end.saturating_sub(from))
        .max()
        .unwrap_or_default();
    let landed = calls
        .iter()
        .filter(|c| c.operation == landing && c.succeeded())
        .count();
    if landed < count {
        wrong.push(format!(
            "{mode}: {landed} {landing} calls landed for {count} services"
        ));
    }
    json!({
        "mode": mode,
        "condition": cond.name,
        "services": count,
        "switched": switched,
        "handler_failed_over": failed_over,
        "handler_errors": count - failed_over,
        "handler_error_kinds": errors,
        "invocation_deadline_s": 60,
        "time_to_last_switch_s": round(last_landed.as_secs_f64()),
        "switch_call": landing,
        "time_to_last_handler_return_s": round(all_done.as_secs_f64()),
        "switch_done_ms": json_opt(&Summary::of(&done_at)),
        "route53_calls": r53.len(),
        "route53_calls_per_service": round(r53.len() as f64 / count as f64),
        "route53_max_per_second": per_second,
        "route53_budget_per_second": budget,
        "update_health_check_calls": count_op("UpdateHealthCheck"),
        "put_metric_data_calls": count_op("PutMetricData"),
        "aws_calls": calls.len(),
        "problems": wrong,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn call(service: &str, start: u64, end: u64) -> TappedCall {
        TappedCall {
            seq: 0,
            start: Duration::from_millis(start),
            end: Duration::from_millis(end),
            service: service.into(),
            region: String::new(),
            operation: "o".into(),
            status: 200,
            error: String::new(),
            detail: String::new(),
            fault: None,
        }
    }

    #[test]
    fn the_model_floor_weighs_the_longest_chain_by_service() {
        let m = NetworkModel::aws();
        // dynamodb; then route53 || dynamodb; then sns.
        let calls = [
            call("dynamodb", 0, 10),
            call("route53", 11, 100),
            call("dynamodb", 11, 20),
            call("sns", 101, 120),
        ];
        assert_eq!(model_floor(&calls, &m), Duration::from_millis(6 + 75 + 14));
        assert_eq!(model_floor(&[], &m), Duration::ZERO);
    }

    #[test]
    fn max_per_second_slides_the_window() {
        let calls = [0, 300, 999, 1000, 1250, 1900, 2950];
        let calls: Vec<TappedCall> = calls.iter().map(|&s| call("route53", s, s + 5)).collect();
        let refs: Vec<&TappedCall> = calls.iter().collect();
        // [999, 1999) holds 999, 1000, 1250, 1900.
        assert_eq!(max_per_second(&refs), 4);
        assert_eq!(max_per_second(&[]), 0);
    }
}
