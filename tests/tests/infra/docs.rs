//! The inputs and outputs tables of each module's README, generated from its `variable`
//! and `output` blocks (there is no terraform-docs here). The test fails while a README is
//! stale; `UPDATE_INFRA_DOCS=1` (`make infra-docs`) rewrites the generated section.

use std::collections::BTreeSet;
use std::path::Path;

use hcl::{Block, Expression};

use crate::tf::{attr, in_dir, key_text, label, rel, text, tf_files, TfFile};

const BEGIN: &str = "<!-- BEGIN_TF_DOCS -->";
const END: &str = "<!-- END_TF_DOCS -->";
/// Types longer than this are printed below the table.
const TYPE_CELL_MAX: usize = 80;

/// The expression on one line, as Terraform source.
fn inline(e: &Expression) -> String {
    match e {
        Expression::Object(o) if o.is_empty() => "{}".into(),
        Expression::Object(o) => {
            let items: Vec<String> = o
                .iter()
                .map(|(k, v)| format!("{} = {}", key_text(k), inline(v)))
                .collect();
            format!("{{ {} }}", items.join(", "))
        }
        Expression::Array(items) => {
            let items: Vec<String> = items.iter().map(inline).collect();
            format!("[{}]", items.join(", "))
        }
        Expression::FuncCall(f) => {
            let args: Vec<String> = f.args.iter().map(inline).collect();
            format!("{}({})", f.name, args.join(", "))
        }
        other => text(other).split_whitespace().collect::<Vec<_>>().join(" "),
    }
}

/// The expression over several lines, as `terraform fmt` would lay out a type: one
/// object attribute a line, `=` aligned.
fn multiline(e: &Expression, indent: usize) -> String {
    match e {
        Expression::Object(o) if !o.is_empty() => {
            let keys: Vec<String> = o.keys().map(key_text).collect();
            let width = keys.iter().map(String::len).max().unwrap_or(0);
            let pad = " ".repeat(indent + 2);
            let lines: Vec<String> = keys
                .iter()
                .zip(o.values())
                .map(|(k, v)| format!("{pad}{k:width$} = {}", multiline(v, indent + 2)))
                .collect();
            format!("{{\n{}\n{}}}", lines.join("\n"), " ".repeat(indent))
        }
        Expression::FuncCall(f) => {
            let args: Vec<String> = f.args.iter().map(|a| multiline(a, indent)).collect();
            format!("{}({})", f.name, args.join(", "))
        }
        other => inline(other),
    }
}

/// A table cell: one line, pipes escaped, and `<` outside code spans too (else
/// `<prefix>` would be read as an HTML tag).
fn cell(s: &str) -> String {
    let one_line = s.split_whitespace().collect::<Vec<_>>().join(" ");
    one_line
        .split('`')
        .enumerate()
        .map(|(i, part)| {
            let part = part.replace('|', "\\|");
            if i % 2 == 0 {
                part.replace('<', "&lt;")
            } else {
                part
            }
        })
        .collect::<Vec<_>>()
        .join("`")
}

fn description(b: &Block) -> String {
    match attr(b.body(), "description") {
        Some(Expression::String(s)) => cell(s),
        Some(other) => cell(&text(other)),
        None => String::new(),
    }
}

fn sorted<'a>(files: &[&'a TfFile], ident: &str) -> Vec<&'a Block> {
    let mut out: Vec<&Block> = files
        .iter()
        .flat_map(|f| f.body.blocks())
        .filter(|b| b.identifier() == ident)
        .collect();
    out.sort_by_key(|b| label(b, 0).to_string());
    out
}

/// The generated section of the README of the module made of `files`.
fn generated(files: &[&TfFile]) -> String {
    let mut out = String::from(
        "<!-- Generated from the module's variable and output blocks by `make infra-docs`: edit those, not this. -->\n\n## Inputs\n\n",
    );
    let variables = sorted(files, "variable");
    let mut long_types = Vec::new();
    if variables.is_empty() {
        out.push_str("No inputs.\n");
    } else {
        out.push_str("| Name | Description | Type | Default | Required |\n");
        out.push_str("|------|-------------|------|---------|:--------:|\n");
        for b in variables {
            let name = label(b, 0);
            let ty = attr(b.body(), "type").map(inline).unwrap_or_default();
            let ty = if ty.chars().count() > TYPE_CELL_MAX {
                long_types.push((name, attr(b.body(), "type").unwrap()));
                let outer = ty.split('(').next().unwrap_or("");
                format!("`{outer}(…)`, below")
            } else {
                format!("`{}`", cell(&ty))
            };
            let (default, required) = match attr(b.body(), "default") {
                Some(d) => (format!("`{}`", cell(&inline(d))), "no"),
                None => ("n/a".to_string(), "yes"),
            };
            out.push_str(&format!(
                "| `{name}` | {} | {ty} | {default} | {required} |\n",
                description(b)
            ));
        }
    }
    for (name, ty) in long_types {
        out.push_str(&format!(
            "\nType of `{name}`:\n\n```hcl\n{}\n```\n",
            multiline(ty, 0)
        ));
    }
    out.push_str("\n## Outputs\n\n");
    let outputs = sorted(files, "output");
    if outputs.is_empty() {
        out.push_str("No outputs.\n");
    } else {
        out.push_str("| Name | Description |\n|------|-------------|\n");
        for b in outputs {
            out.push_str(&format!("| `{}` | {} |\n", label(b, 0), description(b)));
        }
    }
    out
}

#[test]
fn every_module_readme_has_its_generated_inputs_and_outputs() {
    let update = std::env::var_os("UPDATE_INFRA_DOCS").is_some_and(|v| v == "1");
    let files = tf_files();
    let dirs: BTreeSet<&Path> = files.iter().map(|f| f.path.parent().unwrap()).collect();
    assert!(dirs.len() >= 4, "{dirs:?}");
    let mut stale = Vec::new();
    for dir in dirs {
        let readme = dir.join("README.md");
        let current = std::fs::read_to_string(&readme).unwrap_or_else(|e| {
            panic!(
                "{}: {e}; every module has a README saying what it creates",
                rel(&readme)
            )
        });
        let (prose, rest) = current.split_once(BEGIN).unwrap_or_else(|| {
            panic!(
                "{} has no {BEGIN} ... {END} section for its inputs and outputs",
                rel(&readme)
            )
        });
        let (_, after) = rest
            .split_once(END)
            .unwrap_or_else(|| panic!("{}: {BEGIN} without {END}", rel(&readme)));
        assert!(
            prose.lines().any(|l| l.starts_with("# "))
                && prose.lines().filter(|l| !l.trim().is_empty()).count() >= 2,
            "{}: a title and what the module creates come before the tables",
            rel(&readme)
        );
        let want = format!(
            "{prose}{BEGIN}\n{}{END}{after}",
            generated(&in_dir(&files, dir))
        );
        if want == current {
            continue;
        }
        if update {
            std::fs::write(&readme, want).unwrap();
            println!("rewrote {}", rel(&readme));
        } else {
            stale.push(rel(&readme));
        }
    }
    assert!(
        stale.is_empty(),
        "the inputs/outputs tables of {stale:?} do not match the .tf files: run `make infra-docs` \
         (UPDATE_INFRA_DOCS=1 cargo test -p integration-tests --test infra)"
    );
}
