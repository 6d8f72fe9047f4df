//! The one provisioning path: what every test bed (the engine tests' [`World`], the
//! drill's [`Stage`], the storm, the bench) puts on moto is a [`ControlPlane`] (control
//! table, alert topic and its SQS subscriber) and catalogued services made by
//! [`provision_service`]: two health checks, the observers, an optional readiness alarm
//! and the catalog item. The SDK calls they are made of are in [`resources`].
//!
//! [`World`]: crate::harness::world::World
//! [`Stage`]: crate::harness::stage::Stage

pub mod bulk;
pub mod resources;
pub mod runbook;

use aws_config::SdkConfig;
use serde_json::{json, Value};

use resources::{
    create_alert_event_rule, create_control_table, create_health_check, create_topic_with_queue,
    put_alarm, put_catalog_entry, put_switch_alarm, set_alarm_state,
};

/// Where every service's primary runs.
pub const PRIMARY_REGION: &str = "us-east-1";
/// Where every service fails over to.
pub const SECONDARY_REGION: &str = "eu-west-1";
/// The catalog's `max_event_age_seconds` in [`deployment_settings`] (the default, written out).
pub const MAX_EVENT_AGE_SECONDS: i64 = 300;
/// The catalog's `cooldown_seconds` in [`deployment_settings`].
pub const COOLDOWN_SECONDS: i64 = 3600;

/// The control table and the alert topic, with an SQS queue `<topic>-sink` subscribed so
/// tests can read the alerts.
#[derive(Debug, Clone)]
pub struct ControlPlane {
    pub table: String,
    pub topic_arn: String,
    pub queue_url: String,
    /// The SQS target of the EventBridge rule `<topic>-events` on the default bus, which
    /// matches every alert's event (`source` `regional-failover`).
    pub events_queue_url: String,
}

impl ControlPlane {
    pub async fn create(sdk: &SdkConfig, table: &str, topic: &str) -> ControlPlane {
        let table = create_control_table(sdk, table).await;
        let (topic_arn, queue_url) = create_topic_with_queue(sdk, topic).await;
        let events_queue_url = create_alert_event_rule(sdk, &format!("{topic}-events")).await;
        ControlPlane {
            table,
            topic_arn,
            queue_url,
            events_queue_url,
        }
    }
}

/// A service's observers.
#[derive(Debug, Clone)]
pub enum Observers {
    /// Alarm ARNs only: the engine reads alarms from their events, so none need exist.
    Arns(Vec<String>),
    /// CloudWatch alarms created in moto, state OK: `(region, name)`.
    Alarms(Vec<(&'static str, String)>),
}

/// One service to catalogue.
#[derive(Debug, Clone)]
pub struct ServiceSpec {
    pub name: String,
    pub observers: Observers,
    /// A readiness alarm `<name>-secondary-ready` (OK) in the secondary region, named in
    /// the pre-flight as `secondary_alarm_arn`.
    pub readiness_alarm: bool,
    /// Catalog fields laid over the base (name, both regions with their health checks,
    /// the observers, quorum 2), replacing it key by key at the top level.
    pub settings: Value,
    /// `switch.mode`: `"health_check"` (`None`, the default), `"metric"` or `"both"`; the
    /// last two create the switch alarm `<name>-primary-switch` in the secondary region on
    /// `RegionalFailover`/`PrimaryForcedOut` {Service=name}, as `infra/` does.
    pub switch_mode: Option<&'static str>,
    /// A probe health check on the primary endpoint (`primary.probe_health_check_id`).
    pub probe: bool,
    /// The catalog's `workflow` (issue 16), e.g. [`runbook::RunbookResources::workflow`].
    pub workflow: Option<Value>,
    /// The catalog's `preflight.capacity`, e.g. [`runbook::RunbookResources::capacity_floor`].
    pub capacity: Option<Value>,
}

impl ServiceSpec {
    /// `name` with `observers`, no readiness alarm, the base catalog fields only.
    pub fn new(name: impl Into<String>, observers: Observers) -> ServiceSpec {
        ServiceSpec {
            name: name.into(),
            observers,
            readiness_alarm: false,
            settings: json!({}),
            switch_mode: None,
            probe: false,
            workflow: None,
            capacity: None,
        }
    }

    pub fn settings(mut self, settings: Value) -> ServiceSpec {
        self.settings = settings;
        self
    }

    pub fn readiness_alarm(mut self, on: bool) -> ServiceSpec {
        self.readiness_alarm = on;
        self
    }

    pub fn switch_mode(mut self, mode: &'static str) -> ServiceSpec {
        self.switch_mode = Some(mode);
        self
    }

    pub fn probe(mut self, on: bool) -> ServiceSpec {
        self.probe = on;
        self
    }

    pub fn workflow(mut self, workflow: Value) -> ServiceSpec {
        self.workflow = Some(workflow);
        self
    }

    pub fn capacity(mut self, floor: Value) -> ServiceSpec {
        self.capacity = Some(floor);
        self
    }
}

/// Lays `workflow` and `preflight.capacity` over a catalog definition (the other
/// pre-flight fields stay).
pub fn with_workflow(definition: &mut Value, workflow: Option<&Value>, capacity: Option<&Value>) {
    if let Some(workflow) = workflow {
        definition["workflow"] = workflow.clone();
    }
    if let Some(floor) = capacity {
        definition["preflight"]["capacity"] = floor.clone();
    }
}

/// The catalog fields a deployment has (the drill's and the bench's services): the
/// `protected-service` module's defaults written out (votes and events count for 300 s, a
/// cooldown of an hour, one automated failover a day) and the secondary's health check in
/// the pre-flight.
pub fn deployment_settings() -> Value {
    json!({
        "vote_window_seconds": 300,
        "max_event_age_seconds": MAX_EVENT_AGE_SECONDS,
        "cooldown_seconds": COOLDOWN_SECONDS,
        "max_auto_failovers_per_day": 1,
        "preflight": {"secondary_health_check": true}
    })
}

/// A catalogued service, as provisioned.
#[derive(Debug, Clone)]
pub struct Service {
    pub name: String,
    /// Health check ids of `<name>.us-east-1.example.com` and `<name>.eu-west-1.example.com`.
    pub primary_hc: String,
    pub secondary_hc: String,
    /// The observers' alarm ARNs, in the order given.
    pub observers: Vec<String>,
    pub readiness_alarm_arn: Option<String>,
    /// The switch alarm (metric and both modes), in the secondary region.
    pub switch_alarm_arn: Option<String>,
    /// The primary's probe health check.
    pub probe_hc: Option<String>,
    /// The catalog item's definition, as written.
    pub definition: Value,
}

/// Creates `spec`'s health checks, alarms and catalog item in `table`.
pub async fn provision_service(sdk: &SdkConfig, table: &str, spec: ServiceSpec) -> Service {
    let name = spec.name;
    let primary_hc =
        create_health_check(sdk, &format!("{name}.{PRIMARY_REGION}.example.com")).await;
    let secondary_hc =
        create_health_check(sdk, &format!("{name}.{SECONDARY_REGION}.example.com")).await;
    let observers = match spec.observers {
        Observers::Arns(arns) => arns,
        Observers::Alarms(alarms) => {
            let mut arns = Vec::with_capacity(alarms.len());
            for (region, alarm) in alarms {
                arns.push(put_alarm(sdk, region, &alarm).await);
                set_alarm_state(sdk, region, &alarm, "OK").await;
            }
            arns
        }
    };
    let readiness_alarm_arn = if spec.readiness_alarm {
        let alarm = format!("{name}-secondary-ready");
        let arn = put_alarm(sdk, SECONDARY_REGION, &alarm).await;
        set_alarm_state(sdk, SECONDARY_REGION, &alarm, "OK").await;
        Some(arn)
    } else {
        None
    };
    let switch_alarm_arn = match spec.switch_mode {
        Some("metric" | "both") => {
            let alarm = format!("{name}-primary-switch");
            Some(put_switch_alarm(sdk, SECONDARY_REGION, &alarm, &name).await)
        }
        _ => None,
    };
    let probe_hc = if spec.probe {
        Some(create_health_check(sdk, &format!("{name}.{PRIMARY_REGION}.example.com")).await)
    } else {
        None
    };
    let mut definition = json!({
        "name": name,
        "primary": {"region": PRIMARY_REGION, "health_check_id": primary_hc},
        "secondary": {"region": SECONDARY_REGION, "health_check_id": secondary_hc},
        "observers": observers,
        "quorum": 2
    });
    if let (Some(base), Some(settings)) = (definition.as_object_mut(), spec.settings.as_object()) {
        for (k, v) in settings {
            base.insert(k.clone(), v.clone());
        }
    }
    if let Some(arn) = &readiness_alarm_arn {
        definition["preflight"]["secondary_alarm_arn"] = json!(arn);
    }
    if let Some(mode) = spec.switch_mode {
        definition["switch"] = match &switch_alarm_arn {
            Some(arn) => json!({"mode": mode, "alarm_arn": arn}),
            None => json!({"mode": mode}),
        };
    }
    if let Some(probe) = &probe_hc {
        definition["primary"]["probe_health_check_id"] = json!(probe);
    }
    with_workflow(
        &mut definition,
        spec.workflow.as_ref(),
        spec.capacity.as_ref(),
    );
    put_catalog_entry(sdk, table, &name, &definition.to_string()).await;
    Service {
        name,
        primary_hc,
        secondary_hc,
        observers,
        readiness_alarm_arn,
        switch_alarm_arn,
        probe_hc,
        definition,
    }
}
