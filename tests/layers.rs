//! The shape of the code, checked: the launch pipeline imports nothing from the commands
//! above it, the post-fork child nothing from the parent, leaves nothing from the pipeline,
//! and no import circle joins files of different folders. The file-level import graph is
//! read from `crate::`/`super::` paths in `src/` (comments and unit-test modules left out).

use std::collections::{BTreeMap, BTreeSet};
use std::path::Path;

type Graph = BTreeMap<String, BTreeSet<String>>;

/// `commands/wrap/mod.rs` → `["commands", "wrap"]`.
fn module_of(file: &str) -> Vec<String> {
    let mut parts: Vec<String> = file
        .trim_end_matches(".rs")
        .split('/')
        .map(String::from)
        .collect();
    if matches!(
        parts.last().map(String::as_str),
        Some("mod" | "lib" | "main")
    ) {
        parts.pop();
    }
    parts
}

/// Code without comments and without a trailing `#[cfg(test)] mod tests { … }`.
fn code(text: &str) -> String {
    let body = match text.find("#[cfg(test)]\nmod tests {") {
        Some(i) => &text[..i],
        None => text,
    };
    body.lines()
        .map(|l| match l.find("//") {
            Some(i) if !l[..i].contains('"') => &l[..i],
            _ => l,
        })
        .collect::<Vec<_>>()
        .join("\n")
}

fn ident_at(s: &str) -> Option<&str> {
    let end = s
        .find(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
        .unwrap_or(s.len());
    (end > 0).then(|| &s[..end])
}

/// Every module path named after `crate::` or `super::`, groups (`{a, b::c}`) expanded one
/// level; paths are absolute (from the crate root).
fn paths_in(file: &str, text: &str) -> Vec<Vec<String>> {
    let me = module_of(file);
    let mut out = Vec::new();
    for (start, prefix) in [("crate::", 0usize), ("super::", 1)] {
        let mut rest = text;
        while let Some(i) = rest.find(start) {
            let before = rest[..i].chars().last();
            rest = &rest[i + start.len()..];
            if before.is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == ':') {
                continue;
            }
            let mut base: Vec<String> = match prefix {
                0 => Vec::new(),
                _ if file.ends_with("mod.rs") || file == "lib.rs" => {
                    me[..me.len().saturating_sub(1)].to_vec()
                }
                _ => me[..me.len().saturating_sub(1)].to_vec(),
            };
            let mut s = rest;
            while let Some(id) = ident_at(s) {
                base.push(id.to_string());
                s = &s[id.len()..];
                match s.strip_prefix("::") {
                    Some(t) => s = t,
                    None => break,
                }
            }
            if let Some(group) = s.strip_prefix('{') {
                let group = &group[..group.find('}').unwrap_or(group.len())];
                for item in group.split(',') {
                    let mut p = base.clone();
                    p.extend(
                        item.trim()
                            .split(" as ")
                            .next()
                            .unwrap_or("")
                            .split("::")
                            .filter(|x| ident_at(x).is_some())
                            .map(String::from),
                    );
                    out.push(p);
                }
            }
            out.push(base);
        }
    }
    out
}

/// The file→file import graph of a tree given as (path relative to src, text).
fn graph(files: &[(String, String)]) -> Graph {
    let by_module: BTreeMap<Vec<String>, &String> =
        files.iter().map(|(f, _)| (module_of(f), f)).collect();
    let mut g = Graph::new();
    for (file, text) in files {
        let targets = g.entry(file.clone()).or_default();
        for p in paths_in(file, &code(text)) {
            // The longest prefix that is a module file.
            if let Some(t) = (1..=p.len()).rev().find_map(|n| by_module.get(&p[..n])) {
                if *t != file {
                    targets.insert((*t).clone());
                }
            }
        }
    }
    g
}

/// Strongly connected components with more than one file (Tarjan).
fn circles(g: &Graph) -> Vec<Vec<String>> {
    struct T<'a> {
        g: &'a Graph,
        index: BTreeMap<&'a str, usize>,
        low: BTreeMap<&'a str, usize>,
        stack: Vec<&'a str>,
        on: BTreeSet<&'a str>,
        out: Vec<Vec<String>>,
    }
    fn visit<'a>(t: &mut T<'a>, v: &'a str) {
        let i = t.index.len();
        t.index.insert(v, i);
        t.low.insert(v, i);
        t.stack.push(v);
        t.on.insert(v);
        for w in t.g.get(v).into_iter().flatten() {
            if !t.index.contains_key(w.as_str()) {
                visit(t, w);
                let lw = t.low[w.as_str()];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(lw);
            } else if t.on.contains(w.as_str()) {
                let iw = t.index[w.as_str()];
                let lv = t.low.get_mut(v).unwrap();
                *lv = (*lv).min(iw);
            }
        }
        if t.low[v] == t.index[v] {
            let mut c = Vec::new();
            while let Some(w) = t.stack.pop() {
                t.on.remove(w);
                c.push(w.to_string());
                if w == v {
                    break;
                }
            }
            if c.len() > 1 {
                c.sort();
                t.out.push(c);
            }
        }
    }
    let mut t = T {
        g,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on: BTreeSet::new(),
        out: Vec::new(),
    };
    for v in g.keys() {
        if !t.index.contains_key(v.as_str()) {
            visit(&mut t, v);
        }
    }
    t.out
}

fn folder(file: &str) -> &str {
    file.rsplit_once('/').map_or("", |(d, _)| d)
}

fn source_tree() -> Vec<(String, String)> {
    fn walk(dir: &Path, root: &Path, out: &mut Vec<(String, String)>) {
        for e in std::fs::read_dir(dir).unwrap() {
            let p = e.unwrap().path();
            if p.is_dir() {
                walk(&p, root, out);
            } else if p.extension().is_some_and(|x| x == "rs") {
                let rel = p.strip_prefix(root).unwrap().to_string_lossy().into_owned();
                // The binary's main.rs is another crate: it names the library as `mcpcell::`.
                if rel != "main.rs" {
                    out.push((rel, std::fs::read_to_string(&p).unwrap()));
                }
            }
        }
    }
    let root = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut out = Vec::new();
    walk(&root, &root, &mut out);
    out
}

/// Floors, top to bottom. A file may import from its own floor or any floor below it.
fn floor(file: &str) -> usize {
    let top = file.split('/').next().unwrap_or(file);
    match top.trim_end_matches(".rs") {
        "main" | "lib" | "app" | "fuzz" => 0,
        "cli" | "exit" | "commands" => 1,
        "supervise" | "sandbox" => 2,
        "plan" => 3,
        "profile" | "seccomp" | "proxy" | "cgroup" => 4,
        // Leaves: no imports from any floor above.
        _ => 5,
    }
}

/// What breaks the rules in `g`: imports that run up a floor, the child reaching into the
/// parent, and circles across folders.
fn violations(g: &Graph) -> Vec<String> {
    let mut bad = Vec::new();
    for (from, targets) in g {
        for to in targets {
            if floor(to) < floor(from) {
                bad.push(format!("{from} imports {to}, a floor above it"));
            }
            if from.starts_with("sandbox/") && to.starts_with("supervise/") {
                bad.push(format!(
                    "{from} (the post-fork child) imports the parent's {to}"
                ));
            }
        }
    }
    for c in circles(g) {
        let folders: BTreeSet<&str> = c.iter().map(|f| folder(f)).collect();
        if folders.len() > 1 {
            bad.push(format!("import circle across folders: {}", c.join(", ")));
        }
    }
    bad
}

#[test]
fn the_pipeline_runs_one_way_and_no_circle_crosses_folders() {
    let tree = source_tree();
    assert!(tree.len() > 40, "src/ not found");
    let g = graph(&tree);
    let edges: usize = g.values().map(BTreeSet::len).sum();
    assert!(edges > 100, "the import reader found only {edges} imports");
    let bad = violations(&g);
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// The checker itself: on a tree that breaks each rule, each break is reported.
#[test]
fn the_checker_sees_each_kind_of_break() {
    let f = |p: &str, t: &str| (p.to_string(), t.to_string());
    let tree = vec![
        f("lib.rs", "pub mod plan; pub mod commands;"),
        f("commands/mod.rs", "pub mod run;"),
        f("commands/run.rs", "use crate::plan::build;"),
        // Up a floor: the pipeline names a command.
        f("plan/mod.rs", "use crate::commands::run::thing;\nmod fs;"),
        f(
            "plan/fs.rs",
            "// crate::commands::run in a comment is not an import\nfn x() {}",
        ),
        // The child reaching into the parent.
        f("sandbox/child.rs", "fn x() { crate::supervise::sigset(); }"),
        f("supervise/mod.rs", "use crate::sandbox::child;"),
        // A circle across folders, through a group import.
        f("paths.rs", "use crate::{escape, kernel::Kernel};"),
        f("kernel.rs", "use super::paths::normalize;"),
        f("escape.rs", "fn y() {}"),
    ];
    let g = graph(&tree);
    assert!(g["plan/fs.rs"].is_empty(), "{g:?}");
    assert!(g["paths.rs"].contains("escape.rs"), "{g:?}");
    let bad = violations(&g).join("\n");
    assert!(
        bad.contains("plan/mod.rs imports commands/run.rs, a floor above it"),
        "{bad}"
    );
    assert!(
        bad.contains(
            "sandbox/child.rs (the post-fork child) imports the parent's supervise/mod.rs"
        ),
        "{bad}"
    );
    // kernel.rs and paths.rs are both leaves in src/: a circle, but not across folders.
    assert!(!bad.contains("kernel.rs, paths.rs"), "{bad}");
    let mut crossed = tree.clone();
    crossed.push(f("cgroup/mod.rs", "use crate::paths::normalize;"));
    crossed[8] = f(
        "kernel.rs",
        "use crate::cgroup::x; use super::paths::normalize;",
    );
    let bad = violations(&graph(&crossed)).join("\n");
    assert!(
        bad.contains("import circle across folders: cgroup/mod.rs, kernel.rs, paths.rs"),
        "{bad}"
    );
}
