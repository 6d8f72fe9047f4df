//! `make demo [SCENARIO=quorum|blocked|flapping|split|staggered|control-plane-outage]`: a failover drill. A whole
//! incident through the real Lambda runtime (`cargo lambda watch` + `cargo lambda
//! invoke`) against a local moto server, with a timeline, a summary and an RTO budget;
//! JSON and HTML reports under `target/drill/`. See `integration_tests::drill`.
//!
//! Exit status: 0 the drill held, 1 a check failed (the product misbehaved), 2 bad
//! usage, 130 interrupted (Ctrl-C) or 143 terminated. Whatever happens, the emulator and
//! the functions are stopped before the process exits.

use std::process::ExitCode;

use integration_tests::drill::{self, DrillOptions, Scenario};
use tokio::signal::unix::{signal, SignalKind};

const USAGE: &str =
    "usage: demo [--scenario quorum|blocked|flapping|split|staggered|control-plane-outage] [--out DIR] [--list]
  (the SCENARIO environment variable works too; default: quorum)";

fn main() -> ExitCode {
    let mut scenario = std::env::var("SCENARIO")
        .ok()
        .filter(|s| !s.trim().is_empty());
    let mut out_dir = None;
    let mut args = std::env::args().skip(1);
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--scenario" | "-s" => scenario = args.next(),
            "--out" => out_dir = args.next().map(std::path::PathBuf::from),
            "--list" => {
                for s in Scenario::ALL {
                    println!("{:<21} {}", s.name(), s.description());
                }
                return ExitCode::SUCCESS;
            }
            "--help" | "-h" => {
                println!("{USAGE}");
                return ExitCode::SUCCESS;
            }
            other => match other.strip_prefix("--scenario=") {
                Some(s) => scenario = Some(s.to_string()),
                None => {
                    eprintln!("unknown argument '{other}'\n{USAGE}");
                    return ExitCode::from(2);
                }
            },
        }
    }
    let scenario = match scenario.as_deref().map(Scenario::parse) {
        None => Scenario::Quorum,
        Some(Some(s)) => s,
        Some(None) => {
            eprintln!(
                "unknown scenario '{}': choose one of {}",
                scenario.unwrap_or_default(),
                Scenario::ALL.map(Scenario::name).join(", ")
            );
            return ExitCode::from(2);
        }
    };
    let mut options = DrillOptions::demo(scenario);
    if let Some(dir) = out_dir {
        options.out_dir = Some(dir);
    }

    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("cannot start the async runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    let code = runtime.block_on(drive(options));
    // Waits for blocking work still running (e.g. an emulator that was starting when
    // Ctrl-C came): what it returns is dropped, which stops it.
    drop(runtime);
    code
}

async fn drive(options: DrillOptions) -> ExitCode {
    // Installed before anything is started, so a signal never kills the process with
    // children left behind.
    let (mut interrupt, mut terminate) = match (
        signal(SignalKind::interrupt()),
        signal(SignalKind::terminate()),
    ) {
        (Ok(i), Ok(t)) => (i, t),
        (Err(e), _) | (_, Err(e)) => {
            eprintln!("cannot install the signal handlers: {e}");
            return ExitCode::FAILURE;
        }
    };
    let mut run = Box::pin(drill::run(options));
    let stopped_by = tokio::select! {
        report = &mut run => {
            return if report.held {
                println!("\nDRILL HELD: scenario '{}' did what it must.", report.scenario);
                ExitCode::SUCCESS
            } else {
                eprintln!(
                    "\nDRILL FAILED: scenario '{}': {} check(s) failed (listed above); the product misbehaved.",
                    report.scenario,
                    report.failures().len()
                );
                ExitCode::FAILURE
            };
        }
        _ = interrupt.recv() => ("interrupted", 130),
        _ = terminate.recv() => ("terminated", 143),
    };
    eprintln!(
        "\ndrill {}: stopping the functions and the emulator...",
        stopped_by.0
    );
    // Dropping the drill drops the emulator, the tap and cargo lambda watch: each stops
    // its processes.
    drop(run);
    eprintln!("cleaned up; no report written");
    ExitCode::from(stopped_by.1)
}
