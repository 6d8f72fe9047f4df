//! `make bench`: the release functions through the Lambda Runtime API against moto on
//! loopback (see `integration_tests::bench`). Prints the tables and writes
//! `target/bench/results.json`; exit 1 when a function misbehaved (never on a timing).
//!
//! Options (environment): BENCH_COLD_RUNS (10), BENCH_WARM_RUNS (20),
//! BENCH_STORM_PROCESSES (1,4,16), BENCH_STORM_SERVICES (40), BENCH_RECONCILER_SERVICES
//! (200), BENCH_RECONCILER_RUNS (7); the switch benchmarks: BENCH_SWITCH_RUNS (21 deciding
//! events per mode and condition), BENCH_SWITCH_SERVICES (1000, the reconciler's),
//! BENCH_SWITCH_RECONCILER_RUNS (5), BENCH_REGION_SERVICES (100).
//! `bench --switch` runs only the switch benchmarks (the in-process engine, no release
//! build needed; `make bench` runs them last) in a child process whose stdout (the
//! engine's metric lines) goes to `target/bench/switch-engine.log`, and merges them into
//! `target/bench/results.json` (key `switch`);
//! `bench --table` prints the tables of the last results again;
//! `bench --tls-probe <bootstrap>` times only the first TLS ClientHellos of an
//! alarm-trigger binary (to compare builds with and without CPU-jitter entropy).

use integration_tests::bench::scale::{self, SwitchOptions};
use integration_tests::bench::{self, Options};

fn switch_options() -> SwitchOptions {
    let d = SwitchOptions::default();
    SwitchOptions {
        deciding_runs: env("BENCH_SWITCH_RUNS", d.deciding_runs).max(1),
        reconciler_services: env("BENCH_SWITCH_SERVICES", d.reconciler_services).max(1),
        reconciler_runs: env("BENCH_SWITCH_RECONCILER_RUNS", d.reconciler_runs).max(1),
        region_services: env("BENCH_REGION_SERVICES", d.region_services).max(1),
        metric_every: d.metric_every,
    }
}

/// The switch benchmarks in a child process (`--switch-run`), its stdout (the in-process
/// engine's metric lines) to `target/bench/switch-engine.log`; then their tables.
fn switch_child(out_dir: &std::path::Path) -> Result<(), String> {
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    let log_path = out_dir.join("switch-engine.log");
    let log =
        std::fs::File::create(&log_path).map_err(|e| format!("{}: {e}", log_path.display()))?;
    let exe = std::env::current_exe().map_err(|e| e.to_string())?;
    let status = std::process::Command::new(exe)
        .arg("--switch-run")
        .stdout(log)
        .status()
        .map_err(|e| format!("bench --switch-run: {e}"))?;
    let results = bench::load(&out_dir.join("results.json"))?;
    scale::print_tables(&results["switch"]);
    println!(
        "\nswitch results in {} (key \"switch\"); the engine's log lines in {}",
        out_dir.join("results.json").display(),
        log_path.display()
    );
    if status.success() {
        Ok(())
    } else {
        Err(format!("the switch benchmarks: {status}"))
    }
}

/// `bench --switch-run`: the switch benchmarks, merged into the last results.
async fn switch_only(out_dir: &std::path::Path) -> Result<(), String> {
    let sw = scale::run(&switch_options()).await?;
    let path = out_dir.join("results.json");
    let mut results = bench::load(&path).unwrap_or_else(|_| serde_json::json!({}));
    let problems: Vec<String> = sw["problems"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|p| p.as_str().map(String::from))
        .collect();
    results["switch"] = sw;
    std::fs::create_dir_all(out_dir).map_err(|e| e.to_string())?;
    std::fs::write(
        &path,
        serde_json::to_string_pretty(&results).expect("results JSON"),
    )
    .map_err(|e| format!("{}: {e}", path.display()))?;
    if problems.is_empty() {
        Ok(())
    } else {
        Err(problems.join("\n"))
    }
}

fn env(name: &str, default: usize) -> usize {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let defaults = Options::default();
    match args.first().map(String::as_str) {
        Some("--table") => match bench::load(&defaults.out_dir.join("results.json")) {
            Ok(r) => bench::print_tables(&r),
            Err(e) => {
                eprintln!("bench: {e}");
                std::process::exit(1);
            }
        },
        Some("--tls-probe") => {
            let bin = std::path::PathBuf::from(args.get(1).expect("--tls-probe <bootstrap>"));
            let logs = std::env::temp_dir();
            for run in 0..5 {
                match bench::tls_probe::tls_first_hello(&bin, &logs, std::time::Instant::now()) {
                    Ok(t) => println!(
                        "run {run}: accept -> ClientHello per connection: {:?} ms",
                        t.iter()
                            .map(|d| (d.as_secs_f64() * 1e5).round() / 100.0)
                            .collect::<Vec<_>>()
                    ),
                    Err(e) => eprintln!("run {run}: {e}"),
                }
            }
        }
        Some("--switch") => {
            if let Err(e) = switch_child(&defaults.out_dir) {
                eprintln!("\nBENCH FAILED:\n{e}");
                std::process::exit(1);
            }
        }
        Some("--switch-run") => {
            if let Err(e) = switch_only(&defaults.out_dir).await {
                eprintln!("\nBENCH FAILED:\n{e}");
                std::process::exit(1);
            }
        }
        Some(other) => {
            eprintln!("bench: unknown argument {other:?} (use --table, --switch or --tls-probe <bootstrap>)");
            std::process::exit(2);
        }
        None => {
            let opts = Options {
                cold_runs: env("BENCH_COLD_RUNS", defaults.cold_runs).max(1),
                warm_runs: env("BENCH_WARM_RUNS", defaults.warm_runs).max(1),
                storm_processes: std::env::var("BENCH_STORM_PROCESSES")
                    .ok()
                    .map(|v| v.split(',').filter_map(|n| n.trim().parse().ok()).collect())
                    .unwrap_or(defaults.storm_processes.clone()),
                storm_services: env("BENCH_STORM_SERVICES", defaults.storm_services).max(1),
                reconciler_services: env("BENCH_RECONCILER_SERVICES", defaults.reconciler_services)
                    .max(1),
                reconciler_runs: env("BENCH_RECONCILER_RUNS", defaults.reconciler_runs).max(1),
                out_dir: defaults.out_dir,
            };
            let functions = bench::run(&opts).await;
            let switch = switch_child(&opts.out_dir);
            if let Err(e) = functions {
                eprintln!("\nBENCH FAILED: a function did not do what it must:\n{e}");
                std::process::exit(1);
            }
            if let Err(e) = switch {
                eprintln!("\nBENCH FAILED:\n{e}");
                std::process::exit(1);
            }
        }
    }
}
