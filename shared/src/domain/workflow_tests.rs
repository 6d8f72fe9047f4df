use serde_json::json;

use super::*;
use crate::domain::catalog::ServiceDefinition;

fn def_with(
    workflow: serde_json::Value,
) -> Result<ServiceDefinition, crate::domain::catalog::CatalogError> {
    let def = json!({
        "name": "checkout",
        "primary": {"region": "us-east-1", "health_check_id": "hc-p"},
        "secondary": {"region": "eu-west-1", "health_check_id": "hc-s"},
        "observers": ["arn:aws:cloudwatch:us-west-2:123456789012:alarm:a"],
        "quorum": 1,
        "workflow": workflow
    });
    ServiceDefinition::parse("checkout", &def.to_string())
}

fn issue_example() -> serde_json::Value {
    json!([
      {"id": "scale-web", "kind": "autoscaling_group", "region": "eu-west-1", "name": "checkout-asg", "min": 12, "desired": 12,
       "on_failback": {"min": 3, "desired": 3}},
      {"id": "scale-api", "kind": "ecs_service", "region": "eu-west-1", "cluster": "prod", "service": "checkout", "desired": 8},
      {"id": "promote-db", "kind": "rds_read_replica", "region": "eu-west-1", "identifier": "checkout-replica"},
      {"id": "promote-aurora", "kind": "aurora_global", "global_cluster": "checkout-global",
       "target_cluster_arn": "arn:aws:rds:eu-west-1:123456789012:cluster:checkout-euw1", "allow_data_loss": false},
      {"id": "kafka-cutover", "kind": "invoke", "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:mm2-cutover",
       "approval": "required"}
    ])
}

#[test]
fn the_issues_example_parses_with_the_default_approvals() {
    let def = def_with(issue_example()).unwrap();
    let approvals: Vec<(&str, Approval)> = def
        .workflow
        .iter()
        .map(|s| (s.id.as_str(), s.approval))
        .collect();
    assert_eq!(
        approvals,
        vec![
            ("scale-web", Approval::None),
            ("scale-api", Approval::None),
            ("promote-db", Approval::Required),
            ("promote-aurora", Approval::Required),
            ("kafka-cutover", Approval::Required),
        ]
    );
    assert_eq!(
        def.workflow[0].action,
        StepAction::AutoscalingGroup {
            region: "eu-west-1".into(),
            name: "checkout-asg".into(),
            min: 12,
            max: None,
            desired: 12
        }
    );
    // Written back and read again, it is the same workflow.
    let again: Vec<WorkflowStep> =
        serde_json::from_value(serde_json::to_value(&def.workflow).unwrap()).unwrap();
    assert_eq!(again, def.workflow);
}

fn error(workflow: serde_json::Value) -> String {
    let e = def_with(workflow).unwrap_err();
    format!("{}: {}", e.field, e.message)
}

#[test]
fn every_error_names_the_step_and_the_field() {
    let cases = [
        (json!([{"id": "x", "kind": "teleport"}]), "workflow[0].kind"),
        (
            json!([{"id": "x", "kind": "invoke", "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:f", "colour": 1}]),
            "colour",
        ),
        (
            json!([{"id": "x", "kind": "invoke", "function_arn": "nope"}]),
            "step 'x' (invoke): field 'function_arn'",
        ),
        (
            json!([{"id": "x", "kind": "ecs_service", "region": "eu-west-1", "cluster": "c", "service": "s", "desired": 2, "name": "n"}]),
            "step 'x' (ecs_service): field 'name': is not used",
        ),
        (
            json!([{"id": "x", "kind": "autoscaling_group", "region": "mars-1", "name": "g", "min": 1, "desired": 1}]),
            "field 'region'",
        ),
        (
            json!([{"id": "x", "kind": "autoscaling_group", "region": "eu-west-1", "name": "g", "min": 4, "desired": 2}]),
            "field 'desired': 2 is below min 4",
        ),
        (
            json!([{"id": "x", "kind": "autoscaling_group", "region": "eu-west-1", "name": "g", "desired": 2}]),
            "field 'min': is required",
        ),
        (
            json!([{"id": "x", "kind": "aurora_global", "global_cluster": "g", "target_cluster_arn": "arn:aws:rds:eu-west-1:123456789012:db:x"}]),
            "field 'target_cluster_arn'",
        ),
        (
            json!([{"id": "x", "kind": "rds_read_replica", "region": "eu-west-1", "identifier": "r", "approval": "maybe"}]),
            "workflow[0].approval",
        ),
        (
            json!([{"id": "a b", "kind": "invoke", "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:f"}]),
            "field 'id'",
        ),
        (
            json!([{"id": "x", "kind": "ecs_service", "region": "eu-west-1", "cluster": "c", "service": "s", "desired": 2, "on_failback": {"min": 1, "desired": 1}}]),
            "field 'on_failback.min'",
        ),
        (
            json!([
                {"id": "x", "kind": "invoke", "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:f"},
                {"id": "x", "kind": "invoke", "function_arn": "arn:aws:lambda:eu-west-1:123456789012:function:g"}
            ]),
            "workflow[1].id: step 'x': the id is used by an earlier step",
        ),
    ];
    for (workflow, expected) in cases {
        let got = error(workflow.clone());
        assert!(got.contains(expected), "{workflow}: {got}");
    }
}

#[test]
fn the_capacity_floor_is_validated() {
    let def = |cap: serde_json::Value| {
        let d = json!({
            "name": "checkout",
            "primary": {"region": "us-east-1", "health_check_id": "hc-p"},
            "secondary": {"region": "eu-west-1", "health_check_id": "hc-s"},
            "observers": ["arn:aws:cloudwatch:us-west-2:123456789012:alarm:a"],
            "quorum": 1,
            "preflight": {"capacity": cap}
        });
        ServiceDefinition::parse("checkout", &d.to_string())
    };
    let ok = def(json!({"kind": "ecs_service", "region": "eu-west-1", "cluster": "prod", "service": "checkout", "at_least": 2})).unwrap();
    assert_eq!(
        ok.preflight.capacity.as_ref().map(|c| c.at_least()),
        Some(2)
    );
    let e = def(
        json!({"kind": "autoscaling_group", "region": "eu-west-1", "name": "g", "at_least": 0}),
    )
    .unwrap_err();
    assert_eq!(e.field, "preflight.capacity.at_least");
    let e = def(json!({"kind": "autoscaling_group", "region": "eu-west-1", "name": "g", "at_least": 1, "cluster": "c"})).unwrap_err();
    assert!(e.field.starts_with("preflight.capacity"), "{e}");
}
