//! The Terraform files as hcl-rs bodies, and the lookups every check uses.

use std::collections::BTreeSet;
use std::path::{Path, PathBuf};

use hcl::{Block, Body, Expression, ObjectKey};
use integration_tests::workspace_root;

pub struct TfFile {
    pub path: PathBuf,
    pub body: Body,
}

/// Every `.tf` file under `infra/` (`.terraform/` aside), parsed, in path order.
pub fn tf_files() -> Vec<TfFile> {
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

/// `path` relative to the workspace root, for messages.
pub fn rel(path: &Path) -> String {
    path.strip_prefix(workspace_root())
        .unwrap_or(path)
        .display()
        .to_string()
}

/// The files of one module: those directly in `dir`.
pub fn in_dir<'a>(files: &'a [TfFile], dir: &Path) -> Vec<&'a TfFile> {
    files
        .iter()
        .filter(|f| f.path.parent() == Some(dir))
        .collect()
}

/// Top-level blocks `ident "labels[0]" "labels[1]"...` (a prefix of the labels).
pub fn blocks<'a>(
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

pub fn label(b: &Block, i: usize) -> &str {
    b.labels()[i].as_str()
}

pub fn attr<'a>(body: &'a Body, key: &str) -> Option<&'a Expression> {
    body.attributes().find(|a| a.key() == key).map(|a| a.expr())
}

/// The expression as Terraform source.
pub fn text(e: &Expression) -> String {
    hcl::format::to_string(e).unwrap()
}

/// The items of an array expression as text (string literals unquoted).
pub fn strings(e: &Expression) -> Vec<String> {
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

pub fn key_text(k: &ObjectKey) -> String {
    match k {
        ObjectKey::Identifier(i) => i.to_string(),
        ObjectKey::Expression(Expression::String(s)) => s.clone(),
        ObjectKey::Expression(other) => text(other),
        other => panic!("unsupported object key {other:?}"),
    }
}

/// The function crates in `functions/`, by package name.
pub fn function_crates() -> BTreeSet<String> {
    std::fs::read_dir(workspace_root().join("functions"))
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.join("Cargo.toml").is_file())
        .map(|p| p.file_name().unwrap().to_string_lossy().into_owned())
        .collect()
}

/// The Terraform key used for a function crate: `alarm-trigger` -> `alarm_trigger`.
pub fn tf_label(crate_name: &str) -> String {
    crate_name.replace('-', "_")
}
