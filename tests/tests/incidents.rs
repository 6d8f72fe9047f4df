//! Incidents shaped like real ones, on the wire: moto with the observers' alarms really in
//! ALARM (SetAlarmState), the engine over the real SDK clients through the recording tap,
//! and time compressed by a vote window of a few seconds instead of minutes.
//!
//! CloudWatch sends an event only when an alarm changes state: an observer that stays in
//! ALARM never votes again. The reconciler reads the standing alarms and decides a quorum
//! that stands, also when a hold (here: a timed pause) ends with no new event.

use std::net::{Ipv4Addr, SocketAddr};
use std::time::{Duration, Instant};

use failover::adapters::aws::AwsEngine;
use failover::api::reports::ReconcileReport;
use failover::engine::ReconcileSettings;
use failover::Config;
use integration_tests::harness::provision::resources::{get_health_check, put_catalog_entry};
use integration_tests::harness::stage::{self, Stage};
use integration_tests::harness::tap::{AwsTap, TappedCall};
use integration_tests::*;
use serde_json::{json, Value};

/// Votes live this long after their last confirmation: short, so the tests wait seconds.
const WINDOW_SECONDS: u64 = 3;

struct Bed {
    stage: Stage,
    tap: AwsTap,
    engine: AwsEngine,
}

/// The deployment-like `checkout` (three real observer alarms, all OK; the secondary's
/// readiness alarm) with a vote window of [`WINDOW_SECONDS`] and `extra` laid over it.
async fn bed(extra: Value) -> Bed {
    let emulator = tokio::task::spawn_blocking(Emulator::start)
        .await
        .expect("starting moto");
    let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, emulator.port()));
    let stage = Stage::provision(emulator, &mut |_| {}).await;
    let mut definition = stage.definition.clone();
    definition["vote_window_seconds"] = json!(WINDOW_SECONDS);
    definition["max_event_age_seconds"] = json!(120);
    for (k, v) in extra.as_object().into_iter().flatten() {
        definition[k] = v.clone();
    }
    put_catalog_entry(
        &stage.sdk,
        stage::TABLE,
        stage::SERVICE,
        &definition.to_string(),
    )
    .await;
    let tap = AwsTap::start(upstream, Instant::now()).expect("starting the tap");
    let config = Config {
        table: stage::TABLE.into(),
        topic_arn: stage.topic_arn.clone(),
    };
    let engine = failover::adapters::aws::engine(&tap.sdk_config(&stage.sdk), &config, "test");
    Bed { stage, tap, engine }
}

impl Bed {
    /// Puts observer `i`'s alarm into ALARM in moto and delivers its event; the outcome.
    async fn alarm(&self, i: usize, id: &str) -> String {
        self.set(i, "ALARM", id).await
    }

    /// Puts observer `i`'s alarm into `state` in moto and delivers its event; the outcome.
    async fn set(&self, i: usize, state: &str, id: &str) -> String {
        let o = &self.stage.observers[i];
        let (at, now) = self.stage.set_alarm(o.region, &o.name, state).await;
        assert_eq!(now, state);
        let previous = if state == "ALARM" { "OK" } else { "ALARM" };
        let event = self.stage.event(o, state, previous, at, id);
        let out = self
            .engine
            .handle_alarm_event(&event, &inv(id))
            .await
            .expect("the alarm event is handled");
        out.services[0].outcome.to_string()
    }

    async fn reconcile(&self, id: &str) -> ReconcileReport {
        let report = self
            .engine
            .reconcile(&inv(id), &ReconcileSettings::default())
            .await
            .expect("the reconciler run");
        assert!(report.errors.is_empty(), "{report:?}");
        report
    }

    async fn phase_and_epoch(&self) -> (String, u64) {
        let s = self.stage.snapshot().await;
        (s.phase, s.epoch)
    }

    async fn alert_types(&self) -> Vec<String> {
        self.alerts()
            .await
            .iter()
            .map(|a| a.attribute("event_type").unwrap_or_default())
            .collect()
    }

    async fn alerts(&self) -> Vec<SnsEnvelope> {
        receive_sns_messages(
            &self.stage.sdk,
            &self.stage.queue_url,
            Duration::from_millis(300),
        )
        .await
    }

    async fn operate(&self, action: &str) -> failover::api::operator_response::OperatorResponse {
        self.engine
            .handle_operator_request(
                &json!({"action": action, "service": stage::SERVICE,
                        "reason": "primary healthy again", "requested_by": "alice"}),
                &inv(action),
            )
            .await
            .expect("the operator request")
    }

    async fn primary_forced(&self) -> bool {
        let (disabled, inverted, _) =
            get_health_check(&self.stage.sdk, &self.stage.primary_hc).await;
        disabled && inverted
    }
}

fn outside_the_window() -> Duration {
    Duration::from_millis(WINDOW_SECONDS * 1000 + 1500)
}

fn count(calls: &[TappedCall], operation: &str) -> usize {
    calls.iter().filter(|c| c.operation == operation).count()
}

#[tokio::test]
async fn staggered_observers_are_decided_by_the_reconciler_from_their_standing_alarms() {
    let b = bed(json!({})).await;
    assert_eq!(b.alarm(0, "a").await, "vote_recorded");
    // A stays in ALARM (no new event); B enters ALARM after A's window has passed.
    tokio::time::sleep(outside_the_window()).await;
    assert_eq!(
        b.alarm(1, "b").await,
        "vote_recorded",
        "A's event is older than the window and nothing has read A since"
    );
    assert_eq!(b.phase_and_epoch().await, ("PRIMARY_ACTIVE".into(), 0));

    let mut mark = b.tap.settled_mark();
    b.reconcile("r1").await;
    let calls = b.tap.take_since(&mut mark);
    // A (us-east-1) and B (us-west-2): one DescribeAlarms in each observer region (the
    // pre-flight reads the readiness alarm in eu-west-1 besides).
    let reads = |region: &str| {
        calls
            .iter()
            .filter(|c| c.operation == "DescribeAlarms" && c.region == region)
            .count()
    };
    assert_eq!(
        (reads("us-east-1"), reads("us-west-2")),
        (1, 1),
        "{calls:#?}"
    );
    assert_eq!(
        b.phase_and_epoch().await,
        ("FAILED_OVER".into(), 1),
        "the standing quorum is decided in one run"
    );
    assert!(b.primary_forced().await);
    assert_eq!(b.alert_types().await, ["failover"]);
    assert_eq!(count(&calls, "UpdateHealthCheck"), 1, "{calls:#?}");

    b.reconcile("r2").await;
    let calls = b.tap.take_since(&mut mark);
    assert_eq!(count(&calls, "UpdateHealthCheck"), 0, "no second switch");
    assert_eq!(b.phase_and_epoch().await, ("FAILED_OVER".into(), 1));
    assert!(b.alert_types().await.is_empty(), "no second alert");
}

#[tokio::test]
async fn reconciler_reads_keep_a_standing_alarm_live_for_a_later_observer() {
    let b = bed(json!({})).await;
    assert_eq!(b.alarm(0, "a").await, "vote_recorded");
    // Runs every ~WINDOW/2 s, as the one-minute schedule does for a five-minute window.
    for n in 0..4 {
        tokio::time::sleep(Duration::from_millis(WINDOW_SECONDS * 500)).await;
        b.reconcile(&format!("r{n}")).await;
    }
    assert_eq!(
        b.alarm(1, "b").await,
        "failed_over",
        "A, in ALARM for longer than the window and confirmed by the reads, is live"
    );
    assert_eq!(b.alert_types().await, ["failover"]);
}

#[tokio::test]
async fn a_timed_pause_that_ends_while_the_alarms_stand_is_decided_by_the_reconciler() {
    let b = bed(json!({})).await;
    let until = chrono::Utc::now() + chrono::Duration::seconds(2);
    let r = b
        .engine
        .handle_operator_request(
            &json!({"action": "pause", "service": stage::SERVICE, "reason": "db upgrade",
                    "requested_by": "bob", "until": until.to_rfc3339()}),
            &inv("pause"),
        )
        .await
        .expect("pause");
    assert!(r.ok, "{r:?}");
    assert_eq!(b.alarm(0, "a").await, "vote_recorded");
    assert_eq!(b.alarm(1, "b").await, "held", "paused");
    // The pause ends and both votes are past the window; the alarms still stand.
    tokio::time::sleep(outside_the_window()).await;
    let report = b.reconcile("r1").await;
    assert_eq!(report.pauses_expired, 1, "{report:?}");
    assert_eq!(b.phase_and_epoch().await, ("FAILED_OVER".into(), 1));
    assert!(b.primary_forced().await);
    assert_eq!(
        b.alert_types().await,
        ["pause", "held", "resume", "failover"],
        "the paused quorum paged once (held), then decided when the pause ended"
    );
    b.reconcile("r2").await;
    assert!(b.alert_types().await.is_empty());
}

#[tokio::test]
async fn a_relapse_inside_the_cooldown_pages_held_once_and_fails_over_when_it_ends() {
    let b = bed(json!({"cooldown_seconds": 4, "max_auto_failovers_per_day": 3})).await;
    assert_eq!(b.alarm(0, "a").await, "vote_recorded");
    assert_eq!(b.alarm(1, "b").await, "failed_over");
    assert_eq!(b.set(0, "OK", "a-ok").await, "held");
    assert_eq!(b.set(1, "OK", "b-ok").await, "held");
    let r = b.operate("failback").await;
    assert!(r.ok, "{r:?}");
    assert_eq!(b.alert_types().await, ["failover", "failback"]);
    // The primary fails again inside the cooldown.
    assert_eq!(b.alarm(0, "a2").await, "vote_recorded");
    assert_eq!(b.alarm(1, "b2").await, "held");
    let alerts = b.alerts().await;
    assert_eq!(alerts.len(), 1, "one page for the hold");
    let page = &alerts[0];
    assert_eq!(page.attribute("event_type").as_deref(), Some("held"));
    for needle in [
        "reason:   cooldown",
        r#""action":"failover""#,
        r#""force":true"#,
    ] {
        assert!(page.message.contains(needle), "{needle}:\n{}", page.message);
    }
    b.reconcile("r1").await;
    assert!(
        b.alerts().await.is_empty(),
        "not paged again for the same hold"
    );
    assert_eq!(b.phase_and_epoch().await, ("PRIMARY_ACTIVE".into(), 2));
    // The cooldown ends with the alarms standing and no new event: the next run decides.
    tokio::time::sleep(Duration::from_secs(5)).await;
    b.reconcile("r2").await;
    assert_eq!(b.phase_and_epoch().await, ("FAILED_OVER".into(), 3));
    assert!(b.primary_forced().await);
    assert_eq!(b.alert_types().await, ["failover"]);
}

#[tokio::test]
async fn a_reconciler_run_over_200_services_reads_only_the_standing_alarms() {
    use integration_tests::harness::provision::{provision_service, Observers, ServiceSpec};
    use integration_tests::harness::stage::{Observer, Shape};
    let b = bed(json!({})).await;
    // 194 quiet services beside `checkout`, and 5 whose observers in us-east-1 and
    // us-west-2 stand in ALARM (quorum 3: they do not decide, they are confirmed).
    for n in 0..194 {
        let observers = (0..3)
            .map(|i| format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT_ID}:alarm:quiet{n}-{i}"))
            .collect();
        provision_service(
            &b.stage.sdk,
            stage::TABLE,
            ServiceSpec::new(format!("quiet{n}"), Observers::Arns(observers)),
        )
        .await;
    }
    let regions = ["us-east-1", "us-west-2", "eu-west-1"];
    let mut standing = Vec::new();
    for n in 0..5 {
        let alarms = regions
            .iter()
            .enumerate()
            .map(|(i, r)| (*r, format!("standing{n}-{i}")))
            .collect();
        let spec = ServiceSpec::new(format!("standing{n}"), Observers::Alarms(alarms))
            .settings(json!({"quorum": 3}));
        standing.push(provision_service(&b.stage.sdk, stage::TABLE, spec).await);
    }
    // Every catalog item is in place before the first event reads (and caches) the catalog.
    // A first run evaluates every service's readiness (issue 17) and writes each first
    // result once; the run measured below is a steady one.
    let warm = b.reconcile("r0").await;
    assert_eq!(warm.readiness_evaluated, 200, "{warm:?}");
    for (n, service) in standing.iter().enumerate() {
        for (i, region) in regions.iter().enumerate().take(2) {
            let o = Observer {
                n: i + 1,
                region,
                name: format!("standing{n}-{i}"),
                arn: service.observers[i].clone(),
                shape: Shape::EventBridge,
            };
            let (at, _) = b.stage.set_alarm(region, &o.name, "ALARM").await;
            let event = b.stage.event(&o, "ALARM", "OK", at, &format!("s{n}-{i}"));
            b.engine
                .handle_alarm_event(&event, &inv("e"))
                .await
                .expect("the vote");
        }
    }
    let mut mark = b.tap.settled_mark();
    let report = b.reconcile("r1").await;
    assert_eq!((report.services, report.checked), (200, 200), "{report:?}");
    let calls = b.tap.take_since(&mut mark);
    let by_op = |op: &str| count(&calls, op);
    // The catalog is cached from the votes; the states in BatchGetItem calls of 100 and
    // the 400 health checks in one ListHealthChecks page (not a GetItem and a
    // GetHealthCheck per service); one DescribeAlarms in each region with standing ALARM
    // votes (5 names each); one conditional UpdateItem per service confirming its votes;
    // for the readiness due this minute, at most one GetMetricData (500 a call), when
    // `checkout` is among them its readiness alarm (one DescribeAlarms in eu-west-1), and no
    // write.
    let readiness_alarm = by_op("DescribeAlarms").saturating_sub(2);
    let readiness_reads = by_op("GetMetricData") + readiness_alarm;
    assert!(
        by_op("GetMetricData") <= 1 && readiness_alarm <= by_op("GetMetricData"),
        "{calls:#?}"
    );
    assert_eq!(
        (
            by_op("BatchGetItem"),
            by_op("ListHealthChecks"),
            by_op("GetItem") + by_op("GetHealthCheck"),
            by_op("DescribeAlarms"),
            by_op("UpdateItem"),
            calls.len()
        ),
        (2, 1, 0, 2 + readiness_alarm, 5, 10 + readiness_reads),
        "{calls:#?}"
    );
    eprintln!(
        "reconciler run over 200 services, 5 with two standing ALARM votes: {} AWS calls",
        calls.len()
    );
}
