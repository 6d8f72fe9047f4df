//! [`Stage`]: what a deployment would have, on a fresh moto server, for the function
//! processes (the drill, and the fault and crash tests through [`crate::harness::rig`]):
//! the control plane and the example service `checkout` from
//! [`crate::harness::provision`] (three observer alarms, the secondary's readiness alarm,
//! the deployment's catalog settings), plus the Route 53 failover record pair. Also the
//! drill's read-only view of it ([`Snapshot`]), taken straight from moto (not through the
//! tap).

use std::collections::{BTreeMap, BTreeSet};

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use failover::domain::history::HistoryRecord;
use failover::ports::ControlStore;
use serde_json::{json, Value};

use crate::fixtures::{fixture, set_times};
use crate::harness::emulator::{in_region, Emulator, ACCOUNT_ID};
use crate::harness::provision::resources::{get_health_check, put_health_status, set_alarm_state};
use crate::harness::provision::{
    deployment_settings, provision_service, ControlPlane, Observers, ServiceSpec,
};
mod records;
mod switch;
use records::create_failover_records;
pub use records::RecordView;
pub use switch::{SwitchAlarm, SwitchView};

pub use crate::harness::provision::{
    COOLDOWN_SECONDS, MAX_EVENT_AGE_SECONDS, PRIMARY_REGION, SECONDARY_REGION,
};

pub const TABLE: &str = "failover-control";
pub const TOPIC: &str = "failover-alerts";
pub const SERVICE: &str = "checkout";
pub const ZONE: &str = "example.com.";
pub const RECORD: &str = "checkout.example.com.";
pub const RECORD_TTL: i64 = 60;
pub const PRIMARY_IP: &str = "192.0.2.10";
pub const SECONDARY_IP: &str = "198.51.100.10";
/// The secondary's readiness alarm ([`ServiceSpec::readiness_alarm`] names it so).
pub const SECONDARY_ALARM: &str = "checkout-secondary-ready";

/// What the stage provisions beyond the defaults (`health_check` switch, no probe).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct StageOptions {
    /// `switch.mode` `"metric"` or `"both"`: the switch alarm `checkout-primary-switch` in
    /// the secondary region, and the secondary's `HealthCheckStatus` published healthy.
    pub switch_mode: Option<&'static str>,
    /// A probe health check on the primary endpoint (`primary.probe_health_check_id`).
    pub probe: bool,
}

/// How an observer's alarm reaches alarm-trigger.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Shape {
    /// A cross-region EventBridge rule: "CloudWatch Alarm State Change".
    EventBridge,
    /// The alarm's direct Lambda action.
    AlarmAction,
}

impl Shape {
    pub fn label(self) -> &'static str {
        match self {
            Shape::EventBridge => "EventBridge \"CloudWatch Alarm State Change\"",
            Shape::AlarmAction => "CloudWatch alarm action",
        }
    }
}

/// One canary alarm that votes.
#[derive(Debug, Clone)]
pub struct Observer {
    /// 1, 2, 3.
    pub n: usize,
    pub region: &'static str,
    pub name: String,
    pub arn: String,
    pub shape: Shape,
}

impl Observer {
    pub fn label(&self) -> String {
        format!("observer {} ({}, {})", self.n, self.region, self.name)
    }
}

/// The provisioned world.
pub struct Stage {
    pub emulator: Emulator,
    pub sdk: SdkConfig,
    pub topic_arn: String,
    pub queue_url: String,
    pub primary_hc: String,
    pub secondary_hc: String,
    pub zone_id: String,
    pub observers: Vec<Observer>,
    pub secondary_alarm_arn: String,
    pub definition: Value,
    /// Health-check request interval and failure threshold (seconds, count), as configured.
    pub hc_interval: i64,
    pub hc_threshold: i64,
    /// `switch.mode` as catalogued (`health_check` unless [`StageOptions::switch_mode`]).
    pub switch_mode: &'static str,
    /// The switch alarm (metric and both modes).
    pub switch_alarm: Option<SwitchAlarm>,
    /// The primary's probe health check.
    pub probe_hc: Option<String>,
    /// When provisioning began (Unix ms): the switch metric is read back from here on.
    pub provisioned_at: i64,
    pub(crate) store: failover::adapters::aws::DynamoStore,
}

/// Where provisioning tells what it did (one line per call).
pub type Say<'a> = &'a mut (dyn FnMut(String) + Send);

impl Stage {
    /// Provisions everything on `emulator`, telling `say` what it did.
    pub async fn provision(emulator: Emulator, say: Say<'_>) -> Stage {
        Stage::provision_with(emulator, say, StageOptions::default()).await
    }

    /// [`Stage::provision`] with a switch mode and a probe as `options` ask.
    pub async fn provision_with(emulator: Emulator, say: Say<'_>, options: StageOptions) -> Stage {
        let provisioned_at = Utc::now().timestamp_millis();
        let sdk = emulator.sdk_config().await;
        let plane = ControlPlane::create(&sdk, TABLE, TOPIC).await;
        say(format!(
            "DynamoDB control table {TABLE}; SNS topic {TOPIC} with SQS queue {TOPIC}-sink subscribed (it shows the alerts)"
        ));

        let observer_alarms = [
            (1, "us-east-1", "checkout-canary-use1", Shape::EventBridge),
            (2, "us-west-2", "checkout-canary-usw2", Shape::AlarmAction),
            (3, "eu-west-1", "checkout-canary-euw1", Shape::EventBridge),
        ];
        let spec = ServiceSpec::new(
            SERVICE,
            Observers::Alarms(
                observer_alarms
                    .iter()
                    .map(|&(_, region, name, _)| (region, name.to_string()))
                    .collect(),
            ),
        )
        .settings(deployment_settings())
        .readiness_alarm(true)
        .probe(options.probe);
        let spec = match options.switch_mode {
            Some(mode) => spec.switch_mode(mode),
            None => spec,
        };
        let service = provision_service(&sdk, TABLE, spec).await;
        let (primary_hc, secondary_hc) = (service.primary_hc, service.secondary_hc);
        let observers: Vec<Observer> = observer_alarms
            .iter()
            .zip(service.observers)
            .map(|(&(n, region, name, shape), arn)| Observer {
                n,
                region,
                name: name.to_string(),
                arn,
                shape,
            })
            .collect();
        let secondary_alarm_arn = service
            .readiness_alarm_arn
            .expect("the readiness alarm was asked for");

        let route53 = aws_sdk_route53::Client::new(&sdk);
        let hc = route53
            .get_health_check()
            .health_check_id(&primary_hc)
            .send()
            .await
            .expect("GetHealthCheck primary");
        let config = hc
            .health_check()
            .and_then(|h| h.health_check_config())
            .expect("health check config");
        let hc_interval = i64::from(config.request_interval().unwrap_or(30));
        let hc_threshold = i64::from(config.failure_threshold().unwrap_or(3));
        say(format!(
            "Route 53 health checks: primary {primary_hc} (checkout.us-east-1.example.com), secondary {secondary_hc} (checkout.eu-west-1.example.com), HTTPS /health every {hc_interval} s, {hc_threshold} failures"
        ));
        let zone_id = create_failover_records(&route53, &primary_hc, &secondary_hc).await;
        say(format!(
            "Route 53 zone {ZONE} ({zone_id}): {RECORD} A PRIMARY {PRIMARY_IP} (health check {primary_hc}) / SECONDARY {SECONDARY_IP} (health check {secondary_hc}), TTL {RECORD_TTL} s"
        ));
        say(format!(
            "CloudWatch alarms, all OK: {}; secondary readiness alarm {SECONDARY_REGION}/{SECONDARY_ALARM}",
            observers
                .iter()
                .map(|o| format!("{}/{}", o.region, o.name))
                .collect::<Vec<_>>()
                .join(", ")
        ));
        say(format!(
            "catalog entry {SERVICE}: 3 observers, quorum 2, cooldown {COOLDOWN_SECONDS} s, max event age {MAX_EVENT_AGE_SECONDS} s, pre-flight: secondary health check healthy and {SECONDARY_ALARM} OK"
        ));

        let switch_alarm = service.switch_alarm_arn.map(|arn| SwitchAlarm {
            region: SECONDARY_REGION,
            name: failover::domain::arn::alarm_name(&arn).to_string(),
            arn,
        });
        let switch_mode = options.switch_mode.unwrap_or("health_check");
        if let Some(alarm) = &switch_alarm {
            // Route 53's checkers would report the secondary healthy every minute: moto
            // evaluates no health check, so the stage publishes what they would.
            let now = Utc::now().timestamp_millis();
            let minutes: Vec<i64> = (0..4).rev().map(|m| now - m * 60_000).collect();
            put_health_status(&sdk, &secondary_hc, true, &minutes).await;
            say(format!(
                "switch mode {switch_mode}: switch alarm {}/{} (RegionalFailover/PrimaryForcedOut Service={SERVICE}, Maximum >= 1 over 60 s, OK); the PRIMARY's CALCULATED check = endpoint check {primary_hc} AND a CLOUDWATCH_METRIC check on that alarm (Terraform's wiring; moto evaluates neither)",
                alarm.region, alarm.name
            ));
            say(format!(
                "AWS/Route53 HealthCheckStatus of the secondary's check {secondary_hc} published healthy for the last 4 minutes in us-east-1 (PutMetricData), as Route 53's checkers would"
            ));
        }
        if let Some(probe) = &service.probe_hc {
            say(format!(
                "primary probe health check {probe} (never flipped; failback_min_healthy_seconds {})",
                service.definition["failback_min_healthy_seconds"]
                    .as_u64()
                    .unwrap_or(300)
            ));
        }

        let store =
            failover::adapters::aws::DynamoStore::new(aws_sdk_dynamodb::Client::new(&sdk), TABLE);
        Stage {
            emulator,
            sdk,
            topic_arn: plane.topic_arn,
            queue_url: plane.queue_url,
            primary_hc,
            secondary_hc,
            zone_id,
            observers,
            secondary_alarm_arn,
            definition: service.definition,
            hc_interval,
            hc_threshold,
            switch_mode,
            switch_alarm,
            probe_hc: service.probe_hc,
            provisioned_at,
            store,
        }
    }

    /// The environment of function processes whose AWS calls go to `endpoint` (the tap):
    /// the emulator's credentials and region, the table and the topic.
    pub fn function_env(&self, endpoint: &str) -> Vec<(String, String)> {
        let mut env = self.emulator.function_env_through(endpoint);
        env.push(("FAILOVER_TABLE".into(), TABLE.into()));
        env.push(("ALERT_TOPIC_ARN".into(), self.topic_arn.clone()));
        env
    }

    /// Sets an alarm's state in the emulator and reads back when CloudWatch says it
    /// changed (the event's state timestamp) and the state it now reports.
    pub async fn set_alarm(
        &self,
        region: &str,
        name: &str,
        state: &str,
    ) -> (DateTime<Utc>, String) {
        set_alarm_state(&self.sdk, region, name, state).await;
        let out = aws_sdk_cloudwatch::Client::new(&in_region(&self.sdk, region))
            .describe_alarms()
            .alarm_names(name)
            .send()
            .await
            .expect("DescribeAlarms");
        let alarm = out.metric_alarms().first().expect("the alarm exists");
        let at = alarm
            .state_updated_timestamp()
            .and_then(|t| DateTime::from_timestamp_millis(t.to_millis().ok()?))
            .unwrap_or_else(Utc::now);
        let now_state = alarm
            .state_value()
            .map(|s| s.as_str().to_string())
            .unwrap_or_default();
        (at, now_state)
    }

    /// The state of the service and the Route 53 health checks, read from moto.
    pub async fn snapshot(&self) -> Snapshot {
        let (primary, secondary, state, history) = tokio::join!(
            get_health_check(&self.sdk, &self.primary_hc),
            get_health_check(&self.sdk, &self.secondary_hc),
            self.store.load_state(SERVICE),
            self.store.recent_history(SERVICE, 500)
        );
        let switch = match self.switch_alarm.is_some() {
            true => {
                let (datapoints, alarm) =
                    tokio::join!(self.switch_datapoints(), self.switch_alarm_state());
                Some(SwitchView {
                    datapoints,
                    alarm: alarm.unwrap_or_default(),
                })
            }
            false => None,
        };
        let state = state.expect("reading the state item");
        let history = history.expect("reading the audit history");
        let votes = state
            .votes
            .iter()
            .map(|(arn, v)| {
                (
                    failover::domain::arn::alarm_name(arn).to_string(),
                    v.state.as_str().to_string(),
                )
            })
            .collect();
        Snapshot {
            primary: HealthCheckFlags::from(primary),
            secondary: HealthCheckFlags::from(secondary),
            phase: state.phase.to_string(),
            epoch: state.epoch,
            votes,
            execution: state.execution.clone(),
            history,
            switch,
        }
    }

    /// An alarm event for `observer` entering `state` at `at`, in the observer's shape.
    pub fn event(
        &self,
        observer: &Observer,
        state: &str,
        previous: &str,
        at: DateTime<Utc>,
        id: &str,
    ) -> Value {
        let reason = if state == "ALARM" {
            format!(
                "Threshold Crossed: 2 out of the last 2 datapoints were less than the threshold (90.0): canary {} failing (drill)",
                observer.name
            )
        } else {
            format!(
                "Threshold Crossed: 2 out of the last 2 datapoints were not less than the threshold (90.0): canary {} passing (drill)",
                observer.name
            )
        };
        let plus = |t: DateTime<Utc>| t.format("%Y-%m-%dT%H:%M:%S%.3f+0000").to_string();
        let mut event = match observer.shape {
            Shape::EventBridge => {
                let mut e = fixture("eventbridge-metric-alarm-to-alarm.json");
                e["id"] = json!(id);
                e["account"] = json!(ACCOUNT_ID);
                e["region"] = json!(observer.region);
                e["resources"] = json!([observer.arn]);
                e["detail"]["alarmName"] = json!(observer.name);
                e["detail"]["state"]["value"] = json!(state);
                e["detail"]["state"]["reason"] = json!(reason);
                e["detail"]["previousState"]["value"] = json!(previous);
                e["detail"]["previousState"]["timestamp"] =
                    json!(plus(at - chrono::Duration::minutes(30)));
                e
            }
            Shape::AlarmAction => {
                let mut e = fixture("alarm-action-metric.json");
                e["alarmArn"] = json!(observer.arn);
                e["accountId"] = json!(ACCOUNT_ID);
                e["region"] = json!(observer.region);
                e["alarmData"]["alarmName"] = json!(observer.name);
                e["alarmData"]["state"]["value"] = json!(state);
                e["alarmData"]["state"]["reason"] = json!(reason);
                e["alarmData"]["previousState"]["value"] = json!(previous);
                e["alarmData"]["previousState"]["timestamp"] =
                    json!(plus(at - chrono::Duration::minutes(30)));
                e
            }
        };
        set_times(&mut event, at);
        event
    }
}

/// A health check's flags and version.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HealthCheckFlags {
    pub disabled: bool,
    pub inverted: bool,
    pub version: i64,
}

impl From<(bool, bool, i64)> for HealthCheckFlags {
    fn from((disabled, inverted, version): (bool, bool, i64)) -> Self {
        HealthCheckFlags {
            disabled,
            inverted,
            version,
        }
    }
}

impl HealthCheckFlags {
    /// Disabled and Inverted together: Route 53 treats the check as unhealthy.
    pub fn forced_unhealthy(&self) -> bool {
        self.disabled && self.inverted
    }
}

impl std::fmt::Display for HealthCheckFlags {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(
            f,
            "Disabled={} Inverted={} (version {})",
            self.disabled, self.inverted, self.version
        )
    }
}

/// The drill's view of the world between steps.
#[derive(Debug, Clone)]
pub struct Snapshot {
    pub primary: HealthCheckFlags,
    pub secondary: HealthCheckFlags,
    pub phase: String,
    pub epoch: u64,
    /// Alarm name -> the state of its latest vote.
    pub votes: BTreeMap<String, String>,
    pub execution: Option<failover::domain::state::Execution>,
    pub history: Vec<HistoryRecord>,
    /// The switch metric and its alarm (metric and both modes).
    pub switch: Option<SwitchView>,
}

/// One AWS resource that changed during a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Change {
    pub resource: String,
    pub before: String,
    pub after: String,
}

impl Snapshot {
    /// The primary is switched out: its check forced unhealthy, or the switch metric's
    /// newest value 1.
    pub fn forced_out(&self) -> bool {
        self.primary.forced_unhealthy() || self.switch.as_ref().is_some_and(SwitchView::forced_out)
    }

    /// What the switch looks like: the check's flags, and the metric when there is one.
    pub fn switch_label(&self) -> String {
        match &self.switch {
            Some(s) => format!("{s}; primary check {}", self.primary),
            None => self.primary.to_string(),
        }
    }

    /// What changed from `self` to `after`, resource by resource.
    pub fn changes(&self, after: &Snapshot, stage: &Stage) -> Vec<Change> {
        let mut out = Vec::new();
        let mut push = |resource: String, before: String, after: String| {
            if before != after {
                out.push(Change {
                    resource,
                    before,
                    after,
                });
            }
        };
        push(
            format!(
                "Route 53 health check {} (primary, {PRIMARY_REGION})",
                stage.primary_hc
            ),
            self.primary.to_string(),
            after.primary.to_string(),
        );
        push(
            format!(
                "Route 53 health check {} (secondary, {SECONDARY_REGION})",
                stage.secondary_hc
            ),
            self.secondary.to_string(),
            after.secondary.to_string(),
        );
        if let (Some(b), Some(a), Some(alarm)) = (&self.switch, &after.switch, &stage.switch_alarm)
        {
            let value = |s: &SwitchView| {
                s.value()
                    .map_or("never published".to_string(), |v| v.to_string())
            };
            push(
                format!(
                    "CloudWatch {}/RegionalFailover/PrimaryForcedOut Service={SERVICE}: newest value",
                    alarm.region
                ),
                value(b),
                value(a),
            );
            push(
                format!("CloudWatch alarm {}/{}", alarm.region, alarm.name),
                b.alarm.clone(),
                a.alarm.clone(),
            );
        }
        push(
            format!("DynamoDB {TABLE} service#{SERVICE}: phase"),
            format!("{} epoch {}", self.phase, self.epoch),
            format!("{} epoch {}", after.phase, after.epoch),
        );
        let names: BTreeSet<&String> = self.votes.keys().chain(after.votes.keys()).collect();
        for name in names {
            push(
                format!("DynamoDB {TABLE} service#{SERVICE}: vote of {name}"),
                self.votes
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "none".into()),
                after
                    .votes
                    .get(name)
                    .cloned()
                    .unwrap_or_else(|| "none".into()),
            );
        }
        out
    }

    /// Audit records in `after` that are not in `self`, oldest first.
    pub fn new_history<'a>(&self, after: &'a Snapshot) -> Vec<&'a HistoryRecord> {
        let seen: BTreeSet<String> = self.history.iter().map(|h| h.sort_key()).collect();
        let mut fresh: Vec<&HistoryRecord> = after
            .history
            .iter()
            .filter(|h| !seen.contains(&h.sort_key()))
            .collect();
        fresh.sort_by_key(|h| h.sort_key());
        fresh
    }
}
