//! The PagerDuty and webhook API destinations: who may invoke them, and what their input
//! transformers read and build.

use std::collections::{BTreeMap, BTreeSet};

use hcl::eval::Evaluate;
use hcl::{Map, Value};
use serde_json::Value as Json;

use super::eval;
use crate::tf::{attr, blocks, in_dir, label, strings, text, tf_files};

/// The alert's detail fields a transformer may read (issue 17's event).
const DETAIL_FIELDS: &[&str] = &[
    "service",
    "epoch",
    "event_type",
    "severity",
    "subject",
    "summary",
    "votes",
    "changed",
    "runbook_url",
    "dedup_key",
];

const EVENT_TYPES: &[&str] = &[
    "failover",
    "failback",
    "blocked",
    "held",
    "pending",
    "escalation",
    "drift",
    "pause",
    "resume",
    "catalog",
    "recovered",
    "not_recovered",
    "approval",
    "step_done",
    "step_failed",
    "workflow_declined",
    "readiness",
];

const ROUTING_KEY: &str = "R0UT1NG-KEY-FOR-THE-TEST";
const INGESTION_TIME: &str = "aws.events.event.ingestion-time";

/// Resource labels referenced as `<kind>.<label>` in `src`.
fn references(src: &str, kind: &str) -> BTreeSet<String> {
    let prefix = format!("{kind}.");
    src.match_indices(&prefix)
        .map(|(i, _)| {
            src[i + prefix.len()..]
                .chars()
                .take_while(|c| c.is_ascii_alphanumeric() || *c == '_')
                .collect()
        })
        .collect()
}

#[test]
fn eventbridge_may_invoke_exactly_the_api_destinations() {
    let files = tf_files();
    let dir = eval::dir("integrations");
    let module = in_dir(&files, &dir);
    let declared: BTreeSet<String> = module
        .iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| {
            b.identifier() == "resource" && label(b, 0) == "aws_cloudwatch_event_api_destination"
        })
        .map(|b| label(b, 1).to_string())
        .collect();
    assert_eq!(
        declared,
        ["pagerduty", "webhook"].map(String::from).into(),
        "the API destinations"
    );
    let local_text = |name: &str| {
        module
            .iter()
            .flat_map(|f| f.body.blocks())
            .filter(|b| b.identifier() == "locals")
            .find_map(|b| attr(b.body(), name).map(text))
            .unwrap_or_else(|| panic!("no local.{name} in modules/integrations"))
    };
    // Every statement granting InvokeApiDestination, anywhere, is this one.
    let mut granting = Vec::new();
    for (f, doc) in blocks(&files, "data", &["aws_iam_policy_document"]) {
        for s in doc.body().blocks() {
            let actions = attr(s.body(), "actions").map(strings).unwrap_or_default();
            if actions.iter().any(|a| a.starts_with("events:InvokeApi")) {
                granting.push((crate::tf::rel(&f.path), label(doc, 1).to_string(), s));
            }
        }
    }
    assert_eq!(
        granting.len(),
        1,
        "statements granting InvokeApiDestination"
    );
    let (path, doc, s) = &granting[0];
    assert!(path.starts_with("infra/modules/integrations/"), "{path}");
    assert_eq!(
        attr(s.body(), "actions").map(strings).unwrap(),
        vec!["events:InvokeApiDestination".to_string()],
        "{path} {doc}: InvokeApiDestination alone"
    );
    assert!(attr(s.body(), "effect").is_none_or(|e| text(e) == "\"Allow\""));
    let resources = attr(s.body(), "resources").map(text).unwrap();
    assert_eq!(resources, "local.api_destination_arns", "{path} {doc}");
    // local.api_destination_arns is local.destination_arns' values, and that reads the
    // ARNs of exactly the declared destinations and no other resource.
    let list = local_text("api_destination_arns");
    assert!(
        list.contains("local.destination_arns") && !list.contains("aws_"),
        "local.api_destination_arns = {list}"
    );
    let map = local_text("destination_arns");
    assert_eq!(
        references(&map, "aws_cloudwatch_event_api_destination"),
        declared,
        "local.destination_arns = {map}"
    );
    let other_resources =
        map.matches("aws_").count() - map.matches("aws_cloudwatch_event_api_destination.").count();
    assert_eq!(other_resources, 0, "local.destination_arns = {map}");
    assert!(map.contains(".arn"), "local.destination_arns = {map}");
    // The one role with that document, trusted by EventBridge, used by every target.
    let role_policies: Vec<_> = module
        .iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == "resource" && label(b, 0) == "aws_iam_role_policy")
        .collect();
    assert_eq!(role_policies.len(), 1);
    let rp = role_policies[0].body();
    assert_eq!(
        text(attr(rp, "policy").unwrap()),
        format!("data.aws_iam_policy_document.{doc}.json")
    );
    let role = references(&text(attr(rp, "role").unwrap()), "aws_iam_role");
    let trust = module
        .iter()
        .flat_map(|f| f.body.blocks())
        .find(|b| {
            b.identifier() == "resource"
                && label(b, 0) == "aws_iam_role"
                && role.contains(label(b, 1))
        })
        .map(|b| text(attr(b.body(), "assume_role_policy").unwrap()))
        .unwrap();
    let trust_doc = references(&trust, "data.aws_iam_policy_document");
    let trust_src = module
        .iter()
        .flat_map(|f| f.body.blocks())
        .find(|b| b.identifier() == "data" && trust_doc.contains(label(b, 1)))
        .map(|b| hcl::format::to_string(b.body()).unwrap())
        .unwrap();
    assert!(
        trust_src.contains("\"events.amazonaws.com\"") && trust_src.contains("aws:SourceAccount"),
        "the invoking role is EventBridge's, for this account: {trust_src}"
    );
    for (_, target) in blocks(&files, "resource", &["aws_cloudwatch_event_target"]) {
        let arn = attr(target.body(), "arn").map(text).unwrap_or_default();
        if arn.contains("destination") {
            let role_arn = attr(target.body(), "role_arn")
                .map(text)
                .unwrap_or_default();
            assert_eq!(
                references(&role_arn, "aws_iam_role"),
                role,
                "target {}: role_arn = {role_arn}",
                label(target, 1)
            );
            assert!(arn.starts_with("local.destination_arns["), "{arn}");
        }
    }
}

/// The integrations' routes, evaluated with both integrations configured.
fn routes() -> (Map<String, Value>, hcl::eval::Context<'static>) {
    let files = tf_files();
    let dir = eval::dir("integrations");
    let mut inputs = Map::new();
    let obj = |pairs: &[(&str, Value)]| {
        Value::Object(
            pairs
                .iter()
                .map(|(k, v)| (k.to_string(), v.clone()))
                .collect(),
        )
    };
    let list = |items: &[&str]| Value::Array(items.iter().map(|s| Value::from(*s)).collect());
    inputs.insert(
        "pagerduty".into(),
        obj(&[
            (
                "routing_key_secret_arn",
                "arn:aws:secretsmanager:us-west-2:123456789012:secret:pd".into(),
            ),
            (
                "trigger_event_types",
                list(&["failover", "blocked", "readiness"]),
            ),
            ("resolve_event_types", list(&["recovered", "failback"])),
        ]),
    );
    inputs.insert(
        "webhook".into(),
        obj(&[
            ("endpoint", "https://hooks.example.com/alertmanager".into()),
            ("api_key_name", "Authorization".into()),
            (
                "api_key_secret_arn",
                "arn:aws:secretsmanager:us-west-2:123456789012:secret:wh".into(),
            ),
            ("resolved_event_types", list(&["recovered", "failback"])),
        ]),
    );
    let (locals, ctx) = eval::module(
        &files,
        &dir,
        &inputs,
        &[("routing_key", ROUTING_KEY.into())],
        &[],
    );
    (locals, ctx)
}

/// The template with each `<name>` replaced: `"@name@"` inside quotes, `0` outside (a
/// number), then parsed as JSON.
fn fill(route: &str, template: &str, names: &BTreeSet<String>) -> Json {
    let mut out = template.to_string();
    for name in names {
        out = out.replace(&format!("\"<{name}>\""), &format!("\"@{name}@\""));
        out = out.replace(&format!("<{name}>"), "0");
    }
    assert!(
        !out.contains('<'),
        "{route}: a placeholder no input path defines: {out}"
    );
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("{route}: not JSON ({e}): {out}"))
}

#[test]
fn the_input_transformers_read_only_the_alert_detail_fields() {
    let (locals, ctx) = routes();
    let dir = eval::dir("integrations");
    let routes = eval::json(eval::local(&locals, &dir, "routes"));
    let enabled = eval::json(eval::local(&locals, &dir, "enabled_routes"));
    let names: BTreeSet<&str> = routes
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(
        names,
        BTreeSet::from([
            "pagerduty-trigger",
            "pagerduty-resolve",
            "webhook-firing",
            "webhook-resolved"
        ])
    );
    assert_eq!(
        enabled, routes,
        "both integrations configured: every route is on"
    );
    let mut types_of: BTreeMap<&str, BTreeSet<String>> = BTreeMap::new();
    for (name, route) in routes.as_object().unwrap() {
        let paths = route["paths"].as_object().unwrap();
        // Which detail field each placeholder is.
        let mut field_of: BTreeMap<String, String> = BTreeMap::new();
        for (var, path) in paths {
            let field = path
                .as_str()
                .and_then(|p| p.strip_prefix("$.detail."))
                .unwrap_or_else(|| panic!("{name}: {var} reads {path}, not a detail field"));
            assert!(
                DETAIL_FIELDS.contains(&field),
                "{name}: {var} reads $.detail.{field}, not a field of the alert's event"
            );
            field_of.insert(format!("@{var}@"), field.to_string());
        }
        let mut placeholders: BTreeSet<String> = paths.keys().cloned().collect();
        placeholders.insert(INGESTION_TIME.to_string());
        let body = fill(name, route["template"].as_str().unwrap(), &placeholders);
        let field = |v: &Json| {
            v.as_str()
                .and_then(|s| field_of.get(s))
                .cloned()
                .unwrap_or_else(|| format!("literal {v}"))
        };
        let types: BTreeSet<String> = route["event_types"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| t.as_str().unwrap().to_string())
            .collect();
        for t in &types {
            assert!(
                EVENT_TYPES.contains(&t.as_str()),
                "{name}: unknown event type {t}"
            );
        }
        types_of.insert(name.as_str(), types);
        match name.as_str() {
            "pagerduty-trigger" | "pagerduty-resolve" => {
                let action = if name == "pagerduty-trigger" {
                    "trigger"
                } else {
                    "resolve"
                };
                assert_eq!(body["routing_key"], ROUTING_KEY, "{name}");
                assert_eq!(body["event_action"], action, "{name}");
                assert_eq!(field(&body["dedup_key"]), "dedup_key", "{name}");
                if action == "trigger" {
                    let p = &body["payload"];
                    assert_eq!(field(&p["summary"]), "subject", "{name}: payload.summary");
                    assert_eq!(
                        field(&p["severity"]),
                        "severity",
                        "{name}: payload.severity"
                    );
                    assert_eq!(field(&p["source"]), "service", "{name}: payload.source");
                }
            }
            "webhook-firing" | "webhook-resolved" => {
                let status = if name == "webhook-firing" {
                    "firing"
                } else {
                    "resolved"
                };
                assert_eq!(
                    body["version"], "4",
                    "{name}: Alertmanager's webhook version"
                );
                assert_eq!(body["status"], status, "{name}");
                let alerts = body["alerts"].as_array().unwrap();
                assert_eq!(alerts.len(), 1, "{name}");
                let a = &alerts[0];
                assert_eq!(a["status"], status, "{name}");
                let labels: BTreeMap<String, String> = a["labels"]
                    .as_object()
                    .unwrap()
                    .iter()
                    .map(|(k, v)| (k.clone(), field(v)))
                    .collect();
                let want: BTreeMap<String, String> = [
                    ("alertname", "event_type"),
                    ("service", "service"),
                    ("severity", "severity"),
                ]
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .into();
                assert_eq!(labels, want, "{name}: labels");
                assert_eq!(field(&a["annotations"]["summary"]), "summary", "{name}");
                assert_eq!(
                    field(&a["annotations"]["runbook_url"]),
                    "runbook_url",
                    "{name}"
                );
            }
            other => panic!("unexpected route {other}"),
        }
    }
    // A failover opens what its recovery or failback resolves; the webhook sends every
    // event type exactly once, firing or resolved.
    for closing in ["recovered", "failback"] {
        assert!(types_of["pagerduty-resolve"].contains(closing));
        assert!(types_of["webhook-resolved"].contains(closing));
    }
    assert!(types_of["pagerduty-trigger"].contains("failover"));
    assert!(types_of["pagerduty-trigger"].is_disjoint(&types_of["pagerduty-resolve"]));
    assert!(types_of["webhook-firing"].is_disjoint(&types_of["webhook-resolved"]));
    let all: BTreeSet<String> = EVENT_TYPES.iter().map(|t| t.to_string()).collect();
    assert_eq!(
        &types_of["webhook-firing"] | &types_of["webhook-resolved"],
        all,
        "the webhook gets every event type"
    );
    // Each rule listens on the configured bus for the functions' source and its types.
    let files = tf_files();
    let (_, rule) = blocks(&files, "resource", &["aws_cloudwatch_event_rule", "route"])
        .next()
        .expect("aws_cloudwatch_event_rule.route");
    assert_eq!(
        text(attr(rule.body(), "event_bus_name").unwrap()),
        "var.event_bus_name"
    );
    let pattern = attr(rule.body(), "event_pattern").unwrap();
    for (name, route) in routes.as_object().unwrap() {
        let mut scope = ctx.clone();
        let mut each = Map::new();
        each.insert("key".to_string(), Value::from(name.clone()));
        each.insert(
            "value".to_string(),
            serde_json::from_value(route.clone()).unwrap(),
        );
        scope.declare_var("each", Value::Object(each));
        let p: Json =
            serde_json::from_str(pattern.evaluate(&scope).unwrap().as_str().unwrap()).unwrap();
        assert_eq!(
            p["source"],
            serde_json::json!(["regional-failover"]),
            "{name}"
        );
        assert_eq!(p["detail-type"], route["event_types"], "{name}");
    }
}
