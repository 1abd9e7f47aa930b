//! The house has no loops: at every level of `src/`, the modules side by side (the files and folders of
//! one folder) import each other without a circle. A folder's `mod.rs` is the folder itself, not one of
//! its rooms: what its children take from it, and it from them, stays inside the folder.
//!
//! Read from the source's own paths (`crate::a::b`, `super::x`, `use crate::{a, b}`), so it needs no tool;
//! `.ci/run` runs it with the suite.

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

/// A module's path below the crate root (`["store", "push"]`) and its source.
type Source = (Vec<String>, String);

/// Every module file of `src/`, with its module path.
fn sources(src: &Path) -> Vec<Source> {
    let mut found = Vec::new();
    let mut stack = vec![src.to_path_buf()];
    while let Some(dir) = stack.pop() {
        for entry in std::fs::read_dir(&dir).unwrap() {
            let path = entry.unwrap().path();
            if path.is_dir() {
                stack.push(path);
                continue;
            }
            if path.extension().and_then(|e| e.to_str()) != Some("rs") {
                continue;
            }
            let relative = path.strip_prefix(src).unwrap();
            let mut module: Vec<String> = relative
                .iter()
                .map(|part| part.to_str().unwrap().trim_end_matches(".rs").to_owned())
                .collect();
            if module.last().is_some_and(|last| last == "mod") {
                module.pop();
            }
            if module == ["lib"] || module == ["main"] {
                module.clear();
            }
            found.push((module, std::fs::read_to_string(&path).unwrap()));
        }
    }
    found
}

/// The module paths a source names: `crate::a::b::C` gives `a::b::C`, `super::x` (from `dir::file`)
/// gives `dir::x`, and a group `crate::{a, b::c}` each of its members.
fn named(module: &[String], text: &str) -> Vec<Vec<String>> {
    let mut paths = Vec::new();
    let segments = |rest: &str| -> Vec<String> {
        rest.split("::")
            .map(|s| {
                s.chars()
                    .take_while(|c| c.is_alphanumeric() || *c == '_')
                    .collect::<String>()
            })
            .take_while(|s| !s.is_empty())
            .collect()
    };
    // `super` of `dir::file` is `dir` (of a folder's mod.rs, `dir` is the folder: its parent).
    let parent: Vec<String> = module[..module.len().saturating_sub(1)].to_vec();
    for (prefix, base) in [("crate::", Vec::new()), ("super::", parent)] {
        for (at, _) in text.match_indices(prefix) {
            // Skip words that only end in the prefix (e.g. `xcrate::`).
            if text[..at]
                .chars()
                .last()
                .is_some_and(|c| c.is_alphanumeric() || c == '_')
            {
                continue;
            }
            let rest = &text[at + prefix.len()..];
            if let Some(group) = rest.strip_prefix('{') {
                let inner = &group[..group.find('}').unwrap_or(group.len())];
                for member in inner.split(',') {
                    let mut path = base.clone();
                    path.extend(segments(member.trim()));
                    paths.push(path);
                }
            } else {
                let mut path = base.clone();
                path.extend(segments(rest));
                paths.push(path);
            }
        }
    }
    paths
}

/// The circles among the rooms side by side, at every level: each as the rooms' names in order.
fn circles(sources: &[Source]) -> Vec<Vec<String>> {
    let modules: BTreeSet<Vec<String>> = sources.iter().map(|(m, _)| m.clone()).collect();
    // edges[level][from] = to, for rooms (children) of one level (a module path prefix).
    let mut edges: BTreeMap<Vec<String>, BTreeMap<String, BTreeSet<String>>> = BTreeMap::new();
    for (module, text) in sources {
        for path in named(module, text) {
            // The deepest module the path names (the rest is an item).
            let target = (1..=path.len())
                .rev()
                .map(|n| path[..n].to_vec())
                .find(|p| modules.contains(p));
            let Some(target) = target else { continue };
            // The level where the two part ways: their common prefix; the rooms are the next segment.
            let common = module
                .iter()
                .zip(&target)
                .take_while(|(a, b)| a == b)
                .count();
            if common >= module.len() || common >= target.len() {
                // One inside the other (a folder and its own rooms): not two rooms of one level.
                continue;
            }
            edges
                .entry(module[..common].to_vec())
                .or_default()
                .entry(module[common].clone())
                .or_default()
                .insert(target[common].clone());
        }
    }
    let mut found = Vec::new();
    for (level, graph) in &edges {
        // Depth-first search for a back edge.
        fn visit(
            room: &str,
            graph: &BTreeMap<String, BTreeSet<String>>,
            path: &mut Vec<String>,
            done: &mut BTreeSet<String>,
            found: &mut Vec<Vec<String>>,
        ) {
            if let Some(at) = path.iter().position(|r| r == room) {
                found.push(path[at..].to_vec());
                return;
            }
            if done.contains(room) {
                return;
            }
            path.push(room.to_owned());
            for next in graph.get(room).into_iter().flatten() {
                visit(next, graph, path, done, found);
            }
            path.pop();
            done.insert(room.to_owned());
        }
        let mut done = BTreeSet::new();
        let mut level_found = Vec::new();
        for room in graph.keys() {
            visit(room, graph, &mut Vec::new(), &mut done, &mut level_found);
        }
        for circle in level_found {
            let prefix = if level.is_empty() {
                "crate".to_owned()
            } else {
                format!("crate::{}", level.join("::"))
            };
            found.push(circle.iter().map(|r| format!("{prefix}::{r}")).collect());
        }
    }
    found
}

#[test]
fn no_module_imports_another_that_imports_it_back() {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let sources = sources(&src);
    assert!(sources.len() > 50, "read {} files", sources.len());
    let circles = circles(&sources);
    assert!(
        circles.is_empty(),
        "modules import each other in a circle (break it: move what both need below both):\n{}",
        circles
            .iter()
            .map(|c| format!("  {} -> back", c.join(" -> ")))
            .collect::<Vec<_>>()
            .join("\n")
    );
}

#[test]
fn a_circle_is_found_at_the_top_and_inside_a_folder() {
    let source = |path: &str, text: &str| -> Source {
        let module = path.split("::").map(str::to_owned).collect();
        (module, text.to_owned())
    };
    let tree = vec![
        source("config", "use crate::members::MAX;"),
        source("members", "use crate::credentials::Token;"),
        source("credentials", "use crate::config::{Settings, self};"),
        source("worker", "mod activate; mod bind; use activate::x;"),
        source(
            "worker::activate",
            "use super::bind::OneClick; use super::Worker;",
        ),
        source("worker::bind", "use super::activate::JobOutcome;"),
        source("store", "use crate::config::DatabaseSettings;"),
    ];
    let found = circles(&tree);
    assert_eq!(
        found,
        vec![
            vec!["crate::config", "crate::members", "crate::credentials"],
            vec!["crate::worker::activate", "crate::worker::bind"],
        ]
    );
    // Without the back edges, none.
    let fixed: Vec<Source> = tree
        .into_iter()
        .filter(|(m, _)| m != &["credentials"] && m != &["worker", "bind"])
        .collect();
    assert!(circles(&fixed).is_empty());
}
