//! The engine is a pure core: nothing it links (its normal dependencies, transitively) may do
//! async I/O, networking, HTTP, Kubernetes or SQL. The workspace's Cargo.lock says what each
//! registry crate pulls in; for workspace crates the lock also lists dev-dependencies, so
//! their edges come from their own Cargo.toml instead.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

const FORBIDDEN: &[&str] = &["tokio", "hyper", "mio", "reqwest", "ureq", "kube", "rusqlite", "axum"];

/// Package name -> names of the packages it depends on (all its versions together), from
/// Cargo.lock's `[[package]]` blocks.
fn lock_graph(lock: &str) -> BTreeMap<String, Vec<String>> {
    let mut graph = BTreeMap::new();
    for block in lock.split("[[package]]").skip(1) {
        let name = block.lines().find_map(|l| l.strip_prefix("name = ")).map(|n| n.trim_matches('"').to_string());
        let deps = block.split_once("dependencies = [").map_or("", |(_, rest)| rest.split(']').next().unwrap_or(""));
        // Entries are "name", "name version" or "name version (source)".
        let deps =
            deps.split(',').filter_map(|d| d.trim().trim_matches('"').split(' ').next()).filter(|d| !d.is_empty());
        if let Some(name) = name {
            graph.entry(name).or_insert_with(Vec::new).extend(deps.map(str::to_string));
        }
    }
    graph
}

/// The keys of every `[dependencies]` and `[target.*.dependencies]` table of a Cargo.toml
/// (not dev-dependencies).
fn normal_dependencies(manifest: &str) -> Vec<String> {
    let mut deps = Vec::new();
    let mut in_table = false;
    for line in manifest.lines().map(str::trim) {
        if line.starts_with('[') {
            in_table = line == "[dependencies]" || (line.starts_with("[target.") && line.ends_with(".dependencies]"));
        } else if in_table && !line.is_empty() && !line.starts_with('#') {
            let key = line.split(['=', '.', ' ']).next().unwrap_or_default();
            deps.push(key.to_string());
        }
    }
    deps
}

#[test]
fn the_engine_links_no_runtime_network_or_database_crate() {
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let lock = std::fs::read_to_string(root.join("Cargo.lock")).expect("the workspace's Cargo.lock");
    let graph = lock_graph(&lock);
    let mut members = BTreeMap::new();
    for dir in std::fs::read_dir(root.join("crates")).unwrap() {
        let manifest = std::fs::read_to_string(dir.unwrap().path().join("Cargo.toml")).unwrap_or_default();
        if let Some(name) = manifest.lines().find_map(|l| l.strip_prefix("name = ")) {
            members.insert(name.trim_matches('"').to_string(), normal_dependencies(&manifest));
        }
    }
    assert!(members["serin-engine"].contains(&"serin-model".to_string()), "{members:?}");
    assert!(graph["tokio"].contains(&"mio".to_string()), "the lock parser reads dependency lists");

    let mut seen = BTreeSet::new();
    let mut queue = vec!["serin-engine".to_string()];
    while let Some(name) = queue.pop() {
        if !seen.insert(name.clone()) {
            continue;
        }
        let deps = members.get(&name).or_else(|| graph.get(&name));
        queue.extend(deps.into_iter().flatten().cloned());
    }
    let linked: Vec<&str> = FORBIDDEN.iter().copied().filter(|f| seen.contains(*f)).collect();
    assert!(linked.is_empty(), "serin-engine links {linked:?} through {seen:?}");
    assert!(seen.contains("serde_json") && seen.contains("serin-podtemplate"), "{seen:?}");
}
