//! A short alarm storm in `make test` (the full one is `make reliability`): duplicated,
//! shuffled, stale and OK events for several services from concurrent function processes,
//! and exactly the decisions the script implies, one alert each.

use integration_tests::storm::{run, StormPlan};

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_short_storm_makes_exactly_the_scripted_decisions() {
    for seed in [7, 1_000_003] {
        let plan = StormPlan {
            services: 8,
            max_copies: 4,
            processes: 4,
            seed,
        };
        match run(plan).await {
            Ok(r) => {
                println!(
                    "storm seed {seed}: {} deliveries of {} events ({} stale) in {:.1}s, {:.1}/s, {:.2} AWS calls per delivery, {} failovers",
                    r.deliveries,
                    r.events,
                    r.stale,
                    r.elapsed.as_secs_f64(),
                    r.deliveries_per_second(),
                    r.calls_per_delivery(),
                    r.failovers
                );
                assert_eq!(r.failovers, 4, "services 0, 1, 4, 5 have a quorum");
                assert_eq!(r.failover_alerts, 4);
            }
            Err((why, _)) => panic!("{why}"),
        }
    }
}
