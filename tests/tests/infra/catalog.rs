//! The catalog item the protected-service module writes, rendered from the example
//! tfvars, goes through the functions' own parser.

use std::collections::BTreeSet;

use integration_tests::workspace_root;

use crate::render;
use crate::tf::{attr, blocks, text, tf_files};

#[test]
fn the_catalog_item_terraform_writes_is_one_the_functions_accept() {
    use hcl::eval::Evaluate;
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
}

/// Without the optional pre-flight inputs the module writes nulls; the functions read them
/// as absent.
#[test]
fn a_catalog_item_without_the_optional_preflight_is_accepted_too() {
    let files = tf_files();
    let unset = ["secondary_alarm_arn", "replica_lag"];
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
}
