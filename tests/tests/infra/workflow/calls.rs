//! The requests the runbook's adapters send are exactly `ACTIONS`, the list the policy
//! checks of `super` hold Terraform to. The adapters reach each SDK client through a
//! per-region map (`self.<service>.get(region)`), which `crate::code`'s scan of
//! `.client.<operation>()` does not see.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use integration_tests::workspace_root;

use super::ACTIONS;
use crate::tf::function_crates;

/// The SDK services of the runbook, by the field naming their clients.
const SERVICES: &[&str] = &["autoscaling", "ecs", "rds", "lambda"];

/// Where the IAM action is not the API operation's name.
const ACTION_OF: &[(&str, &str)] = &[("lambda:invoke", "lambda:InvokeFunction")];

/// Non-test Rust files (as `crate::code` counts them: no `*_tests.rs`, `tests.rs`,
/// `fakes.rs`, nothing under `tests/` or `testing/`).
fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    for e in std::fs::read_dir(dir).unwrap().flatten() {
        let p = e.path();
        let name = p.file_name().unwrap().to_string_lossy().into_owned();
        if p.is_dir() && name != "tests" && name != "testing" {
            rust_files(&p, out);
        } else if name.ends_with(".rs")
            && !name.ends_with("_tests.rs")
            && name != "tests.rs"
            && name != "fakes.rs"
        {
            out.push(p);
        }
    }
}

/// `service:operation` (lowercase, no `_`) of every SDK request a file of the runbook's
/// SDK crates sends: each `.send()` chain, by its client (the first of `SERVICES` named in
/// it, as `self.<service>.get(region)` or a local `<service>`) and its operation (the first
/// argument-less call but `get`).
fn calls_in(path: &Path, src: &str) -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    if !SERVICES
        .iter()
        .any(|s| src.contains(&format!("aws_sdk_{s}::")))
    {
        return out;
    }
    let src: String = src.chars().filter(|c| !c.is_whitespace()).collect();
    let ident = |c: char| c.is_ascii_alphanumeric() || c == '_';
    for (i, _) in src.match_indices(".send()") {
        let start = ["=>", "=", ";", "{", "}"]
            .iter()
            .filter_map(|stop| src[..i].rfind(stop).map(|j| j + stop.len()))
            .max()
            .unwrap_or(0);
        let chain = &src[start..i];
        let service = SERVICES
            .iter()
            .find(|s| chain.starts_with(&format!("{s}.")) || chain.contains(&format!(".{s}.")));
        let op = chain.match_indices("()").find_map(|(j, _)| {
            let name_start = chain[..j].rfind(|c| !ident(c)).map_or(0, |k| k + 1);
            let name = &chain[name_start..j];
            (chain[..name_start].ends_with('.') && name != "get").then_some(name)
        });
        let (Some(service), Some(op)) = (service, op) else {
            panic!("{}: which client sends `{chain}`?", path.display())
        };
        out.insert(format!("{service}:{}", op.replace('_', "")));
    }
    out
}

#[test]
fn the_runbook_adapters_call_exactly_the_actions_terraform_grants() {
    let root = workspace_root();
    let mut files = Vec::new();
    rust_files(&root.join("shared/src"), &mut files);
    for c in function_crates() {
        rust_files(&root.join("functions").join(c).join("src"), &mut files);
    }
    let mut called = BTreeSet::new();
    for f in &files {
        called.extend(calls_in(f, &std::fs::read_to_string(f).unwrap()));
    }
    let called: BTreeSet<String> = called
        .into_iter()
        .map(|c| {
            ACTION_OF
                .iter()
                .find(|(op, _)| *op == c)
                .map_or(c, |(_, action)| action.to_lowercase())
        })
        .collect();
    for service in SERVICES {
        let prefix = format!("{service}:");
        assert!(
            called.iter().any(|c| c.starts_with(&prefix)),
            "no {service} request found under shared/src: the adapters changed shape"
        );
    }
    let granted: BTreeSet<String> = ACTIONS.iter().map(|a| a.to_lowercase()).collect();
    assert_eq!(
        called, granted,
        "the runbook adapters' calls (left) and the workflow actions Terraform is checked on (right)"
    );
}
