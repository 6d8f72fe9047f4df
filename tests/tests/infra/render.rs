//! Evaluates a module's expressions with hcl-rs: its variables from the example tfvars
//! (or what its callers pass), its resources as placeholders (one per `for_each` key),
//! its locals in dependency order, and each instance of a resource with its `each`. So the
//! values Terraform would compute (the catalog item, each function's settings) can be
//! checked against the code.

use std::path::{Component, Path, PathBuf};

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Block, Body, Expression, Map, Value};
use integration_tests::workspace_root;

use crate::tf::{attr, blocks, in_dir, label, text, TfFile};

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

fn merge(args: FuncArgs) -> Result<Value, String> {
    let mut out = Map::new();
    for arg in args.iter() {
        match arg {
            Value::Object(o) => out.extend(o.clone()),
            Value::Null => {}
            other => return Err(format!("merge of {other}")),
        }
    }
    Ok(Value::Object(out))
}

fn tostring(args: FuncArgs) -> Result<Value, String> {
    match &args[0] {
        Value::String(s) => Ok(s.clone().into()),
        Value::Number(n) => Ok(n.to_string().into()),
        Value::Bool(b) => Ok(b.to_string().into()),
        other => Err(format!("tostring of {other}")),
    }
}

fn contains(args: FuncArgs) -> Result<Value, String> {
    let list = args[0].as_array().ok_or("contains: not a list")?;
    Ok(Value::Bool(list.contains(&args[1])))
}

/// The file is not read: the placeholder names the path it would hash.
fn filebase64sha256(args: FuncArgs) -> Result<Value, String> {
    let path = args[0].as_str().ok_or("filebase64sha256: not a string")?;
    Ok(format!("filebase64sha256({path})").into())
}

pub fn context() -> Context<'static> {
    let mut ctx = Context::new();
    let any = |f| FuncDef::builder().param(ParamType::Any).build(f);
    let variadic = |f| FuncDef::builder().variadic_param(ParamType::Any).build(f);
    ctx.declare_func("jsonencode", any(jsonencode));
    ctx.declare_func("length", any(length));
    ctx.declare_func("coalesce", variadic(coalesce));
    ctx.declare_func(
        "lower",
        FuncDef::builder().param(ParamType::String).build(lower),
    );
    ctx.declare_func("merge", variadic(merge));
    ctx.declare_func("tostring", any(tostring));
    ctx.declare_func(
        "contains",
        FuncDef::builder()
            .param(ParamType::Array(Box::new(ParamType::Any)))
            .param(ParamType::Any)
            .build(contains),
    );
    ctx.declare_func(
        "filebase64sha256",
        FuncDef::builder()
            .param(ParamType::String)
            .build(filebase64sha256),
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

/// The placeholder ARN of any other resource: its address.
pub fn placeholder_arn(address: &str) -> String {
    format!("arn:aws:placeholder:us-east-1:{ACCOUNT}:{address}")
}

/// Placeholder attributes for a resource the module creates; `name` is its label, with
/// `["key"]` for an instance of a `for_each`. Its `id` is its address; an alarm's
/// `alarm_name` is `name`, the last part of its placeholder ARN.
fn resource_value(kind: &str, name: &str) -> Value {
    let id = format!("{kind}.{name}");
    let arn = match kind {
        "aws_cloudwatch_metric_alarm" => alarm_arn(name),
        _ => placeholder_arn(&id),
    };
    let mut m = Map::new();
    m.insert("id".into(), Value::from(id));
    m.insert("arn".into(), Value::from(arn));
    m.insert("name".into(), Value::from(name));
    m.insert("partition".into(), "aws".into());
    m.insert("account_id".into(), ACCOUNT.into());
    if kind == "aws_cloudwatch_metric_alarm" {
        m.insert("alarm_name".into(), Value::from(name));
    }
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
fn reads_alarm_arn(expr: &Expression, alarms: &std::collections::BTreeSet<String>) -> bool {
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
pub fn alarm_arn_outputs(files: &[TfFile], dir: &Path) -> std::collections::BTreeSet<String> {
    let files = in_dir(files, dir);
    let alarms = files
        .iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == "resource" && label(b, 0) == "aws_cloudwatch_metric_alarm")
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
    let mut inputs = tfvars();
    let service = inputs
        .get(service_key)
        .and_then(Value::as_object)
        .cloned()
        .unwrap_or_else(|| panic!("the example tfvars have no '{service_key}' object"));
    inputs.extend(
        service
            .into_iter()
            .filter(|(k, _)| !unset.contains(&k.as_str())),
    );
    module_context_with(files, &workspace_root().join(dir), &inputs)
}

/// What the callers of the module in `dir` pass it, over the example tfvars' top level:
/// each argument that evaluates on its own, and each object literal with its values as
/// their Terraform text (`policies.operator` = `data.aws_iam_policy_document.operator.json`).
pub fn caller_inputs(files: &[TfFile], dir: &Path) -> Map<String, Value> {
    let mut inputs = tfvars();
    let ctx = context();
    for (f, call) in blocks(files, "module", &[]) {
        let caller = f.path.parent().unwrap();
        let calls_dir = module_calls(files, caller)
            .iter()
            .any(|(name, called)| name == label(call, 0) && called == dir);
        if !calls_dir {
            continue;
        }
        for a in call.body().attributes() {
            let value = match a.expr() {
                Expression::Object(o) => Value::Object(
                    o.iter()
                        .map(|(k, v)| (crate::tf::key_text(k), Value::from(text(v))))
                        .collect(),
                ),
                other => match other.evaluate(&ctx) {
                    Ok(v) => v,
                    Err(_) => continue,
                },
            };
            inputs.insert(a.key().to_string(), value);
        }
    }
    inputs
}

/// `(evaluated locals, context)` for the module in `dir`: each variable from `inputs`,
/// else its default, else the placeholder `<name>`.
pub fn module_context_with(
    files: &[TfFile],
    dir: &Path,
    inputs: &Map<String, Value>,
) -> (Map<String, Value>, Context<'static>) {
    let modules = module_values(files, dir);
    let files = in_dir(files, dir);
    let empty = context();
    let mut vars = Map::new();
    for b in files.iter().flat_map(|f| f.body.blocks()) {
        if b.identifier() != "variable" {
            continue;
        }
        let name = label(b, 0);
        let value = inputs
            .get(name)
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
    let mut ctx = context();
    ctx.declare_var("var", Value::Object(vars));
    ctx.declare_var("module", Value::Object(modules));

    // Resources and data sources: one placeholder, or one per key of a `for_each` once
    // that evaluates (it may read locals, which may read other resources).
    let mut declared: Map<String, Map<String, Value>> = Map::new();
    let mut keyed: Vec<&Block> = Vec::new();
    for b in files.iter().flat_map(|f| f.body.blocks()) {
        if !matches!(b.identifier(), "resource" | "data") {
            continue;
        }
        if attr(b.body(), "for_each").is_some() {
            keyed.push(b);
        } else {
            declare(&mut declared, b, resource_value(label(b, 0), label(b, 1)));
        }
    }
    let pending: Vec<(String, Expression)> = files
        .iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .map(|a| (a.key().to_string(), a.expr().clone()))
        .collect();
    let mut locals = Map::new();
    // Evaluate what can be, until nothing more can; a `for_each` that never evaluates
    // (e.g. `toset`, which is not declared here) leaves one placeholder for its resource.
    for keys_known in [true, false] {
        loop {
            publish(&mut ctx, &declared, &locals);
            let before = (locals.len(), keyed.len());
            for (k, e) in &pending {
                if !locals.contains_key(k) {
                    if let Ok(v) = e.evaluate(&ctx) {
                        locals.insert(k.clone(), v);
                    }
                }
            }
            keyed.retain(|b| {
                let (kind, name) = (label(b, 0), label(b, 1));
                let value = if keys_known {
                    match for_each_keys(b, &ctx) {
                        Some(keys) => Value::Object(
                            keys.into_iter()
                                .map(|k| {
                                    let v = resource_value(kind, &format!("{name}[\"{k}\"]"));
                                    (k, v)
                                })
                                .collect(),
                        ),
                        None => return true,
                    }
                } else {
                    resource_value(kind, name)
                };
                declare(&mut declared, b, value);
                false
            });
            if (locals.len(), keyed.len()) == before {
                break;
            }
        }
    }
    publish(&mut ctx, &declared, &locals);
    (locals, ctx)
}

fn declare(declared: &mut Map<String, Map<String, Value>>, b: &Block, value: Value) {
    let (kind, name) = (label(b, 0), label(b, 1));
    let scope = if b.identifier() == "data" {
        "data".to_string()
    } else {
        kind.to_string()
    };
    let entry = declared.entry(scope).or_default();
    if b.identifier() == "data" {
        let kinds = entry
            .entry(kind.to_string())
            .or_insert_with(|| Value::Object(Map::new()));
        if let Value::Object(m) = kinds {
            m.insert(name.to_string(), value);
        }
    } else {
        entry.insert(name.to_string(), value);
    }
}

fn publish(
    ctx: &mut Context<'static>,
    declared: &Map<String, Map<String, Value>>,
    locals: &Map<String, Value>,
) {
    for (scope, v) in declared {
        ctx.declare_var(scope.as_str(), Value::Object(v.clone()));
    }
    if !declared.contains_key("data") {
        ctx.declare_var("data", Value::Object(Map::new()));
    }
    ctx.declare_var("local", Value::Object(locals.clone()));
}

/// The keys of a `for_each` (a map or object), when it evaluates.
fn for_each_keys(b: &Block, ctx: &Context) -> Option<Vec<String>> {
    match attr(b.body(), "for_each")?.evaluate(ctx).ok()? {
        Value::Object(m) => Some(m.into_keys().collect()),
        _ => None,
    }
}

/// Each instance of the resource `b` as `(address, context with its each)`: one per key of
/// its `for_each`, or the resource itself. `count` is not followed: it panics.
pub fn instances(b: &Block, ctx: &Context<'static>) -> Vec<(String, Context<'static>)> {
    let address = format!("{}.{}", label(b, 0), label(b, 1));
    assert!(
        attr(b.body(), "count").is_none(),
        "{address} uses count, which these checks do not follow"
    );
    let Some(for_each) = attr(b.body(), "for_each") else {
        return vec![(address, ctx.clone())];
    };
    let map = match for_each.evaluate(ctx) {
        Ok(Value::Object(m)) => m,
        other => panic!("{address}: for_each = {} gives {other:?}", text(for_each)),
    };
    map.into_iter()
        .map(|(key, value)| {
            let mut each = Map::new();
            each.insert("key".to_string(), Value::from(key.clone()));
            each.insert("value".to_string(), value);
            let mut scope = ctx.clone();
            scope.declare_var("each", Value::Object(each));
            (format!("{address}[\"{key}\"]"), scope)
        })
        .collect()
}

/// Every attribute of `body` evaluated (`for_each` aside), and each nested block as an
/// object of its own; panics naming the attribute that does not evaluate.
pub fn evaluate_body(body: &Body, ctx: &Context, address: &str) -> Map<String, Value> {
    let mut out = Map::new();
    for a in body.attributes().filter(|a| a.key() != "for_each") {
        let v = a
            .expr()
            .evaluate(ctx)
            .unwrap_or_else(|e| panic!("{address}.{} = {}: {e}", a.key(), text(a.expr())));
        out.insert(a.key().to_string(), v);
    }
    for b in body.blocks() {
        let inner = format!("{address}.{}", b.identifier());
        let v = Value::Object(evaluate_body(b.body(), ctx, &inner));
        assert!(
            out.insert(b.identifier().to_string(), v).is_none(),
            "{address}: repeated {} block",
            b.identifier()
        );
    }
    out
}
