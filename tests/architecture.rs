//! The top modules of `src/` form layers, and imports point down: a lower layer never names a higher one.
//!
//! Reads every file under `src/`, maps it to its top module (`src/db/audit.rs` → `db`), collects the
//! `crate::<top>` paths it names outside `#[cfg(test)]` modules, and checks the resulting graph: no edge
//! may climb a layer, and no group of modules may import each other in a cycle.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::{Path, PathBuf};

/// Each top module and its layer; a module may import its own layer or lower ones.
const LAYERS: &[(&str, u8)] = &[
    ("domain", 0),
    ("error", 1),
    ("config", 1),
    ("db", 2),
    ("audit_chain", 3),
    ("auth", 3),
    ("body_budget", 3),
    ("metrics", 3),
    ("policy", 3),
    ("readiness", 3),
    ("telemetry", 3),
    ("accept", 4),
    ("admin", 4),
    ("delivery", 4),
    ("exchange_sync", 4),
    ("state", 5),
    ("routes", 6),
    ("smtp", 6),
    ("cli", 7),
    ("startup", 7),
];

type Edges = BTreeMap<String, BTreeMap<String, BTreeSet<String>>>;

#[test]
fn imports_point_down_the_layers() {
    let layers: BTreeMap<&str, u8> = LAYERS.iter().copied().collect();
    let edges = crate_edges(&layers);
    let mut problems = Vec::new();

    for (from, targets) in &edges {
        for (to, files) in targets {
            if layers[from.as_str()] < layers[to.as_str()] {
                problems.push(format!("upward edge {from} -> {to} (in {})", list(files)));
            }
        }
    }

    // Within a layer imports may go either way, but not round in a cycle.
    for component in strongly_connected(&edges) {
        let members: BTreeSet<&String> = component.iter().collect();
        let closing: Vec<String> = component
            .iter()
            .flat_map(|from| {
                edges[from]
                    .iter()
                    .filter(|(to, _)| members.contains(to))
                    .map(move |(to, files)| format!("  {from} -> {to} (in {})", list(files)))
            })
            .collect();
        problems.push(format!("import cycle among {}:\n{}", component.join(", "), closing.join("\n")));
    }

    assert!(problems.is_empty(), "layering broken:\n{}", problems.join("\n"));
}

/// Folders whose files must not import each other in a cycle: each file a step its importers build on.
const ACYCLIC_FOLDERS: &[&str] = &["delivery"];

#[test]
fn files_of_acyclic_folders_import_without_cycles() {
    let mut problems = Vec::new();
    for folder in ACYCLIC_FOLDERS {
        let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("src").join(folder);
        let mut files = Vec::new();
        collect_rs(&dir, &mut files);
        let test_files = test_only_files(&files);
        // A sibling is a file directly in the folder other than mod.rs, which declares them all.
        let siblings: BTreeSet<String> = files
            .iter()
            .filter(|f| f.parent() == Some(dir.as_path()))
            .filter_map(|f| f.file_stem().map(|s| s.to_string_lossy().into_owned()))
            .filter(|name| name != "mod")
            .collect();
        let mut edges: Edges = siblings.iter().map(|s| (s.clone(), BTreeMap::new())).collect();
        for file in files.iter().filter(|f| !test_files.contains(*f)) {
            let Ok(inside) = file.strip_prefix(&dir) else { continue };
            let first = inside.components().next().expect("a path").as_os_str().to_string_lossy();
            let from = first.trim_end_matches(".rs").to_owned();
            if !siblings.contains(&from) {
                continue;
            }
            let text = without_test_modules(&read(file));
            let prefixes = ["super::".to_owned(), format!("crate::{folder}::")];
            for target in prefixes.iter().flat_map(|p| path_references(&text, p)) {
                if target != from && siblings.contains(&target) {
                    let files = edges.get_mut(&from).expect("a sibling").entry(target).or_default();
                    files.insert(inside.display().to_string());
                }
            }
        }
        for component in strongly_connected(&edges) {
            problems.push(format!("import cycle in src/{folder} among {}", component.join(", ")));
        }
    }
    assert!(problems.is_empty(), "{}", problems.join("\n"));
}

fn list(files: &BTreeSet<String>) -> String {
    files.iter().cloned().collect::<Vec<_>>().join(", ")
}

/// `from -> to -> files naming crate::to`, over all files under src/ except tests and `main.rs`.
fn crate_edges(layers: &BTreeMap<&str, u8>) -> Edges {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("src");
    let mut files = Vec::new();
    collect_rs(&src, &mut files);
    let test_files = test_only_files(&files);
    let mut edges: Edges = layers.keys().map(|m| (m.to_string(), BTreeMap::new())).collect();
    for file in files.iter().filter(|f| !test_files.contains(*f)) {
        let relative = file.strip_prefix(&src).expect("under src");
        let first = relative.components().next().expect("a path").as_os_str().to_string_lossy();
        let top = first.trim_end_matches(".rs");
        if top == "lib" || top == "main" {
            continue;
        }
        assert!(layers.contains_key(top), "top module {top} has no layer in LAYERS");
        let text = without_test_modules(&read(file));
        for target in crate_references(&text) {
            if target != top && layers.contains_key(target.as_str()) {
                edges.get_mut(top).expect("a layer").entry(target).or_default().insert(relative.display().to_string());
            }
        }
    }
    edges
}

fn read(path: &Path) -> String {
    fs::read_to_string(path).unwrap_or_else(|e| panic!("reading {}: {e}", path.display()))
}

fn collect_rs(dir: &Path, out: &mut Vec<PathBuf>) {
    let entries = fs::read_dir(dir).unwrap_or_else(|e| panic!("listing {}: {e}", dir.display()));
    for entry in entries {
        let path = entry.expect("a directory entry").path();
        if path.is_dir() {
            collect_rs(&path, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            out.push(path);
        }
    }
}

/// Files declared as `#[cfg(test)] mod name;`: `name.rs` or `name/mod.rs` beside their parent, and all below.
fn test_only_files(files: &[PathBuf]) -> BTreeSet<PathBuf> {
    let mut test_roots = Vec::new();
    for file in files {
        let text = read(file);
        let dir = match file.file_name().and_then(|n| n.to_str()) {
            Some("mod.rs" | "lib.rs" | "main.rs") => file.parent().expect("a parent").to_path_buf(),
            _ => file.with_extension(""),
        };
        let mut after_cfg_test = false;
        for line in text.lines().map(str::trim) {
            if line == "#[cfg(test)]" {
                after_cfg_test = true;
                continue;
            }
            if after_cfg_test && let Some(name) = line.strip_prefix("mod ").and_then(|rest| rest.strip_suffix(';')) {
                test_roots.push(dir.join(format!("{name}.rs")));
                test_roots.push(dir.join(name));
            }
            after_cfg_test = line.starts_with("#[");
        }
    }
    files.iter().filter(|f| test_roots.iter().any(|root| f.starts_with(root))).cloned().collect()
}

/// The text with `// comments` and inline `#[cfg(test)] mod name { … }` blocks removed.
fn without_test_modules(text: &str) -> String {
    let mut out = String::new();
    let mut skipping_depth: Option<i64> = None;
    let mut depth: i64 = 0;
    let mut after_cfg_test = false;
    for line in text.lines() {
        let code = line.split("//").next().unwrap_or_default();
        let trimmed = code.trim();
        let opens = code.matches('{').count() as i64;
        let closes = code.matches('}').count() as i64;
        if skipping_depth.is_none() && after_cfg_test && trimmed.starts_with("mod ") && trimmed.ends_with('{') {
            skipping_depth = Some(depth);
        }
        after_cfg_test = trimmed == "#[cfg(test)]" || (after_cfg_test && trimmed.starts_with("#["));
        depth += opens - closes;
        match skipping_depth {
            Some(start) => {
                if depth <= start {
                    skipping_depth = None;
                }
            }
            None => {
                out.push_str(code);
                out.push('\n');
            }
        }
    }
    out
}

/// Top-level names after each `crate::`, including each member of a `crate::{a, b::c}` group.
fn crate_references(text: &str) -> BTreeSet<String> {
    path_references(text, "crate::")
}

/// The names right after each `prefix` (which ends in `::`), including each member of a `prefix{a, b::c}` group.
fn path_references(text: &str, prefix: &str) -> BTreeSet<String> {
    let mut found = BTreeSet::new();
    for (at, _) in text.match_indices(prefix) {
        let before = text[..at].chars().next_back();
        if before.is_some_and(|c| c.is_alphanumeric() || c == '_') {
            continue; // e.g. `$crate::` or `other_crate::`
        }
        let rest = &text[at + prefix.len()..];
        if let Some(group) = rest.strip_prefix('{') {
            for member in split_group(group) {
                found.insert(member);
            }
        } else {
            found.insert(rest.chars().take_while(|c| c.is_alphanumeric() || *c == '_').collect());
        }
    }
    found
}

/// The leading names of a `{a, b::c, d::{e, f}}` group's members (the text starts after the `{`).
fn split_group(group: &str) -> Vec<String> {
    let mut members = Vec::new();
    let mut level = 0;
    let mut current = String::new();
    let mut at_member_start = true;
    for c in group.chars() {
        match c {
            '{' => level += 1,
            '}' if level == 0 => break,
            '}' => level -= 1,
            ',' if level == 0 => {
                members.push(std::mem::take(&mut current));
                at_member_start = true;
                continue;
            }
            _ => {}
        }
        if level == 0 && at_member_start {
            if c.is_alphanumeric() || c == '_' {
                current.push(c);
            } else if !current.is_empty() {
                at_member_start = false;
            }
        }
    }
    members.push(current);
    members.into_iter().filter(|m| !m.is_empty()).collect()
}

/// Components of more than one node (Tarjan's algorithm), each sorted by name. Every target must be a key.
fn strongly_connected(edges: &Edges) -> Vec<Vec<String>> {
    struct Walk<'a> {
        edges: &'a Edges,
        index: BTreeMap<String, usize>,
        low: BTreeMap<String, usize>,
        stack: Vec<String>,
        on_stack: BTreeSet<String>,
        components: Vec<Vec<String>>,
    }
    impl Walk<'_> {
        fn visit(&mut self, node: &str) {
            let n = self.index.len();
            self.index.insert(node.to_string(), n);
            self.low.insert(node.to_string(), n);
            self.stack.push(node.to_string());
            self.on_stack.insert(node.to_string());
            let targets: Vec<String> = self.edges[node].keys().cloned().collect();
            for to in targets {
                if !self.index.contains_key(&to) {
                    self.visit(&to);
                    let low = self.low[node].min(self.low[&to]);
                    self.low.insert(node.to_string(), low);
                } else if self.on_stack.contains(&to) {
                    let low = self.low[node].min(self.index[&to]);
                    self.low.insert(node.to_string(), low);
                }
            }
            if self.low[node] == self.index[node] {
                let mut component = Vec::new();
                while let Some(member) = self.stack.pop() {
                    self.on_stack.remove(&member);
                    let done = member == node;
                    component.push(member);
                    if done {
                        break;
                    }
                }
                if component.len() > 1 {
                    component.sort();
                    self.components.push(component);
                }
            }
        }
    }
    let mut walk = Walk {
        edges,
        index: BTreeMap::new(),
        low: BTreeMap::new(),
        stack: Vec::new(),
        on_stack: BTreeSet::new(),
        components: Vec::new(),
    };
    for node in edges.keys() {
        if !walk.index.contains_key(node) {
            walk.visit(node);
        }
    }
    walk.components
}
