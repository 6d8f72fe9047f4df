//! The bulk reads and the switch metric of the AWS adapters, on the wire against moto,
//! counted by the tap: `DynamoStore::load_states` (BatchGetItem, 100 keys a call),
//! `Route53HealthChecks::list_page` (ListHealthChecks), `CloudWatchAlarms::
//! put_switch_values` / `switch_values` (PutMetricData / GetMetricData, 1,000 values and
//! 500 series a call) and `health_statuses` (Route 53's `HealthCheckStatus` in us-east-1).
//!
//! Where moto differs from AWS the test asserts moto's behaviour and says so in a `MOTO:`
//! comment (as `emulator_capabilities.rs` does):
//! - ListHealthChecks ignores MaxItems and Marker: every check comes back in one page,
//!   never truncated, so the paging over 1,000 checks cannot be exercised here.
//! - BatchGetItem refuses more than 100 keys and duplicate keys, as AWS does, and leaves
//!   keys unprocessed only beyond 16 MB of items (AWS also does so when throttled).
//! - PutMetricData accepts the reserved `AWS/` namespaces (AWS refuses them), so the test
//!   itself can stand in for Route 53's checkers: moto evaluates no health check and
//!   publishes no `HealthCheckStatus` of its own.
//! - GetMetricData returns every series in one answer, without NextToken.
//!
//! HARNESS: the SDK gzips PutMetricData bodies of 10 KB and more (about 60 switch values);
//! the CBOR-to-JSON translation in `scripts/moto_server.py` does not decompress them.

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use aws_sdk_cloudwatch::primitives::DateTime as CwDateTime;
use aws_sdk_cloudwatch::types::{Dimension, MetricDatum};
use failover::adapters::aws::{CloudWatchAlarms, DynamoStore, Route53Budget, Route53HealthChecks};
use failover::domain::state::{HealthCheckSettings, Phase, ServiceState};
use failover::domain::switch::{
    HEALTH_STATUS_DIMENSION, HEALTH_STATUS_METRIC, HEALTH_STATUS_NAMESPACE,
};
use failover::ports::{CloudWatch, ControlStore, ControlWrite, Datapoint, HealthChecks};
use failover::Millis;
use integration_tests::harness::tap::{round_trips, AwsTap, TappedCall};
use integration_tests::*;

fn tap_on(moto: &Emulator) -> AwsTap {
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, moto.port()));
    AwsTap::start(upstream, Instant::now()).expect("starting the tap")
}

/// The tap's mark once every call made so far is filed (the tap files a call just after
/// answering it).
fn operations(calls: &[TappedCall]) -> Vec<String> {
    calls.iter().map(|c| c.operation.clone()).collect()
}

fn now_ms() -> Millis {
    chrono::Utc::now().timestamp_millis()
}

#[tokio::test]
async fn load_states_reads_250_services_in_three_batch_get_item_calls() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let table = create_control_table(&sdk, &format!("bulk-{}", unique_suffix())).await;
    let direct = DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), &table);
    let services: Vec<String> = (0..250).map(|i| format!("svc-{i:03}")).collect();
    // Every tenth service has a state item; the others have never been written.
    for (i, service) in services.iter().enumerate().step_by(10) {
        let state = ServiceState {
            phase: Phase::FailedOver,
            epoch: i as u64 + 1,
            version: 1,
            last_transition_at: Some(1_700_000_000_000 + i as Millis),
            ..ServiceState::default()
        };
        let w = direct.write_control(service, 0, &state).await.unwrap();
        assert_eq!(w, ControlWrite::Written);
    }

    let tap = tap_on(&moto);
    let store = DynamoStore::new(aws_sdk_dynamodb::Client::new(&tap.sdk_config(&sdk)), &table);
    // A name asked twice is asked once (BatchGetItem refuses duplicate keys).
    let mut asked = services.clone();
    asked.push(services[0].clone());
    let mark = tap.settled_mark();
    let states = store.load_states(&asked).await.unwrap();
    let calls = tap.settled_since(mark, Duration::from_secs(5));

    assert_eq!(operations(&calls), ["BatchGetItem"; 3], "{calls:#?}");
    assert!(calls.iter().all(TappedCall::succeeded), "{calls:#?}");
    assert_eq!(round_trips(&calls), 3);
    assert_eq!(states.len(), 250);
    for (i, service) in services.iter().enumerate() {
        // The same decoding as `load_state`, the default state for a missing item.
        let one = direct.load_state(service).await.unwrap();
        assert_eq!(states[service], one, "{service}");
        if i % 10 == 0 {
            assert_eq!(one.phase, Phase::FailedOver);
            assert_eq!(one.epoch, i as u64 + 1);
        } else {
            assert_eq!(one, ServiceState::default());
        }
    }
    // Nothing asked, nothing sent.
    let mark = tap.settled_mark();
    assert!(store.load_states(&[]).await.unwrap().is_empty());
    assert!(tap.settled_since(mark, Duration::from_secs(5)).is_empty());
}

#[tokio::test]
async fn list_health_checks_on_moto_is_one_page_whatever_max_items_says() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let mut ids = Vec::new();
    for i in 0..1005 {
        ids.push(create_health_check(&sdk, &format!("svc-{i}.example.com")).await);
    }
    let admin = aws_sdk_route53::Client::new(&sdk);
    admin
        .update_health_check()
        .health_check_id(&ids[7])
        .disabled(true)
        .inverted(true)
        .send()
        .await
        .unwrap();

    let tap = tap_on(&moto);
    let checks = Route53HealthChecks::with_budget(
        failover::adapters::aws::route53_client(&tap.sdk_config(&sdk)),
        Route53Budget::new(10),
    );
    let mark = tap.settled_mark();
    let page = checks.list_page(None).await.unwrap();
    let calls = tap.settled_since(mark, Duration::from_secs(5));
    assert_eq!(operations(&calls), ["ListHealthChecks"], "{calls:#?}");
    // MOTO: MaxItems (1000 here) and Marker are ignored: all 1,005 checks in one page,
    // not truncated (AWS: 1,000, IsTruncated, NextMarker; the engine then asks again).
    assert_eq!(page.checks.len(), 1005);
    assert_eq!(page.next_marker, None);
    let by_id: HashMap<_, _> = page.checks.iter().cloned().collect();
    assert_eq!(by_id.len(), 1005);
    for id in &ids {
        assert!(by_id.contains_key(id), "{id} listed");
    }
    assert_eq!(
        by_id[&ids[7]].settings,
        HealthCheckSettings {
            disabled: true,
            inverted: true
        }
    );
    assert_eq!(
        by_id[&ids[8]].settings,
        HealthCheckSettings {
            disabled: false,
            inverted: false
        }
    );
    // The same flags and version as GetHealthCheck reads.
    assert_eq!(checks.get(&ids[7]).await.unwrap(), by_id[&ids[7]]);
    // MOTO: a Marker is ignored too: the same full page again.
    let again = checks.list_page(Some(&ids[500])).await.unwrap();
    assert_eq!(again.checks.len(), 1005);
    assert_eq!(again.next_marker, None);
    // Every call went through the budget, the listing as background work.
    let stats = checks.budget().stats();
    assert_eq!(stats.granted, 3);
    assert_eq!(stats.granted_deciding, 1);
}

/// `RegionalFailover` / `PrimaryForcedOut` {Service}: written in one region, read back there
/// only, the newest datapoint per service; 1,001 services take 2 PutMetricData calls and 3
/// GetMetricData calls (500 series a call).
#[tokio::test]
async fn the_switch_metric_reads_back_what_was_published_in_its_region() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let tap = tap_on(&moto);
    let cw = CloudWatchAlarms::new(tap.sdk_config(&sdk));
    let now = now_ms();
    let region = "eu-west-1";

    // A failover two minutes ago, the failback now: the newest value is 0.
    let checkout = vec![("checkout".to_string(), 1.0)];
    cw.put_switch_values(region, &checkout, now - 120_000)
        .await
        .unwrap();
    cw.put_switch_values(region, &[("checkout".to_string(), 0.0)], now)
        .await
        .unwrap();
    cw.put_switch_values(region, &[("payments".to_string(), 1.0)], now - 60_000)
        .await
        .unwrap();
    let asked: Vec<String> = ["checkout", "payments", "never-published"]
        .map(String::from)
        .to_vec();
    let mark = tap.settled_mark();
    let got = cw.switch_values(region, &asked, now).await.unwrap();
    let calls = tap.settled_since(mark, Duration::from_secs(5));
    assert_eq!(operations(&calls), ["GetMetricData"], "{calls:#?}");
    assert_eq!(calls[0].region, region);
    assert_eq!(got.len(), 2, "{got:?}");
    assert_eq!(got["checkout"].value, 0.0, "{got:?}");
    assert!(got["checkout"].at > now - 120_000, "{got:?}");
    assert_eq!(got["payments"].value, 1.0);
    // The metric is regional: nothing in another region.
    assert!(cw
        .switch_values("us-east-1", &asked, now)
        .await
        .unwrap()
        .is_empty());
    // An old value is out of the window.
    assert!(cw
        .switch_values(region, &asked, now + 10 * 60_000)
        .await
        .unwrap()
        .is_empty());

    // 1,001 services: two PutMetricData calls, three GetMetricData calls. The SDK gzips
    // a PutMetricData body of 10 KB or more, as AWS accepts; scripts/moto_server.py
    // inflates it before moto reads it.
    let many: Vec<(String, f64)> = (0..1001)
        .map(|i| (format!("svc-{i:04}"), f64::from(i % 2)))
        .collect();
    let mark = tap.settled_mark();
    cw.put_switch_values("us-west-2", &many, now).await.unwrap();
    let calls = tap.settled_since(mark, Duration::from_secs(5));
    assert_eq!(operations(&calls), ["PutMetricData"; 2], "{calls:#?}");
    let names: Vec<String> = many.iter().map(|(s, _)| s.clone()).collect();
    let mark = tap.settled_mark();
    let got = cw.switch_values("us-west-2", &names, now).await.unwrap();
    let calls = tap.settled_since(mark, Duration::from_secs(5));
    assert_eq!(operations(&calls), ["GetMetricData"; 3], "{calls:#?}");
    assert_eq!(got.len(), 1001);
    for (service, value) in &many {
        assert_eq!(got[service].value, *value, "{service}");
    }
}

/// Route 53's `HealthCheckStatus` per check, the Minimum of each minute, oldest first.
/// MOTO: it evaluates no health check and publishes no status, but it takes PutMetricData
/// into `AWS/Route53` (AWS refuses the reserved namespace), so the test publishes what
/// Route 53's checkers would.
#[tokio::test]
async fn health_statuses_read_back_route53_status_datapoints_oldest_first() {
    let moto = Emulator::start();
    let sdk = moto.sdk_config().await;
    let now = now_ms();
    let from = now - 10 * 60_000;
    let use1 = aws_sdk_cloudwatch::Client::new(&sdk);
    let publish = |id: &'static str, at: Millis, value: f64| {
        let use1 = use1.clone();
        async move {
            use1.put_metric_data()
                .namespace(HEALTH_STATUS_NAMESPACE)
                .metric_data(
                    MetricDatum::builder()
                        .metric_name(HEALTH_STATUS_METRIC)
                        .dimensions(
                            Dimension::builder()
                                .name(HEALTH_STATUS_DIMENSION)
                                .value(id)
                                .build(),
                        )
                        .timestamp(CwDateTime::from_millis(at))
                        .value(value)
                        .build(),
                )
                .send()
                .await
                .expect("MOTO: PutMetricData into AWS/Route53 is accepted")
        }
    };
    // Minute k of the window is [from + k min, from + (k+1) min).
    publish("hc-primary", from + 30_000, 1.0).await;
    publish("hc-primary", from + 3 * 60_000 + 10_000, 1.0).await;
    publish("hc-primary", from + 3 * 60_000 + 20_000, 0.0).await; // Minimum: 0
    publish("hc-primary", from + 6 * 60_000, 1.0).await;
    publish("hc-probe", from + 2 * 60_000 + 5_000, 0.0).await;
    // Outside the window: before it, and in another region.
    publish("hc-probe", from - 5 * 60_000, 1.0).await;
    aws_sdk_cloudwatch::Client::new(&in_region(&sdk, "eu-west-1"))
        .put_metric_data()
        .namespace(HEALTH_STATUS_NAMESPACE)
        .metric_data(
            MetricDatum::builder()
                .metric_name(HEALTH_STATUS_METRIC)
                .dimensions(
                    Dimension::builder()
                        .name(HEALTH_STATUS_DIMENSION)
                        .value("hc-elsewhere")
                        .build(),
                )
                .timestamp(CwDateTime::from_millis(from + 60_000))
                .value(1.0)
                .build(),
        )
        .send()
        .await
        .unwrap();

    let tap = tap_on(&moto);
    // The adapter's own region is not us-east-1: the status is read there anyway.
    let cw = CloudWatchAlarms::new(in_region(&tap.sdk_config(&sdk), "eu-west-1"));
    let ids: Vec<String> = ["hc-primary", "hc-probe", "hc-elsewhere", "hc-silent"]
        .map(String::from)
        .to_vec();
    let mark = tap.settled_mark();
    let got = cw.health_statuses(&ids, from, now).await.unwrap();
    let calls = tap.settled_since(mark, Duration::from_secs(5));
    assert_eq!(operations(&calls), ["GetMetricData"], "{calls:#?}");
    assert_eq!(calls[0].region, "us-east-1");
    let values = |id: &str| got[id].iter().map(|p| p.value).collect::<Vec<_>>();
    assert_eq!(values("hc-primary"), [1.0, 0.0, 1.0], "{got:?}");
    assert_eq!(values("hc-probe"), [0.0]);
    let at: Vec<Millis> = got["hc-primary"].iter().map(|p: &Datapoint| p.at).collect();
    assert!(at.windows(2).all(|w| w[0] < w[1]), "oldest first: {at:?}");
    // A datapoint is stamped with its period's start (CloudWatch: the minute's; moto: from,
    // to the second, plus whole periods).
    assert!(at[0] > from - 60_000 && at[2] <= now, "{at:?}");
    assert!(!got.contains_key("hc-elsewhere"), "us-east-1 only");
    assert!(
        !got.contains_key("hc-silent"),
        "a check without data is absent"
    );
}
