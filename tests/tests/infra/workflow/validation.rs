//! The protected-service module's validations of `workflow` against the functions' parser:
//! each step the module refuses, the functions refuse too, naming the field.

use hcl::eval::Evaluate;
use hcl::Value;
use integration_tests::workspace_root;
use serde_json::{json, Value as Json};

use super::{example_with, example_workflow, hcl_value, render_service, terraform_context, MODULE};
use crate::render::{self, ACCOUNT};
use crate::tf::{attr, blocks, in_dir, label, text, tf_files, TfFile};
use failover::domain::catalog::ServiceDefinition;
use failover::domain::workflow::WorkflowStep;

/// `var.workflow` as Terraform hands it to a validation: every optional attribute present.
fn as_terraform_types(steps: &[Json]) -> Value {
    let fields = "approval region name min max desired cluster service identifier \
                  global_cluster target_cluster_arn allow_data_loss function_arn on_failback";
    let steps: Vec<Json> = steps
        .iter()
        .map(|s| {
            let mut s = s.as_object().unwrap().clone();
            for f in fields.split_whitespace() {
                s.entry(f).or_insert(Json::Null);
            }
            if let Some(back) = s["on_failback"].as_object_mut() {
                back.entry("min").or_insert(Json::Null);
            }
            Json::Object(s)
        })
        .collect();
    hcl_value(json!(steps))
}

/// The error messages of the validations of `var.workflow` that refuse `steps`. Those
/// using `regex` are left out: hcl-rs has no RE2 (`terraform plan` runs them).
fn refused_by(files: &[TfFile], steps: &[Json]) -> Vec<String> {
    let dir = workspace_root().join(MODULE);
    let mut ctx = terraform_context(render::context());
    ctx.declare_var(
        "var",
        hcl_value(json!({"workflow": as_terraform_types(steps)})),
    );
    let (mut refused, mut evaluated) = (Vec::new(), 0);
    let variable = in_dir(files, &dir)
        .into_iter()
        .flat_map(|f| f.body.blocks())
        .find(|b| b.identifier() == "variable" && label(b, 0) == "workflow")
        .expect("variable \"workflow\" in the protected-service module");
    for check in variable
        .body()
        .blocks()
        .filter(|b| b.identifier() == "validation")
    {
        let condition = attr(check.body(), "condition").unwrap();
        if text(condition).contains("regex(") {
            continue;
        }
        evaluated += 1;
        match condition.evaluate(&ctx) {
            Ok(Value::Bool(true)) => {}
            Ok(Value::Bool(false)) => {
                refused.push(text(attr(check.body(), "error_message").unwrap()))
            }
            other => panic!("validation {} gives {other:?}", text(condition)),
        }
    }
    assert!(
        evaluated >= 6,
        "only {evaluated} validations of var.workflow evaluated"
    );
    refused
}

/// `steps` rendered into the catalog item and parsed: the functions' verdict.
fn parser_verdict(files: &[TfFile], steps: &[Json]) -> Result<Vec<WorkflowStep>, String> {
    let tfvars = example_with(&[("workflow", hcl_value(json!(steps)))]);
    let root = workspace_root().join("infra");
    let (_, block) = blocks(files, "module", &[])
        .find(|(f, b)| {
            f.path.parent() == Some(root.as_path())
                && attr(b.body(), "source").is_some_and(|s| text(s).contains("protected-service"))
        })
        .expect("a protected-service module block in infra/");
    let s = render_service(files, block, &tfvars);
    ServiceDefinition::parse("checkout", &s.definition)
        .map(|d| d.workflow)
        .map_err(|e| e.to_string())
}

#[test]
fn each_step_the_module_refuses_the_functions_refuse_too() {
    let files = tf_files();
    let fine = example_workflow();
    assert_eq!(refused_by(&files, &fine), Vec::<String>::new());
    assert_eq!(
        parser_verdict(&files, &fine).map(|w| w.len()),
        Ok(fine.len())
    );

    let f = format!("arn:aws:lambda:eu-west-1:{ACCOUNT}:function:f");
    // [what, the steps, what the module's refusal says, what the functions' error names]
    let cases = json!([
        ["unknown kind", [{"id": "a", "kind": "shell", "function_arn": f}], "kind must be", "kind"],
        ["duplicate id", [{"id": "a", "kind": "invoke", "function_arn": f},
                          {"id": "a", "kind": "invoke", "function_arn": f}], "unique", "id"],
        ["approval", [{"id": "a", "kind": "invoke", "function_arn": f, "approval": "maybe"}],
         "approval", "approval"],
        ["foreign field", [{"id": "a", "kind": "invoke", "function_arn": f, "region": "eu-west-1"}],
         "does not use", "region"],
        ["missing field", [{"id": "a", "kind": "autoscaling_group", "region": "eu-west-1", "name": "g",
                            "min": 2}], "requires", "desired"],
        ["desired below min", [{"id": "a", "kind": "autoscaling_group", "region": "eu-west-1",
                                "name": "g", "min": 2, "desired": 1}], "at least min", "desired"],
        ["max below desired", [{"id": "a", "kind": "autoscaling_group", "region": "eu-west-1",
                                "name": "g", "min": 2, "desired": 2, "max": 1}], "max at least", "max"],
        ["count out of range", [{"id": "a", "kind": "autoscaling_group", "region": "eu-west-1",
                                 "name": "g", "min": 2, "desired": 20000}], "between 0 and 10000", "desired"],
        ["ECS on_failback.min", [{"id": "a", "kind": "ecs_service", "region": "eu-west-1", "cluster": "c",
                                  "service": "s", "desired": 2, "on_failback": {"min": 1, "desired": 1}}],
         "takes only desired", "on_failback.min"],
    ]);
    for case in cases.as_array().unwrap() {
        let s = |i: usize| case[i].as_str().unwrap();
        let (what, steps) = (s(0), case[1].as_array().unwrap());
        let refused = refused_by(&files, steps);
        assert!(
            refused.iter().any(|m| m.contains(s(2))),
            "{what}: the module accepts it ({refused:?})"
        );
        let e = parser_verdict(&files, steps).expect_err(what);
        assert!(
            e.contains(s(3)),
            "{what}: the functions' error does not name {}: {e}",
            s(3)
        );
    }
}
