//! The crate's top-level modules (`model`, `cache`, `directory`, `miss`, `symbol`, `router`,
//! `bridge`, `engine`, …) import one another without a cycle: each layer sits below the ones
//! that use it, so a module can be read, tested and changed knowing only what is under it.
//!
//! Read from the sources: every `crate::x` path (in `use` lines, groups `crate::{x, y}`, and
//! inline paths) and every `super::x` that climbs to the crate root, outside comments, in
//! each file under `src/`, is an edge from the file's top-level module to `x`.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

type Graph = BTreeMap<String, BTreeSet<String>>;

#[test]
fn the_top_level_modules_import_one_another_without_a_cycle() {
    let graph = module_graph(&Path::new(env!("CARGO_MANIFEST_DIR")).join("src"));
    // The reader works: the engine sits on the router, the router on the read side.
    assert!(graph["engine"].contains("router"), "{graph:#?}");
    assert!(graph["router"].contains("directory"), "{graph:#?}");
    if let Some(cycle) = find_cycle(&graph) {
        panic!(
            "import cycle among the top-level modules: {}\n{graph:#?}",
            cycle.join(" -> ")
        );
    }
}

#[test]
fn the_reader_sees_groups_inline_paths_and_super_but_not_comments() {
    let modules: BTreeSet<String> = ["model", "cache", "venue", "error", "router", "io"]
        .map(String::from)
        .into();
    let code = "
        use crate::{model::Ticker, cache::{Age, TtlPolicy}};
        // use crate::router::Router;
        /* crate::io */
        fn f() -> crate::error::EngineError { loop {} }
        use super::venue::Exchange;
    ";
    let found = imports(code, 1, &modules);
    let expected: BTreeSet<String> = ["model", "cache", "error", "venue"]
        .map(String::from)
        .into();
    assert_eq!(found, expected);
    // One level deeper, `super::` stays inside the module.
    assert!(!imports("use super::venue::Exchange;", 2, &modules).contains("venue"));
    let cyclic: Graph = [("a", "b"), ("b", "c"), ("c", "a")]
        .into_iter()
        .map(|(from, to)| (from.to_owned(), BTreeSet::from([to.to_owned()])))
        .collect();
    assert!(find_cycle(&cyclic).is_some());
}

/// Top-level module → the top-level modules its files import.
fn module_graph(src: &Path) -> Graph {
    let mut files = Vec::new();
    rust_files(src, &mut files);
    let top_level = |file: &Path| -> Option<(String, usize)> {
        let relative = file.strip_prefix(src).ok()?;
        let parts: Vec<String> = relative
            .iter()
            .map(|p| p.to_string_lossy().into_owned())
            .collect();
        let first = parts.first()?.trim_end_matches(".rs").to_owned();
        // `x.rs`, `x/mod.rs`: one level below the root; `x/y.rs`, `x/y/mod.rs`: two.
        let depth = parts.len() - usize::from(parts.last().is_some_and(|p| p == "mod.rs"));
        (first != "lib").then_some((first, depth))
    };
    let modules: BTreeSet<String> = files
        .iter()
        .filter_map(|f| top_level(f))
        .map(|(m, _)| m)
        .collect();
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeSet::new()))
        .collect();
    for file in &files {
        let Some((module, depth)) = top_level(file) else {
            continue;
        };
        let code = std::fs::read_to_string(file).unwrap_or_else(|e| panic!("{file:?}: {e}"));
        let found = imports(&code, depth, &modules);
        if let Some(edges) = graph.get_mut(&module) {
            edges.extend(found.into_iter().filter(|m| *m != module));
        }
    }
    graph
}

fn rust_files(dir: &Path, into: &mut Vec<PathBuf>) {
    let entries = std::fs::read_dir(dir).unwrap_or_else(|e| panic!("{dir:?}: {e}"));
    for entry in entries.flatten() {
        let path = entry.path();
        if path.is_dir() {
            rust_files(&path, into);
        } else if path.extension().is_some_and(|e| e == "rs") {
            into.push(path);
        }
    }
}

/// The crate-level modules `code` names, for a file `depth` modules below the crate root.
fn imports(code: &str, depth: usize, modules: &BTreeSet<String>) -> BTreeSet<String> {
    let code = without_comments(code);
    let root = "super::".repeat(depth);
    let mut found = BTreeSet::new();
    for prefix in ["crate::", root.as_str()] {
        let mut rest = code.as_str();
        while let Some(at) = rest.find(prefix) {
            let preceded_by_path = rest[..at]
                .chars()
                .next_back()
                .is_some_and(|c| c.is_alphanumeric() || c == '_' || c == ':');
            rest = &rest[at + prefix.len()..];
            if preceded_by_path {
                continue; // `super::super::x` seen from its second `super`, `$crate::`, …
            }
            for name in heads(rest) {
                if modules.contains(&name) {
                    found.insert(name);
                }
            }
        }
    }
    found
}

/// The first path segment after `crate::`: one name, or each name at the top of a group.
fn heads(after: &str) -> Vec<String> {
    let ident = |s: &str| -> String {
        s.trim_start()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let Some(group) = after.strip_prefix('{') else {
        return vec![ident(after)];
    };
    let mut names = Vec::new();
    let (mut nesting, mut at_item_start) = (0usize, true);
    for (i, c) in group.char_indices() {
        match c {
            '{' => nesting += 1,
            '}' if nesting == 0 => break,
            '}' => nesting -= 1,
            ',' if nesting == 0 => at_item_start = true,
            c if at_item_start && !c.is_whitespace() => {
                names.push(ident(&group[i..]));
                at_item_start = false;
            }
            _ => {}
        }
    }
    names
}

/// `code` without `//` and `/* */` comments (doc comments included: a link is not an import).
fn without_comments(code: &str) -> String {
    let mut out = String::with_capacity(code.len());
    let mut rest = code;
    loop {
        let line = rest.find("//");
        let block = rest.find("/*");
        let block_first = match (line, block) {
            (Some(l), Some(b)) => b < l,
            (None, Some(_)) => true,
            _ => false,
        };
        match (line, block) {
            (_, Some(b)) if block_first => {
                out.push_str(&rest[..b]);
                rest = rest[b..].find("*/").map_or("", |end| &rest[b + end + 2..]);
            }
            (Some(l), _) => {
                out.push_str(&rest[..l]);
                rest = rest[l..].find('\n').map_or("", |end| &rest[l + end..]);
            }
            _ => {
                out.push_str(rest);
                return out;
            }
        }
    }
}

/// A cycle in `graph` (its modules in order, the first repeated at the end), if it has one.
fn find_cycle(graph: &Graph) -> Option<Vec<String>> {
    #[derive(Clone, Copy, PartialEq)]
    enum Mark {
        Unseen,
        OnPath,
        Done,
    }
    fn visit(
        node: &str,
        graph: &Graph,
        marks: &mut BTreeMap<String, Mark>,
        path: &mut Vec<String>,
    ) -> Option<Vec<String>> {
        marks.insert(node.to_owned(), Mark::OnPath);
        path.push(node.to_owned());
        for next in graph.get(node).into_iter().flatten() {
            match marks.get(next).copied().unwrap_or(Mark::Unseen) {
                Mark::OnPath => {
                    let start = path.iter().position(|m| m == next).unwrap_or(0);
                    let mut cycle = path[start..].to_vec();
                    cycle.push(next.clone());
                    return Some(cycle);
                }
                Mark::Unseen => {
                    if let Some(cycle) = visit(next, graph, marks, path) {
                        return Some(cycle);
                    }
                }
                Mark::Done => {}
            }
        }
        path.pop();
        marks.insert(node.to_owned(), Mark::Done);
        None
    }
    let mut marks = BTreeMap::new();
    for node in graph.keys() {
        if marks.get(node).copied().unwrap_or(Mark::Unseen) == Mark::Unseen {
            if let Some(cycle) = visit(node, graph, &mut marks, &mut Vec::new()) {
                return Some(cycle);
            }
        }
    }
    None
}
