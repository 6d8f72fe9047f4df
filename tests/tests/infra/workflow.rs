//! The runbook's Terraform (issue 16): the protected-service module's `workflow` and
//! `preflight_capacity` inputs become the catalog's `workflow` and `preflight.capacity`,
//! which the functions' own parser reads back as the same steps, and the functions'
//! policies grant every call the workflow makes on exactly the resources those inputs name
//! (on `*` only where AWS offers no resource scope), and none of them without a workflow.
//!
//! Everything is evaluated from the .tf files with hcl-rs: the example tfvars through the
//! root's module block, the module's locals and output, to the root's policy documents.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use failover::domain::catalog::ServiceDefinition;
use failover::domain::workflow::{Approval, CapacityFloor};
use hcl::eval::{Context, Evaluate, FuncArgs, FuncDef, ParamType};
use hcl::{Map, Value};
use integration_tests::workspace_root;
use serde_json::{json, Value as Json};

use crate::render::{self, ACCOUNT};
use crate::tf::{attr, blocks, function_crates, in_dir, label, strings, text, tf_files};
use crate::tf::{tf_label, TfFile};

mod calls;
mod validation;

const MODULE: &str = "infra/modules/protected-service";

/// Every IAM action the workflow and the capacity pre-flight make.
const ACTIONS: &[&str] = &[
    "autoscaling:UpdateAutoScalingGroup",
    "autoscaling:DescribeAutoScalingGroups",
    "ecs:UpdateService",
    "ecs:DescribeServices",
    "rds:PromoteReadReplica",
    "rds:DescribeDBInstances",
    "rds:SwitchoverGlobalCluster",
    "rds:FailoverGlobalCluster",
    "rds:DescribeGlobalClusters",
    "lambda:InvokeFunction",
];

/// The one action of `ACTIONS` the Service Authorization Reference lists with no resource
/// type (EC2 Auto Scaling), so only `*` grants it; rds:DescribeGlobalClusters takes
/// `global-cluster*`.
const UNSCOPABLE: &[&str] = &["autoscaling:DescribeAutoScalingGroups"];

// ---- the functions Terraform has and render::context() does not --------------------------

fn list(v: &Value, f: &str) -> Result<Vec<Value>, String> {
    v.as_array().cloned().ok_or(format!("{f}: not a list"))
}

fn terraform_context(mut ctx: Context<'static>) -> Context<'static> {
    let one = |f| FuncDef::builder().param(ParamType::Any).build(f);
    let concat = |args: FuncArgs| -> Result<Value, String> {
        let lists: Result<Vec<_>, _> = args.iter().map(|a| list(a, "concat")).collect();
        Ok(Value::Array(lists?.concat()))
    };
    let variadic = FuncDef::builder().variadic_param(ParamType::Any);
    ctx.declare_func("concat", variadic.build(concat));
    ctx.declare_func(
        "flatten",
        one(|args| {
            let flat = |v: &Value| v.as_array().cloned().unwrap_or_else(|| vec![v.clone()]);
            Ok(list(&args[0], "flatten")?.iter().flat_map(flat).collect())
        }),
    );
    ctx.declare_func(
        "distinct",
        one(|args| {
            let mut out: Vec<Value> = Vec::new();
            for v in list(&args[0], "distinct")? {
                if !out.contains(&v) {
                    out.push(v);
                }
            }
            Ok(Value::Array(out))
        }),
    );
    ctx.declare_func(
        "keys",
        one(|args| {
            let o = args[0].as_object().ok_or("keys: not an object")?;
            Ok(o.keys().cloned().map(Value::from).collect())
        }),
    );
    ctx.declare_func(
        "alltrue",
        one(|args| {
            Ok(list(&args[0], "alltrue")?
                .iter()
                .all(|v| v == &Value::Bool(true))
                .into())
        }),
    );
    ctx.declare_func(
        "floor",
        one(|args| {
            Ok(args[0]
                .as_f64()
                .ok_or("floor: not a number")?
                .floor()
                .into())
        }),
    );
    let lookup = |args: FuncArgs| -> Result<Value, String> {
        let o = args[0].as_object().ok_or("lookup: not an object")?;
        let k = args[1].as_str().ok_or("lookup: key not a string")?;
        Ok(o.get(k).cloned().unwrap_or_else(|| args[2].clone()))
    };
    let three = [ParamType::Any, ParamType::Any, ParamType::Any];
    ctx.declare_func("lookup", FuncDef::builder().params(three).build(lookup));
    ctx
}

// ---- evaluation: root -> module -> root --------------------------------------------------

/// The locals of the module in `dir` not evaluated yet, with Terraform's functions, until
/// no more does.
fn finish_locals(
    files: &[TfFile],
    dir: &Path,
    locals: &mut Map<String, Value>,
    ctx: &mut Context<'static>,
) {
    let exprs: Vec<_> = in_dir(files, dir)
        .into_iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == "locals")
        .flat_map(|b| b.body().attributes())
        .collect();
    loop {
        ctx.declare_var("local", Value::Object(locals.clone()));
        let before = locals.len();
        for a in &exprs {
            if !locals.contains_key(a.key()) {
                if let Ok(v) = a.expr().evaluate(ctx) {
                    locals.insert(a.key().to_string(), v);
                }
            }
        }
        if locals.len() == before {
            break;
        }
    }
}

/// One protected service: its catalog item's JSON and its `workflow_resources` output.
struct Service {
    definition: String,
    resources: Value,
}

/// The module behind the root's module block `call`, fed what that block passes over `tfvars`.
fn render_service(files: &[TfFile], call: &hcl::Block, tfvars: &Map<String, Value>) -> Service {
    let mut ctx = terraform_context(render::context());
    ctx.declare_var("var", Value::Object(tfvars.clone()));
    let inputs: Map<String, Value> = call
        .body()
        .attributes()
        .filter_map(|a| Some((a.key().to_string(), a.expr().evaluate(&ctx).ok()?)))
        .collect();
    for passed in ["workflow", "preflight_capacity"] {
        let name = label(call, 0);
        assert!(
            inputs.contains_key(passed),
            "module.{name} does not pass {passed}"
        );
    }
    let dir = workspace_root().join(MODULE);
    let (mut locals, ctx) = render::module_context_with(files, &dir, &inputs);
    let mut ctx = terraform_context(ctx);
    finish_locals(files, &dir, &mut locals, &mut ctx);
    let (_, output) = blocks(files, "output", &["workflow_resources"])
        .find(|(f, _)| f.path.parent() == Some(dir.as_path()))
        .expect("output \"workflow_resources\" in the protected-service module");
    let value = attr(output.body(), "value").unwrap();
    let resources = value
        .evaluate(&ctx)
        .unwrap_or_else(|e| panic!("{}: {e}", text(value)));
    let definition = serde_json::to_string(&locals["definition"]).unwrap();
    Service {
        definition,
        resources,
    }
}

/// A statement naming one of `ACTIONS`, evaluated.
#[derive(Debug)]
struct Grant {
    /// The document and the statement's sid.
    doc: String,
    effect: String,
    actions: Vec<String>,
    resources: BTreeSet<String>,
}

/// Every protected service of the root rendered from `tfvars`, and per function the
/// statements naming `ACTIONS` of its policy document and (transitively) its sources.
fn render_root(tfvars: &Map<String, Value>) -> (Vec<Service>, BTreeMap<String, Vec<Grant>>) {
    let files = tf_files();
    let root = workspace_root().join("infra");
    let mut services = Vec::new();
    let mut modules = Map::new();
    for (call, called) in render::module_calls(&files, &root) {
        let mut outputs = Map::new();
        if called == workspace_root().join(MODULE) {
            let labels = [call.as_str()];
            let (_, block) = blocks(&files, "module", &labels)
                .find(|(f, _)| f.path.parent() == Some(root.as_path()))
                .unwrap();
            let s = render_service(&files, block, tfvars);
            outputs.insert("workflow_resources".to_string(), s.resources.clone());
            services.push(s);
        }
        modules.insert(call, Value::Object(outputs));
    }
    assert!(
        !services.is_empty(),
        "the root calls no protected-service module"
    );

    let mut ctx = terraform_context(render::context());
    ctx.declare_var("var", Value::Object(tfvars.clone()));
    ctx.declare_var("module", Value::Object(modules));
    let data = json!({
        "aws_caller_identity": {"current": {"account_id": ACCOUNT}},
        "aws_partition": {"current": {"partition": "aws"}},
    });
    ctx.declare_var("data", hcl_value(data));
    finish_locals(&files, &root, &mut Map::new(), &mut ctx);

    let docs: BTreeMap<String, &hcl::Block> = blocks(&files, "data", &["aws_iam_policy_document"])
        .filter(|(f, _)| f.path.parent() == Some(root.as_path()))
        .map(|(_, b)| (label(b, 1).to_string(), b))
        .collect();
    let mut per_function = BTreeMap::new();
    for name in function_crates() {
        let (mut todo, mut seen, mut grants) = (vec![tf_label(&name)], BTreeSet::new(), vec![]);
        while let Some(doc) = todo.pop() {
            if !seen.insert(doc.clone()) {
                continue;
            }
            let b = docs
                .get(&doc)
                .unwrap_or_else(|| panic!("no policy document {doc}"));
            for src in attr(b.body(), "source_policy_documents")
                .map(strings)
                .unwrap_or_default()
            {
                let d = src
                    .strip_prefix("data.aws_iam_policy_document.")
                    .and_then(|r| r.strip_suffix(".json"));
                todo.push(
                    d.unwrap_or_else(|| panic!("{doc}: source {src}"))
                        .to_string(),
                );
            }
            for s in b.body().blocks().filter(|s| s.identifier() == "statement") {
                let actions = attr(s.body(), "actions").map(strings).unwrap_or_default();
                if !actions.iter().any(|a| ACTIONS.contains(&a.as_str())) {
                    continue;
                }
                let doc = format!(
                    "{doc} {}",
                    attr(s.body(), "sid").map(text).unwrap_or_default()
                );
                let eval = |key: &str| {
                    let e = attr(s.body(), key)?;
                    Some(
                        e.evaluate(&ctx)
                            .unwrap_or_else(|err| panic!("{doc}: {}: {err}", text(e))),
                    )
                };
                let effect = eval("effect").map_or("Allow".into(), |v| v.as_str().unwrap().into());
                let resources = eval("resources").map(|v| list(&v, "resources").unwrap());
                let resources: Vec<Value> = resources.unwrap_or_default();
                let resources = resources.iter().map(|r| r.as_str().unwrap().to_string());
                grants.push(Grant {
                    doc,
                    effect,
                    actions,
                    resources: resources.collect(),
                });
            }
        }
        per_function.insert(name, grants);
    }
    (services, per_function)
}

// ---- what the parsed catalog says the grants must be -------------------------------------

/// Action -> the resources it must be granted on, from the steps and the floor the
/// functions parsed (empty: it must not be granted).
fn expected_grants(defs: &[ServiceDefinition]) -> BTreeMap<&'static str, BTreeSet<String>> {
    let mut want: BTreeMap<&'static str, BTreeSet<String>> =
        ACTIONS.iter().map(|a| (*a, BTreeSet::new())).collect();
    let mut add = |actions: &[&'static str], arn: String| {
        for a in actions {
            want.get_mut(a).unwrap().insert(arn.clone());
        }
    };
    let asg = |v: &Json| {
        let (region, name) = (&v["region"].as_str().unwrap(), v["name"].as_str().unwrap());
        format!(
            "arn:aws:autoscaling:{region}:{ACCOUNT}:autoScalingGroup:*:autoScalingGroupName/{name}"
        )
    };
    let ecs = |v: &Json| {
        let (region, cluster, service) = (&v["region"], &v["cluster"], &v["service"]);
        let s = |v: &Json| v.as_str().unwrap().to_string();
        format!(
            "arn:aws:ecs:{}:{ACCOUNT}:service/{}/{}",
            s(region),
            s(cluster),
            s(service)
        )
    };
    for def in defs {
        // The step in its catalog form, as the functions read it (defaults filled in).
        for v in def
            .workflow
            .iter()
            .map(|s| serde_json::to_value(s).unwrap())
        {
            let f = |k: &str| v[k].as_str().unwrap_or_default().to_string();
            match f("kind").as_str() {
                "autoscaling_group" => add(&[ACTIONS[0], ACTIONS[1]], asg(&v)),
                "ecs_service" => add(&[ACTIONS[2], ACTIONS[3]], ecs(&v)),
                "rds_read_replica" => {
                    let arn = format!(
                        "arn:aws:rds:{}:{ACCOUNT}:db:{}",
                        f("region"),
                        f("identifier")
                    );
                    add(&[ACTIONS[4], ACTIONS[5]], arn);
                }
                "aurora_global" => {
                    let global = format!(
                        "arn:aws:rds::{ACCOUNT}:global-cluster:{}",
                        f("global_cluster")
                    );
                    let data_loss = v["allow_data_loss"] == json!(true);
                    let calls: &[&str] = if data_loss {
                        &ACTIONS[6..8]
                    } else {
                        &ACTIONS[6..7]
                    };
                    add(calls, global.clone());
                    add(calls, f("target_cluster_arn"));
                    add(&[ACTIONS[8]], global);
                }
                "invoke" => add(&[ACTIONS[9]], f("function_arn")),
                other => panic!("a step of kind {other}"),
            }
        }
        if let Some(c) = &def.preflight.capacity {
            let v = serde_json::to_value(c).unwrap();
            match c {
                CapacityFloor::AutoscalingGroup { .. } => add(&[ACTIONS[1]], asg(&v)),
                CapacityFloor::EcsService { .. } => add(&[ACTIONS[3]], ecs(&v)),
            }
        }
    }
    for a in UNSCOPABLE {
        let w = want.get_mut(a).unwrap();
        if !w.is_empty() {
            *w = BTreeSet::from(["*".to_string()]);
        }
    }
    want
}

/// Renders the root from `tfvars`, parses each catalog item with the functions' parser, and
/// checks every function's grants of `ACTIONS` against what the parsed workflows call.
fn check(tfvars: &Map<String, Value>) -> (Vec<ServiceDefinition>, Vec<Json>) {
    let (services, per_function) = render_root(tfvars);
    let rendered: Vec<Json> = services
        .iter()
        .map(|s| serde_json::from_str(&s.definition).unwrap())
        .collect();
    let defs: Vec<ServiceDefinition> = services
        .iter()
        .zip(&rendered)
        .map(|(s, json)| {
            let name = json["name"].as_str().unwrap();
            ServiceDefinition::parse(name, &s.definition)
                .unwrap_or_else(|e| panic!("the functions reject {}: {e}", s.definition))
        })
        .collect();
    let want = expected_grants(&defs);
    for (function, grants) in &per_function {
        for action in ACTIONS {
            let naming: Vec<&Grant> = grants
                .iter()
                .filter(|g| g.actions.iter().any(|a| a == action))
                .collect();
            assert!(
                !naming.is_empty(),
                "{function}: no statement names {action}"
            );
            let allowed: BTreeSet<String> = naming
                .iter()
                .filter(|g| g.effect == "Allow")
                .flat_map(|g| g.resources.iter().cloned())
                .collect();
            assert_eq!(
                allowed, want[action],
                "{function}: {action} granted on {allowed:?}, the workflow calls it on {:?} ({naming:?})",
                want[action]
            );
            for g in &naming {
                assert_eq!(g.actions, [*action], "{}: one action a statement", g.doc);
                assert!(["Allow", "Deny"].contains(&g.effect.as_str()), "{}", g.doc);
                let denied = g.effect == "Deny";
                assert!(
                    !denied || want[action].is_empty(),
                    "{}: {action} denied but called",
                    g.doc
                );
                let star = g.resources.contains("*");
                assert!(
                    !star || denied || UNSCOPABLE.contains(action),
                    "{}: {action} on *",
                    g.doc
                );
            }
        }
    }
    (defs, rendered)
}

// ---- inputs ------------------------------------------------------------------------------

/// The example tfvars with `checkout.<field>` set (`Value::Null`: unset, which Terraform's
/// `optional()` makes null).
fn example_with(changes: &[(&str, Value)]) -> Map<String, Value> {
    let mut tfvars = render::tfvars();
    let Some(Value::Object(checkout)) = tfvars.get_mut("checkout") else {
        panic!("the example tfvars have no checkout object")
    };
    for (field, value) in changes {
        checkout.insert(field.to_string(), value.clone());
    }
    tfvars
}

fn hcl_value(json: Json) -> Value {
    serde_json::from_value(json).unwrap()
}

/// The example's checkout.<field>, as JSON.
fn example(field: &str) -> Json {
    let checkout = render::tfvars()["checkout"]
        .as_object()
        .cloned()
        .expect("checkout");
    serde_json::to_value(&checkout[field]).unwrap()
}

fn example_workflow() -> Vec<Json> {
    example("workflow")
        .as_array()
        .cloned()
        .expect("checkout.workflow is a list")
}

/// The example's workflow is the issue's, and reaches the catalog as the same steps, each
/// with only the fields given (the parser refuses a field the kind does not use), read
/// back with the kinds' defaults; the functions may make each call on exactly its resource.
#[test]
fn the_example_workflow_is_in_the_catalog_and_each_call_is_granted_on_its_resource() {
    let inputs = example_workflow();
    let ids: Vec<&str> = inputs.iter().map(|s| s["id"].as_str().unwrap()).collect();
    assert_eq!(
        ids,
        [
            "scale-web",
            "scale-api",
            "promote-db",
            "promote-aurora",
            "kafka-cutover"
        ]
    );
    assert_eq!(inputs[0]["on_failback"], json!({"min": 3, "desired": 3}));

    let (defs, rendered) = check(&render::tfvars());
    assert_eq!(
        rendered[0]["workflow"],
        json!(inputs),
        "the catalog writes the steps as given"
    );
    let def = &defs[0];
    assert_eq!(def.workflow.len(), inputs.len());
    for (step, input) in def.workflow.iter().zip(&inputs) {
        let mut back = serde_json::to_value(step)
            .unwrap()
            .as_object()
            .cloned()
            .unwrap();
        for (k, v) in input.as_object().unwrap() {
            assert_eq!(
                back.remove(k).as_ref(),
                Some(v),
                "step {}: field {k}",
                step.id
            );
        }
        let defaults: Vec<&String> = back.keys().collect();
        assert!(
            defaults
                .iter()
                .all(|k| *k == "approval" || *k == "allow_data_loss"),
            "{defaults:?}"
        );
    }
    let (auto, human) = (Approval::None, Approval::Required);
    let approvals: Vec<Approval> = def.workflow.iter().map(|s| s.approval).collect();
    assert_eq!(approvals, [auto, auto, human, human, human]);
    let floor = CapacityFloor::AutoscalingGroup {
        region: "eu-west-1".into(),
        name: "checkout-asg".into(),
        at_least: 3,
    };
    assert_eq!(
        example("preflight_capacity"),
        serde_json::to_value(&floor).unwrap()
    );
    assert_eq!(def.preflight.capacity, Some(floor));
    assert_eq!(
        rendered[0]["preflight"]["capacity"],
        example("preflight_capacity")
    );
}

/// allow_data_loss grants FailoverGlobalCluster on that step's two clusters only; an ECS
/// floor is read on its service.
#[test]
fn failover_with_data_loss_and_an_ecs_floor_are_granted_only_when_asked_for() {
    let mut steps = example_workflow();
    steps[3]["allow_data_loss"] = json!(true);
    let orders = format!("arn:aws:rds:eu-west-1:{ACCOUNT}:cluster:orders-euw1");
    steps.push(
        json!({"id": "promote-orders", "kind": "aurora_global", "global_cluster": "orders-global",
                      "target_cluster_arn": orders}),
    );
    let floor = json!({"kind": "ecs_service", "region": "eu-west-1", "cluster": "prod",
                       "service": "checkout-web", "at_least": 4});
    let tfvars = example_with(&[
        ("workflow", hcl_value(json!(steps))),
        ("preflight_capacity", hcl_value(floor)),
    ]);
    let want = expected_grants(&check(&tfvars).0);
    let checkout_global = format!("arn:aws:rds::{ACCOUNT}:global-cluster:checkout-global");
    let checkout_euw1 = format!("arn:aws:rds:eu-west-1:{ACCOUNT}:cluster:checkout-euw1");
    assert_eq!(
        want["rds:FailoverGlobalCluster"],
        BTreeSet::from([checkout_global, checkout_euw1])
    );
    assert!(want["rds:SwitchoverGlobalCluster"].contains(&orders));
    let web = format!("arn:aws:ecs:eu-west-1:{ACCOUNT}:service/prod/checkout-web");
    assert!(
        want["ecs:DescribeServices"].contains(&web) && !want["ecs:UpdateService"].contains(&web)
    );
}

/// Without a workflow or a floor every one of the calls is denied; with only scale steps,
/// the database and invoke calls are.
#[test]
fn without_a_workflow_nothing_is_granted() {
    // The root's checkout.workflow defaults to [].
    let tfvars = example_with(&[
        ("workflow", Value::Array(vec![])),
        ("preflight_capacity", Value::Null),
    ]);
    let (defs, rendered) = check(&tfvars);
    assert!(defs[0].workflow.is_empty() && defs[0].preflight.capacity.is_none());
    assert_eq!(rendered[0]["workflow"], json!([]));
    assert!(expected_grants(&defs).values().all(BTreeSet::is_empty));

    let steps: Vec<Json> = example_workflow().into_iter().take(2).collect();
    let tfvars = example_with(&[
        ("workflow", hcl_value(json!(steps))),
        ("preflight_capacity", Value::Null),
    ]);
    let want = expected_grants(&check(&tfvars).0);
    for a in ACTIONS {
        let scale = a.starts_with("autoscaling:") || a.starts_with("ecs:");
        assert_eq!(!want[a].is_empty(), scale, "{a}");
    }
}
