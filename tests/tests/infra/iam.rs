//! The IAM policy documents: each function may make every call its code makes, and
//! nothing is granted on `*` but the few actions AWS offers no resource scope for.

use std::collections::{BTreeMap, BTreeSet};

use failover::domain::switch::SWITCH_NAMESPACE;
use hcl::Expression;

use crate::code::actions_the_code_calls;
use crate::tf::{
    attr, blocks, function_crates, label, rel, strings, text, tf_files, tf_label, TfFile,
};

#[derive(Clone)]
struct Statement {
    where_: String,
    actions: Vec<String>,
    resources: Vec<String>,
    conditioned: bool,
    /// `(test, variable, values)` of each `condition` block.
    conditions: Vec<(String, String, Vec<String>)>,
}

/// Policy document label -> its statements, those of its `source_policy_documents` included.
fn policy_statements(files: &[TfFile]) -> BTreeMap<String, Vec<Statement>> {
    let mut own: BTreeMap<String, Vec<Statement>> = BTreeMap::new();
    let mut sources: BTreeMap<String, Vec<String>> = BTreeMap::new();
    for (f, b) in blocks(files, "data", &["aws_iam_policy_document"]) {
        let doc = label(b, 1).to_string();
        for src in attr(b.body(), "source_policy_documents")
            .map(strings)
            .unwrap_or_default()
        {
            let other = src
                .strip_prefix("data.aws_iam_policy_document.")
                .and_then(|r| r.strip_suffix(".json"))
                .unwrap_or_else(|| panic!("{doc}: unsupported source document {src}"));
            sources
                .entry(doc.clone())
                .or_default()
                .push(other.to_string());
        }
        assert!(
            attr(b.body(), "override_policy_documents").is_none(),
            "{}: data.aws_iam_policy_document.{doc} uses override_policy_documents, which these checks do not follow",
            rel(&f.path)
        );
        for inner in b.body().blocks() {
            assert_eq!(
                inner.identifier(),
                "statement",
                "{}: data.aws_iam_policy_document.{doc} has a `{}` block (dynamic statements hide their grants)",
                rel(&f.path),
                inner.identifier()
            );
            for hidden in ["not_actions", "not_resources"] {
                assert!(
                    attr(inner.body(), hidden).is_none(),
                    "{}: data.aws_iam_policy_document.{doc} uses {hidden}",
                    rel(&f.path)
                );
            }
        }
        let mut list = Vec::new();
        for s in b.body().blocks().filter(|s| s.identifier() == "statement") {
            let effect = attr(s.body(), "effect").map(text);
            if effect.as_deref() == Some("\"Deny\"") {
                continue;
            }
            if s.body().blocks().any(|p| p.identifier() == "principals") {
                continue; // a trust or resource policy: grants nothing to the function
            }
            list.push(Statement {
                where_: format!(
                    "{} data.aws_iam_policy_document.{doc} statement {}",
                    rel(&f.path),
                    attr(s.body(), "sid").map(text).unwrap_or_default()
                ),
                actions: attr(s.body(), "actions").map(strings).unwrap_or_default(),
                resources: attr(s.body(), "resources").map(strings).unwrap_or_default(),
                conditioned: s.body().blocks().any(|c| c.identifier() == "condition"),
                conditions: s
                    .body()
                    .blocks()
                    .filter(|c| c.identifier() == "condition")
                    .map(|c| {
                        let field = |k| match attr(c.body(), k) {
                            Some(Expression::String(v)) => v.clone(),
                            Some(other) => text(other),
                            None => String::new(),
                        };
                        let values = attr(c.body(), "values").map(strings).unwrap_or_default();
                        (field("test"), field("variable"), values)
                    })
                    .collect(),
            });
        }
        own.entry(doc).or_default().extend(list);
    }
    let mut out = BTreeMap::new();
    for doc in own.keys() {
        let mut all = Vec::new();
        let mut todo = vec![doc.clone()];
        while let Some(d) = todo.pop() {
            all.extend(own.get(&d).into_iter().flatten().cloned());
            todo.extend(sources.get(&d).into_iter().flatten().cloned());
        }
        out.insert(doc.clone(), all);
    }
    out
}

#[test]
fn each_function_may_call_every_action_its_code_calls() {
    let files = tf_files();
    let docs = policy_statements(&files);
    let needed = actions_the_code_calls();
    println!("actions the code calls: {needed:?}");
    assert!(needed.contains("route53:UpdateHealthCheck") && needed.contains("sns:Publish"));
    for name in function_crates() {
        let doc = tf_label(&name);
        let statements = docs
            .get(&doc)
            .unwrap_or_else(|| panic!("no data.aws_iam_policy_document.{doc} for {name}"));
        let granted: BTreeSet<&str> = statements
            .iter()
            .flat_map(|s| s.actions.iter().map(String::as_str))
            .collect();
        let missing: Vec<_> = needed
            .iter()
            .filter(|a| !granted.contains(a.as_str()))
            .collect();
        assert!(
            missing.is_empty(),
            "{name} calls {missing:?}, its policy does not grant them"
        );
        for s in statements {
            assert!(!s.resources.is_empty(), "{}: no resources", s.where_);
            assert!(
                s.actions.iter().all(|a| !a.contains('*')),
                "{}: wildcard action",
                s.where_
            );
        }
    }
}

/// Actions AWS offers no resource-level permissions for, each read-only or (the
/// Synthetics metric write) allowed only under a condition: the only grants on `*`.
const ALLOWED_ON_STAR: &[(&str, bool)] = &[
    ("cloudwatch:GetMetricData", false),
    ("s3:ListAllMyBuckets", false),
    ("route53:ListHealthChecks", false),
    ("cloudwatch:PutMetricData", true),
    // The Service Authorization Reference lists no resource type for it.
    ("autoscaling:DescribeAutoScalingGroups", false),
];

/// Nothing is granted on `*` but the few actions AWS leaves no choice for; every policy
/// comes from a policy document (no inline JSON, no managed-policy attachments).
#[test]
fn nothing_but_unscopable_actions_is_granted_on_star() {
    let files = tf_files();
    let docs = policy_statements(&files);
    assert!(!docs.is_empty());
    for s in docs.values().flatten() {
        for r in &s.resources {
            assert!(
                r == "*" || !r.trim_matches('"').ends_with(":*:*:*"),
                "{}: wildcard ARN {r}",
                s.where_
            );
        }
        if !s.resources.iter().any(|r| r == "*") {
            continue;
        }
        for a in &s.actions {
            let allowed = ALLOWED_ON_STAR
                .iter()
                .any(|(name, needs_condition)| a == name && (!needs_condition || s.conditioned));
            assert!(allowed, "{}: {a} on *", s.where_);
        }
    }
    for f in &files {
        for b in f.body.blocks().filter(|b| b.identifier() == "resource") {
            let kind = label(b, 0);
            assert!(
                !kind.contains("policy_attachment")
                    && attr(b.body(), "managed_policy_arns").is_none(),
                "{}: {kind}.{} attaches a managed policy",
                rel(&f.path),
                label(b, 1)
            );
            for key in ["policy", "assume_role_policy", "inline_policy"] {
                if let Some(e) = attr(b.body(), key) {
                    let t = text(e);
                    assert!(
                        (t.starts_with("data.aws_iam_policy_document.") && t.ends_with(".json"))
                            || t.starts_with("var.policies"),
                        "{}: {kind}.{}.{key} = {t}: policies come from policy documents",
                        rel(&f.path),
                        label(b, 1)
                    );
                }
            }
        }
    }
}

/// The metric switch: each function may publish metric data, but only in the switch's
/// namespace (PutMetricData has no resource scope; the `cloudwatch:namespace` condition is
/// the scope), and may read metrics (the switch metric, Route 53's HealthCheckStatus) and
/// list health checks (the reconciler's bulk read). Every PutMetricData grant anywhere
/// (the canaries' too) carries a namespace condition.
#[test]
fn the_functions_may_publish_metrics_only_in_the_switch_namespace() {
    let files = tf_files();
    let docs = policy_statements(&files);
    let namespace_condition = |s: &Statement| {
        s.conditions
            .iter()
            .any(|(test, variable, _)| test == "StringEquals" && variable == "cloudwatch:namespace")
    };
    for name in function_crates() {
        let doc = tf_label(&name);
        let statements = docs
            .get(&doc)
            .unwrap_or_else(|| panic!("no data.aws_iam_policy_document.{doc} for {name}"));
        let granting = |action: &str| -> Vec<&Statement> {
            statements
                .iter()
                .filter(|s| s.actions.iter().any(|a| a == action))
                .collect()
        };
        let publish = granting("cloudwatch:PutMetricData");
        assert!(
            !publish.is_empty(),
            "{name} may not publish the switch metric (cloudwatch:PutMetricData)"
        );
        for s in publish {
            assert_eq!(
                s.actions,
                vec!["cloudwatch:PutMetricData".to_string()],
                "{}: PutMetricData shares its statement (and condition) with other actions",
                s.where_
            );
            assert_eq!(
                s.conditions,
                vec![(
                    "StringEquals".to_string(),
                    "cloudwatch:namespace".to_string(),
                    vec![SWITCH_NAMESPACE.to_string()]
                )],
                "{}: PutMetricData must be limited to the switch namespace {SWITCH_NAMESPACE}",
                s.where_
            );
        }
        for action in ["cloudwatch:GetMetricData", "route53:ListHealthChecks"] {
            assert!(!granting(action).is_empty(), "{name} may not call {action}");
        }
    }
    for s in docs.values().flatten() {
        if s.actions.iter().any(|a| a == "cloudwatch:PutMetricData") {
            assert!(
                namespace_condition(s),
                "{}: PutMetricData without a cloudwatch:namespace condition",
                s.where_
            );
        }
    }
}
