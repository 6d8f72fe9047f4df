//! [`World`]: the bed of the tests that run the engine in this process over the real SDK
//! adapters: a fresh moto with the control plane and one catalogued service, `checkout`
//! (two health checks, three observers by ARN, quorum 2), provisioned by
//! [`crate::harness::provision`]. Calls can be recorded on the wire by building the engine
//! on a tap ([`World::tap`], [`World::engine_through`]).

use std::collections::HashMap;
use std::net::{Ipv4Addr, SocketAddr};
use std::time::Instant;

use aws_config::SdkConfig;
use aws_sdk_dynamodb::types::AttributeValue;
use failover::adapters::aws::{
    AwsEngine, CloudWatchAlarms, DynamoStore, Route53Budget, Route53HealthChecks, SnsNotifier,
};
use failover::adapters::clock::SystemClock;
use failover::engine::Invocation;
use failover::Config;
use serde_json::{json, Value};

use crate::fixtures::{fixture, set_times};
use crate::harness::alerts::{receive_sns_messages, SnsEnvelope};
use crate::harness::emulator::in_region;
use crate::harness::emulator::Emulator;
use crate::harness::failing_ports::FailFirstUpdate;
use crate::harness::provision::resources::{get_health_check, set_alarm_state};
use crate::harness::provision::runbook::{provision_runbook, RunbookCapacity, RunbookResources};
use crate::harness::provision::{provision_service, ControlPlane, Observers, ServiceSpec};
use crate::harness::tap::AwsTap;

/// The account of the observers' alarms (the one in the event fixtures).
pub const ACCOUNT: &str = crate::harness::emulator::ACCOUNT_ID;

pub struct World {
    pub emulator: Emulator,
    pub sdk: SdkConfig,
    pub config: Config,
    pub queue_url: String,
    /// What the EventBridge rule on the default bus caught ([`ControlPlane::events_queue_url`]).
    pub events_queue_url: String,
    pub primary: String,
    pub secondary: String,
    pub observers: Vec<String>,
    /// The switch alarm `checkout-primary-switch` (metric and both modes), in the secondary region.
    pub switch_alarm: Option<String>,
    /// The primary's probe health check ([`ServiceSpec::probe`]).
    pub probe: Option<String>,
}

/// `checkout`'s observers: (region, alarm name), the names of the event fixtures.
pub const OBSERVERS: [(&str, &str); 3] = [
    ("us-east-1", "checkout-canary-use1"),
    ("us-west-2", "checkout-canary-usw2"),
    ("eu-west-1", "checkout-canary-euw1"),
];

/// The ARN of alarm `name` in `region` of [`ACCOUNT`].
pub fn observer_arn(region: &str, name: &str) -> String {
    format!("arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}")
}

/// The real SDK adapters, one per port, for an engine a test assembles itself (e.g. with
/// one of them wrapped by [`crate::harness::failing_ports`]).
pub struct SdkPorts {
    pub store: DynamoStore,
    pub health_checks: Route53HealthChecks,
    pub alarms: CloudWatchAlarms,
    pub notifier: SnsNotifier,
}

impl World {
    /// `checkout`'s catalog item is the base one with `extra`'s fields laid over it.
    pub async fn start(extra: Value) -> World {
        let observers = OBSERVERS.iter().map(|(r, n)| observer_arn(r, n)).collect();
        World::start_with(ServiceSpec::new("checkout", Observers::Arns(observers)).settings(extra))
            .await
    }

    /// `checkout` with its three observers as real CloudWatch alarms in moto (state OK,
    /// the fixtures' names and ARNs), so a test can put them in ALARM ([`World::alarm`]):
    /// the spec to lay a switch mode, a probe or catalog fields over.
    pub fn checkout_with_alarms() -> ServiceSpec {
        let alarms = OBSERVERS.iter().map(|(r, n)| (*r, n.to_string())).collect();
        ServiceSpec::new("checkout", Observers::Alarms(alarms))
    }

    /// A world whose one service is `spec` (named `checkout`: the helpers read its items).
    pub async fn start_with(spec: ServiceSpec) -> World {
        let emulator = Emulator::start();
        let sdk = emulator.sdk_config().await;
        let plane = ControlPlane::create(&sdk, "failover-control", "failover-alerts").await;
        let service = provision_service(&sdk, &plane.table, spec).await;
        World {
            emulator,
            sdk,
            config: Config {
                table: plane.table,
                topic_arn: plane.topic_arn,
            },
            queue_url: plane.queue_url,
            events_queue_url: plane.events_queue_url,
            primary: service.primary_hc,
            secondary: service.secondary_hc,
            observers: service.observers,
            switch_alarm: service.switch_alarm_arn,
            probe: service.probe_hc,
        }
    }

    /// A world whose `checkout` has the workflow's resources in moto (issue 16,
    /// [`provision_runbook`] at `capacity`), made before its catalog entry, which `shape`
    /// gives from them (e.g. `World::checkout_with_alarms().workflow(r.workflow())`).
    pub async fn start_runbook(
        capacity: RunbookCapacity,
        shape: impl FnOnce(&RunbookResources) -> ServiceSpec,
    ) -> (World, RunbookResources) {
        let emulator = Emulator::start();
        let sdk = emulator.sdk_config().await;
        let plane = ControlPlane::create(&sdk, "failover-control", "failover-alerts").await;
        let resources = provision_runbook(&sdk, "checkout", capacity).await;
        let service = provision_service(&sdk, &plane.table, shape(&resources)).await;
        let world = World {
            emulator,
            sdk,
            config: Config {
                table: plane.table,
                topic_arn: plane.topic_arn,
            },
            queue_url: plane.queue_url,
            events_queue_url: plane.events_queue_url,
            primary: service.primary_hc,
            secondary: service.secondary_hc,
            observers: service.observers,
            switch_alarm: service.switch_alarm_arn,
            probe: service.probe_hc,
        };
        (world, resources)
    }

    /// Puts observer `i`'s alarm (a [`World::checkout_with_alarms`] world) into `state` in
    /// moto, as CloudWatch would, and returns the EventBridge event CloudWatch sends for
    /// it, dated by the alarm's state timestamp.
    pub async fn alarm(&self, i: usize, state: &str, id: &str) -> Value {
        let (region, name) = OBSERVERS[i];
        set_alarm_state(&self.sdk, region, name, state).await;
        let out = aws_sdk_cloudwatch::Client::new(&in_region(&self.sdk, region))
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .expect("DescribeAlarms");
        let alarm = out
            .metric_alarms()
            .first()
            .expect("the observer's alarm exists");
        assert_eq!(alarm.state_value().map(|s| s.as_str()), Some(state));
        let at = alarm
            .state_updated_timestamp()
            .and_then(|t| chrono::DateTime::from_timestamp_millis(t.to_millis().ok()?))
            .unwrap_or_else(chrono::Utc::now);
        alarm_event(region, name, state, at, id)
    }

    /// The engine as the functions wire it through `tap`, with a Route 53 budget of
    /// `per_second` calls (the process's one limiter).
    pub fn engine_with_budget(&self, tap: &AwsTap, per_second: u32) -> AwsEngine {
        failover::adapters::aws::engine_with_budget(
            &tap.sdk_config(&self.sdk),
            &self.config,
            "test",
            Route53Budget::new(per_second),
        )
    }

    /// [`World::engine_with_clock`] with its calls going through `tap`.
    pub fn engine_with_clock_through(&self, clock: TestClock, tap: &AwsTap) -> ClockedEngine {
        let p = self.ports(&tap.sdk_config(&self.sdk));
        failover::Engine::new(
            p.store,
            p.health_checks,
            p.alarms,
            p.notifier,
            clock,
            "test",
        )
    }

    /// The engine as the functions wire it, straight to moto.
    pub fn engine(&self) -> AwsEngine {
        failover::adapters::aws::engine(&self.sdk, &self.config, "test")
    }

    /// A recording tap in front of this world's moto.
    pub fn tap(&self) -> AwsTap {
        let upstream = SocketAddr::from((Ipv4Addr::LOCALHOST, self.emulator.port()));
        AwsTap::start(upstream, Instant::now()).expect("starting the tap")
    }

    /// The engine as the functions wire it, its calls going through `tap`.
    pub fn engine_through(&self, tap: &AwsTap) -> AwsEngine {
        failover::adapters::aws::engine(&tap.sdk_config(&self.sdk), &self.config, "test")
    }

    /// The real adapters on `sdk` (this world's, or one on a tap).
    pub fn ports(&self, sdk: &SdkConfig) -> SdkPorts {
        SdkPorts {
            store: DynamoStore::new(aws_sdk_dynamodb::Client::new(sdk), &self.config.table),
            health_checks: Route53HealthChecks::new(failover::adapters::aws::route53_client(sdk)),
            alarms: CloudWatchAlarms::new(sdk.clone()),
            notifier: SnsNotifier::new(aws_sdk_sns::Client::new(sdk), &self.config.topic_arn),
        }
    }

    /// The alarm-trigger's engine on the real adapters, with Route 53 refusing the first
    /// UpdateHealthCheck: a decided failover whose switch fails once.
    pub fn engine_failing_first_switch(&self) -> FailingSwitchEngine {
        let p = self.ports(&self.sdk);
        failover::Engine::new(
            p.store,
            FailFirstUpdate(p.health_checks, true.into()),
            p.alarms,
            p.notifier,
            SystemClock,
            "alarm-trigger",
        )
    }

    /// The engine on the real adapters with a hand-moved clock.
    pub fn engine_with_clock(&self, clock: TestClock) -> ClockedEngine {
        let p = self.ports(&self.sdk);
        failover::Engine::new(
            p.store,
            p.health_checks,
            p.alarms,
            p.notifier,
            clock,
            "test",
        )
    }

    /// The alerts that reached the topic since the last call.
    pub async fn alerts(&self) -> Vec<SnsEnvelope> {
        receive_sns_messages(
            &self.sdk,
            &self.queue_url,
            std::time::Duration::from_millis(300),
        )
        .await
    }

    pub async fn state_item(&self) -> Option<HashMap<String, AttributeValue>> {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        client
            .get_item()
            .table_name(&self.config.table)
            .key("pk", AttributeValue::S("service#checkout".into()))
            .key("sk", AttributeValue::S("state".into()))
            .consistent_read(true)
            .send()
            .await
            .unwrap()
            .item
    }

    pub async fn history(&self) -> Vec<HashMap<String, AttributeValue>> {
        let client = aws_sdk_dynamodb::Client::new(&self.sdk);
        client
            .query()
            .table_name(&self.config.table)
            .key_condition_expression("pk = :pk AND begins_with(sk, :h)")
            .expression_attribute_values(":pk", AttributeValue::S("service#checkout".into()))
            .expression_attribute_values(":h", AttributeValue::S("history#".into()))
            .send()
            .await
            .unwrap()
            .items
            .unwrap_or_default()
    }

    /// Sets the primary's flags by hand, as a person in the console would.
    pub async fn set_primary_flags(&self, disabled: bool, inverted: bool) {
        aws_sdk_route53::Client::new(&self.sdk)
            .update_health_check()
            .health_check_id(&self.primary)
            .disabled(disabled)
            .inverted(inverted)
            .send()
            .await
            .expect("UpdateHealthCheck");
    }
}

/// The EventBridge event CloudWatch sends when alarm `name` in `region` (of [`ACCOUNT`])
/// enters `state` at `at` (from ALARM when `state` is not ALARM, else from OK).
pub fn alarm_event(
    region: &str,
    name: &str,
    state: &str,
    at: chrono::DateTime<chrono::Utc>,
    id: &str,
) -> Value {
    let mut e = fixture("eventbridge-metric-alarm-to-alarm.json");
    e["id"] = json!(id);
    e["region"] = json!(region);
    e["resources"] = json!([observer_arn(region, name)]);
    e["detail"]["alarmName"] = json!(name);
    e["detail"]["state"]["value"] = json!(state);
    e["detail"]["previousState"]["value"] = json!(if state == "ALARM" { "OK" } else { "ALARM" });
    set_times(&mut e, at);
    e
}

pub fn inv(id: &str) -> Invocation {
    Invocation {
        request_id: id.into(),
        deadline: chrono::Utc::now().timestamp_millis() + 60_000,
    }
}

/// (disabled, inverted, version) of a health check.
pub async fn hc(w: &World, id: &str) -> (bool, bool, i64) {
    get_health_check(&w.sdk, id).await
}

/// A clock the test moves by hand (the adapters stay real), for cooldowns, leases and
/// escalation schedules that would otherwise take minutes.
#[derive(Debug, Clone)]
pub struct TestClock(std::sync::Arc<std::sync::atomic::AtomicI64>);

impl TestClock {
    pub fn now_wall() -> Self {
        TestClock(std::sync::Arc::new(
            chrono::Utc::now().timestamp_millis().into(),
        ))
    }
    pub fn advance_minutes(&self, minutes: i64) {
        self.0
            .fetch_add(minutes * 60_000, std::sync::atomic::Ordering::SeqCst);
    }
    pub fn millis(&self) -> i64 {
        self.0.load(std::sync::atomic::Ordering::SeqCst)
    }
    /// Moves it by `ms` (backoffs and leases of seconds).
    pub fn advance_ms(&self, ms: i64) {
        self.0.fetch_add(ms, std::sync::atomic::Ordering::SeqCst);
    }
}

impl failover::ports::Clock for TestClock {
    fn now(&self) -> i64 {
        self.millis()
    }
}

/// The engine on the real SDK adapters with a hand-moved clock.
/// See [`World::engine_failing_first_switch`].
pub type FailingSwitchEngine = failover::Engine<
    DynamoStore,
    FailFirstUpdate<Route53HealthChecks>,
    CloudWatchAlarms,
    SnsNotifier,
    SystemClock,
>;

pub type ClockedEngine =
    failover::Engine<DynamoStore, Route53HealthChecks, CloudWatchAlarms, SnsNotifier, TestClock>;
