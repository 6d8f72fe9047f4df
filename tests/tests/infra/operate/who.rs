//! Who may invoke the operator function: only the operator, approver and read-only roles,
//! and every invocation is a CloudTrail data event.

use std::collections::BTreeSet;

use hcl::Value;

use super::eval;
use crate::tf::{attr, blocks, in_dir, label, strings, text, tf_files};

#[test]
fn only_the_operator_roles_may_invoke_the_operator_function() {
    let files = tf_files();
    let dir = eval::dir("access");
    // Every permission on the operator function, in any module, is the access module's.
    let mut on_operator = Vec::new();
    for (f, p) in blocks(&files, "resource", &["aws_lambda_permission"]) {
        let function = text(attr(p.body(), "function_name").unwrap());
        if function.contains("operator") {
            on_operator.push((f.path.parent().unwrap().to_path_buf(), p));
        } else {
            assert!(
                function.contains("alarm_trigger") || function.contains("reconciler"),
                "aws_lambda_permission.{} on {function}",
                label(p, 1)
            );
        }
    }
    assert_eq!(on_operator.len(), 1, "permissions on the operator function");
    let (where_, permission) = &on_operator[0];
    assert_eq!(where_, &dir);
    let body = permission.body();
    assert_eq!(
        text(attr(body, "function_name").unwrap()),
        "var.operator_function_name"
    );
    assert_eq!(
        text(attr(body, "action").unwrap()),
        "\"lambda:InvokeFunction\""
    );
    assert_eq!(
        text(attr(body, "principal").unwrap()),
        "aws_iam_role.role[each.key].arn"
    );
    // Each role on its own alias, which the function reads to refuse the actions the role
    // may not take (api::operator_request::OperatorScope).
    assert!(attr(body, "source_arn").is_none());
    assert_eq!(
        text(attr(body, "qualifier").unwrap()),
        "aws_lambda_alias.role[each.key].name"
    );
    let (_, alias) = blocks(&files, "resource", &["aws_lambda_alias", "role"])
        .find(|(f, _)| f.path.parent() == Some(dir.as_path()))
        .expect("resource aws_lambda_alias.role");
    assert_eq!(text(attr(alias.body(), "name").unwrap()), "each.key");
    assert_eq!(
        text(attr(alias.body(), "for_each").unwrap()),
        text(attr(body, "for_each").unwrap())
    );
    // The alias names are the ones the function gives a scope.
    use failover::api::operator_request::OperatorScope;
    for name in ["operator", "approver", "readonly"] {
        let arn = format!("arn:aws:lambda:us-east-1:123456789012:function:f:{name}");
        let scope = OperatorScope::of_invoked_arn(&arn);
        let expected = match name {
            "operator" => OperatorScope::Every,
            "approver" => OperatorScope::Approvals,
            _ => OperatorScope::ReadOnly,
        };
        assert_eq!(scope, expected, "{name}");
    }
    // One permission per role created, and the roles are these three.
    let for_each = text(attr(body, "for_each").unwrap());
    let (_, role) = blocks(&files, "resource", &["aws_iam_role", "role"])
        .find(|(f, _)| f.path.parent() == Some(dir.as_path()))
        .unwrap();
    assert_eq!(text(attr(role.body(), "for_each").unwrap()), for_each);
    let mut inputs = hcl::Map::new();
    for (var, who) in [
        ("operator_principals", "alice"),
        ("approver_principals", "carol"),
        ("readonly_principals", "dave"),
    ] {
        let arn = format!("arn:aws:iam::123456789012:user/{who}");
        inputs.insert(var.to_string(), Value::Array(vec![arn.into()]));
    }
    inputs.insert("operator_function_name".into(), "failover-operator".into());
    let (locals, _) = eval::module(&files, &dir, &inputs, &[], &[]);
    let created = eval::json(eval::local(&locals, &dir, "created_roles"));
    let names: BTreeSet<&str> = created
        .as_object()
        .unwrap()
        .keys()
        .map(String::as_str)
        .collect();
    assert_eq!(names, BTreeSet::from(["operator", "approver", "readonly"]));
    for (name, who) in [
        ("operator", "alice"),
        ("approver", "carol"),
        ("readonly", "dave"),
    ] {
        assert_eq!(
            created[name]["principals"],
            serde_json::json!([format!("arn:aws:iam::123456789012:user/{who}")]),
            "{name}"
        );
    }
    // Nobody listed, no role and so no permission.
    let (none, _) = eval::module(&files, &dir, &hcl::Map::new(), &[], &[]);
    assert_eq!(
        eval::json(eval::local(&none, &dir, "created_roles")),
        serde_json::json!({})
    );
    // The trust of each role is exactly its principals; its grant is InvokeFunction on
    // the operator function only.
    let module = in_dir(&files, &dir);
    let doc = |name: &str| {
        module
            .iter()
            .flat_map(|f| f.body.blocks())
            .find(|b| b.identifier() == "data" && label(b, 1) == name)
            .unwrap_or_else(|| panic!("no data.aws_iam_policy_document.{name}"))
    };
    assert_eq!(
        text(attr(role.body(), "assume_role_policy").unwrap()),
        "data.aws_iam_policy_document.trust[each.key].json"
    );
    let trust = hcl::format::to_string(doc("trust").body()).unwrap();
    assert!(
        trust.contains("each.value.principals") && trust.contains("\"AWS\""),
        "{trust}"
    );
    let invoke = doc("invoke_operator");
    let statements: Vec<_> = invoke.body().blocks().collect();
    assert_eq!(statements.len(), 1);
    let s = statements[0].body();
    assert_eq!(
        attr(s, "actions").map(strings).unwrap(),
        vec!["lambda:InvokeFunction"]
    );
    assert_eq!(
        attr(s, "resources").map(strings).unwrap(),
        vec!["\"${var.operator_function_arn}:${each.key}\""]
    );
    // The root passes the control plane's operator function.
    let (_, call) = blocks(&files, "module", &["access"])
        .next()
        .expect("module \"access\"");
    assert_eq!(
        text(attr(call.body(), "operator_function_name").unwrap()),
        "module.control_plane.function_names.operator"
    );
    assert_eq!(
        text(attr(call.body(), "operator_function_arn").unwrap()),
        "module.control_plane.function_arns.operator"
    );
}

#[test]
fn every_invocation_of_the_operator_function_is_a_cloudtrail_data_event() {
    let files = tf_files();
    let (_, trail) = blocks(&files, "resource", &["aws_cloudtrail", "operator"])
        .next()
        .expect("aws_cloudtrail.operator");
    let selectors: Vec<_> = trail
        .body()
        .blocks()
        .filter(|b| b.identifier() == "advanced_event_selector")
        .collect();
    assert_eq!(selectors.len(), 1);
    let fields: BTreeSet<(String, String)> = selectors[0]
        .body()
        .blocks()
        .filter(|b| b.identifier() == "field_selector")
        .map(|b| {
            (
                text(attr(b.body(), "field").unwrap()),
                strings(attr(b.body(), "equals").unwrap()).join(","),
            )
        })
        .collect();
    let want: BTreeSet<(String, String)> = [
        ("\"eventCategory\"", "Data"),
        ("\"resources.type\"", "AWS::Lambda::Function"),
        ("\"resources.ARN\"", "var.operator_function_arn"),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()))
    .into();
    assert_eq!(fields, want);
    assert_eq!(
        text(attr(trail.body(), "enable_log_file_validation").unwrap()),
        "true"
    );
    assert!(attr(trail.body(), "kms_key_id").is_some());
}
