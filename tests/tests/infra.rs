//! Terraform consistency: every `.tf` file under `infra/` parsed with hcl-rs and checked
//! against the code it deploys. No terraform binary is involved (none exists here); checkov
//! (`make lint-infra`) covers the security rules.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Component, Path, PathBuf};

use hcl::{Block, Body, Expression, ObjectKey};
use integration_tests::workspace_root;

struct TfFile {
    path: PathBuf,
    body: Body,
}

fn tf_files() -> Vec<TfFile> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() && p.file_name().is_some_and(|n| n != ".terraform") {
                walk(&p, out);
            } else if p.extension().is_some_and(|e| e == "tf") {
                out.push(p);
            }
        }
    }
    let mut paths = Vec::new();
    walk(&workspace_root().join("infra"), &mut paths);
    paths
        .into_iter()
        .map(|path| {
            let text = std::fs::read_to_string(&path).unwrap();
            let body = hcl::parse(&text)
                .unwrap_or_else(|e| panic!("{} does not parse as HCL: {e}", path.display()));
            TfFile { path, body }
        })
        .collect()
}

fn rel(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// Top-level blocks `ident "labels[0]" "labels[1]"...` (a prefix of the labels).
fn blocks<'a>(
    files: &'a [TfFile],
    ident: &'a str,
    labels: &'a [&'a str],
) -> impl Iterator<Item = (&'a TfFile, &'a Block)> + 'a {
    files.iter().flat_map(move |f| {
        f.body
            .blocks()
            .filter(move |b| {
                b.identifier() == ident
                    && b.labels().len() >= labels.len()
                    && b.labels()
                        .iter()
                        .zip(labels)
                        .all(|(l, want)| l.as_str() == *want)
            })
            .map(move |b| (f, b))
    })
}

fn label(b: &Block, i: usize) -> &str {
    b.labels()[i].as_str()
}

fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

fn text(e: &Expression) -> String {
    hcl::format::to_string(e).unwrap()
}

fn strings(e: &Expression) -> Vec<String> {
    match e {
        Expression::Array(items) => items
            .iter()
            .map(|i| match i {
                Expression::String(s) => s.clone(),
                other => text(other),
            })
            .collect(),
        other => vec![text(other)],
    }
}

fn key_text(k: &ObjectKey) -> String {
    match k {
        ObjectKey::Identifier(i) => i.to_string(),
        ObjectKey::Expression(Expression::String(s)) => s.clone(),
        ObjectKey::Expression(other) => text(other),
        other => panic!("unsupported object key {other:?}"),
    }
}

fn object_keys(e: &Expression) -> BTreeSet<String> {
    match e {
        Expression::Object(o) => o.keys().map(key_text).collect(),
        other => panic!("expected an object literal, found {}", text(other)),
    }
}

/// The function crates in `functions/`, by package name.
fn function_crates() -> BTreeSet<String> {
    std::fs::read_dir(workspace_root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The Terraform label used for a function crate: `alarm-trigger` -> `alarm_trigger`.
fn tf_label(crate_name: &str) -> String {
    crate_name.replace('-', "_")
}

/// Function crate name -> its `aws_lambda_function` block.
fn lambdas(files: &[TfFile]) -> BTreeMap<String, (&TfFile, &Block)> {
    let mut out = BTreeMap::new();
    for (f, b) in blocks(files, "resource", &["aws_lambda_function"]) {
        let zip = text(attr(b.body(), "filename").unwrap_or_else(|| {
            panic!(
                "{}: aws_lambda_function.{} has no filename",
                rel(&f.path),
                label(b, 1)
            )
        }));
        let crate_name = zip
            .trim_matches('"')
            .strip_suffix("/bootstrap.zip")
            .and_then(|p| p.rsplit('/').next())
            .unwrap_or_else(|| {
                panic!(
                    "aws_lambda_function.{}: {zip} is not <dir>/<crate>/bootstrap.zip",
                    label(b, 1)
                )
            })
            .to_string();
        assert_eq!(
            label(b, 1),
            tf_label(&crate_name),
            "aws_lambda_function.{} deploys {zip}",
            label(b, 1)
        );
        assert!(
            out.insert(crate_name.clone(), (f, b)).is_none(),
            "{crate_name} is deployed twice"
        );
    }
    out
}

#[test]
fn the_layout_is_there_and_every_file_parses() {
    let files = tf_files();
    let names: BTreeSet<String> = files.iter().map(|f| rel(&f.path)).collect();
    for required in [
        "infra/versions.tf",
        "infra/variables.tf",
        "infra/main.tf",
        "infra/iam.tf",
        "infra/outputs.tf",
    ] {
        assert!(names.contains(required), "{required} missing: {names:?}");
    }
    for module in ["control-plane", "protected-service", "observer"] {
        assert!(
            names
                .iter()
                .any(|n| n.starts_with(&format!("infra/modules/{module}/"))),
            "module {module} missing"
        );
    }
    assert!(workspace_root().join("infra/README.md").is_file());
    assert!(
        std::fs::read_dir(workspace_root().join("infra/examples"))
            .map(|d| d
                .flatten()
                .any(|e| e.path().is_dir() && e.path().join("terraform.tfvars.example").is_file()))
            .unwrap_or(false)
            || workspace_root()
                .join("infra/examples/terraform.tfvars.example")
                .is_file(),
        "infra/examples has no terraform.tfvars.example"
    );
}

#[test]
fn every_function_crate_is_deployed_from_its_own_zip() {
    let files = tf_files();
    let deployed = lambdas(&files);
    assert_eq!(
        deployed.keys().cloned().collect::<BTreeSet<_>>(),
        function_crates(),
        "one aws_lambda_function per crate in functions/"
    );
    // `make package` (cargo lambda build) writes target/lambda/<crate>/bootstrap.zip.
    let artifacts: Vec<String> = blocks(&files, "module", &[])
        .filter_map(|(_, b)| attr(b.body(), "artifacts_dir").map(text))
        .collect();
    assert!(
        !artifacts.is_empty() && artifacts.iter().all(|a| a.ends_with("/../target/lambda\"")),
        "artifacts_dir must point at the workspace's target/lambda: {artifacts:?}"
    );
    for (name, (f, b)) in &deployed {
        let body = b.body();
        let get = |k: &str| {
            attr(body, k)
                .map(text)
                .unwrap_or_else(|| panic!("{}: {name} has no {k}", rel(&f.path)))
        };
        assert_eq!(get("handler"), "\"bootstrap\"", "{name}");
        assert_eq!(get("runtime"), "\"provided.al2023\"", "{name}");
        assert!(
            get("source_code_hash").contains(&format!("/{name}/bootstrap.zip")),
            "{name}: source_code_hash must hash the deployed zip"
        );
        assert!(
            get("architectures").contains("var."),
            "{name}: architecture is a variable"
        );
    }
}

#[test]
fn every_environment_variable_a_function_reads_is_set_on_it() {
    let files = tf_files();
    for (name, (f, b)) in lambdas(&files) {
        let env = b
            .body()
            .blocks()
            .find(|e| e.identifier() == "environment")
            .unwrap_or_else(|| panic!("{}: {name} has no environment block", rel(&f.path)));
        let set = object_keys(attr(env.body(), "variables").expect("environment.variables"));
        let mut reads: Vec<&str> = failover::config::ENV_VARS.to_vec();
        if name == "reconciler" {
            reads.extend(failover::reconcile::ENV_VARS);
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
/// the check above. `Config::from_lookup` reads through a closure: its names are the
/// constants of config.rs.
#[test]
fn the_code_reads_no_environment_variable_the_lists_miss() {
    let known: BTreeSet<&str> = failover::config::ENV_VARS
        .iter()
        .chain(failover::reconcile::ENV_VARS)
        .copied()
        .chain(["RUST_LOG", "AWS_LAMBDA_FUNCTION_NAME"])
        .collect();
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).unwrap().flatten() {
            let p = entry.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() {
                walk(&p, out);
            } else if name.ends_with(".rs") && !name.ends_with("_tests.rs") && name != "fakes.rs" {
                out.push(p);
            }
        }
    }
    let root = workspace_root();
    let mut files = Vec::new();
    walk(&root.join("shared/src"), &mut files);
    for c in function_crates() {
        walk(&root.join("functions").join(c).join("src"), &mut files);
    }
    let sources: Vec<(PathBuf, String)> = files
        .into_iter()
        .map(|p| {
            let src = std::fs::read_to_string(&p).unwrap();
            (p, src)
        })
        .collect();
    // `const NAME: &str = "VALUE";` anywhere in the sources.
    let mut consts = BTreeMap::new();
    for (_, src) in &sources {
        for (i, _) in src.match_indices("const ") {
            let rest = &src[i + 6..];
            let Some((ident, rest)) = rest.split_once(": &str = \"") else {
                continue;
            };
            if ident
                .chars()
                .all(|c| c.is_ascii_uppercase() || c.is_ascii_digit() || c == '_')
            {
                consts.insert(
                    ident.to_string(),
                    rest[..rest.find('"').unwrap()].to_string(),
                );
            }
        }
    }
    let mut found = BTreeSet::new();
    for (path, src) in &sources {
        for call in ["env::var(", "env::var_os(", "try_from_env("] {
            for (i, _) in src.match_indices(call) {
                let arg = src[i + call.len()..].split(')').next().unwrap().trim();
                if let Some(lit) = arg.strip_prefix('"') {
                    found.insert(lit.trim_end_matches('"').to_string());
                } else if let Some(v) = consts.get(arg.rsplit("::").next().unwrap()) {
                    found.insert(v.clone());
                } else if arg == "name" && path.ends_with("shared/src/config.rs") {
                    let config_consts = src
                        .lines()
                        .filter_map(|l| l.trim().strip_prefix("pub const "))
                        .filter_map(|l| l.split(':').next())
                        .filter_map(|ident| consts.get(ident).cloned());
                    found.extend(config_consts);
                } else if !arg.is_empty() {
                    panic!(
                        "{}: environment lookup of `{arg}`, which this test cannot resolve",
                        rel(path)
                    );
                }
            }
        }
    }
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

/// `service:Action` for every SDK operation the adapters in `shared/src/aws/` call
/// (`.client[(..)].<operation>()`), by the adapter file's service.
fn actions_the_code_calls() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    for (file, service) in [
        ("dynamodb.rs", "dynamodb"),
        ("route53.rs", "route53"),
        ("sns.rs", "sns"),
        ("cloudwatch.rs", "cloudwatch"),
    ] {
        let src =
            std::fs::read_to_string(workspace_root().join("shared/src/aws").join(file)).unwrap();
        let mut n = 0;
        for (i, _) in src.match_indices(".client") {
            let mut rest = &src[i + ".client".len()..];
            if rest.starts_with('(') {
                rest = &rest[rest.find(')').unwrap() + 1..];
            }
            let rest = rest.trim_start();
            let Some(rest) = rest.strip_prefix('.') else {
                continue;
            };
            let op: String = rest
                .chars()
                .take_while(|c| c.is_ascii_lowercase() || *c == '_')
                .collect();
            if op.is_empty() || !rest[op.len()..].starts_with("()") {
                continue;
            }
            let pascal: String = op
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next().unwrap().to_ascii_uppercase().to_string() + c.as_str()
                })
                .collect();
            out.insert(format!("{service}:{pascal}"));
            n += 1;
        }
        assert!(n > 0, "no SDK call found in shared/src/aws/{file}");
    }
    out
}

#[derive(Clone)]
struct Statement {
    where_: String,
    actions: Vec<String>,
    resources: Vec<String>,
    conditioned: bool,
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
    ("cloudwatch:PutMetricData", true),
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

/// Each function's role carries its own document: root `policies = { f = data...f.json }`,
/// and in the control plane `aws_iam_role_policy.f` = `var.policies.f` on `aws_iam_role.f`,
/// the role `aws_lambda_function.f` runs as.
#[test]
fn each_function_runs_with_its_own_policy() {
    let files = tf_files();
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
    for name in function_crates() {
        let f = tf_label(&name);
        let key = passed
            .iter()
            .find(|(k, _)| **k == f)
            .unwrap_or_else(|| panic!("no policies.{f} passed to the control plane: {passed:?}"));
        assert_eq!(*key.1, format!("data.aws_iam_policy_document.{f}.json"));
        let policy_labels = ["aws_iam_role_policy", f.as_str()];
        let (_, policy) = blocks(&files, "resource", &policy_labels)
            .next()
            .unwrap_or_else(|| panic!("no aws_iam_role_policy.{f}"));
        assert_eq!(
            attr(policy.body(), "policy").map(text),
            Some(format!("var.policies.{f}"))
        );
        assert_eq!(
            attr(policy.body(), "role").map(text),
            Some(format!("aws_iam_role.{f}.id"))
        );
        let lambda_labels = ["aws_lambda_function", f.as_str()];
        let (_, lambda) = blocks(&files, "resource", &lambda_labels).next().unwrap();
        assert_eq!(
            attr(lambda.body(), "role").map(text),
            Some(format!("aws_iam_role.{f}.arn"))
        );
    }
}

#[test]
fn every_variable_used_is_declared_in_its_module() {
    let files = tf_files();
    let mut by_dir: BTreeMap<PathBuf, Vec<&TfFile>> = BTreeMap::new();
    for f in &files {
        by_dir
            .entry(f.path.parent().unwrap().to_path_buf())
            .or_default()
            .push(f);
    }
    for (dir, files) in by_dir {
        let declared: BTreeSet<String> = files
            .iter()
            .flat_map(|f| f.body.blocks())
            .filter(|b| b.identifier() == "variable")
            .map(|b| label(b, 0).to_string())
            .collect();
        let mut used = BTreeSet::new();
        for f in &files {
            let src = hcl::format::to_string(&f.body).unwrap();
            for (i, _) in src.match_indices("var.") {
                if i > 0 {
                    let before = src.as_bytes()[i - 1];
                    if before.is_ascii_alphanumeric() || before == b'_' {
                        continue;
                    }
                }
                let name: String = src[i + 4..]
                    .chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || *c == '_' || *c == '-')
                    .collect();
                used.insert(name);
            }
        }
        let undeclared: Vec<_> = used.difference(&declared).collect();
        assert!(
            undeclared.is_empty(),
            "{}: undeclared {undeclared:?}",
            rel(&dir)
        );
        for f in &files {
            for b in f.body.blocks().filter(|b| b.identifier() == "variable") {
                let body = b.body();
                assert!(
                    attr(body, "type").is_some() && attr(body, "description").is_some(),
                    "{}: variable {} needs a type and a description",
                    rel(&f.path),
                    label(b, 0)
                );
            }
        }
    }
}

mod render {
    //! Evaluates the protected-service module's catalog item with hcl-rs, from the example
    //! tfvars, so the JSON Terraform would write can go through the functions' own parser.

    use super::*;
    use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
    use hcl::{Map, Value};

    pub const ACCOUNT: &str = "123456789012";

    fn jsonencode(args: FuncArgs) -> Result<Value, String> {
        serde_json::to_string(&args[0])
            .map(Value::from)
            .map_err(|e| e.to_string())
    }

    fn length(args: FuncArgs) -> Result<Value, String> {
        match &args[0] {
            Value::Array(a) => Ok(a.len().into()),
            Value::Object(o) => Ok(o.len().into()),
            Value::String(s) => Ok(s.chars().count().into()),
            other => Err(format!("length of {other}")),
        }
    }

    fn coalesce(args: FuncArgs) -> Result<Value, String> {
        args.iter()
            .find(|v| !v.is_null() && v.as_str() != Some(""))
            .cloned()
            .ok_or_else(|| "coalesce: no non-null argument".into())
    }

    fn lower(args: FuncArgs) -> Result<Value, String> {
        Ok(args[0]
            .as_str()
            .ok_or("lower: not a string")?
            .to_lowercase()
            .into())
    }

    pub fn context() -> Context<'static> {
        let mut ctx = Context::new();
        ctx.declare_func(
            "jsonencode",
            FuncDef::builder().param(ParamType::Any).build(jsonencode),
        );
        ctx.declare_func(
            "length",
            FuncDef::builder().param(ParamType::Any).build(length),
        );
        ctx.declare_func(
            "coalesce",
            FuncDef::builder()
                .variadic_param(ParamType::Any)
                .build(coalesce),
        );
        ctx.declare_func(
            "lower",
            FuncDef::builder().param(ParamType::String).build(lower),
        );
        ctx
    }

    /// The example tfvars as values.
    pub fn tfvars() -> Map<String, Value> {
        let root = workspace_root().join("infra/examples");
        let path = std::fs::read_dir(&root)
            .unwrap()
            .flatten()
            .map(|e| e.path().join("terraform.tfvars.example"))
            .find(|p| p.is_file())
            .unwrap_or_else(|| root.join("terraform.tfvars.example"));
        let body = hcl::parse(&std::fs::read_to_string(&path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        let ctx = context();
        body.attributes()
            .map(|a| {
                let v = a
                    .expr()
                    .evaluate(&ctx)
                    .unwrap_or_else(|e| panic!("{}: {}: {e}", path.display(), a.key()));
                (a.key().to_string(), v)
            })
            .collect()
    }

    /// The placeholder ARN of an alarm: named by its resource label, or by the label of
    /// the module block whose output it is.
    pub fn alarm_arn(name: &str) -> String {
        format!("arn:aws:cloudwatch:us-east-1:{ACCOUNT}:alarm:{name}")
    }

    /// Placeholder attributes for a resource the module creates.
    fn resource_value(kind: &str, name: &str) -> Value {
        let id = format!("{kind}.{name}");
        let arn = match kind {
            "aws_cloudwatch_metric_alarm" => alarm_arn(name),
            _ => format!("arn:aws:placeholder:us-east-1:{ACCOUNT}:{id}"),
        };
        let mut m = Map::new();
        m.insert("id".into(), Value::from(id.clone()));
        m.insert("arn".into(), Value::from(arn));
        m.insert("name".into(), Value::from(name));
        Value::Object(m)
    }

    /// `path` with `.` and `..` resolved lexically (module sources are relative paths).
    fn normalize(path: &Path) -> PathBuf {
        let mut out = PathBuf::new();
        for c in path.components() {
            match c {
                Component::CurDir => {}
                Component::ParentDir => {
                    out.pop();
                }
                other => out.push(other),
            }
        }
        out
    }

    fn in_dir<'a>(files: &'a [TfFile], dir: &Path) -> Vec<&'a TfFile> {
        files
            .iter()
            .filter(|f| f.path.parent() == Some(dir))
            .collect()
    }

    /// `(label, directory of the called module)` of every `module` block in `dir` whose
    /// `source` is a local path.
    pub fn module_calls(files: &[TfFile], dir: &Path) -> Vec<(String, PathBuf)> {
        in_dir(files, dir)
            .into_iter()
            .flat_map(|f| f.body.blocks())
            .filter(|b| b.identifier() == "module")
            .filter_map(|b| match attr(b.body(), "source") {
                Some(Expression::String(s)) if s.starts_with("./") || s.starts_with("../") => {
                    Some((label(b, 0).to_string(), normalize(&dir.join(s))))
                }
                _ => None,
            })
            .collect()
    }

    /// Whether `expr` reads the `.arn` of one of `alarms` (aws_cloudwatch_metric_alarm
    /// labels), directly or through an index or splat.
    fn reads_alarm_arn(expr: &Expression, alarms: &BTreeSet<String>) -> bool {
        let ident = |c: char| c.is_ascii_alphanumeric() || c == '_' || c == '-';
        let src = text(expr);
        src.match_indices("aws_cloudwatch_metric_alarm.")
            .filter(|(i, _)| !src[..*i].ends_with(|c: char| ident(c) || c == '.'))
            .any(|(i, m)| {
                let rest = &src[i + m.len()..];
                let name = &rest[..rest.find(|c: char| !ident(c)).unwrap_or(rest.len())];
                let mut rest = &rest[name.len()..];
                while let Some(r) = rest.strip_prefix('[') {
                    rest = r.find(']').map_or("", |j| &r[j + 1..]);
                }
                alarms.contains(name)
                    && rest
                        .strip_prefix(".arn")
                        .is_some_and(|r| !r.starts_with(ident))
            })
    }

    /// The outputs of the module in `dir` whose value reads the ARN of an
    /// aws_cloudwatch_metric_alarm that module declares.
    pub fn alarm_arn_outputs(files: &[TfFile], dir: &Path) -> BTreeSet<String> {
        let files = in_dir(files, dir);
        let alarms: BTreeSet<String> = files
            .iter()
            .flat_map(|f| f.body.blocks())
            .filter(|b| {
                b.identifier() == "resource" && label(b, 0) == "aws_cloudwatch_metric_alarm"
            })
            .map(|b| label(b, 1).to_string())
            .collect();
        files
            .iter()
            .flat_map(|f| f.body.blocks())
            .filter(|b| b.identifier() == "output")
            .filter(|b| attr(b.body(), "value").is_some_and(|v| reads_alarm_arn(v, &alarms)))
            .map(|b| label(b, 0).to_string())
            .collect()
    }

    /// `module.<label>` for every module the module in `dir` calls: each output of the
    /// called module is a placeholder, the alarm ARN named after `<label>` for an output
    /// that reads an alarm's ARN, else the string `module.<label>.<output>`.
    fn module_values(files: &[TfFile], dir: &Path) -> Map<String, Value> {
        module_calls(files, dir)
            .into_iter()
            .map(|(call, called)| {
                let alarm_outputs = alarm_arn_outputs(files, &called);
                let outputs: Map<String, Value> = in_dir(files, &called)
                    .into_iter()
                    .flat_map(|f| f.body.blocks())
                    .filter(|b| b.identifier() == "output")
                    .map(|b| {
                        let output = label(b, 0);
                        let value = if alarm_outputs.contains(output) {
                            alarm_arn(&call)
                        } else {
                            format!("module.{call}.{output}")
                        };
                        (output.to_string(), Value::from(value))
                    })
                    .collect();
                (call, Value::Object(outputs))
            })
            .collect()
    }

    /// `(var, evaluated locals, context)` for the module in `dir`, fed by the example's
    /// `service_key` object (fields named like the module's variables) and its top level.
    pub fn module_context(
        files: &[TfFile],
        dir: &str,
        service_key: &str,
        unset: &[&str],
    ) -> (Map<String, Value>, Context<'static>) {
        let dir = workspace_root().join(dir);
        let modules = module_values(files, &dir);
        let files = in_dir(files, &dir);
        let example = tfvars();
        let service = example
            .get(service_key)
            .and_then(Value::as_object)
            .cloned()
            .unwrap_or_else(|| panic!("the example tfvars have no '{service_key}' object"));
        let service: Map<String, Value> = service
            .into_iter()
            .filter(|(k, _)| !unset.contains(&k.as_str()))
            .collect();
        let empty = context();
        let mut vars = Map::new();
        for b in files.iter().flat_map(|f| f.body.blocks()) {
            if b.identifier() != "variable" {
                continue;
            }
            let name = label(b, 0);
            let value = service
                .get(name)
                .or_else(|| example.get(name))
                .cloned()
                .or_else(|| {
                    attr(b.body(), "default").map(|d| {
                        d.evaluate(&empty)
                            .unwrap_or_else(|e| panic!("var.{name}: {e}"))
                    })
                })
                .unwrap_or_else(|| Value::from(format!("<{name}>")));
            vars.insert(name.to_string(), value);
        }
        let mut resources: Map<String, Value> = Map::new();
        let mut data: Map<String, Value> = Map::new();
        for b in files.iter().flat_map(|f| f.body.blocks()) {
            let target = match b.identifier() {
                "resource" => &mut resources,
                "data" => &mut data,
                _ => continue,
            };
            let (kind, name) = (label(b, 0), label(b, 1));
            let mut v = resource_value(kind, name);
            if let Value::Object(m) = &mut v {
                m.insert("partition".into(), "aws".into());
                m.insert("account_id".into(), ACCOUNT.into());
            }
            let entry = target
                .entry(kind.to_string())
                .or_insert_with(|| Value::Object(Map::new()));
            if let Value::Object(m) = entry {
                m.insert(name.to_string(), v);
            }
        }
        let mut ctx = context();
        ctx.declare_var("var", Value::Object(vars));
        ctx.declare_var("data", Value::Object(data));
        ctx.declare_var("module", Value::Object(modules));
        for (kind, v) in resources {
            ctx.declare_var(kind, v);
        }
        // Locals in dependency order: evaluate what can be, until nothing more can.
        let pending: Vec<(String, Expression)> = files
            .iter()
            .flat_map(|f| f.body.blocks())
            .filter(|b| b.identifier() == "locals")
            .flat_map(|b| b.body().attributes())
            .map(|a| (a.key().to_string(), a.expr().clone()))
            .collect();
        let mut locals = Map::new();
        loop {
            ctx.declare_var("local", Value::Object(locals.clone()));
            let before = locals.len();
            for (k, e) in &pending {
                if !locals.contains_key(k) {
                    if let Ok(v) = e.evaluate(&ctx) {
                        locals.insert(k.clone(), v);
                    }
                }
            }
            if locals.len() == before {
                break;
            }
        }
        ctx.declare_var("local", Value::Object(locals.clone()));
        (locals, ctx)
    }
}

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
    let def = failover::catalog::ServiceDefinition::parse(&name, &json)
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
    failover::catalog::ServiceDefinition::parse(&name, stored)
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
    let def = failover::catalog::ServiceDefinition::parse("checkout", &json)
        .unwrap_or_else(|e| panic!("rejected {json}: {e}"));
    assert!(json.contains("\"secondary_alarm_arn\":null"), "{json}");
    assert!(
        def.preflight.secondary_alarm_arn.is_none() && def.preflight.replica_lag.is_none(),
        "{json}"
    );
}
