//! `make bench`: the release functions through the Lambda Runtime API against moto on
//! loopback (see `integration_tests::bench`). Prints the tables and writes
//! `target/bench/results.json`; exit 1 when a function misbehaved (never on a timing).
//!
//! Options (environment): BENCH_COLD_RUNS (10), BENCH_WARM_RUNS (20),
//! BENCH_STORM_PROCESSES (1,4,16), BENCH_STORM_SERVICES (40), BENCH_RECONCILER_SERVICES
//! (200), BENCH_RECONCILER_RUNS (7).
//! `bench --table` prints the tables of the last results again;
//! `bench --tls-probe <bootstrap>` times only the first TLS ClientHellos of an
//! alarm-trigger binary (to compare builds with and without CPU-jitter entropy).

use integration_tests::bench::{self, Options};

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
        Some(other) => {
            eprintln!("bench: unknown argument {other:?} (use --table or --tls-probe <bootstrap>)");
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
            if let Err(e) = bench::run(&opts).await {
                eprintln!("\nBENCH FAILED: a function did not do what it must:\n{e}");
                std::process::exit(1);
            }
        }
    }
}
