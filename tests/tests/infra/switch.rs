//! The switch mechanisms and the primary's probe as the protected-service module wires
//! them (issue 15): in metric and both modes the PRIMARY record answers by a CALCULATED
//! check over the endpoint check and a CLOUDWATCH_METRIC check on the switch alarm, whose
//! metric is the one the functions publish; the probe watches the primary endpoint like
//! its check and is never flipped; and every choice the module's validation lets through
//! reaches the catalog item and is read back by the functions' parser.

use failover::domain::switch::{SwitchMode, SWITCH_DIMENSION, SWITCH_METRIC, SWITCH_NAMESPACE};
use hcl::eval::{Context, Evaluate};
use hcl::{Block, Expression, Map, Value};
use integration_tests::workspace_root;

use crate::catalog::{checkout_inputs, render_and_parse, validation_accepts, MODULE};
use crate::render;
use crate::tf::{attr, blocks, in_dir, key_text, label, text, tf_files, TfFile};

const MODES: [(&str, SwitchMode); 3] = [
    ("health_check", SwitchMode::HealthCheck),
    ("metric", SwitchMode::Metric),
    ("both", SwitchMode::Both),
];

/// The module's `kind.name` resource block.
fn resource<'a>(files: &'a [TfFile], kind: &str, name: &str) -> &'a Block {
    in_dir(files, &workspace_root().join(MODULE))
        .into_iter()
        .flat_map(|f| f.body.blocks())
        .find(|b| b.identifier() == "resource" && label(b, 0) == kind && label(b, 1) == name)
        .unwrap_or_else(|| panic!("{MODULE}: no resource {kind}.{name}"))
}

/// `(address, attribute -> value)` of each instance of `kind.name`, the attributes `keys`
/// evaluated in that instance's context.
fn instances(
    files: &[TfFile],
    ctx: &Context<'static>,
    kind: &str,
    name: &str,
    keys: &[&str],
) -> Vec<(String, Map<String, Value>)> {
    let b = resource(files, kind, name);
    render::instances(b, ctx)
        .into_iter()
        .map(|(address, scope)| {
            let values = keys
                .iter()
                .map(|k| {
                    let e = attr(b.body(), k).unwrap_or_else(|| panic!("{address} sets no {k}"));
                    let v = e
                        .evaluate(&scope)
                        .unwrap_or_else(|err| panic!("{address}.{k} = {}: {err}", text(e)));
                    (k.to_string(), v)
                })
                .collect();
            (address, values)
        })
        .collect()
}

/// The only instance of `kind.name`.
fn only(
    files: &[TfFile],
    ctx: &Context<'static>,
    kind: &str,
    name: &str,
    keys: &[&str],
) -> (String, Map<String, Value>) {
    let mut all = instances(files, ctx, kind, name, keys);
    assert_eq!(all.len(), 1, "{kind}.{name}: {} instances", all.len());
    all.pop().unwrap()
}

fn string(v: &Value) -> &str {
    v.as_str().unwrap_or_else(|| panic!("{v} is not a string"))
}

fn number(v: &Value) -> f64 {
    match v {
        Value::Number(n) => n.as_f64().unwrap(),
        other => panic!("{other} is not a number"),
    }
}

/// The placeholder id of a resource instance: its address (see `render`).
fn id(address: &str) -> Value {
    Value::from(address)
}

/// Each switch mode the module's validation accepts is written to the catalog item and
/// read back as itself, with the switch alarm exactly in metric and both modes; each it
/// refuses, the functions refuse too, naming `switch.mode`.
#[test]
fn each_switch_mode_the_module_accepts_is_one_the_functions_read_back() {
    let files = tf_files();
    for (mode, want) in MODES {
        let inputs = checkout_inputs(&[("switch_mode", mode.into())]);
        assert!(
            validation_accepts(&files, "switch_mode", "", &inputs),
            "{mode}"
        );
        let def = render_and_parse(&files, &inputs)
            .unwrap_or_else(|e| panic!("the functions refuse switch_mode {mode}: {e}"));
        assert_eq!(def.switch.mode, want, "{mode}");
        let alarm = render::alarm_arn("primary_switch[\"primary\"]");
        let want_alarm = def.switch.uses_metric().then_some(alarm.as_str());
        assert_eq!(def.switch.alarm_arn.as_deref(), want_alarm, "{mode}");
        // The catalog's primary check is the endpoint check in every mode: the one the
        // health_check mechanism flips, not the record's calculated check.
        assert_eq!(
            def.primary.health_check_id, "aws_route53_health_check.primary",
            "{mode}"
        );
    }
    for mode in ["Metric", "health-check", "route53", "HEALTH_CHECK", ""] {
        let inputs = checkout_inputs(&[("switch_mode", mode.into())]);
        assert!(
            !validation_accepts(&files, "switch_mode", "", &inputs),
            "{mode:?}"
        );
        let e = render_and_parse(&files, &inputs).expect_err(mode);
        assert!(e.contains("switch.mode"), "{mode:?}: {e}");
    }
}

/// The failback gate and the probe switch reach the catalog item: each accepted
/// `failback_min_healthy_seconds` is read back as itself, each refused one the functions
/// refuse too; without the probe the catalog names none.
#[test]
fn the_failback_gate_and_the_probe_reach_the_functions() {
    let files = tf_files();
    let var = "failback_min_healthy_seconds";
    // Whole numbers as Terraform's jsonencode writes them (300, not 300.0).
    for seconds in [1_u64, 300, 2_678_400] {
        let inputs = checkout_inputs(&[(var, seconds.into())]);
        assert!(validation_accepts(&files, var, "", &inputs), "{seconds}");
        let def = render_and_parse(&files, &inputs)
            .unwrap_or_else(|e| panic!("the functions refuse {var} = {seconds}: {e}"));
        assert_eq!(def.failback_min_healthy_seconds, seconds);
    }
    for seconds in [
        Value::from(0_u64),
        Value::from(1.5),
        Value::from(2_678_401_u64),
    ] {
        let inputs = checkout_inputs(&[(var, seconds.clone())]);
        assert!(!validation_accepts(&files, var, "", &inputs), "{seconds}");
        let e = render_and_parse(&files, &inputs).expect_err("refused");
        assert!(e.contains(var), "{seconds}: {e}");
    }

    for (probe, want) in [
        (
            true,
            Some("aws_route53_health_check.primary_probe[\"primary\"]"),
        ),
        (false, None),
    ] {
        let inputs = checkout_inputs(&[("primary_probe", probe.into())]);
        let def = render_and_parse(&files, &inputs).unwrap();
        assert_eq!(
            def.primary.probe_health_check_id.as_deref(),
            want,
            "primary_probe = {probe}"
        );
        assert_eq!(def.secondary.probe_health_check_id, None);
        let dir = workspace_root().join(MODULE);
        let (_, ctx) = render::module_context_with(&files, &dir, &inputs);
        let created = instances(
            &files,
            &ctx,
            "aws_route53_health_check",
            "primary_probe",
            &[],
        );
        assert_eq!(created.len(), usize::from(probe), "primary_probe = {probe}");
    }
}

/// health_check: the PRIMARY record carries the endpoint check, and nothing of the metric
/// switch exists. metric and both: it carries a CALCULATED check, healthy only while both
/// its children are: the endpoint check (what the catalog names, and what the health_check
/// mechanism flips) and a CLOUDWATCH_METRIC check on the alarm the catalog names, in the
/// secondary region, keeping its last known status while the alarm has no data.
#[test]
fn in_metric_and_both_modes_the_primary_record_answers_by_the_endpoint_and_the_switch() {
    let files = tf_files();
    let dir = workspace_root().join(MODULE);
    for (mode, want) in MODES {
        let inputs = checkout_inputs(&[("switch_mode", mode.into())]);
        let (_, ctx) = render::module_context_with(&files, &dir, &inputs);
        let def = render_and_parse(&files, &inputs).unwrap();
        let (_, record) = only(
            &files,
            &ctx,
            "aws_route53_record",
            "primary",
            &["health_check_id"],
        );
        let record_check = &record["health_check_id"];
        let endpoint = id("aws_route53_health_check.primary");
        let combined = instances(
            &files,
            &ctx,
            "aws_route53_health_check",
            "primary_combined",
            &["type", "child_healthchecks", "child_health_threshold"],
        );
        let metric_checks = instances(
            &files,
            &ctx,
            "aws_route53_health_check",
            "primary_switch",
            &[
                "type",
                "cloudwatch_alarm_name",
                "cloudwatch_alarm_region",
                "insufficient_data_health_status",
            ],
        );
        let alarms = instances(
            &files,
            &ctx,
            "aws_cloudwatch_metric_alarm",
            "primary_switch",
            &[],
        );
        if want == SwitchMode::HealthCheck {
            assert_eq!(*record_check, endpoint, "{mode}");
            assert!(
                combined.is_empty() && metric_checks.is_empty() && alarms.is_empty(),
                "{mode}: the metric switch is created"
            );
            continue;
        }
        let [(combined_address, combined)] = &combined[..] else {
            panic!("{mode}: {} calculated record checks", combined.len());
        };
        let [(metric_address, metric)] = &metric_checks[..] else {
            panic!("{mode}: {} switch checks", metric_checks.len());
        };
        let [(alarm_address, _)] = &alarms[..] else {
            panic!("{mode}: {} switch alarms", alarms.len());
        };
        assert_eq!(*record_check, id(combined_address), "{mode}");
        assert_eq!(string(&combined["type"]), "CALCULATED", "{mode}");
        let children = combined["child_healthchecks"]
            .as_array()
            .expect("child_healthchecks");
        assert_eq!(
            *children,
            vec![endpoint.clone(), id(metric_address)],
            "{mode}: the record's check watches the endpoint check and the switch check"
        );
        assert_eq!(
            number(&combined["child_health_threshold"]),
            children.len() as f64,
            "{mode}: healthy only while every child is"
        );
        assert_eq!(number(&combined["child_health_threshold"]), 2.0);

        assert_eq!(string(&metric["type"]), "CLOUDWATCH_METRIC", "{mode}");
        assert_eq!(
            string(&metric["insufficient_data_health_status"]),
            "LastKnownStatus",
            "{mode}: a silent stream must neither fail over nor fail back"
        );
        assert_eq!(
            metric["cloudwatch_alarm_region"], inputs["secondary_region"],
            "{mode}"
        );
        // The check watches the alarm the catalog names (the placeholder alarm's name is
        // the last part of its placeholder ARN).
        let alarm_arn = def.switch.alarm_arn.as_deref().expect("switch.alarm_arn");
        assert_eq!(
            alarm_arn,
            render::alarm_arn(alarm_address.trim_start_matches("aws_cloudwatch_metric_alarm.")),
            "{mode}"
        );
        assert_eq!(
            Some(string(&metric["cloudwatch_alarm_name"])),
            alarm_arn.rsplit(":alarm:").next(),
            "{mode}"
        );
    }
}

/// The switch alarm watches the metric the functions publish (the Rust constants), in the
/// shape Route 53 supports and the issue specifies: Maximum over 60 s, 1 of 1, >= 1,
/// missing data ignored.
#[test]
fn the_switch_alarm_watches_the_metric_the_functions_publish() {
    let files = tf_files();
    let dir = workspace_root().join(MODULE);
    let inputs = checkout_inputs(&[("switch_mode", "metric".into())]);
    let (_, ctx) = render::module_context_with(&files, &dir, &inputs);
    let keys = [
        "alarm_name",
        "namespace",
        "metric_name",
        "dimensions",
        "statistic",
        "period",
        "evaluation_periods",
        "datapoints_to_alarm",
        "threshold",
        "comparison_operator",
        "treat_missing_data",
    ];
    let (address, alarm) = only(
        &files,
        &ctx,
        "aws_cloudwatch_metric_alarm",
        "primary_switch",
        &keys,
    );
    let name = string(&inputs["name"]);
    assert_eq!(string(&alarm["namespace"]), SWITCH_NAMESPACE, "{address}");
    assert_eq!(string(&alarm["metric_name"]), SWITCH_METRIC, "{address}");
    let mut dimensions = Map::new();
    dimensions.insert(SWITCH_DIMENSION.to_string(), Value::from(name));
    assert_eq!(alarm["dimensions"], Value::Object(dimensions), "{address}");
    assert!(
        string(&alarm["alarm_name"]).starts_with(name),
        "{address}: {}",
        alarm["alarm_name"]
    );
    assert_eq!(string(&alarm["statistic"]), "Maximum", "{address}");
    for (key, want) in [
        ("period", 60.0),
        ("evaluation_periods", 1.0),
        ("datapoints_to_alarm", 1.0),
        ("threshold", 1.0),
    ] {
        assert_eq!(number(&alarm[key]), want, "{address}.{key}");
    }
    assert_eq!(
        string(&alarm["comparison_operator"]),
        "GreaterThanOrEqualToThreshold"
    );
    assert_eq!(string(&alarm["treat_missing_data"]), "ignore");
}

/// The switch alarm lives in the secondary's region: its provider is `aws.secondary`, and
/// every caller of the module passes as `aws.secondary` a provider whose region is the
/// `secondary_region` it passes.
#[test]
fn the_switch_alarm_is_in_the_secondary_region() {
    let files = tf_files();
    let alarm = resource(&files, "aws_cloudwatch_metric_alarm", "primary_switch");
    assert_eq!(
        attr(alarm.body(), "provider").map(text).as_deref(),
        Some("aws.secondary")
    );
    let module_dir = workspace_root().join(MODULE);
    let mut callers = 0;
    for (f, call) in blocks(&files, "module", &[]) {
        let caller = f.path.parent().unwrap();
        let calls_module = render::module_calls(&files, caller)
            .iter()
            .any(|(name, called)| name == label(call, 0) && *called == module_dir);
        if !calls_module {
            continue;
        }
        callers += 1;
        let module = label(call, 0);
        let Some(Expression::Object(providers)) = attr(call.body(), "providers") else {
            panic!("module.{module} passes no providers map");
        };
        let passed = providers
            .iter()
            .find(|(k, _)| key_text(k) == "aws.secondary")
            .map(|(_, v)| text(v))
            .unwrap_or_else(|| panic!("module.{module} passes no aws.secondary"));
        let alias = passed
            .strip_prefix("aws.")
            .unwrap_or_else(|| panic!("module.{module}: aws.secondary = {passed}"));
        let provider = in_dir(&files, caller)
            .into_iter()
            .flat_map(|f| f.body.blocks())
            .find(|b| {
                b.identifier() == "provider"
                    && label(b, 0) == "aws"
                    && attr(b.body(), "alias").map(text) == Some(format!("\"{alias}\""))
            })
            .unwrap_or_else(|| panic!("no provider \"aws\" with alias {alias}"));
        let secondary = attr(call.body(), "secondary_region")
            .map(text)
            .unwrap_or_else(|| panic!("module.{module} passes no secondary_region"));
        assert_eq!(
            attr(provider.body(), "region").map(text),
            Some(secondary),
            "module.{module}: aws.secondary = {passed} is not in its secondary_region"
        );
    }
    assert!(callers > 0, "nothing calls {MODULE}");
}

/// The probe watches what the primary's endpoint check watches (every setting the same)
/// and is never flipped: it ignores no change (an apply restores it), and the only check
/// the functions may update is the endpoint check, while they may read the probe.
#[test]
fn the_probe_watches_the_primary_endpoint_like_its_check_and_is_never_flipped() {
    let files = tf_files();
    let primary = resource(&files, "aws_route53_health_check", "primary");
    let probe = resource(&files, "aws_route53_health_check", "primary_probe");
    let settings = |b: &Block| -> Map<String, String> {
        b.body()
            .attributes()
            .filter(|a| !["for_each", "tags"].contains(&a.key()))
            .map(|a| (a.key().to_string(), text(a.expr())))
            .collect()
    };
    assert_eq!(settings(probe), settings(primary));
    assert!(
        probe.body().blocks().all(|b| b.identifier() != "lifecycle"),
        "the probe must not ignore changes: nothing may flip it"
    );

    let dir = workspace_root().join(MODULE);
    let output = |name: &str| {
        in_dir(&files, &dir)
            .into_iter()
            .flat_map(|f| f.body.blocks())
            .find(|b| b.identifier() == "output" && label(b, 0) == name)
            .and_then(|b| attr(b.body(), "value"))
            .map(text)
            .unwrap_or_else(|| panic!("{MODULE}: no output {name}"))
    };
    let updatable = output("primary_health_check_arn");
    assert!(
        updatable.contains("aws_route53_health_check.primary.id"),
        "{updatable}"
    );
    for other in ["primary_probe", "primary_switch", "primary_combined"] {
        assert!(
            !updatable.contains(other),
            "the functions may update {other}: {updatable}"
        );
    }
    let readable = output("health_check_arns");
    assert!(
        readable.contains("aws_route53_health_check.primary_probe"),
        "the functions may not read the probe: {readable}"
    );
}

/// Route 53 will not put a calculated check under another one, so metric and both modes
/// refuse per-zone children (a precondition of the primary check); health_check mode
/// takes them as before.
#[test]
fn metric_and_both_modes_refuse_a_calculated_endpoint_check() {
    let files = tf_files();
    let dir = workspace_root().join(MODULE);
    let primary = resource(&files, "aws_route53_health_check", "primary");
    let conditions: Vec<&Expression> = primary
        .body()
        .blocks()
        .filter(|b| b.identifier() == "lifecycle")
        .flat_map(|b| b.body().blocks())
        .filter(|b| b.identifier() == "precondition")
        .filter_map(|b| attr(b.body(), "condition"))
        .filter(|c| text(c).contains("local.metric_switch"))
        .collect();
    assert_eq!(conditions.len(), 1, "one precondition on the switch mode");
    let zones = Value::from(vec![
        "checkout-use1-az1.example.com",
        "checkout-use1-az2.example.com",
        "checkout-use1-az3.example.com",
    ]);
    for (mode, _) in MODES {
        for (children, label) in [(Value::Array(vec![]), "no zones"), (zones.clone(), "zones")] {
            let inputs = checkout_inputs(&[
                ("switch_mode", mode.into()),
                ("primary_child_fqdns", children.clone()),
            ]);
            let (_, ctx) = render::module_context_with(&files, &dir, &inputs);
            let ok = match conditions[0].evaluate(&ctx) {
                Ok(Value::Bool(b)) => b,
                other => panic!("{}: {other:?}", text(conditions[0])),
            };
            let want = mode == "health_check" || label == "no zones";
            assert_eq!(ok, want, "{mode} with {label}");
        }
    }
}
