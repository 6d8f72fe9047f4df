//! The switch benchmarks' orchestration and tables (`bench --switch`, and the last part of
//! `make bench`): the deciding event and the region-wide event ([`super::switching`]), and
//! the reconciler at 1,000 services in a steady state, each on the emulator and under the
//! modelled network.

use std::time::Instant;

use failover::engine::ReconcileSettings;
use serde_json::{json, Value};

use super::bulk;
use super::stats::{json_opt, round, Summary};
use super::switching::{
    conditions, deciding, region_wide, Condition, Lab, HEALTH_CHECK_TARGET_MS, METRIC_TARGET_MS,
    MODES,
};
use crate::harness::world::inv;

/// Targets of the reconciler's steady-state run at 1,000 services.
pub const RECONCILER_ROUTE53_TARGET: usize = 2;
pub const RECONCILER_DYNAMODB_TARGET: usize = 15;

#[derive(Debug, Clone)]
pub struct SwitchOptions {
    /// Deciding events timed per mode and condition.
    pub deciding_runs: usize,
    pub reconciler_services: usize,
    /// Steady-state runs timed (after one first run).
    pub reconciler_runs: usize,
    /// Services deciding at once in the region-wide event.
    pub region_services: usize,
    /// Every n-th of the reconciler's services is in metric mode (0: none).
    pub metric_every: usize,
}

impl Default for SwitchOptions {
    fn default() -> Self {
        SwitchOptions {
            deciding_runs: 21,
            reconciler_services: 1000,
            reconciler_runs: 5,
            region_services: 100,
            metric_every: 25,
        }
    }
}

/// The reconciler over `services` services (every `metric_every`-th in metric mode, the
/// rest health_check), no incident: one first run, then `runs` timed ones, all by one
/// warm process (one engine), as the scheduled Lambda is.
async fn reconciler(lab: &Lab, cond: &Condition, opts: &SwitchOptions, table: &str) -> Value {
    let engine = lab.engine(table, "reconciler");
    let settings = ReconcileSettings::default();
    lab.tap.set_network_model(cond.model.clone());
    let mut problems = Vec::new();
    let first = engine.reconcile(&inv("rec-first"), &settings).await;
    if let Err(e) = &first {
        problems.push(format!("reconciler first run: {e}"));
    }
    let (mut took, mut r53, mut ddb, mut cw, mut other) =
        (Vec::new(), Vec::new(), Vec::new(), Vec::new(), Vec::new());
    let mut operations = Vec::new();
    let mut report = Value::Null;
    for run in 0..opts.reconciler_runs {
        let mark = lab.tap.mark();
        let t0 = Instant::now();
        let out = engine
            .reconcile(&inv(&format!("rec-{run}")), &settings)
            .await;
        took.push(t0.elapsed().as_secs_f64() * 1e3);
        match out {
            Ok(r) => {
                if !r.errors.is_empty() || !r.not_reached.is_empty() {
                    problems.push(format!(
                        "reconciler run {run}: errors {:?}, not reached {}",
                        r.errors,
                        r.not_reached.len()
                    ));
                }
                report = json!(r);
            }
            Err(e) => problems.push(format!("reconciler run {run}: {e}")),
        }
        let calls = lab.calls_since(mark);
        let n = |svc: &str| calls.iter().filter(|c| c.service == svc).count() as f64;
        r53.push(n("route53"));
        ddb.push(n("dynamodb"));
        cw.push(n("monitoring"));
        other.push(calls.len() as f64 - n("route53") - n("dynamodb") - n("monitoring"));
        let mut ops: Vec<String> = calls
            .iter()
            .map(|c| format!("{} {}", c.operation, c.region))
            .collect();
        ops.sort();
        operations = ops;
    }
    lab.tap.set_network_model(None);
    let r53s = Summary::of(&r53);
    let ddbs = Summary::of(&ddb);
    if r53s.is_some_and(|s| s.max > RECONCILER_ROUTE53_TARGET as f64) {
        problems.push(format!("reconciler: Route 53 calls {r53:?} (target <= 2)"));
    }
    json!({
        "condition": cond.name,
        "services": opts.reconciler_services,
        "metric_services": if opts.metric_every == 0 { 0 } else { opts.reconciler_services.div_ceil(opts.metric_every) },
        "runs": opts.reconciler_runs,
        "duration_ms": json_opt(&Summary::of(&took)),
        "route53_calls": json_opt(&r53s),
        "dynamodb_calls": json_opt(&ddbs),
        "cloudwatch_calls": json_opt(&Summary::of(&cw)),
        "other_calls": json_opt(&Summary::of(&other)),
        "operations_last_run": operations,
        "report_last_run": report,
        "problems": problems,
    })
}

/// Every switch benchmark; the results as JSON (`problems` lists what went wrong).
pub async fn run(opts: &SwitchOptions) -> Result<Value, String> {
    let wall = Instant::now();
    let lab = Lab::start().await?;
    let conds = conditions();
    let model = conds[1].model.clone().expect("the model condition");
    eprintln!(
        "bench switch: modelled network {}; {} deciding events per mode, reconciler over {} services, region-wide event of {} services",
        model.describe(),
        opts.deciding_runs,
        opts.reconciler_services,
        opts.region_services
    );
    let mut problems: Vec<String> = Vec::new();
    let mut collect = |v: &Value| {
        for p in v["problems"].as_array().into_iter().flatten() {
            problems.push(p.as_str().unwrap_or_default().to_string());
        }
    };

    let mut decidings = Vec::new();
    for cond in &conds {
        for mode in MODES {
            let v = deciding(&lab, cond, mode, opts.deciding_runs).await;
            collect(&v);
            decidings.push(v);
        }
    }
    eprintln!(
        "bench switch: deciding events done ({:.0} s)",
        wall.elapsed().as_secs_f64()
    );

    let t = Instant::now();
    let table = lab.table("reconcile").await;
    let every = opts.metric_every;
    let services = bulk::provision(&lab.sdk, &table, "fleet", opts.reconciler_services, &|i| {
        if every > 0 && i % every == 0 {
            "metric"
        } else {
            "health_check"
        }
    })
    .await;
    eprintln!(
        "bench switch: provisioned {} services in {:.1} s",
        services.len(),
        t.elapsed().as_secs_f64()
    );
    let mut recs = Vec::new();
    for cond in &conds {
        let v = reconciler(&lab, cond, opts, &table).await;
        collect(&v);
        recs.push(v);
    }
    eprintln!(
        "bench switch: reconciler done ({:.0} s)",
        wall.elapsed().as_secs_f64()
    );

    let mut regions = Vec::new();
    for cond in &conds {
        for mode in MODES {
            let v = region_wide(&lab, cond, mode, opts.region_services).await;
            collect(&v);
            eprintln!(
                "bench switch: region-wide {mode} ({}) done ({:.0} s)",
                cond.name,
                wall.elapsed().as_secs_f64()
            );
            regions.push(v);
        }
    }
    let results = json!({
        "network_model": model.describe(),
        "network_model_ms": model.delays.iter().map(|(k, v)| (k.clone(), json!(v.as_millis()))).collect::<serde_json::Map<_, _>>(),
        "engine": "in-process (the alarm-trigger's and reconciler's engine as the Lambdas build it, default Route 53 budget), SDK clients on the recording tap",
        "deciding": decidings,
        "reconciler": recs,
        "region_wide": regions,
        "wall_time_s": round(wall.elapsed().as_secs_f64()),
        "problems": problems,
    });
    Ok(results)
}

fn s(v: &Value, digits: usize) -> String {
    match (v["median"].as_f64(), v["min"].as_f64(), v["max"].as_f64()) {
        (Some(m), Some(lo), Some(hi)) if lo == hi => format!("{m:.digits$}"),
        (Some(m), Some(lo), Some(hi)) => format!("{m:.digits$} ({lo:.digits$}-{hi:.digits$})"),
        _ => "-".into(),
    }
}

fn find<'a>(list: &'a Value, cond: &str, mode: Option<&str>) -> &'a Value {
    list.as_array()
        .into_iter()
        .flatten()
        .find(|v| v["condition"] == cond && mode.is_none_or(|m| v["mode"] == m))
        .unwrap_or(&Value::Null)
}

/// The switch tables, in markdown, from `make bench`'s `switch` results.
pub fn print_tables(r: &Value) {
    if r.is_null() {
        return;
    }
    println!(
        "\nswitch benchmarks (in-process engine on the tap; modelled network: {}); medians (min-max), ms\n",
        r["network_model"].as_str().unwrap_or("?")
    );
    println!("deciding event (the second vote, arrival to return; floor: the model's delay along the longest chain of calls; estimate: floor + the handler's time outside calls):\n");
    println!("| mode | emulator | model | model - emulator | model floor | estimate | AWS calls | Route 53 calls | round trips | target: model; estimate |");
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for mode in MODES {
        let e = find(&r["deciding"], "emulator", Some(mode));
        let m = find(&r["deciding"], "model", Some(mode));
        let (em, mm) = (
            e["latency_ms"]["median"].as_f64().unwrap_or(0.0),
            m["latency_ms"]["median"].as_f64().unwrap_or(0.0),
        );
        let est = m["estimate_ms"]["median"].as_f64().unwrap_or(0.0);
        let target = match mode {
            "metric" => Some(METRIC_TARGET_MS),
            "health_check" => Some(HEALTH_CHECK_TARGET_MS),
            _ => None,
        }
        .map_or("-".into(), |t| {
            format!("<= {t:.0}: {}; {}", met(mm <= t), met(est <= t))
        });
        println!(
            "| {mode} | {} | {} | {:.1} | {} | {} | {} | {} | {} | {target} |",
            s(&e["latency_ms"], 1),
            s(&m["latency_ms"], 1),
            mm - em,
            s(&m["model_floor_ms"], 0),
            s(&m["estimate_ms"], 1),
            s(&m["aws_calls"], 0),
            s(&m["route53_calls"], 0),
            s(&m["round_trips"], 0),
        );
    }
    println!("\nreconciler, steady state (no incident), one warm process:\n");
    println!("| condition | services | run duration | Route 53 calls (<= 2) | DynamoDB calls (<= 15) | CloudWatch calls | other |");
    println!("|---|---|---|---|---|---|---|");
    for rc in r["reconciler"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} ({} metric) | {} | {} | {} | {} | {} |",
            rc["condition"].as_str().unwrap_or("?"),
            rc["services"],
            rc["metric_services"],
            s(&rc["duration_ms"], 0),
            s(&rc["route53_calls"], 0),
            s(&rc["dynamodb_calls"], 0),
            s(&rc["cloudwatch_calls"], 0),
            s(&rc["other_calls"], 0),
        );
    }
    println!("\nregion-wide event: the deciding votes of every service at once, one process (one Route 53 budget):\n");
    println!("| mode | condition | services | switched | handler answered failed_over | time to the last switch (its call) | last handler returned | Route 53 calls (per service) | max Route 53 calls in 1 s (budget) | UpdateHealthCheck | PutMetricData |");
    println!("|---|---|---|---|---|---|---|---|---|---|---|");
    for mode in MODES {
        for cond in ["emulator", "model"] {
            let g = find(&r["region_wide"], cond, Some(mode));
            println!(
                "| {mode} | {cond} | {} | {} | {} | {:.2} s ({}) | {:.2} s | {} ({:.2}) | {} ({}) | {} | {} |",
                g["services"],
                g["switched"],
                g["handler_failed_over"],
                g["time_to_last_switch_s"].as_f64().unwrap_or(0.0),
                g["switch_call"].as_str().unwrap_or("?"),
                g["time_to_last_handler_return_s"].as_f64().unwrap_or(0.0),
                g["route53_calls"],
                g["route53_calls_per_service"].as_f64().unwrap_or(0.0),
                g["route53_max_per_second"],
                g["route53_budget_per_second"],
                g["update_health_check_calls"],
                g["put_metric_data_calls"],
            );
        }
    }
    for g in r["region_wide"].as_array().into_iter().flatten() {
        let kinds = g["handler_error_kinds"]
            .as_array()
            .cloned()
            .unwrap_or_default();
        if !kinds.is_empty() {
            println!(
                "\n{} ({}): {} handlers did not answer failed_over (invocation deadline {} s, as Terraform's default timeout): {}",
                g["mode"].as_str().unwrap_or("?"),
                g["condition"].as_str().unwrap_or("?"),
                g["handler_errors"],
                g["invocation_deadline_s"],
                kinds
                    .iter()
                    .filter_map(Value::as_str)
                    .collect::<Vec<_>>()
                    .join("; ")
            );
        }
    }
}

fn met(ok: bool) -> &'static str {
    if ok {
        "met"
    } else {
        "MISSED"
    }
}
