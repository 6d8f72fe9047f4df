//! A protected service `checkout` on a fresh moto server: control table, alert topic with a
//! queue, primary and secondary health checks, three observers, and its catalog entry.

use aws_sdk_dynamodb::types::AttributeValue;
use failover::aws::{engine_with_log, AwsEngine, CallLog};
use failover::engine::Invocation;
use failover::Config;
use serde_json::{json, Value};

use crate::*;

pub const ACCOUNT: &str = "210987654321";

pub struct World {
    pub emulator: Emulator,
    pub sdk: aws_config::SdkConfig,
    pub config: Config,
    pub queue_url: String,
    pub primary: String,
    pub secondary: String,
    pub observers: Vec<String>,
}

pub fn observer_arn(region: &str, name: &str) -> String {
    format!("arn:aws:cloudwatch:{region}:{ACCOUNT}:alarm:{name}")
}

impl World {
    pub async fn start(extra: Value) -> World {
        let emulator = Emulator::start();
        let sdk = emulator.sdk_config().await;
        create_control_table(&sdk, "failover-control").await;
        let (topic_arn, queue_url) = create_topic_with_queue(&sdk, "failover-alerts").await;
        let primary = create_health_check(&sdk, "checkout.us-east-1.example.com").await;
        let secondary = create_health_check(&sdk, "checkout.eu-west-1.example.com").await;
        let observers = vec![
            observer_arn("us-east-1", "checkout-canary-use1"),
            observer_arn("us-west-2", "checkout-canary-usw2"),
            observer_arn("eu-west-1", "checkout-canary-euw1"),
        ];
        let mut def = json!({
            "name": "checkout",
            "primary": {"region": "us-east-1", "health_check_id": primary},
            "secondary": {"region": "eu-west-1", "health_check_id": secondary},
            "observers": observers,
            "quorum": 2
        });
        if let (Some(d), Some(e)) = (def.as_object_mut(), extra.as_object()) {
            for (k, v) in e {
                d.insert(k.clone(), v.clone());
            }
        }
        put_catalog_entry(&sdk, "failover-control", "checkout", &def.to_string()).await;
        let config = Config {
            table: "failover-control".into(),
            topic_arn,
        };
        World {
            emulator,
            sdk,
            config,
            queue_url,
            primary,
            secondary,
            observers,
        }
    }

    pub fn engine(&self, log: Option<CallLog>) -> AwsEngine {
        engine_with_log(&self.sdk, &self.config, "test", log)
    }

    pub async fn alerts(&self) -> Vec<SnsEnvelope> {
        receive_sns_messages(
            &self.sdk,
            &self.queue_url,
            std::time::Duration::from_millis(300),
        )
        .await
    }

    pub async fn state_item(&self) -> Option<std::collections::HashMap<String, AttributeValue>> {
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

    pub async fn history(&self) -> Vec<std::collections::HashMap<String, AttributeValue>> {
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
pub type ClockedEngine = failover::Engine<
    failover::aws::DynamoStore,
    failover::aws::Route53HealthChecks,
    failover::aws::CloudWatchAlarms,
    failover::aws::SnsNotifier,
    TestClock,
>;

impl World {
    pub fn engine_with_clock(&self, clock: TestClock) -> ClockedEngine {
        failover::Engine::new(
            failover::aws::DynamoStore::new(
                aws_sdk_dynamodb::Client::new(&self.sdk),
                &self.config.table,
            ),
            failover::aws::Route53HealthChecks::new(failover::aws::route53_client(&self.sdk, None)),
            failover::aws::CloudWatchAlarms::new(self.sdk.clone(), None),
            failover::aws::SnsNotifier::new(
                aws_sdk_sns::Client::new(&self.sdk),
                &self.config.topic_arn,
            ),
            clock,
            "test",
        )
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
