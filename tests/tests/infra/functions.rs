//! The three functions as Terraform deploys them, per instance of their resources: each
//! from its own zip, with every environment variable its code reads, under its own role
//! and policy.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use hcl::{Block, Expression, Map, Value};

use crate::code::environment_variables_the_code_reads;
use crate::render;
use crate::tf::{attr, blocks, function_crates, key_text, label, rel, text, tf_label, TfFile};

/// One deployed function: an instance of an `aws_lambda_function`, evaluated.
struct Lambda<'a> {
    address: String,
    path: PathBuf,
    block: &'a Block,
    values: Map<String, Value>,
}

impl Lambda<'_> {
    fn string(&self, key: &str) -> &str {
        self.values
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_else(|| panic!("{}: {} has no string {key}", rel(&self.path), self.address))
    }
}

/// `(address, evaluated attributes)` of every instance of every `kind` resource (in the
/// module in `dir`, or in all), each in the context of its module as its callers
/// configure it.
fn evaluated_instances<'a>(
    files: &'a [TfFile],
    kind: &'a str,
    dir: Option<&Path>,
) -> Vec<(&'a TfFile, &'a Block, String, Map<String, Value>)> {
    let mut out = Vec::new();
    let of_kind = files.iter().flat_map(|f| {
        f.body
            .blocks()
            .filter(|b| b.identifier() == "resource" && label(b, 0) == kind)
            .map(move |b| (f, b))
    });
    let of_kind = of_kind.filter(|(f, _)| dir.is_none() || f.path.parent() == dir);
    for (f, b) in of_kind {
        let dir = f.path.parent().unwrap();
        let (_, ctx) = render::module_context_with(files, dir, &render::caller_inputs(files, dir));
        for (address, scope) in render::instances(b, &ctx) {
            let values = render::evaluate_body(b.body(), &scope, &address);
            out.push((f, b, address, values));
        }
    }
    out
}

/// Function crate name -> its `aws_lambda_function` instance, named by its zip
/// `<dir>/<crate>/bootstrap.zip` and keyed (or labelled) like the crate.
fn lambdas(files: &[TfFile]) -> BTreeMap<String, Lambda<'_>> {
    let mut out = BTreeMap::new();
    for (f, block, address, values) in evaluated_instances(files, "aws_lambda_function", None) {
        let lambda = Lambda {
            address,
            path: f.path.clone(),
            block,
            values,
        };
        let zip = lambda.string("filename");
        let crate_name = zip
            .strip_suffix("/bootstrap.zip")
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or_else(|| {
                panic!(
                    "{}: {zip} is not <dir>/<crate>/bootstrap.zip",
                    lambda.address
                )
            })
            .to_string();
        let key = lambda
            .address
            .split_once('[')
            .map(|(_, k)| k.trim_matches(|c| c == '"' || c == ']').to_string())
            .unwrap_or_else(|| lambda.address.rsplit('.').next().unwrap().to_string());
        assert_eq!(
            key,
            tf_label(&crate_name),
            "{} deploys {zip}",
            lambda.address
        );
        assert!(
            out.insert(crate_name.clone(), lambda).is_none(),
            "{crate_name} is deployed twice"
        );
    }
    out
}

#[test]
fn every_function_crate_is_deployed_from_its_own_zip() {
    let files = crate::tf::tf_files();
    let deployed = lambdas(&files);
    assert_eq!(
        deployed.keys().cloned().collect::<BTreeSet<_>>(),
        function_crates(),
        "one aws_lambda_function instance per crate in functions/"
    );
    // `make package` (cargo lambda build) writes target/lambda/<crate>/bootstrap.zip.
    let artifacts: Vec<String> = blocks(&files, "module", &[])
        .filter_map(|(_, b)| attr(b.body(), "artifacts_dir").map(text))
        .collect();
    assert!(
        !artifacts.is_empty() && artifacts.iter().all(|a| a.ends_with("/../target/lambda\"")),
        "artifacts_dir must point at the workspace's target/lambda: {artifacts:?}"
    );
    for (name, lambda) in &deployed {
        assert_eq!(lambda.string("handler"), "bootstrap", "{name}");
        assert_eq!(lambda.string("runtime"), "provided.al2023", "{name}");
        assert!(
            lambda
                .string("source_code_hash")
                .contains(&format!("/{name}/bootstrap.zip")),
            "{name}: source_code_hash must hash the deployed zip, not {}",
            lambda.string("source_code_hash")
        );
        let architectures = attr(lambda.block.body(), "architectures")
            .map(text)
            .unwrap_or_else(|| panic!("{}: {name} has no architectures", rel(&lambda.path)));
        assert!(
            architectures.contains("var."),
            "{name}: architecture is a variable"
        );
    }
}

#[test]
fn every_environment_variable_a_function_reads_is_set_on_it() {
    let files = crate::tf::tf_files();
    for (name, lambda) in lambdas(&files) {
        let set: BTreeSet<&str> = lambda
            .values
            .get("environment")
            .and_then(|e| e.as_object()?.get("variables")?.as_object())
            .unwrap_or_else(|| {
                panic!(
                    "{}: {} has no environment.variables",
                    rel(&lambda.path),
                    lambda.address
                )
            })
            .keys()
            .map(String::as_str)
            .collect();
        let mut reads: Vec<&str> = failover::adapters::config::ENV_VARS.to_vec();
        // Optional in the code (a default when unset); Terraform sets the account's
        // Route 53 budget on every function explicitly.
        reads.push(failover::adapters::config::ROUTE53_CALLS_PER_SECOND);
        if name == "reconciler" {
            reads.extend(failover::adapters::config::RECONCILER_ENV_VARS);
        }
        for var in reads {
            assert!(
                set.contains(var),
                "{name} reads {var}; Terraform sets only {set:?}"
            );
        }
    }
}

/// Every name the code passes to an environment lookup (a literal, or a `&str` constant) is
/// one the lists above, or the Lambda runtime, account for, so a new variable cannot skip
/// the check above.
#[test]
fn the_code_reads_no_environment_variable_the_lists_miss() {
    let known: BTreeSet<&str> = failover::adapters::config::ENV_VARS
        .iter()
        .chain(failover::adapters::config::RECONCILER_ENV_VARS)
        .copied()
        .chain([failover::adapters::config::ROUTE53_CALLS_PER_SECOND])
        // Optional, with defaults: Terraform sets EVENT_BUS_NAME only for a custom bus.
        .chain([
            failover::adapters::config::EVENT_BUS_NAME,
            failover::adapters::config::RUNBOOK_BASE_URL,
        ])
        .chain(["RUST_LOG", "AWS_LAMBDA_FUNCTION_NAME"])
        .collect();
    let found = environment_variables_the_code_reads();
    assert!(
        found.contains("FAILOVER_TABLE") && found.contains("ESCALATION_INTERVAL_SECONDS"),
        "{found:?}"
    );
    let unknown: Vec<_> = found
        .iter()
        .filter(|v| !known.contains(v.as_str()))
        .collect();
    assert!(
        unknown.is_empty(),
        "read but not in config::ENV_VARS / reconcile::ENV_VARS: {unknown:?}"
    );
}

/// Each function's role carries its own document and nothing else: the root passes
/// `policies = { f = data.aws_iam_policy_document.f.json }`, and the one role policy on
/// the role instance `aws_lambda_function` f runs as evaluates to `policies.f`.
#[test]
fn each_function_runs_with_its_own_policy() {
    let files = crate::tf::tf_files();
    let passed: BTreeMap<String, String> = blocks(&files, "module", &[])
        .filter_map(|(_, b)| attr(b.body(), "policies"))
        .flat_map(|e| match e {
            Expression::Object(o) => o
                .iter()
                .map(|(k, v)| (key_text(k), text(v)))
                .collect::<Vec<_>>(),
            other => panic!("policies must be an object literal, found {}", text(other)),
        })
        .collect();
    let deployed = lambdas(&files);
    for name in function_crates() {
        let f = tf_label(&name);
        let policy = passed
            .get(&f)
            .unwrap_or_else(|| panic!("no policies.{f} passed to the control plane: {passed:?}"));
        assert_eq!(*policy, format!("data.aws_iam_policy_document.{f}.json"));
        let lambda = deployed
            .get(&name)
            .unwrap_or_else(|| panic!("{name} is not deployed"));
        let role = lambda
            .string("role")
            .strip_prefix(&render::placeholder_arn(""))
            .filter(|r| r.starts_with("aws_iam_role."))
            .unwrap_or_else(|| {
                panic!(
                    "{}.role = {}: not the arn of an aws_iam_role",
                    lambda.address,
                    lambda.string("role")
                )
            });
        // The role and its policies live in the function's module.
        let role_policies =
            evaluated_instances(&files, "aws_iam_role_policy", lambda.path.parent());
        let on_role: Vec<_> = role_policies
            .iter()
            .filter(|(.., values)| values.get("role").and_then(Value::as_str) == Some(role))
            .collect();
        assert_eq!(
            on_role.len(),
            1,
            "{name} runs as {role}, which has {} role policies",
            on_role.len()
        );
        let (.., address, values) = on_role[0];
        assert_eq!(
            values.get("policy").and_then(Value::as_str),
            Some(policy.as_str()),
            "{address} on {role}, the role of {name}"
        );
    }
}
