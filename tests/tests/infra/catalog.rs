//! The catalog item the protected-service module writes, rendered from the example
//! tfvars, goes through the functions' own parser.

use std::collections::BTreeSet;

use failover::domain::catalog::{InsufficientData, LagUnit, ServiceDefinition};
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Map, Value};
use integration_tests::workspace_root;

use crate::render;
use crate::tf::{attr, blocks, in_dir, label, text, tf_files, TfFile};

pub const MODULE: &str = "infra/modules/protected-service";

#[test]
fn the_catalog_item_terraform_writes_is_one_the_functions_accept() {
    let files = tf_files();
    let (locals, ctx) =
        render::module_context(&files, "infra/modules/protected-service", "checkout", &[]);
    let definition = locals
        .get("definition")
        .expect("local.definition evaluates from the example tfvars");
    let json = serde_json::to_string(definition).unwrap();
    println!("catalog entry rendered from the example: {json}");
    let name = serde_json::from_str::<serde_json::Value>(&json).unwrap()["name"]
        .as_str()
        .expect("definition.name")
        .to_string();
    let def = failover::domain::catalog::ServiceDefinition::parse(&name, &json)
        .unwrap_or_else(|e| panic!("the functions reject Terraform's catalog entry {json}: {e}"));
    // It names the resources the module creates.
    assert_eq!(
        def.primary.health_check_id,
        "aws_route53_health_check.primary"
    );
    assert_eq!(
        def.secondary.health_check_id,
        "aws_route53_health_check.secondary"
    );
    // The example's switch, probe and failback gate are written and read back: the keys
    // are ones the parser knows (it denies unknown fields), the values the example's.
    let example_service = render::tfvars()["checkout"]
        .as_object()
        .cloned()
        .expect("the example's checkout object");
    let example_mode = example_service["switch_mode"]
        .as_str()
        .expect("the example sets checkout.switch_mode");
    assert_eq!(def.switch.mode.as_str(), example_mode, "{json}");
    assert_eq!(
        def.switch.alarm_arn.is_some(),
        def.switch.uses_metric(),
        "{json}"
    );
    assert_eq!(
        def.primary.probe_health_check_id.as_deref(),
        Some("aws_route53_health_check.primary_probe[\"primary\"]"),
        "{json}"
    );
    assert_eq!(def.secondary.probe_health_check_id, None, "{json}");
    assert_eq!(
        Value::from(def.failback_min_healthy_seconds),
        example_service["failback_min_healthy_seconds"],
        "{json}"
    );
    for (field, value) in [
        ("recovery_timeout_seconds", def.recovery_timeout_seconds),
        ("readiness_interval_seconds", def.readiness_interval_seconds),
    ] {
        assert_eq!(
            Value::from(value),
            example_service[field],
            "{field}: {json}"
        );
    }
    // Each observer is the alarm of an observer module it calls (one per observer region).
    let votes: BTreeSet<String> = render::module_calls(
        &files,
        &workspace_root().join("infra/modules/protected-service"),
    )
    .into_iter()
    .filter(|(_, called)| !render::alarm_arn_outputs(&files, called).is_empty())
    .map(|(call, _)| render::alarm_arn(&call))
    .collect();
    assert!(def.observers.len() >= 2, "{:?}", def.observers);
    for o in &def.observers {
        assert!(
            votes.contains(o),
            "observer {o} is not the alarm of an observer module this module calls: {votes:?}"
        );
    }

    // The item itself: the key the functions read, the definition as its JSON string.
    let (_, item_block) = blocks(&files, "resource", &["aws_dynamodb_table_item", "catalog"])
        .next()
        .expect("resource aws_dynamodb_table_item.catalog");
    let body = item_block.body();
    assert_eq!(attr(body, "hash_key").map(text).as_deref(), Some("\"pk\""));
    assert_eq!(attr(body, "range_key").map(text).as_deref(), Some("\"sk\""));
    let item = attr(body, "item")
        .expect("item")
        .evaluate(&ctx)
        .expect("item evaluates");
    let item: serde_json::Value =
        serde_json::from_str(item.as_str().expect("item is JSON")).unwrap();
    assert_eq!(item["pk"]["S"], "catalog");
    assert_eq!(item["sk"]["S"], name.as_str());
    let stored = item["definition"]["S"].as_str().expect("definition.S");
    failover::domain::catalog::ServiceDefinition::parse(&name, stored)
        .expect("the stored definition parses");

    // The example's pre-flight choices are written and read back, not dropped.
    let example = serde_json::to_value(&render::tfvars()["checkout"]).unwrap();
    let chosen = |path: &[&str]| {
        let value = path.iter().fold(&example, |v, k| &v[*k]);
        value
            .as_str()
            .unwrap_or_else(|| panic!("the example sets checkout.{}", path.join(".")))
            .to_string()
    };
    let rendered: serde_json::Value = serde_json::from_str(&json).unwrap();
    let lag = def
        .preflight
        .replica_lag
        .as_ref()
        .expect("preflight.replica_lag");
    assert_eq!(
        rendered["preflight"]["replica_lag"]["unit"],
        chosen(&["replica_lag", "unit"]).as_str()
    );
    assert_eq!(
        serde_json::to_value(lag.unit).unwrap(),
        chosen(&["replica_lag", "unit"]).as_str()
    );
    let insufficient = "secondary_alarm_insufficient_data";
    assert_eq!(
        rendered["preflight"][insufficient],
        chosen(&[insufficient]).as_str()
    );
    assert_eq!(
        serde_json::to_value(def.preflight.secondary_alarm_insufficient_data).unwrap(),
        chosen(&[insufficient]).as_str()
    );
}

/// Without the optional pre-flight inputs the module writes nulls; the functions read them
/// as absent.
#[test]
fn a_catalog_item_without_the_optional_preflight_is_accepted_too() {
    let files = tf_files();
    let unset = [
        "secondary_alarm_arn",
        "replica_lag",
        "secondary_alarm_insufficient_data",
    ];
    let (locals, _) = render::module_context(
        &files,
        "infra/modules/protected-service",
        "checkout",
        &unset,
    );
    let json = serde_json::to_string(locals.get("definition").expect("local.definition")).unwrap();
    let def = failover::domain::catalog::ServiceDefinition::parse("checkout", &json)
        .unwrap_or_else(|e| panic!("rejected {json}: {e}"));
    assert!(json.contains("\"secondary_alarm_arn\":null"), "{json}");
    assert!(
        def.preflight.secondary_alarm_arn.is_none() && def.preflight.replica_lag.is_none(),
        "{json}"
    );
    // Unset, the module's default is today's behaviour.
    assert_eq!(
        def.preflight.secondary_alarm_insufficient_data,
        InsufficientData::NotReady,
        "{json}"
    );
}

/// The module's inputs from the example's `checkout` object, with `overrides` applied:
/// `("replica_lag.unit", v)` sets one field of an object input.
pub fn checkout_inputs(overrides: &[(&str, Value)]) -> Map<String, Value> {
    let mut inputs = render::tfvars();
    let service = inputs["checkout"].as_object().cloned().expect("checkout");
    inputs.extend(service);
    for (path, value) in overrides {
        match path.split_once('.') {
            Some((var, field)) => {
                let Some(Value::Object(o)) = inputs.get_mut(var) else {
                    panic!("the example's checkout.{var} is not an object");
                };
                o.insert(field.to_string(), value.clone());
            }
            None => {
                inputs.insert(path.to_string(), value.clone());
            }
        }
    }
    inputs
}

/// Whether the module's `validation` blocks of `var.<var>` whose condition reads `marker`
/// accept `inputs[var]` (Terraform's verdict on a plan, as far as those blocks go).
pub fn validation_accepts(
    files: &[TfFile],
    var: &str,
    marker: &str,
    inputs: &Map<String, Value>,
) -> bool {
    let dir = workspace_root().join(MODULE);
    let conditions: Vec<_> = in_dir(files, &dir)
        .into_iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == "variable" && label(b, 0) == var)
        .flat_map(|b| b.body().blocks())
        .filter(|b| b.identifier() == "validation")
        .filter_map(|b| attr(b.body(), "condition"))
        .filter(|c| text(c).contains(marker))
        .collect();
    assert!(
        !conditions.is_empty(),
        "{MODULE}: no validation of var.{var} reads {marker}"
    );
    let mut ctx = Context::new();
    ctx.declare_func(
        "contains",
        FuncDef::builder()
            .param(ParamType::Array(Box::new(ParamType::Any)))
            .param(ParamType::Any)
            .build(|args: FuncArgs| {
                Ok(Value::Bool(
                    args[0].as_array().is_some_and(|a| a.contains(&args[1])),
                ))
            }),
    );
    ctx.declare_func(
        "floor",
        FuncDef::builder()
            .param(ParamType::Number)
            .build(|args: FuncArgs| {
                let n = args[0].as_f64().ok_or("floor: not a number")?;
                Ok(Value::from(n.floor()))
            }),
    );
    let mut vars = Map::new();
    vars.insert(var.to_string(), inputs[var].clone());
    ctx.declare_var("var", Value::Object(vars));
    conditions.iter().all(|c| match c.evaluate(&ctx) {
        Ok(Value::Bool(ok)) => ok,
        other => panic!("validation of var.{var}: {} gives {other:?}", text(c)),
    })
}

/// The catalog item rendered from `inputs`, through the functions' parser.
pub fn render_and_parse(
    files: &[TfFile],
    inputs: &Map<String, Value>,
) -> Result<ServiceDefinition, String> {
    let (locals, _) = render::module_context_with(files, &workspace_root().join(MODULE), inputs);
    let json = serde_json::to_string(locals.get("definition").expect("local.definition")).unwrap();
    ServiceDefinition::parse("checkout", &json).map_err(|e| format!("{e} (in {json})"))
}

/// Each value the module's validation lets through reaches the catalog item and is read
/// back as itself; each it stops, the functions refuse too, naming the field.
#[test]
fn the_replica_lag_unit_and_insufficient_data_choices_reach_the_functions() {
    let files = tf_files();
    let accepted = [
        (
            "milliseconds",
            "ready",
            LagUnit::Milliseconds,
            InsufficientData::Ready,
        ),
        (
            "seconds",
            "not_ready",
            LagUnit::Seconds,
            InsufficientData::NotReady,
        ),
    ];
    for (unit, insufficient, want_unit, want_insufficient) in accepted {
        let inputs = checkout_inputs(&[
            ("replica_lag.unit", unit.into()),
            ("secondary_alarm_insufficient_data", insufficient.into()),
        ]);
        assert!(
            validation_accepts(&files, "replica_lag", ".unit", &inputs),
            "{unit}"
        );
        assert!(
            validation_accepts(&files, "secondary_alarm_insufficient_data", "", &inputs),
            "{insufficient}"
        );
        let def = render_and_parse(&files, &inputs)
            .unwrap_or_else(|e| panic!("the functions refuse {unit}/{insufficient}: {e}"));
        let lag = def.preflight.replica_lag.expect("preflight.replica_lag");
        assert_eq!(lag.unit, want_unit, "replica_lag.unit = {unit}");
        assert_eq!(
            def.preflight.secondary_alarm_insufficient_data, want_insufficient,
            "secondary_alarm_insufficient_data = {insufficient}"
        );
    }

    for unit in ["ms", "Milliseconds", "minutes", ""] {
        let inputs = checkout_inputs(&[("replica_lag.unit", unit.into())]);
        assert!(
            !validation_accepts(&files, "replica_lag", ".unit", &inputs),
            "{unit:?}"
        );
        let e = render_and_parse(&files, &inputs).expect_err(unit);
        assert!(e.contains("preflight.replica_lag.unit"), "{e}");
    }
    for insufficient in ["Ready", "not-ready", "insufficient_data", ""] {
        let inputs = checkout_inputs(&[("secondary_alarm_insufficient_data", insufficient.into())]);
        let var = "secondary_alarm_insufficient_data";
        assert!(
            !validation_accepts(&files, var, "", &inputs),
            "{insufficient:?}"
        );
        let e = render_and_parse(&files, &inputs).expect_err(insufficient);
        assert!(
            e.contains("preflight.secondary_alarm_insufficient_data"),
            "{e}"
        );
    }
}

/// The early-warning alarm compares the metric's raw values: its threshold is max_seconds
/// in the metric's unit, so it fires when the pre-flight would refuse.
#[test]
fn the_replica_lag_alarm_threshold_is_in_the_metrics_unit() {
    let files = tf_files();
    let dir = workspace_root().join(MODULE);
    let alarm = in_dir(&files, &dir)
        .into_iter()
        .flat_map(|f| f.body.blocks())
        .find(|b| {
            b.identifier() == "resource"
                && label(b, 0) == "aws_cloudwatch_metric_alarm"
                && label(b, 1) == "replica_lag"
        })
        .expect("resource aws_cloudwatch_metric_alarm.replica_lag");
    let threshold = attr(alarm.body(), "threshold").expect("threshold");
    for (unit, per_second) in [("seconds", 1.0), ("milliseconds", 1000.0)] {
        let inputs = checkout_inputs(&[("replica_lag.unit", unit.into())]);
        let max_seconds = serde_json::to_value(&inputs["replica_lag"]).unwrap()["max_seconds"]
            .as_f64()
            .expect("the example sets replica_lag.max_seconds");
        let (_, ctx) = render::module_context_with(&files, &dir, &inputs);
        let got = match threshold.evaluate(&ctx) {
            Ok(Value::Number(n)) => n.as_f64().unwrap(),
            other => panic!("threshold = {}: {other:?}", text(threshold)),
        };
        assert_eq!(got, max_seconds * per_second, "unit {unit}");
        // What the parsed entry compares with max_seconds, for a value at the threshold.
        let def = render_and_parse(&files, &inputs).unwrap();
        let lag = def.preflight.replica_lag.unwrap();
        assert_eq!(lag.to_seconds(got), lag.max_seconds, "unit {unit}");
    }
}
