//! What the benchmarks run against: control tables with N catalogued services on moto
//! (through [`crate::harness::provision`]), and the events they deliver.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use failover::api::reports::AlarmOutcome;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::fixtures::{fixture, set_times};
use crate::harness::emulator::ACCOUNT_ID;
use crate::harness::provision::resources::create_control_table;
use crate::harness::provision::{
    deployment_settings, provision_service, Observers, Service, ServiceSpec,
};
use crate::harness::world::observer_arn;

pub const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

/// Creates `table` with `count` services `<prefix>-000`...: primary and secondary health
/// checks, three observers (quorum 2) and, with `readiness_alarm`, a secondary alarm (OK)
/// in the pre-flight, with the deployment's catalog settings, as the drill's `checkout`
/// has.
pub async fn provision(
    sdk: &SdkConfig,
    table: &str,
    prefix: &str,
    count: usize,
    readiness_alarm: bool,
) -> Vec<Service> {
    create_control_table(sdk, table).await;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("{prefix}-{i:03}");
        let observers = (0..3)
            .map(|k| {
                observer_arn(
                    REGIONS[k],
                    &format!("{name}-canary-{}", REGIONS[k].replace('-', "")),
                )
            })
            .collect();
        let spec = ServiceSpec::new(name, Observers::Arns(observers))
            .settings(deployment_settings())
            .readiness_alarm(readiness_alarm);
        out.push(provision_service(sdk, table, spec).await);
    }
    out
}

/// An EventBridge "CloudWatch Alarm State Change" for alarm `arn` entering `state` at `at`
/// (the project's fixture, re-addressed: a real event's size and shape).
pub fn alarm_event(arn: &str, state: &str, at: DateTime<Utc>, id: &str) -> Value {
    let region = arn.split(':').nth(3).unwrap_or("us-east-1");
    let name = arn.rsplit(':').next().unwrap_or_default();
    let mut e = fixture("eventbridge-metric-alarm-to-alarm.json");
    e["id"] = json!(id);
    e["account"] = json!(ACCOUNT_ID);
    e["region"] = json!(region);
    e["resources"] = json!([arn]);
    e["detail"]["alarmName"] = json!(name);
    e["detail"]["state"]["value"] = json!(state);
    e["detail"]["previousState"]["value"] = json!(if state == "ALARM" { "OK" } else { "ALARM" });
    set_times(&mut e, at);
    e
}

/// The reconciler's one-minute EventBridge schedule event.
pub fn schedule_event(id: &str) -> Value {
    let now = Utc::now().format("%Y-%m-%dT%H:%M:%SZ").to_string();
    json!({"version": "0", "id": id, "detail-type": "Scheduled Event", "source": "aws.events",
        "account": ACCOUNT_ID, "time": now, "region": "us-east-1",
        "resources": [format!("arn:aws:events:us-east-1:{ACCOUNT_ID}:rule/failover-reconciler")],
        "detail": {}})
}

/// What an alarm-trigger answer says happened: `ignored`, or the first service's outcome
/// (`vote_recorded`, `duplicate`, `failed_over`, ...), or the error type (Lambda's error
/// shape).
pub fn outcome_of(body: &Value) -> String {
    if let Some(t) = body.get("errorType").and_then(Value::as_str) {
        return format!("error {t}");
    }
    match AlarmOutcome::deserialize(body) {
        Ok(o) if o.ignored.is_some() => "ignored".into(),
        Ok(o) => o.services.first().map_or("?", |s| s.outcome).to_string(),
        Err(_) => "?".into(),
    }
}
