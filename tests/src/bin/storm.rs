//! `make reliability`'s storm: 100 services x 3 observers, each event delivered up to 30
//! times, shuffled, with stale redeliveries and OK events, through 16 alarm-trigger
//! processes. Prints the figures; exit 1 when an invariant did not hold.
//! Options: STORM_SERVICES, STORM_COPIES, STORM_PROCESSES, STORM_SEED.

use integration_tests::storm::{run, StormPlan, StormReport};

fn env(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(default)
}

fn print(r: &StormReport) {
    println!(
        "storm: {} services x 3 observers, seed {}: {} distinct events ({} stale), {} deliveries (up to {} copies each) by {} processes",
        r.plan.services, r.plan.seed, r.events, r.stale, r.deliveries, r.plan.max_copies, r.plan.processes
    );
    println!(
        "  {:.1} s, {:.1} deliveries/s, {} AWS calls ({:.2} per delivery)",
        r.elapsed.as_secs_f64(),
        r.deliveries_per_second(),
        r.aws_calls,
        r.calls_per_delivery()
    );
    println!(
        "  failovers {} (the script: {}), failover alerts {}, other alerts {}, failed invocations {}",
        r.failovers, r.expected_failovers, r.failover_alerts, r.other_alerts, r.invocation_errors
    );
}

#[tokio::main(flavor = "multi_thread", worker_threads = 4)]
async fn main() {
    let plan = StormPlan {
        services: env("STORM_SERVICES", 100) as usize,
        max_copies: env("STORM_COPIES", 30) as usize,
        processes: env("STORM_PROCESSES", 16) as u32,
        seed: env("STORM_SEED", 20_261_123),
    };
    match run(plan).await {
        Ok(r) => {
            print(&r);
            println!("storm held: exactly the scripted decisions, one alert each, nothing else");
        }
        Err((why, report)) => {
            if let Some(r) = report {
                print(&r);
            }
            eprintln!("STORM FAILED: {why}");
            std::process::exit(1);
        }
    }
}
