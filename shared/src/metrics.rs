//! Metrics as CloudWatch Embedded Metric Format lines on stdout: CloudWatch Logs turns them
//! into metrics, so the hot path makes no extra API call. A log line, like a trace, and so
//! not behind a port: the engine writes it directly.

use serde_json::{json, Map, Value};

use crate::domain::time::Millis;

pub const NAMESPACE: &str = "RegionalFailover";

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Unit {
    Count,
    Milliseconds,
}

impl Unit {
    fn as_str(self) -> &'static str {
        match self {
            Unit::Count => "Count",
            Unit::Milliseconds => "Milliseconds",
        }
    }
}

/// One EMF line: `metrics` under the dimensions `Function` (and `Service` when given),
/// `properties` as searchable log fields that are not metrics.
pub fn emf_line(
    function: &str,
    service: Option<&str>,
    now: Millis,
    metrics: &[(&str, f64, Unit)],
    properties: &[(&str, &str)],
) -> String {
    let mut dims = vec!["Function"];
    let mut root = Map::new();
    root.insert("Function".into(), json!(function));
    if let Some(s) = service {
        dims.push("Service");
        root.insert("Service".into(), json!(s));
    }
    let defs: Vec<Value> = metrics
        .iter()
        .map(|(name, _, unit)| json!({"Name": name, "Unit": unit.as_str()}))
        .collect();
    for (name, value, _) in metrics {
        root.insert((*name).into(), json!(value));
    }
    for (k, v) in properties {
        root.entry(*k).or_insert_with(|| json!(v));
    }
    root.insert(
        "_aws".into(),
        json!({"Timestamp": now, "CloudWatchMetrics": [{"Namespace": NAMESPACE, "Dimensions": [dims], "Metrics": defs}]}),
    );
    Value::Object(root).to_string()
}

pub fn emit(
    function: &str,
    service: Option<&str>,
    now: Millis,
    metrics: &[(&str, f64, Unit)],
    properties: &[(&str, &str)],
) {
    println!("{}", emf_line(function, service, now, metrics, properties));
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn emf_line_declares_every_metric_and_dimension() {
        let line = emf_line(
            "alarm-trigger",
            Some("checkout"),
            1_700_000_000_000,
            &[
                ("Votes", 1.0, Unit::Count),
                ("ClaimLatency", 12.0, Unit::Milliseconds),
            ],
            &[("outcome", "recorded")],
        );
        let v: Value = serde_json::from_str(&line).unwrap();
        assert_eq!(v["Service"], "checkout");
        assert_eq!(v["Votes"], 1.0);
        assert_eq!(v["outcome"], "recorded");
        let cw = &v["_aws"]["CloudWatchMetrics"][0];
        assert_eq!(cw["Namespace"], NAMESPACE);
        assert_eq!(cw["Dimensions"][0], json!(["Function", "Service"]));
        assert_eq!(
            cw["Metrics"][1],
            json!({"Name": "ClaimLatency", "Unit": "Milliseconds"})
        );
        assert_eq!(v["_aws"]["Timestamp"], 1_700_000_000_000i64);
    }
}
