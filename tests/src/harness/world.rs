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
    AwsEngine, CloudWatchAlarms, DynamoStore, Route53HealthChecks, SnsNotifier,
};
use failover::adapters::clock::SystemClock;
use failover::engine::Invocation;
use failover::Config;
use serde_json::Value;

use crate::harness::alerts::{receive_sns_messages, SnsEnvelope};
use crate::harness::emulator::Emulator;
use crate::harness::failing_ports::FailFirstUpdate;
use crate::harness::provision::resources::get_health_check;
use crate::harness::provision::{provision_service, ControlPlane, Observers, ServiceSpec};
use crate::harness::tap::AwsTap;

/// The account of the observers' alarms (the one in the event fixtures).
pub const ACCOUNT: &str = crate::harness::emulator::ACCOUNT_ID;

pub struct World {
    pub emulator: Emulator,
    pub sdk: SdkConfig,
    pub config: Config,
    pub queue_url: String,
    pub primary: String,
    pub secondary: String,
    pub observers: Vec<String>,
}

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
        let emulator = Emulator::start();
        let sdk = emulator.sdk_config().await;
        let plane = ControlPlane::create(&sdk, "failover-control", "failover-alerts").await;
        let observers = vec![
            observer_arn("us-east-1", "checkout-canary-use1"),
            observer_arn("us-west-2", "checkout-canary-usw2"),
            observer_arn("eu-west-1", "checkout-canary-euw1"),
        ];
        let service = provision_service(
            &sdk,
            &plane.table,
            ServiceSpec::new("checkout", Observers::Arns(observers)).settings(extra),
        )
        .await;
        World {
            emulator,
            sdk,
            config: Config {
                table: plane.table,
                topic_arn: plane.topic_arn,
            },
            queue_url: plane.queue_url,
            primary: service.primary_hc,
            secondary: service.secondary_hc,
            observers: service.observers,
        }
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
