//! The dashboard and the alarms on misconfiguration name only what the code emits, and
//! the functions put their events on the configured bus only.

use std::collections::BTreeSet;

use failover::metrics::{emf_line, Unit};
use hcl::{Map, Value};

use super::eval;
use crate::render;
use crate::tf::{attr, blocks, label, strings, text, tf_files};

fn obj(pairs: &[(&str, Value)]) -> Value {
    Value::Object(
        pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.clone()))
            .collect(),
    )
}

/// The control plane's dashboard body for two services: one with a probe and a replica
/// lag metric, one with neither.
fn dashboard() -> serde_json::Value {
    let files = tf_files();
    let dir = eval::dir("control-plane");
    let mut inputs = render::caller_inputs(&files, &dir);
    let lag = obj(&[
        ("region", "eu-west-1".into()),
        ("namespace", "AWS/RDS".into()),
        ("metric_name", "ReplicaLag".into()),
        (
            "dimensions",
            obj(&[("DBInstanceIdentifier", "checkout-replica".into())]),
        ),
        ("statistic", "Maximum".into()),
    ]);
    let services = vec![
        obj(&[
            ("name", "checkout".into()),
            ("primary_health_check_id", "hc-primary".into()),
            ("secondary_health_check_id", "hc-secondary".into()),
            ("probe_health_check_id", "hc-probe".into()),
            ("secondary_region", "eu-west-1".into()),
            ("replica_lag", lag),
        ]),
        obj(&[
            ("name", "search".into()),
            ("primary_health_check_id", "hc-p2".into()),
            ("secondary_health_check_id", "hc-s2".into()),
            ("probe_health_check_id", Value::Null),
            ("secondary_region", "us-west-2".into()),
            ("replica_lag", Value::Null),
        ]),
    ];
    inputs.insert("dashboard_services".into(), Value::Array(services));
    inputs.insert("region".into(), "us-west-2".into());
    // The functions by key, with the names Terraform gives them.
    let functions: Map<String, Value> = ["alarm_trigger", "operator", "reconciler"]
        .iter()
        .map(|k| {
            let name = format!("failover-{}", k.replace('_', "-"));
            (k.to_string(), obj(&[("function_name", name.into())]))
        })
        .collect();
    let (locals, _) = eval::module(
        &files,
        &dir,
        &inputs,
        &[],
        &[(
            "aws_lambda_function",
            obj(&[("function", Value::Object(functions))]),
        )],
    );
    let body = eval::local(&locals, &dir, "dashboard_body");
    serde_json::from_str(body.as_str().unwrap()).unwrap()
}

#[test]
fn the_dashboard_names_only_metrics_the_code_emits() {
    let emitted = eval::metrics_the_code_emits();
    println!("metrics the code emits: {emitted:?}");
    assert!(
        emitted.contains("Votes") && emitted.contains("Decisions"),
        "{emitted:?}"
    );
    let body = dashboard();
    let widgets = body["widgets"].as_array().unwrap();
    // (namespace, metric, dimensions, region) of every graphed series.
    let mut series = BTreeSet::new();
    for w in widgets.iter().filter(|w| w["type"] == "metric") {
        let p = &w["properties"];
        let region = p["region"].as_str().unwrap().to_string();
        for row in p["metrics"].as_array().unwrap() {
            let row = row.as_array().unwrap();
            let strs: Vec<String> = row
                .iter()
                .filter_map(|v| v.as_str().map(str::to_string))
                .collect();
            let (ns, metric) = (strs[0].clone(), strs[1].clone());
            let dims: Vec<(String, String)> = strs[2..]
                .chunks(2)
                .map(|c| (c[0].clone(), c[1].clone()))
                .collect();
            match ns.as_str() {
                "RegionalFailover" => assert!(
                    emitted.contains(&metric),
                    "the dashboard graphs RegionalFailover/{metric}, which the code does not emit"
                ),
                "AWS/Route53" => assert_eq!(metric, "HealthCheckPercentageHealthy"),
                "AWS/Lambda" => assert!(metric == "Errors" || metric == "Duration", "{metric}"),
                "AWS/RDS" => assert_eq!(
                    (metric.as_str(), region.as_str()),
                    ("ReplicaLag", "eu-west-1")
                ),
                other => panic!("unexpected namespace {other}"),
            }
            series.insert((ns, metric, dims, region.clone()));
        }
    }
    let has = |ns: &str, metric: &str, dims: &[(&str, &str)], region: &str| {
        let dims: Vec<(String, String)> = dims
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        series.contains(&(ns.to_string(), metric.to_string(), dims, region.to_string()))
    };
    // Route 53 publishes health check metrics in us-east-1 only.
    for hc in ["hc-primary", "hc-secondary", "hc-probe", "hc-p2", "hc-s2"] {
        assert!(
            has(
                "AWS/Route53",
                "HealthCheckPercentageHealthy",
                &[("HealthCheckId", hc)],
                "us-east-1"
            ),
            "health check {hc}"
        );
    }
    for s in ["checkout", "search"] {
        assert!(
            has(
                "RegionalFailover",
                "Votes",
                &[("Function", "alarm-trigger"), ("Service", s)],
                "us-west-2"
            ),
            "{s} votes"
        );
        assert!(
            has(
                "RegionalFailover",
                "Decisions",
                &[("Function", "alarm-trigger"), ("Service", s)],
                "us-west-2"
            ),
            "{s} decisions"
        );
        assert!(
            has(
                "RegionalFailover",
                "ReadinessNotReady",
                &[("Function", "reconciler"), ("Service", s)],
                "us-west-2"
            ),
            "{s} readiness"
        );
    }
    // The switch metric lives in each service's secondary region.
    assert!(has(
        "RegionalFailover",
        "PrimaryForcedOut",
        &[("Service", "checkout")],
        "eu-west-1"
    ));
    assert!(has(
        "RegionalFailover",
        "PrimaryForcedOut",
        &[("Service", "search")],
        "us-west-2"
    ));
    assert!(has(
        "AWS/RDS",
        "ReplicaLag",
        &[("DBInstanceIdentifier", "checkout-replica")],
        "eu-west-1"
    ));
    assert!(has(
        "RegionalFailover",
        "ReconcilerRuns",
        &[("Function", "reconciler")],
        "us-west-2"
    ));
    for f in ["alarm-trigger", "operator", "reconciler"] {
        for m in ["Errors", "Duration"] {
            assert!(
                has(
                    "AWS/Lambda",
                    m,
                    &[("FunctionName", &format!("failover-{f}"))],
                    "us-west-2"
                ),
                "{f} {m}"
            );
        }
    }
}

#[test]
fn the_misconfiguration_alarms_match_what_the_code_emits() {
    let files = tf_files();
    let emitted = eval::metrics_the_code_emits();
    let alarm = |name: &str| {
        blocks(&files, "resource", &["aws_cloudwatch_metric_alarm", name])
            .next()
            .unwrap_or_else(|| panic!("no aws_cloudwatch_metric_alarm.{name}"))
            .1
            .body()
            .clone()
    };
    for (name, metric) in [
        ("catalog_errors", "CatalogErrors"),
        ("alerts_lost_metric", "AlertsLost"),
    ] {
        let body = alarm(name);
        assert!(emitted.contains(metric), "{metric} is not emitted");
        let query = body
            .blocks()
            .find(|b| b.identifier() == "metric_query")
            .map(|b| text(attr(b.body(), "expression").unwrap()))
            .unwrap_or_default();
        assert!(
            query.contains(&format!("({metric})")) && query.contains("RegionalFailover"),
            "{name}: {query}"
        );
        assert_eq!(text(attr(&body, "threshold").unwrap()), "0");
        assert_eq!(
            text(attr(&body, "comparison_operator").unwrap()),
            "\"GreaterThanThreshold\""
        );
        assert_eq!(
            text(attr(&body, "treat_missing_data").unwrap()),
            "\"notBreaching\""
        );
        assert!(text(attr(&body, "alarm_actions").unwrap()).contains("aws_sns_topic.alerts.arn"));
    }
    // IgnoredEvents' reason is a property of the EMF line, matched by a log filter: the
    // pattern's two conditions hold on the line the code writes for an unknown observer.
    let (_, filter) = blocks(
        &files,
        "resource",
        &["aws_cloudwatch_log_metric_filter", "unknown_observer"],
    )
    .next()
    .unwrap();
    let pattern = match attr(filter.body(), "pattern").unwrap() {
        hcl::Expression::String(s) => s.clone(),
        other => text(other),
    };
    assert!(
        pattern.contains("$.reason = \"unknown_observer\""),
        "{pattern}"
    );
    assert!(pattern.contains("$.IgnoredEvents > 0"), "{pattern}");
    let line = emf_line(
        "alarm-trigger",
        None,
        0,
        &[("IgnoredEvents", 1.0, Unit::Count)],
        &[("reason", "unknown_observer")],
    );
    let v: serde_json::Value = serde_json::from_str(&line).unwrap();
    assert_eq!(v["reason"], "unknown_observer", "{line}");
    assert!(v["IgnoredEvents"].as_f64().unwrap() > 0.0, "{line}");
    assert!(emitted.contains("IgnoredEvents"));
    let code_says_unknown_observer = std::fs::read_to_string(
        integration_tests::workspace_root().join("shared/src/engine/alarm.rs"),
    )
    .unwrap()
    .contains("\"unknown_observer\"");
    assert!(
        code_says_unknown_observer,
        "the code no longer counts reason unknown_observer"
    );
    let body = alarm("unknown_observer");
    let metric = text(attr(&body, "metric_name").unwrap());
    let transformed = filter
        .body()
        .blocks()
        .find(|b| b.identifier() == "metric_transformation")
        .map(|b| text(attr(b.body(), "name").unwrap()))
        .unwrap();
    assert_eq!(metric, transformed);
    assert_eq!(
        text(attr(&body, "treat_missing_data").unwrap()),
        "\"notBreaching\""
    );
}

#[test]
fn the_functions_put_events_on_the_configured_bus_only() {
    let files = tf_files();
    // One statement grants PutEvents to the functions: on the control plane's bus output.
    let mut granting = Vec::new();
    for (f, doc) in blocks(&files, "data", &["aws_iam_policy_document"]) {
        if f.path.parent() != Some(&integration_tests::workspace_root().join("infra")) {
            continue; // the functions' documents live at the root (iam.tf)
        }
        for s in doc.body().blocks() {
            let actions = attr(s.body(), "actions").map(strings).unwrap_or_default();
            if actions
                .iter()
                .any(|a| a.starts_with("events:Put") || a == "events:*")
            {
                granting.push((
                    label(doc, 1).to_string(),
                    actions,
                    attr(s.body(), "resources").map(strings).unwrap_or_default(),
                ));
            }
        }
    }
    assert_eq!(
        granting,
        vec![(
            "engine".to_string(),
            vec!["events:PutEvents".to_string()],
            vec!["module.control_plane.event_bus_arn".to_string()]
        )],
        "the functions may put events on the configured bus and nowhere else"
    );
    let dir = eval::dir("control-plane");
    for (bus, env) in [("default", None), ("ops-alerts", Some("ops-alerts"))] {
        let mut inputs = render::caller_inputs(&files, &dir);
        inputs.insert("event_bus_name".into(), bus.into());
        inputs.insert("region".into(), "us-west-2".into());
        let (_, ctx) = render::module_context_with(&files, &dir, &inputs);
        let (_, output) = blocks(&files, "output", &["event_bus_arn"])
            .find(|(f, _)| f.path.parent() == Some(dir.as_path()))
            .unwrap();
        let arn =
            hcl::eval::Evaluate::evaluate(attr(output.body(), "value").unwrap(), &ctx).unwrap();
        assert_eq!(
            arn.as_str().unwrap(),
            format!(
                "arn:aws:events:us-west-2:{}:event-bus/{bus}",
                render::ACCOUNT
            )
        );
        let (_, lambda) = blocks(&files, "resource", &["aws_lambda_function", "function"])
            .find(|(f, _)| f.path.parent() == Some(dir.as_path()))
            .unwrap();
        for (address, scope) in render::instances(lambda, &ctx) {
            let values = render::evaluate_body(lambda.body(), &scope, &address);
            let vars = values
                .get("environment")
                .and_then(|e| e.as_object()?.get("variables")?.as_object().cloned())
                .unwrap_or_else(|| panic!("{address}: no environment.variables"));
            assert_eq!(
                vars.get("EVENT_BUS_NAME").and_then(Value::as_str),
                env,
                "{address} with event_bus_name = {bus}"
            );
        }
    }
    // The integrations' rules listen on the bus the functions put on.
    let passed: Vec<String> = blocks(&files, "module", &["integrations"])
        .filter_map(|(_, b)| attr(b.body(), "event_bus_name").map(text))
        .collect();
    assert_eq!(
        passed,
        vec!["module.control_plane.event_bus_name".to_string()]
    );
}
