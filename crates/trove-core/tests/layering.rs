//! The layering of trove-core's top-level modules, checked from the source: every
//! `crate::<module>` path in non-test code is an edge, each edge must point to a lower
//! layer (or stay inside one), and the graph has no cycle. The rule is written down in
//! docs/architecture.md; this test is what keeps it true.
//!
//! `TROVE_LAYERING_REPORT=1 cargo test -p trove-core --test layering -- --nocapture`
//! prints the graph, its cycles and the layer of each module.

use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};

/// trove-core's layers, lowest first. A module may use modules of its own layer and of
/// the layers below it, never above. A new top-level module must be placed here.
const LAYERS: &[(&str, &[&str])] = &[
    // No state and no storage: values, rules and helpers.
    (
        "foundation",
        &[
            "error",
            "clock",
            "secret",
            "fsutil",
            "paths",
            "passphrase_policy",
            "token",
        ],
    ),
    // Pure model types: what a record, a scope, a grant and a peer are. Never storage.
    (
        "model",
        &[
            "schema",
            "model",
            "model::record",
            "model::scope",
            "model::peer",
            "model::grant",
        ],
    ),
    // The encrypted database handle and its keys.
    ("vault", &["keyfile", "keystore", "vault"]),
    // What the vault stores, each over the handle.
    (
        "stores",
        &[
            "record",
            "search",
            "access_log",
            "grant",
            "receipt",
            "trash",
            "remote",
            "anchor",
        ],
    ),
    // Decisions and transfers over the stores.
    ("engines", &["share", "bundle", "importers", "staging"]),
    // Whole-vault entry points and tools above everything else.
    ("top", &["open", "demo", "recovery_kit", "bench"]),
];

/// Top-level modules whose child modules are nodes of their own (`model::scope`), so
/// that the order inside them is checked too.
const SPLIT: &[&str] = &["model"];

#[derive(Debug)]
struct Edge {
    /// The first place the edge is made, as `path:line`.
    at: String,
}

/// Module → used module → where.
type Graph = BTreeMap<String, BTreeMap<String, Edge>>;

fn src_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("src")
}

fn rust_files(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = std::fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("can't read {}: {e}", dir.display()))
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for p in entries {
        if p.is_dir() {
            rust_files(&p, out);
        } else if p.extension().is_some_and(|x| x == "rs") {
            out.push(p);
        }
    }
}

/// The node a file belongs to: its top-level module, or `module::child` inside a
/// [`SPLIT`] module (`None` for the crate root).
fn top_module(src: &Path, file: &Path) -> Option<String> {
    let rel = file.strip_prefix(src).unwrap();
    let mut parts = rel.components().map(|c| c.as_os_str().to_str().unwrap());
    let first = parts.next()?;
    if first == "lib.rs" {
        return None;
    }
    let first = first.trim_end_matches(".rs");
    match parts.next() {
        Some(child) if SPLIT.contains(&first) && child != "mod.rs" => {
            Some(format!("{first}::{}", child.trim_end_matches(".rs")))
        }
        _ => Some(first.to_string()),
    }
}

/// The node a path names: `a::b` is node `a::b` when `a` is split, else node `a`.
fn resolve(path: &str, nodes: &BTreeSet<String>) -> Option<String> {
    let first = path.split("::").next()?;
    if SPLIT.contains(&first) && nodes.contains(path) {
        return Some(path.to_string());
    }
    nodes.contains(first).then(|| first.to_string())
}

/// The directory holding the files of `file`'s child modules.
fn child_dir(file: &Path) -> PathBuf {
    let stem = file.file_stem().unwrap();
    if stem == "mod" || stem == "lib" {
        file.parent().unwrap().to_path_buf()
    } else {
        file.with_extension("")
    }
}

/// The lines of `text` that are not test code or comments, with their line numbers.
/// An item after `#[cfg(test)]` is skipped: a `mod x;` (its file is added to
/// `test_files`) or everything up to its closing brace.
fn code_lines(file: &Path, text: &str, test_files: &mut BTreeSet<PathBuf>) -> Vec<(usize, String)> {
    let mut out = Vec::new();
    let mut lines = text.lines().enumerate();
    while let Some((i, line)) = lines.next() {
        let t = line.trim();
        if t.starts_with("//") {
            continue;
        }
        if t != "#[cfg(test)]" {
            out.push((i + 1, line.to_string()));
            continue;
        }
        let mut depth = 0i64;
        let mut opened = false;
        for (_, item) in lines.by_ref() {
            let item = item.trim();
            if !opened && item.starts_with("#[") {
                continue;
            }
            if !opened && item.ends_with(';') && !item.contains('{') {
                if let Some(name) = item
                    .strip_prefix("mod ")
                    .or_else(|| item.strip_prefix("pub(crate) mod "))
                {
                    let name = name.trim_end_matches(';').trim();
                    test_files.insert(child_dir(file).join(format!("{name}.rs")));
                    test_files.insert(child_dir(file).join(name).join("mod.rs"));
                }
                break;
            }
            let code = item
                .replace("'{'", "")
                .replace("'}'", "")
                .replace("\"{\"", "")
                .replace("\"}\"", "");
            for c in code.chars() {
                match c {
                    '{' => {
                        depth += 1;
                        opened = true;
                    }
                    '}' => depth -= 1,
                    _ => {}
                }
            }
            if opened && depth <= 0 {
                break;
            }
        }
    }
    out
}

/// The names after `crate::` on a line, including each of a `use crate::{a, b::c}` group.
fn crate_paths(line: &str) -> Vec<String> {
    let mut out = Vec::new();
    let mut rest = line;
    while let Some(at) = rest.find("crate::") {
        let before = rest[..at].chars().last();
        rest = &rest[at + "crate::".len()..];
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `trove_crate::`
        }
        if let Some(group) = rest.strip_prefix('{') {
            let end = group.find('}').unwrap_or(group.len());
            let mut depth = 0;
            let mut start = 0;
            let g = &group[..end];
            for (i, c) in g.char_indices() {
                match c {
                    '{' => depth += 1,
                    '}' => depth -= 1,
                    ',' if depth == 0 => {
                        out.push(ident(&g[start..i]));
                        start = i + 1;
                    }
                    _ => {}
                }
            }
            out.push(ident(&g[start..]));
        } else {
            out.push(ident(rest));
        }
    }
    out.retain(|s| !s.is_empty());
    out
}

/// The first two names of a path (`model::scope` of `model::scope::Scope`), or the one.
fn ident(s: &str) -> String {
    let name = |s: &str| -> String {
        s.trim()
            .chars()
            .take_while(|c| c.is_alphanumeric() || *c == '_')
            .collect()
    };
    let first = name(s);
    let rest = &s.trim()[first.len()..];
    match rest.strip_prefix("::").map(name) {
        Some(second) if !second.is_empty() => format!("{first}::{second}"),
        _ => first,
    }
}

/// The names after `super::` on a line (for child modules of a split module).
fn super_paths(line: &str) -> Vec<String> {
    line.match_indices("super::")
        .map(|(at, _)| ident(&line[at + "super::".len()..]))
        .map(|p| p.split("::").next().unwrap_or("").to_string())
        .filter(|p| !p.is_empty())
        .collect()
}

/// What the crate root re-exports: name → the module it comes from (`pub use m::{A, B}`).
fn root_reexports(src: &Path) -> BTreeMap<String, String> {
    let lib = std::fs::read_to_string(src.join("lib.rs")).unwrap();
    let mut out = BTreeMap::new();
    let mut stmt = String::new();
    for line in lib.lines() {
        let t = line.trim();
        if stmt.is_empty() && !t.starts_with("pub use ") {
            continue;
        }
        stmt.push_str(t);
        stmt.push(' ');
        if !t.ends_with(';') {
            continue;
        }
        let body = stmt["pub use ".len()..]
            .trim()
            .trim_end_matches(';')
            .to_string();
        stmt.clear();
        let split = match body.find("::{") {
            Some(at) => Some((&body[..at], &body[at + 2..])),
            None => body.rsplit_once("::"),
        };
        let Some((module, names)) = split else {
            continue;
        };
        let names = names.trim().trim_start_matches('{').trim_end_matches('}');
        for n in names.split(',') {
            let n = n.trim();
            let n = n.rsplit("::").next().unwrap_or(n);
            let n = n.split(" as ").last().unwrap_or(n).trim();
            if !n.is_empty() {
                out.insert(n.to_string(), module.trim().to_string());
            }
        }
    }
    out
}

fn build_graph() -> Graph {
    let src = src_dir();
    let mut files = Vec::new();
    rust_files(&src, &mut files);
    let modules: BTreeSet<String> = files.iter().filter_map(|f| top_module(&src, f)).collect();
    // Children of a split module, as paths relative to it (`super::scope` in model/).
    let reexports = root_reexports(&src);
    let mut test_files = BTreeSet::new();
    let mut texts = Vec::new();
    // Test module files are only known once their parent is read: read parents first.
    files.sort_by_key(|f| f.components().count());
    for f in &files {
        let text = std::fs::read_to_string(f).unwrap();
        let lines = code_lines(f, &text, &mut test_files);
        texts.push((f.clone(), lines));
    }
    let mut graph: Graph = modules
        .iter()
        .map(|m| (m.clone(), BTreeMap::new()))
        .collect();
    for (f, lines) in texts {
        if test_files.contains(&f) {
            continue;
        }
        let Some(from) = top_module(&src, &f) else {
            continue;
        };
        let parent = from.split_once("::").map(|(p, _)| p.to_string());
        for (n, line) in lines {
            let mut paths = crate_paths(&line);
            if let Some(p) = &parent {
                paths.extend(super_paths(&line).into_iter().map(|c| format!("{p}::{c}")));
            }
            for path in paths {
                let to = if let Some(node) = resolve(&path, &modules) {
                    node
                } else if let Some(m) = reexports.get(path.split("::").next().unwrap()) {
                    resolve(m, &modules).unwrap_or_else(|| m.clone())
                } else {
                    continue; // an item of the crate root itself
                };
                if to != from {
                    let at = format!("{}:{n}", f.strip_prefix(&src).unwrap().display());
                    graph
                        .get_mut(&from)
                        .unwrap()
                        .entry(to)
                        .or_insert(Edge { at });
                }
            }
        }
    }
    graph
}

/// Strongly connected components with more than one module (Tarjan).
fn cycles(graph: &Graph) -> Vec<Vec<String>> {
    struct State<'g> {
        graph: &'g Graph,
        index: BTreeMap<&'g str, usize>,
        low: BTreeMap<&'g str, usize>,
        stack: Vec<&'g str>,
        on_stack: BTreeSet<&'g str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'g>(s: &mut State<'g>, v: &'g str) {
        let i = s.index.len();
        s.index.insert(v, i);
        s.low.insert(v, i);
        s.stack.push(v);
        s.on_stack.insert(v);
        for w in s.graph[v].keys() {
            let w = w.as_str();
            if !s.index.contains_key(w) {
                visit(s, w);
                let lw = s.low[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if s.on_stack.contains(w) {
                let iw = s.index[w];
                let lv = s.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if s.low[v] == s.index[v] {
            let mut comp = Vec::new();
            loop {
                let w = s.stack.pop().unwrap();
                s.on_stack.remove(w);
                comp.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if comp.len() > 1 {
                comp.sort();
                s.out.push(comp);
            }
        }
    }
    let mut s = State {
        graph,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in graph.keys() {
        if !s.index.contains_key(v.as_str()) {
            visit(&mut s, v);
        }
    }
    s.out
}

/// How many elementary cycles the graph has (each counted once, from its smallest
/// module), up to `cap`.
fn count_elementary_cycles(graph: &Graph, cap: usize) -> usize {
    fn walk(g: &Graph, start: &str, v: &str, path: &mut Vec<String>, n: &mut usize, cap: usize) {
        for w in g[v].keys() {
            if *n >= cap {
                return;
            }
            if w == start {
                *n += 1;
            } else if w.as_str() > start && !path.contains(w) {
                path.push(w.clone());
                walk(g, start, w, path, n, cap);
                path.pop();
            }
        }
    }
    let mut n = 0;
    for s in graph.keys() {
        walk(graph, s, s, &mut vec![s.clone()], &mut n, cap);
    }
    n
}

fn layer_of(module: &str) -> Option<usize> {
    LAYERS.iter().position(|(_, ms)| ms.contains(&module))
}

#[test]
fn trove_core_modules_form_no_cycle() {
    let graph = build_graph();
    let cycles = cycles(&graph);
    if std::env::var_os("TROVE_LAYERING_REPORT").is_some() {
        for (m, uses) in &graph {
            let names: Vec<&str> = uses.keys().map(String::as_str).collect();
            println!("{m} -> {}", names.join(", "));
        }
        println!(
            "{} strongly connected groups with a cycle, {} elementary cycles (capped at 1000000)",
            cycles.len(),
            count_elementary_cycles(&graph, 1_000_000)
        );
        for c in &cycles {
            println!("cycle group: {}", c.join(", "));
        }
    }
    let mut msg = String::new();
    for c in &cycles {
        msg.push_str(&format!(
            "\nthese modules import each other in a circle: {}",
            c.join(", ")
        ));
        for m in c {
            for (to, e) in &graph[m] {
                if c.contains(to) {
                    msg.push_str(&format!("\n  {m} -> {to} (first at {})", e.at));
                }
            }
        }
    }
    assert!(msg.is_empty(), "trove-core has import cycles:{msg}");
}

#[test]
fn every_module_uses_only_its_own_layer_and_below() {
    let graph = build_graph();
    let mut problems = Vec::new();
    for (m, uses) in &graph {
        let Some(lm) = layer_of(m) else {
            problems.push(format!(
                "module {m} is in no layer: add it to LAYERS in tests/layering.rs and to the tree in docs/architecture.md"
            ));
            continue;
        };
        for (to, e) in uses {
            if let Some(lt) = layer_of(to) {
                if lt > lm {
                    problems.push(format!(
                        "{m} ({}) uses {to} ({}), a higher layer, at {}",
                        LAYERS[lm].0, LAYERS[lt].0, e.at
                    ));
                }
            }
        }
    }
    assert!(
        problems.is_empty(),
        "trove-core's layering is broken (see docs/architecture.md):\n{}",
        problems.join("\n")
    );
}

#[test]
fn the_graph_reader_sees_real_edges_and_skips_test_code() {
    // The checks above are only as good as the reader: it must see grouped and inline
    // paths, root re-exports, and skip `#[cfg(test)]` items and comments.
    assert_eq!(
        crate_paths("use crate::{error::Error, vault::Vault};"),
        ["error::Error", "vault::Vault"]
    );
    assert_eq!(
        crate_paths("let x = crate::record::new_id(); crate::now_rfc3339()"),
        ["record::new_id", "now_rfc3339"]
    );
    let mut test_files = BTreeSet::new();
    let text = "use crate::a::X;\n// crate::b\n#[cfg(test)]\nmod tests {\n    use crate::c;\n    fn f() { let s = '{'; }\n}\n#[cfg(test)]\nmod more;\nfn g() { crate::d::h() }\n";
    let lines = code_lines(Path::new("src/m.rs"), text, &mut test_files);
    let seen: Vec<String> = lines.iter().flat_map(|(_, l)| crate_paths(l)).collect();
    assert_eq!(seen, ["a::X", "d::h"]);
    assert!(test_files.contains(Path::new("src/m/more.rs")));
    let graph = build_graph();
    assert!(
        graph["record"].contains_key("vault"),
        "record storage uses the vault: the reader must see that edge"
    );
    assert!(
        graph["model::scope"].contains_key("model::record"),
        "a scope projects records: the reader must see edges inside the model"
    );
}
