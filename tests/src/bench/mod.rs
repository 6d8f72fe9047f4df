//! `make bench`: the release functions, through the Lambda Runtime API, against moto on
//! loopback. Cold start (spawn -> first poll, first event), warm latency by event kind, AWS
//! calls and sequential round trips by kind, handler overhead (time not waiting on AWS),
//! CPU per event, peak RSS, package sizes, storm throughput with N processes, and the
//! reconciler over 200 services. Medians with min/max over repeated runs; a table on
//! stdout and everything in `target/bench/results.json`.
//!
//! Benchmarks, not tests: nothing here fails on a timing. It fails (exit 1) only when the
//! functions did not do what they must (a wrong outcome, a failed invocation, a storm that
//! decided something else than its script).
//!
//! How it measures:
//! * [`RuntimeApi`](crate::harness::runtime_api::RuntimeApi) is a Lambda Runtime API of
//!   our own, timestamping each `/next` answer and each `/response`;
//!   [`FunctionProcess`](crate::harness::runtime_api::FunctionProcess) spawns the shipped
//!   `bootstrap` with Lambda's environment. Init = spawn to the first `/next`.
//! * The functions' `AWS_ENDPOINT_URL` is the recording tap
//!   ([`crate::harness::tap::AwsTap`]), so every AWS call is seen on the wire with its start
//!   and end on the same clock. Round trips = the longest chain of calls each starting after
//!   the previous ended ([`crate::harness::tap::round_trips`]).
//! * Handler overhead = invocation latency minus the union of its calls' intervals on the
//!   wire. It still holds the SDK's client-side work per call (serialising, SigV4, a new
//!   loopback TCP connection per call, since the tap closes each one) and the runtime's
//!   own `/next` -> handler -> `/response` path.
//! * CPU per event = the process's CPU time (all threads, `/proc/<pid>/task/*/schedstat`)
//!   across the invocation.

pub mod bulk;
pub mod packages;
pub mod phases;
pub mod scale;
pub mod stats;
pub mod switching;
pub mod tls_probe;
pub mod workload;

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use packages::Package;
use phases::{Bed, Cold, Measured, Reconciler, Storm, Warm, FUNCTIONS, KINDS};
use stats::{json_opt, round, Summary};

/// What to run; the defaults are `make bench`'s.
#[derive(Debug, Clone)]
pub struct Options {
    pub cold_runs: usize,
    pub warm_runs: usize,
    pub storm_processes: Vec<usize>,
    pub storm_services: usize,
    pub reconciler_services: usize,
    pub reconciler_runs: usize,
    pub out_dir: PathBuf,
}

impl Default for Options {
    fn default() -> Self {
        Options {
            cold_runs: 10,
            warm_runs: 20,
            storm_processes: vec![1, 4, 16],
            storm_services: 40,
            reconciler_services: 200,
            reconciler_runs: 7,
            out_dir: crate::workspace_root().join("target/bench"),
        }
    }
}

/// The performance targets the functions are held to (the README's Performance section).
pub const INIT_TARGET_MS: f64 = 30.0;
pub const RSS_TARGET_BYTES: u64 = 32 * 1024 * 1024;
pub const ZIP_TARGET_BYTES: u64 = 8 * 1024 * 1024;
pub const OVERHEAD_TARGET_MS: f64 = 1.0;

fn mib(bytes: u64) -> f64 {
    bytes as f64 / 1024.0 / 1024.0
}

fn ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1e3
}

/// Summaries of a set of measured invocations.
struct Kind {
    latency: Option<Summary>,
    aws: Option<Summary>,
    overhead: Option<Summary>,
    cpu: Option<Summary>,
    calls: Option<Summary>,
    depth: Option<Summary>,
}

impl Kind {
    fn of(ms_: &[Measured]) -> Kind {
        let f = |g: &dyn Fn(&Measured) -> f64| Summary::of(&ms_.iter().map(g).collect::<Vec<_>>());
        Kind {
            latency: f(&|m| ms(m.latency)),
            aws: f(&|m| ms(m.aws)),
            overhead: f(&|m| ms(m.overhead())),
            cpu: f(&|m| ms(m.cpu)),
            calls: f(&|m| m.calls as f64),
            depth: f(&|m| m.depth as f64),
        }
    }

    fn json(&self) -> Value {
        json!({
            "latency_ms": json_opt(&self.latency),
            "aws_ms": json_opt(&self.aws),
            "overhead_ms": json_opt(&self.overhead),
            "cpu_ms": json_opt(&self.cpu),
            "aws_calls": json_opt(&self.calls),
            "round_trips": json_opt(&self.depth),
        })
    }
}

/// The round-trip floor of an event kind: at most this many sequential round trips (0
/// also means no call at all).
pub fn floor(kind: &str) -> usize {
    match kind {
        "deciding vote" => 4,
        "duplicate" | "non-deciding vote" => 1,
        _ => 0,
    }
}

/// Runs every benchmark; `Err` when a function misbehaved (the results are still written).
pub async fn run(opts: &Options) -> Result<Value, String> {
    let wall = Instant::now();
    let root = crate::workspace_root();
    std::fs::create_dir_all(&opts.out_dir).map_err(|e| e.to_string())?;
    let packages = packages::packages(&root, &opts.out_dir)?;
    println!(
        "bench: release bootstraps from target/lambda/*/bootstrap.zip ({}), {} cold starts per function, {} warm runs, storms with {:?} processes, reconciler over {} services",
        packages[0].machine,
        opts.cold_runs,
        opts.warm_runs,
        opts.storm_processes,
        opts.reconciler_services
    );
    let bed = Bed::start(&packages, &opts.out_dir).await?;
    let mut problems: Vec<String> = Vec::new();

    // The events table: the warm runs' services, the cold starts' services and a spare.
    let t = Instant::now();
    let services = workload::provision(
        &bed.sdk,
        "bench-events",
        "svc",
        opts.warm_runs + opts.cold_runs + 1,
        true,
    )
    .await;
    let (warm_svcs, rest) = services.split_at(opts.warm_runs);
    let (cold_svcs, spare) = rest.split_at(opts.cold_runs);
    let spare = &spare[0];
    println!(
        "bench: provisioned {} services (health checks, readiness alarms, catalog) in {:.1} s",
        services.len(),
        t.elapsed().as_secs_f64()
    );

    // TLS: the first ClientHello of a process pays the RNG seeding.
    let hello = tls_probe::tls_first_hello(&bed.bins["alarm-trigger"], &bed.logs, bed.origin)?;

    // Cold starts.
    let mut colds: Vec<(String, Cold)> = Vec::new();
    for f in FUNCTIONS {
        let c = match f {
            "alarm-trigger" => phases::cold(
                &bed,
                f,
                "bench-events",
                opts.cold_runs,
                &|run| {
                    workload::alarm_event(
                        &cold_svcs[run].observers[0],
                        "ALARM",
                        chrono::Utc::now(),
                        &format!("cold-{run}"),
                    )
                },
                "non-deciding vote",
            )?,
            "operator" => phases::cold(
                &bed,
                f,
                "bench-events",
                opts.cold_runs,
                &|run| json!({"action": "status", "service": cold_svcs[run].name}),
                "status of one service",
            )?,
            _ => phases::cold(
                &bed,
                f,
                "bench-events",
                opts.cold_runs,
                &|run| workload::schedule_event(&format!("cold-{run}")),
                "scheduled run",
            )?,
        };
        for m in &c.first {
            if m.outcome.starts_with("error") {
                problems.push(format!("{f} cold start: first event {}", m.outcome));
            }
        }
        colds.push((f.to_string(), c));
    }
    println!(
        "bench: cold starts done ({:.0} s)",
        wall.elapsed().as_secs_f64()
    );

    let warm: Warm = phases::warm(&bed, "bench-events", spare, warm_svcs)?;
    problems.extend(warm.wrong.iter().cloned());
    println!(
        "bench: warm runs done ({:.0} s)",
        wall.elapsed().as_secs_f64()
    );

    let mut storms: Vec<Storm> = Vec::new();
    for &n in &opts.storm_processes {
        let s = phases::storm(&bed, n, opts.storm_services, 20_261_123).await?;
        if s.failovers != s.expected_failovers || s.errors > 0 {
            problems.push(format!(
                "storm with {n} processes: {} failovers (the script: {}), {} failed invocations",
                s.failovers, s.expected_failovers, s.errors
            ));
        }
        storms.push(s);
    }
    println!("bench: storms done ({:.0} s)", wall.elapsed().as_secs_f64());

    let rec = phases::reconciler(&bed, opts.reconciler_services, opts.reconciler_runs).await?;
    problems.extend(rec.problems.iter().cloned());

    // The switch benchmarks (`scale`) run after this, in a process of their own (the
    // in-process engine writes its metrics on stdout): see the bench binary.
    let results = assemble(
        opts, &packages, &hello, &colds, &warm, &storms, &rec, wall, &problems,
    );
    let path = opts.out_dir.join("results.json");
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&results).expect("results JSON"),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    print_tables(&results);
    println!(
        "\nwritten to {} (function logs in {})",
        path.display(),
        bed.logs.display()
    );
    if problems.is_empty() {
        Ok(results)
    } else {
        Err(problems.join("\n"))
    }
}

#[allow(clippy::too_many_arguments)]
fn assemble(
    opts: &Options,
    packages: &[Package],
    hello: &[Duration],
    colds: &[(String, Cold)],
    warm: &Warm,
    storms: &[Storm],
    rec: &Reconciler,
    wall: Instant,
    problems: &[String],
) -> Value {
    let mut targets = Vec::new();
    let mut target = |name: String, target: String, measured: String, met: bool, by: String| {
        targets.push(json!({"what": name, "target": target, "measured": measured, "met": met, "missed_by": if met { Value::Null } else { json!(by) }}));
    };
    for p in packages {
        target(
            format!("{} bootstrap.zip", p.function),
            "< 8 MiB".into(),
            format!("{:.2} MiB", mib(p.zip_bytes)),
            p.zip_bytes < ZIP_TARGET_BYTES,
            format!(
                "{:.2} MiB",
                mib(p.zip_bytes.saturating_sub(ZIP_TARGET_BYTES))
            ),
        );
    }
    let mut cold_json = serde_json::Map::new();
    let mut max_rss = warm.peak_rss;
    for (f, c) in colds {
        let init = Summary::ms(&c.init).expect("cold runs");
        let init_aws = Summary::ms(&c.init_aws).expect("cold runs");
        let init_cpu_side = Summary::of(
            &c.init
                .iter()
                .zip(&c.init_aws)
                .map(|(i, a)| ms(i.saturating_sub(*a)))
                .collect::<Vec<_>>(),
        )
        .expect("cold runs");
        let first = Kind::of(&c.first);
        let rss = c.peak_rss.iter().copied().max().unwrap_or(0);
        max_rss = max_rss.max(rss);
        target(
            format!("{f} init (spawn -> first poll), median"),
            "< 30 ms".into(),
            format!("{:.1} ms", init.median),
            init.median < INIT_TARGET_MS,
            format!("{:.1} ms", init.median - INIT_TARGET_MS),
        );
        cold_json.insert(
            f.clone(),
            json!({
                "runs": c.init.len(),
                "init_ms": init.json(),
                "init_aws_ms": init_aws.json(),
                "init_without_aws_ms": init_cpu_side.json(),
                "init_aws_calls": c.init_calls.iter().max(),
                "first_event": first.json(),
                "first_event_kind": c.first_event,
                "peak_rss_bytes": rss,
                "peak_rss_mib": round(mib(rss)),
            }),
        );
    }
    let mut warm_json = serde_json::Map::new();
    for (kind, _) in KINDS {
        let ms_ = &warm.kinds[kind];
        let k = Kind::of(ms_);
        let floor = floor(kind);
        let depth_max = k.depth.map_or(0.0, |d| d.max) as usize;
        let calls_max = k.calls.map_or(0.0, |d| d.max) as usize;
        let floor_met = if floor == 0 {
            calls_max == 0
        } else {
            depth_max <= floor
        };
        let overhead = k.overhead.expect("warm runs");
        target(
            format!("handler overhead, {kind}, median"),
            "< 1 ms".into(),
            format!("{:.3} ms", overhead.median),
            overhead.median < OVERHEAD_TARGET_MS,
            format!("{:.3} ms", overhead.median - OVERHEAD_TARGET_MS),
        );
        target(
            format!("round trips, {kind}"),
            if floor == 0 {
                "0 calls".into()
            } else {
                format!("<= {floor}")
            },
            format!("{depth_max} ({calls_max} calls)"),
            floor_met,
            format!("{} round trips", depth_max.saturating_sub(floor)),
        );
        let mut v = k.json();
        v["runs"] = json!(ms_.len());
        v["floor_round_trips"] = json!(floor);
        v["floor_met"] = json!(floor_met);
        v["operations"] = json!(ms_.last().map(|m| m.operations.clone()));
        warm_json.insert(kind.to_string(), v);
    }
    for s in storms {
        max_rss = max_rss.max(s.peak_rss);
    }
    max_rss = max_rss.max(rec.peak_rss);
    target(
        "peak RSS, any function process".into(),
        "< 32 MiB".into(),
        format!("{:.1} MiB", mib(max_rss)),
        max_rss < RSS_TARGET_BYTES,
        format!("{:.1} MiB", mib(max_rss.saturating_sub(RSS_TARGET_BYTES))),
    );
    let rec_runs = Kind::of(&rec.runs);
    let hello_ms: Vec<f64> = hello.iter().map(|d| ms(*d)).collect();
    json!({
        "machine": phases::machine(),
        "build": {
            "profile": "release: opt-level 3, lto = true, codegen-units = 1, strip, panic = abort",
            "target": "x86_64-unknown-linux-gnu (cargo lambda build --release --x86-64)",
            "cpu_jitter_entropy": match hello.first() {
                Some(d) if ms(*d) > 5.0 => "seeded at the first TLS handshake: the build has it (see tls_first_client_hello_ms)",
                Some(_) => "not seeded at the first TLS handshake: built with AWS_LC_SYS_NO_JITTER_ENTROPY=1",
                None => "unknown: no TLS connection seen",
            },
        },
        "emulator": "moto 5.2.5 on loopback (serialised: one request at a time), via the recording tap",
        "wall_time_s": round(wall.elapsed().as_secs_f64()),
        "packages": packages.iter().map(|p| json!({
            "function": p.function, "zip_bytes": p.zip_bytes, "zip_mib": round(mib(p.zip_bytes)),
            "bootstrap_bytes": p.bootstrap_bytes, "bootstrap_mib": round(mib(p.bootstrap_bytes)),
            "machine": p.machine})).collect::<Vec<_>>(),
        "tls_first_client_hello_ms": {
            "per_connection": hello_ms,
            "note": "accept -> ClientHello of the first TLS connections alarm-trigger opens at init; the first pays the TLS library's RNG seeding (AWS-LC CPU jitter entropy unless built with AWS_LC_SYS_NO_JITTER_ENTROPY=1)",
        },
        "cold_start": cold_json,
        "warm": {
            "function": "alarm-trigger",
            "runs_per_kind": opts.warm_runs,
            "kinds": warm_json,
            "peak_rss_bytes": warm.peak_rss,
            "threads": warm.threads,
        },
        "storm": storms.iter().map(|s| json!({
            "processes": s.processes, "services": s.services, "deliveries": s.deliveries,
            "elapsed_s": round(s.elapsed.as_secs_f64()), "deliveries_per_s": round(s.per_second()),
            "failovers": s.failovers, "expected_failovers": s.expected_failovers,
            "failed_invocations": s.errors, "aws_calls": s.aws_calls,
            "aws_calls_per_delivery": round(s.aws_calls as f64 / s.deliveries as f64),
            "latency_ms": json_opt(&s.latency),
            "peak_rss_bytes": s.peak_rss})).collect::<Vec<_>>(),
        "reconciler": {
            "services": rec.services,
            "init_ms": round(ms(rec.init)),
            "init_aws_ms": round(ms(rec.init_aws)),
            "first_run": Kind::of(std::slice::from_ref(&rec.first)).json(),
            "runs": rec.runs.len(),
            "run": rec_runs.json(),
            "per_service_ms_median": rec_runs.latency.map(|l| round(l.median / rec.services as f64)),
            "aws_calls_per_service": round(rec.calls_per_service),
            "fan_out": 8,
            "peak_rss_bytes": rec.peak_rss,
        },
        "peak_rss_bytes": max_rss,
        "targets": targets,
        "problems": problems,
    })
}

fn s(v: &Value, digits: usize) -> String {
    match (v["median"].as_f64(), v["min"].as_f64(), v["max"].as_f64()) {
        (Some(m), Some(lo), Some(hi)) if lo == hi => format!("{m:.digits$}"),
        (Some(m), Some(lo), Some(hi)) => format!("{m:.digits$} ({lo:.digits$}-{hi:.digits$})"),
        _ => "-".into(),
    }
}

/// The tables, in markdown, from the results.
pub fn print_tables(r: &Value) {
    let m = &r["machine"];
    println!(
        "\nmachine: {} x {} ({}), kernel {}, {} GiB; {}; wall time {:.0} s",
        m["nproc"],
        m["cpu_model"].as_str().unwrap_or("?"),
        m["arch"].as_str().unwrap_or("?"),
        m["kernel"].as_str().unwrap_or("?"),
        m["memory_gib"],
        r["emulator"].as_str().unwrap_or(""),
        r["wall_time_s"].as_f64().unwrap_or(0.0)
    );
    println!("medians, (min-max) over the runs; times in ms\n");
    println!("| function | bootstrap.zip | bootstrap | init (spawn -> first poll) | of which AWS (catalog read) | first event | first event AWS calls | peak RSS |");
    println!("|---|---|---|---|---|---|---|---|");
    for p in r["packages"].as_array().into_iter().flatten() {
        let f = p["function"].as_str().unwrap_or("?");
        let c = &r["cold_start"][f];
        println!(
            "| {f} | {:.2} MiB | {:.2} MiB | {} | {} | {} ({}) | {} | {:.1} MiB |",
            p["zip_mib"].as_f64().unwrap_or(0.0),
            p["bootstrap_mib"].as_f64().unwrap_or(0.0),
            s(&c["init_ms"], 1),
            s(&c["init_aws_ms"], 1),
            s(&c["first_event"]["latency_ms"], 1),
            c["first_event_kind"].as_str().unwrap_or(""),
            s(&c["first_event"]["aws_calls"], 0),
            c["peak_rss_mib"].as_f64().unwrap_or(0.0)
        );
    }
    let hello = r["tls_first_client_hello_ms"]["per_connection"]
        .as_array()
        .map(|v| {
            v.iter()
                .map(|x| format!("{:.2}", x.as_f64().unwrap_or(0.0)))
                .collect::<Vec<_>>()
                .join(", ")
        })
        .unwrap_or_default();
    println!(
        "\nTLS, accept -> ClientHello of alarm-trigger's first connections at init: {hello} ms"
    );

    let w = &r["warm"];
    println!(
        "\nalarm-trigger, warm ({} runs per kind, one process):\n",
        w["runs_per_kind"]
    );
    println!("| event kind | latency | AWS calls | round trips (floor) | AWS time | handler overhead | CPU |");
    println!("|---|---|---|---|---|---|---|");
    for (kind, _) in KINDS {
        let k = &w["kinds"][kind];
        let fl = floor(kind);
        println!(
            "| {kind} | {} | {} | {} ({}{}) | {} | {} | {} |",
            s(&k["latency_ms"], 2),
            s(&k["aws_calls"], 0),
            s(&k["round_trips"], 0),
            if fl == 0 {
                "0 calls".to_string()
            } else {
                format!("<= {fl}")
            },
            if k["floor_met"].as_bool() == Some(true) {
                ", met"
            } else {
                ", MISSED"
            },
            s(&k["aws_ms"], 2),
            s(&k["overhead_ms"], 3),
            s(&k["cpu_ms"], 3),
        );
    }

    println!("\nalarm storm (EventBridge ALARMs, 1-3 copies each, stale redeliveries, shuffled; all queued at once):\n");
    println!("| processes | services | deliveries | elapsed | deliveries/s | AWS calls/delivery | latency | failovers (script) | peak RSS |");
    println!("|---|---|---|---|---|---|---|---|---|");
    for st in r["storm"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {} | {:.2} s | {:.1} | {:.2} | {} | {} ({}) | {:.1} MiB |",
            st["processes"],
            st["services"],
            st["deliveries"],
            st["elapsed_s"].as_f64().unwrap_or(0.0),
            st["deliveries_per_s"].as_f64().unwrap_or(0.0),
            st["aws_calls_per_delivery"].as_f64().unwrap_or(0.0),
            s(&st["latency_ms"], 1),
            st["failovers"],
            st["expected_failovers"],
            mib(st["peak_rss_bytes"].as_u64().unwrap_or(0))
        );
    }

    let rc = &r["reconciler"];
    println!(
        "\nreconciler over {} services (fan-out 8): init {:.1} ms (AWS {:.1} ms); first run {} ms; warm run {} ms ({:.2} ms per service), {} AWS calls ({:.2} per service), round trips {}, handler overhead {} ms, CPU {} ms; peak RSS {:.1} MiB",
        rc["services"],
        rc["init_ms"].as_f64().unwrap_or(0.0),
        rc["init_aws_ms"].as_f64().unwrap_or(0.0),
        s(&rc["first_run"]["latency_ms"], 0),
        s(&rc["run"]["latency_ms"], 0),
        rc["per_service_ms_median"].as_f64().unwrap_or(0.0),
        s(&rc["run"]["aws_calls"], 0),
        rc["aws_calls_per_service"].as_f64().unwrap_or(0.0),
        s(&rc["run"]["round_trips"], 0),
        s(&rc["run"]["overhead_ms"], 1),
        s(&rc["run"]["cpu_ms"], 1),
        mib(rc["peak_rss_bytes"].as_u64().unwrap_or(0))
    );

    scale::print_tables(&r["switch"]);

    println!("\ntargets:\n");
    println!("| target | goal | measured | |");
    println!("|---|---|---|---|");
    for t in r["targets"].as_array().into_iter().flatten() {
        println!(
            "| {} | {} | {} | {} |",
            t["what"].as_str().unwrap_or(""),
            t["target"].as_str().unwrap_or(""),
            t["measured"].as_str().unwrap_or(""),
            if t["met"].as_bool() == Some(true) {
                "met".to_string()
            } else {
                format!("missed by {}", t["missed_by"].as_str().unwrap_or("?"))
            }
        );
    }
}

/// Reads a results file back (for `bench --table`).
pub fn load(path: &Path) -> Result<Value, String> {
    let text = std::fs::read_to_string(path).map_err(|e| format!("{}: {e}", path.display()))?;
    serde_json::from_str(&text).map_err(|e| format!("{}: {e}", path.display()))
}
