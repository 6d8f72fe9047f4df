//! The shape of infra/: the files and modules the README describes, every file parses,
//! every variable used is declared (with a type and a description).

use std::collections::{BTreeMap, BTreeSet};
use std::path::PathBuf;

use integration_tests::workspace_root;

use crate::tf::{attr, label, rel, tf_files, TfFile};

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
