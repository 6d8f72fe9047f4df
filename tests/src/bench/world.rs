//! What the benchmarks run against: control tables with N catalogued services on moto
//! (health checks, optional readiness alarm), and the events they deliver.

use aws_config::SdkConfig;
use chrono::{DateTime, Utc};
use serde_json::{json, Value};

use crate::{
    create_control_table, create_health_check, fixture, observer_arn, put_alarm, put_catalog_entry,
    set_alarm_state, set_times, ACCOUNT_ID,
};

pub const REGIONS: [&str; 3] = ["us-east-1", "us-west-2", "eu-west-1"];

/// One catalogued service.
#[derive(Debug, Clone)]
pub struct Svc {
    pub name: String,
    pub observers: [String; 3],
    pub primary_hc: String,
}

/// Creates `table` with `count` services `<prefix>-000`...: primary and secondary health
/// checks, three observers (quorum 2) and, with `readiness_alarm`, a secondary alarm (OK)
/// in the pre-flight, as the drill's `checkout` has.
pub async fn provision(
    sdk: &SdkConfig,
    table: &str,
    prefix: &str,
    count: usize,
    readiness_alarm: bool,
) -> Vec<Svc> {
    create_control_table(sdk, table).await;
    let mut out = Vec::with_capacity(count);
    for i in 0..count {
        let name = format!("{prefix}-{i:03}");
        let primary = create_health_check(sdk, &format!("{name}.us-east-1.example.com")).await;
        let secondary = create_health_check(sdk, &format!("{name}.eu-west-1.example.com")).await;
        let observers = [0, 1, 2].map(|k| {
            observer_arn(
                REGIONS[k],
                &format!("{name}-canary-{}", REGIONS[k].replace('-', "")),
            )
        });
        let mut preflight = json!({"secondary_health_check": true});
        if readiness_alarm {
            let alarm = format!("{name}-secondary-ready");
            let arn = put_alarm(sdk, "eu-west-1", &alarm).await;
            set_alarm_state(sdk, "eu-west-1", &alarm, "OK").await;
            preflight["secondary_alarm_arn"] = json!(arn);
        }
        let def = json!({"name": name,
            "primary": {"region": "us-east-1", "health_check_id": primary},
            "secondary": {"region": "eu-west-1", "health_check_id": secondary},
            "observers": observers, "quorum": 2,
            "vote_window_seconds": 300, "max_event_age_seconds": 300,
            "cooldown_seconds": 3600, "max_auto_failovers_per_day": 1,
            "preflight": preflight});
        put_catalog_entry(sdk, table, &name, &def.to_string()).await;
        out.push(Svc {
            name,
            observers,
            primary_hc: primary,
        });
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
/// (`vote_recorded`, `duplicate`, `failed_over`, ...), or the error type.
pub fn outcome_of(body: &Value) -> String {
    if let Some(t) = body.get("errorType").and_then(Value::as_str) {
        return format!("error {t}");
    }
    if body.get("ignored").is_some_and(|v| !v.is_null()) {
        return "ignored".into();
    }
    body["services"][0]["outcome"]
        .as_str()
        .unwrap_or("?")
        .to_string()
}
