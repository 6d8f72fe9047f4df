//! What the Rust code reads and calls, scanned from its sources, so the checks against
//! Terraform follow the code wherever a module lives: every `.rs` file under `shared/src`
//! and `functions/*/src`, test code aside.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

use integration_tests::workspace_root;

use crate::tf::{function_crates, rel};

/// Test code, which no deployed function runs: `*_tests.rs`, `tests.rs`, `fakes.rs`, and
/// anything under a `tests/` or `testing/` directory.
fn is_test_code(path: &Path, root: &Path) -> bool {
    let name = path.file_name().unwrap().to_string_lossy();
    name.ends_with("_tests.rs")
        || name == "tests.rs"
        || name == "fakes.rs"
        || path
            .strip_prefix(root)
            .unwrap_or(path)
            .parent()
            .is_some_and(|dir| {
                dir.components()
                    .any(|c| c.as_os_str() == "tests" || c.as_os_str() == "testing")
            })
}

fn rust_files(root: &Path) -> Vec<PathBuf> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<PathBuf>) {
        let mut entries: Vec<_> = std::fs::read_dir(dir)
            .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
            .map(|e| e.unwrap().path())
            .collect();
        entries.sort();
        for p in entries {
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|e| e == "rs") && !is_test_code(&p, root) {
                out.push(p);
            }
        }
    }
    let mut out = Vec::new();
    walk(root, root, &mut out);
    out
}

/// `(path, source)` of the library's and the functions' non-test Rust files.
fn sources() -> Vec<(PathBuf, String)> {
    let root = workspace_root();
    let mut files = rust_files(&root.join("shared/src"));
    for c in function_crates() {
        files.extend(rust_files(&root.join("functions").join(c).join("src")));
    }
    files
        .into_iter()
        .map(|p| {
            let src = std::fs::read_to_string(&p).unwrap();
            (p, src)
        })
        .collect()
}

/// Every name the code passes to an environment lookup: a literal, or a `&str` constant.
/// `Config::from_lookup` reads through a closure (`|name| std::env::var(name)`): its names
/// are the `pub const` strings of the file declaring that closure and `pub const ENV_VARS`.
pub fn environment_variables_the_code_reads() -> BTreeSet<String> {
    let sources = sources();
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
                } else if arg == "name" && src.contains("pub const ENV_VARS") {
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
    found
}

/// The IAM prefix of each AWS SDK crate the adapters use.
const SDK_SERVICES: &[(&str, &str)] = &[
    ("aws_sdk_dynamodb", "dynamodb"),
    ("aws_sdk_route53", "route53"),
    ("aws_sdk_sns", "sns"),
    ("aws_sdk_cloudwatch", "cloudwatch"),
    ("aws_sdk_eventbridge", "events"),
];

/// `service:Action` for every SDK operation the code calls (`.client[(..)].<operation>()`),
/// by the one SDK crate the calling file uses. Every service of `SDK_SERVICES` must have
/// calls, so a moved adapter cannot silently drop out of the check.
pub fn actions_the_code_calls() -> BTreeSet<String> {
    let mut out = BTreeSet::new();
    let mut calls_per_service: BTreeMap<&str, usize> =
        SDK_SERVICES.iter().map(|(_, s)| (*s, 0)).collect();
    for (path, src) in sources() {
        let mut ops = Vec::new();
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
            ops.push(op);
        }
        if ops.is_empty() {
            continue;
        }
        let used: Vec<&str> = SDK_SERVICES
            .iter()
            .filter(|(krate, _)| src.contains(&format!("{krate}::")))
            .map(|(_, service)| *service)
            .collect();
        let [service] = used[..] else {
            panic!(
                "{}: calls {ops:?} through a client of {used:?}: one known SDK crate per adapter file",
                rel(&path)
            );
        };
        for op in ops {
            let pascal: String = op
                .split('_')
                .map(|w| {
                    let mut c = w.chars();
                    c.next().unwrap().to_ascii_uppercase().to_string() + c.as_str()
                })
                .collect();
            out.insert(format!("{service}:{pascal}"));
            *calls_per_service.get_mut(service).unwrap() += 1;
        }
    }
    for (service, n) in calls_per_service {
        assert!(n > 0, "no SDK call of {service} found under shared/src");
    }
    out
}
