//! `moved` blocks: each leads from an address its module no longer declares to an
//! instance it does, so an existing deployment is moved, not destroyed and recreated.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

use crate::render;
use crate::tf::{attr, in_dir, label, rel, text, tf_files};

/// `kind.name` of an address `kind.name` or `kind.name["key"]`.
fn resource_of(address: &str) -> &str {
    address.split_once('[').map_or(address, |(r, _)| r)
}

#[test]
fn every_moved_block_leads_to_a_declared_instance() {
    let files = tf_files();
    let dirs: BTreeSet<&Path> = files.iter().map(|f| f.path.parent().unwrap()).collect();
    let mut checked = 0;
    for dir in dirs {
        let module = in_dir(&files, dir);
        let moves: Vec<(String, String)> = module
            .iter()
            .flat_map(|f| f.body.blocks())
            .filter(|b| b.identifier() == "moved")
            .map(|b| {
                let end = |k| {
                    attr(b.body(), k)
                        .map(text)
                        .unwrap_or_else(|| panic!("{}: a moved block without {k}", rel(dir)))
                };
                (end("from"), end("to"))
            })
            .collect();
        if moves.is_empty() {
            continue;
        }
        let declared: BTreeMap<String, _> = module
            .iter()
            .flat_map(|f| f.body.blocks())
            .filter(|b| b.identifier() == "resource")
            .map(|b| (format!("{}.{}", label(b, 0), label(b, 1)), b))
            .collect();
        let (_, ctx) =
            render::module_context_with(&files, dir, &render::caller_inputs(&files, dir));
        let (mut froms, mut tos) = (BTreeSet::new(), BTreeSet::new());
        for (from, to) in &moves {
            assert!(froms.insert(from), "{}: {from} moves twice", rel(dir));
            assert!(tos.insert(to), "{}: two moves lead to {to}", rel(dir));
            assert!(
                !declared.contains_key(resource_of(from)),
                "{}: {from} is still declared, so it cannot have moved",
                rel(dir)
            );
            let target = declared.get(resource_of(to)).unwrap_or_else(|| {
                panic!("{}: {from} moves to {to}, which is not declared", rel(dir))
            });
            let instances: Vec<String> = render::instances(target, &ctx)
                .into_iter()
                .map(|(address, _)| address)
                .collect();
            assert!(
                instances.contains(to),
                "{}: {from} moves to {to}, not one of {instances:?}",
                rel(dir)
            );
            checked += 1;
        }
    }
    // Delete this test with the last moved block.
    assert!(checked > 0, "no moved blocks under infra/");
}
