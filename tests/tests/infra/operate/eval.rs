//! A module's locals evaluated with a few more functions than render.rs declares, with
//! chosen locals and resources forced (values the placeholders cannot give, such as a
//! secret's value or a function's name).

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Expression, Map, Value};
use integration_tests::workspace_root;

use crate::render;
use crate::tf::{in_dir, TfFile};

fn concat(args: FuncArgs) -> Result<Value, String> {
    let mut out = Vec::new();
    for a in args.iter() {
        out.extend(a.as_array().ok_or("concat: not a list")?.iter().cloned());
    }
    Ok(Value::Array(out))
}

fn flatten(args: FuncArgs) -> Result<Value, String> {
    fn walk(v: &Value, out: &mut Vec<Value>) {
        match v {
            Value::Array(items) => items.iter().for_each(|i| walk(i, out)),
            other => out.push(other.clone()),
        }
    }
    let mut out = Vec::new();
    walk(&args[0], &mut out);
    Ok(Value::Array(out))
}

fn join(args: FuncArgs) -> Result<Value, String> {
    let sep = args[0].as_str().ok_or("join: separator")?;
    let items: Vec<String> = args[1]
        .as_array()
        .ok_or("join: not a list")?
        .iter()
        .map(|v| {
            v.as_str()
                .map(str::to_string)
                .unwrap_or_else(|| v.to_string())
        })
        .collect();
    Ok(items.join(sep).into())
}

pub fn dir(module: &str) -> PathBuf {
    workspace_root().join("infra/modules").join(module)
}

/// `(locals, context)` of the module in `dir` fed `inputs`: `forced` locals are set as
/// given, every other local evaluated until nothing more evaluates; `resources` replace
/// the placeholders of those resource types.
pub fn module(
    files: &[TfFile],
    dir: &Path,
    inputs: &Map<String, Value>,
    forced: &[(&str, Value)],
    resources: &[(&str, Value)],
) -> (Map<String, Value>, Context<'static>) {
    let (_, mut ctx) = render::module_context_with(files, dir, inputs);
    let variadic = |f| FuncDef::builder().variadic_param(ParamType::Any).build(f);
    ctx.declare_func("concat", variadic(concat));
    ctx.declare_func(
        "flatten",
        FuncDef::builder().param(ParamType::Any).build(flatten),
    );
    ctx.declare_func(
        "join",
        FuncDef::builder()
            .param(ParamType::String)
            .param(ParamType::Any)
            .build(join),
    );
    for (kind, value) in resources {
        ctx.declare_var(*kind, value.clone());
    }
    let pending: Vec<(String, Expression)> = in_dir(files, dir)
        .into_iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .map(|a| (a.key().to_string(), a.expr().clone()))
        .collect();
    let mut locals: Map<String, Value> = forced
        .iter()
        .map(|(k, v)| (k.to_string(), v.clone()))
        .collect();
    let forced: BTreeSet<&str> = forced.iter().map(|(k, _)| *k).collect();
    loop {
        ctx.declare_var("local", Value::Object(locals.clone()));
        let before = locals.len();
        for (k, e) in &pending {
            if !forced.contains(k.as_str()) && !locals.contains_key(k) {
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
    // OPERATE_DEBUG=1 says why each local that did not evaluate failed.
    if std::env::var_os("OPERATE_DEBUG").is_some() {
        for (k, e) in &pending {
            if let Err(err) = e.evaluate(&ctx) {
                println!("local.{k}: {err}");
            }
        }
    }
    (locals, ctx)
}

/// `local.<name>`, or a panic naming what did not evaluate.
pub fn local<'a>(locals: &'a Map<String, Value>, dir: &Path, name: &str) -> &'a Value {
    locals.get(name).unwrap_or_else(|| {
        panic!(
            "{}: local.{name} does not evaluate (evaluated: {:?})",
            crate::tf::rel(dir),
            locals.keys().collect::<Vec<_>>()
        )
    })
}

pub fn json(v: &Value) -> serde_json::Value {
    serde_json::to_value(v).unwrap()
}

/// The metric names the code emits in the `RegionalFailover` namespace: every string
/// literal in an EMF tuple `(<name>, <value>, Unit::...)` of the non-test sources under
/// shared/src and functions/*/src (test modules cut off at `#[cfg(test)]`), and the switch
/// metric published with PutMetricData.
pub fn metrics_the_code_emits() -> BTreeSet<String> {
    fn walk(dir: &Path, out: &mut Vec<PathBuf>) {
        for e in std::fs::read_dir(dir).unwrap().flatten() {
            let p = e.path();
            let name = p.file_name().unwrap().to_string_lossy().into_owned();
            if p.is_dir() && name != "tests" && name != "testing" {
                walk(&p, out);
            } else if name.ends_with(".rs")
                && !name.ends_with("_tests.rs")
                && name != "tests.rs"
                && name != "fakes.rs"
            {
                out.push(p);
            }
        }
    }
    let root = workspace_root();
    let mut files = Vec::new();
    walk(&root.join("shared/src"), &mut files);
    for f in std::fs::read_dir(root.join("functions")).unwrap().flatten() {
        if f.path().join("src").is_dir() {
            walk(&f.path().join("src"), &mut files);
        }
    }
    let mut out = BTreeSet::new();
    for path in files {
        let src = std::fs::read_to_string(&path).unwrap();
        let src = src.split("#[cfg(test)]").next().unwrap();
        for unit in ["Unit::Count", "Unit::Milliseconds"] {
            for (at, _) in src.match_indices(unit) {
                // Back to the tuple's unmatched '('.
                let bytes = src.as_bytes();
                let (mut depth, mut i) = (0i32, at);
                while i > 0 {
                    i -= 1;
                    match bytes[i] {
                        b')' => depth += 1,
                        b'(' if depth == 0 => break,
                        b'(' => depth -= 1,
                        _ => {}
                    }
                }
                let tuple = &src[i..at];
                // An EMF tuple is `(<name>, <value>, Unit::..)`: a short expression, not a
                // block, a match arm or a signature that a stray `Unit::` sits in.
                if [";", "=>", "fn ", "{\n"].iter().any(|s| tuple.contains(s))
                    || tuple.matches(',').count() < 2
                {
                    continue;
                }
                for (n, lit) in tuple.split('"').enumerate() {
                    if n % 2 == 1 && lit.chars().all(|c| c.is_ascii_alphanumeric()) {
                        out.insert(lit.to_string());
                    }
                }
            }
        }
    }
    out.insert(failover::domain::switch::SWITCH_METRIC.to_string());
    out
}
