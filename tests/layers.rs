//! The crate is layered one way (issue 11): no import circle between the files of `src/`, nor
//! between its top-level modules (a folder, or a file at the top such as `metric.rs`).
//!
//! The graph is read from the source text, with std alone:
//! - a module is a file: `a/b.rs` and `a/b/mod.rs` are `a::b`; `lib.rs` is the root, which
//!   only declares modules; `main.rs` is the binary, not part of the library's graph;
//! - an edge `A → B` is a path naming B from A's code: `crate::b::…` anywhere (in `use`, in
//!   expressions, in types, in serde's `with = "crate::…"` strings), `super::…` (resolved from
//!   A's place), each `use` tree expanded (`use crate::a::{b, c::d}` names `a::b` and `a::c::d`);
//!   a path names the deepest module file it reaches (`crate::report::model::Report` names
//!   `report::model`; `super::Item` names the parent module);
//! - a parent naming its own descendants is not an edge: a `mod.rs` declares its children,
//!   composes them and re-exports them (`pub use child::Item`) — that is what a parent is; a
//!   child naming its parent's items (`super::Item`) *is* an edge, so the parent's own items are
//!   the folder's shared vocabulary and must not be built from the children that use them;
//! - a re-export is an import like any other `use` of the module that writes it, and a path
//!   through it names the module it is written in (`crate::database::tls::Tls`, re-exported by
//!   `database`, names `database`, which imports `conninfo`);
//! - comments (doc links included) are not imports; test code is not part of the layering:
//!   items under `#[cfg(test)]` and the files they declare (`#[cfg(test)] mod tests;`) are left
//!   out.

use std::collections::{BTreeMap, BTreeSet};
use std::fs;
use std::path::Path;

/// Module path (`a::b`, `""` for the root) → source text.
type Sources = BTreeMap<String, String>;
/// Module → module → the line of the first path naming it.
type Graph = BTreeMap<String, BTreeMap<String, usize>>;

fn read_tree(dir: &Path, root: &Path, out: &mut Sources) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .collect();
    entries.sort();
    for path in entries {
        if path.is_dir() {
            read_tree(&path, root, out);
        } else if path.extension().is_some_and(|e| e == "rs") {
            let rel = path.strip_prefix(root).unwrap().with_extension("");
            let mut parts: Vec<String> = rel.iter().map(|p| p.to_string_lossy().into()).collect();
            if rel == Path::new("main") {
                continue;
            }
            if matches!(parts.last().map(String::as_str), Some("mod" | "lib")) {
                parts.pop();
            }
            out.insert(parts.join("::"), fs::read_to_string(&path).unwrap());
        }
    }
}

/// The source with comments blanked (newlines kept, so line numbers stay), strings kept.
fn strip_comments(src: &str) -> String {
    let b = src.as_bytes();
    let mut out = Vec::with_capacity(b.len());
    let mut i = 0;
    while i < b.len() {
        let end = match b[i] {
            b'/' if b.get(i + 1) == Some(&b'/') => {
                let end = find(b, i, b"\n").unwrap_or(b.len());
                blank(&mut out, &b[i..end]);
                end
            }
            b'/' if b.get(i + 1) == Some(&b'*') => {
                let end = block_comment_end(b, i);
                blank(&mut out, &b[i..end]);
                end
            }
            b'r' if raw_string_start(b, i).is_some() => {
                let hashes = raw_string_start(b, i).unwrap();
                let close: Vec<u8> = std::iter::once(b'"').chain(vec![b'#'; hashes]).collect();
                let end = find(b, i + 2 + hashes, &close).map_or(b.len(), |e| e + close.len());
                out.extend_from_slice(&b[i..end]);
                end
            }
            b'"' => {
                let mut end = i + 1;
                while end < b.len() && b[end] != b'"' {
                    end += if b[end] == b'\\' { 2 } else { 1 };
                }
                let end = (end + 1).min(b.len());
                out.extend_from_slice(&b[i..end]);
                end
            }
            // A char literal ('"', '\'', 'x'); otherwise a lifetime.
            b'\'' if b.get(i + 1) == Some(&b'\\') => {
                let end = (i + 2..b.len())
                    .find(|&j| b[j] == b'\'')
                    .map_or(b.len(), |j| j + 1);
                out.extend_from_slice(&b[i..end]);
                end
            }
            b'\'' if b.get(i + 2) == Some(&b'\'') => {
                out.extend_from_slice(&b[i..i + 3]);
                i + 3
            }
            c => {
                out.push(c);
                i + 1
            }
        };
        i = end;
    }
    String::from_utf8(out).unwrap()
}

/// Spaces for `text`, its newlines kept.
fn blank(out: &mut Vec<u8>, text: &[u8]) {
    out.extend(text.iter().map(|&c| if c == b'\n' { b'\n' } else { b' ' }));
}

/// The end of the (nested) block comment that starts at `i`.
fn block_comment_end(b: &[u8], mut i: usize) -> usize {
    let mut depth = 0;
    while i < b.len() {
        if b[i..].starts_with(b"/*") {
            depth += 1;
            i += 2;
        } else if b[i..].starts_with(b"*/") {
            depth -= 1;
            i += 2;
            if depth == 0 {
                return i;
            }
        } else {
            i += 1;
        }
    }
    b.len()
}

/// `r"` or `r#…"` at `i` (not inside an identifier): the number of `#`.
fn raw_string_start(b: &[u8], i: usize) -> Option<usize> {
    if i > 0 && (b[i - 1].is_ascii_alphanumeric() || b[i - 1] == b'_') {
        return None;
    }
    let hashes = b[i + 1..].iter().take_while(|&&c| c == b'#').count();
    (b.get(i + 1 + hashes) == Some(&b'"')).then_some(hashes)
}

fn find(b: &[u8], from: usize, needle: &[u8]) -> Option<usize> {
    (from..b.len()).find(|&j| b[j..].starts_with(needle))
}

/// Blanks every item under `#[cfg(test)]` and returns the names of the modules it declares
/// without a body (`#[cfg(test)] mod tests;`).
fn strip_test_code(src: &mut String) -> Vec<String> {
    let mut test_mods = Vec::new();
    while let Some(at) = src.find("#[cfg(test)]") {
        let b = src.as_bytes();
        let mut end = at;
        let mut depth = 0usize;
        while end < b.len() {
            match b[end] {
                b'{' => depth += 1,
                b'}' => {
                    depth -= 1;
                    if depth == 0 {
                        end += 1;
                        break;
                    }
                }
                b';' if depth == 0 => {
                    let item = &src[at + "#[cfg(test)]".len()..end];
                    let words: Vec<&str> = item.split_whitespace().collect();
                    if let Some(i) = words.iter().position(|w| *w == "mod") {
                        test_mods.extend(words.get(i + 1).map(|n| n.to_string()));
                    }
                    end += 1;
                    break;
                }
                _ => {}
            }
            end += 1;
        }
        let blanked: String = src[at..end.min(src.len())]
            .chars()
            .map(|c| if c == '\n' { '\n' } else { ' ' })
            .collect();
        src.replace_range(at..end.min(src.len()), &blanked);
    }
    test_mods
}

/// `a::{b, c::{d}, e as f}` → `a::b`, `a::c::d`, `a::e`.
fn expand_use(tree: &str) -> Vec<String> {
    // `x as y` → `x`, keeping what follows the alias (`,` or `}`).
    let mut tokens = tree.split_whitespace();
    let mut flat = String::new();
    while let Some(t) = tokens.next() {
        match t {
            "as" => flat.extend(
                tokens
                    .next()
                    .unwrap_or("")
                    .chars()
                    .filter(|&c| !is_ident(c)),
            ),
            t => flat.push_str(t),
        }
    }
    expand_flat(&flat)
}

fn expand_flat(tree: &str) -> Vec<String> {
    let Some(open) = tree.find('{') else {
        return vec![tree.trim_end_matches("::self").to_string()];
    };
    let prefix = &tree[..open];
    let body = &tree[open + 1..tree.len() - 1];
    let (mut items, mut depth, mut current) = (Vec::new(), 0, String::new());
    for c in body.chars() {
        match c {
            '{' => depth += 1,
            '}' => depth -= 1,
            ',' if depth == 0 => {
                items.push(std::mem::take(&mut current));
                continue;
            }
            _ => {}
        }
        current.push(c);
    }
    items.push(current);
    items
        .iter()
        .filter(|i| !i.is_empty())
        .flat_map(|i| expand_flat(&format!("{prefix}{i}")))
        .collect()
}

/// The deepest module that `segments` (absolute) reaches.
fn resolve(modules: &BTreeSet<String>, segments: &[&str]) -> Option<String> {
    (1..=segments.len())
        .rev()
        .map(|n| segments[..n].join("::"))
        .find(|m| modules.contains(m))
}

/// `crate::…` or `super::…` (from module `from`) as an absolute path.
fn absolute<'a>(from: &'a str, path: &'a str) -> Option<Vec<&'a str>> {
    let mut segs: Vec<&str> = path.split("::").filter(|s| !s.is_empty()).collect();
    match segs.first() {
        Some(&"crate") => Some(segs.split_off(1)),
        Some(&"super") => {
            let mut base: Vec<&str> = from.split("::").filter(|s| !s.is_empty()).collect();
            while segs.first() == Some(&"super") {
                base.pop()?;
                segs.remove(0);
            }
            base.extend(segs);
            Some(base)
        }
        _ => None,
    }
}

fn is_ident(c: char) -> bool {
    c.is_alphanumeric() || c == '_'
}

/// Every `crate::…` / `super::…` path of `code` (use trees expanded), with its byte offset.
fn paths(code: &str) -> Vec<(usize, String)> {
    let mut found = Vec::new();
    let mut rest = 0;
    while let Some(pos) = code[rest..].find("use ") {
        let at = rest + pos;
        rest = at + 4;
        if at > 0 && code[..at].ends_with(is_ident) {
            continue;
        }
        let Some(end) = code[at..].find(';') else {
            break;
        };
        let tree = code[at + 4..at + end].trim();
        if tree.starts_with("crate::") || tree.starts_with("super::") {
            found.extend(expand_use(tree).into_iter().map(|p| (at, p)));
        }
    }
    for head in ["crate::", "super::"] {
        for (at, _) in code.match_indices(head) {
            if at > 0 && code[..at].ends_with(|c: char| is_ident(c) || c == ':') {
                continue;
            }
            let len = code[at..]
                .find(|c: char| !(is_ident(c) || c == ':'))
                .unwrap_or(code.len() - at);
            if code[at + len..].starts_with('{') {
                continue; // a use tree, expanded above
            }
            found.push((at, code[at..at + len].trim_end_matches(':').to_string()));
        }
    }
    found
}

/// The file-level import graph of `sources`.
fn graph(sources: &Sources) -> Graph {
    let mut code: BTreeMap<String, String> = BTreeMap::new();
    let mut test_only = BTreeSet::new();
    for (module, src) in sources {
        let mut text = strip_comments(src);
        for child in strip_test_code(&mut text) {
            let prefix = if module.is_empty() {
                String::new()
            } else {
                format!("{module}::")
            };
            test_only.insert(format!("{prefix}{child}"));
        }
        code.insert(module.clone(), text);
    }
    let under_test = |m: &str| {
        test_only
            .iter()
            .any(|t| m == t || m.starts_with(&format!("{t}::")))
    };
    let modules: BTreeSet<String> = code.keys().filter(|m| !under_test(m)).cloned().collect();
    let mut g = Graph::new();
    for module in &modules {
        let text = &code[module];
        let edges = g.entry(module.clone()).or_default();
        for (at, path) in paths(text) {
            let Some(segs) = absolute(module, &path) else {
                continue;
            };
            let Some(to) = resolve(&modules, &segs) else {
                continue;
            };
            let descendant = module.is_empty() || to.starts_with(&format!("{module}::"));
            if to != *module && !to.is_empty() && !descendant {
                let line = text[..at].matches('\n').count() + 1;
                edges.entry(to).or_insert(line);
            }
        }
    }
    g
}

/// The top-level module of `m`: its folder, or itself for a file at the top.
fn top(m: &str) -> &str {
    m.split("::").next().unwrap_or(m)
}

fn folder_graph(g: &Graph) -> Graph {
    let mut f = Graph::new();
    for (from, edges) in g {
        for (to, line) in edges {
            if top(from) != top(to) {
                f.entry(top(from).to_string()).or_default();
                f.get_mut(top(from))
                    .unwrap()
                    .entry(top(to).to_string())
                    .or_insert(*line);
            }
        }
    }
    f
}

/// One cycle of `g`, shortest first from each node: `[a, b, a]`.
fn cycles(g: &Graph) -> Vec<Vec<String>> {
    let mut seen_sets = BTreeSet::new();
    let mut out = Vec::new();
    for start in g.keys() {
        // Breadth-first from `start` back to `start`: the shortest cycle through it.
        let mut prev: BTreeMap<&str, &str> = BTreeMap::new();
        let mut queue = std::collections::VecDeque::from([start.as_str()]);
        let mut closed = None;
        while let Some(n) = queue.pop_front() {
            for next in g.get(n).into_iter().flat_map(|e| e.keys()) {
                if next == start {
                    closed = Some(n);
                    break;
                }
                if !prev.contains_key(next.as_str()) {
                    prev.insert(next, n);
                    queue.push_back(next);
                }
            }
            if closed.is_some() {
                break;
            }
        }
        let Some(mut n) = closed else { continue };
        let mut cycle = Vec::new();
        while n != start {
            cycle.push(n.to_string());
            n = prev[n];
        }
        cycle.push(start.clone());
        cycle.reverse();
        cycle.push(start.clone());
        let set: BTreeSet<String> = cycle.iter().cloned().collect();
        if seen_sets.insert(set) {
            out.push(cycle);
        }
    }
    out
}

fn describe(g: &Graph, cycle: &[String], file_of: impl Fn(&str) -> String) -> String {
    let steps: Vec<String> = cycle
        .windows(2)
        .map(|w| {
            format!(
                "{} → {} ({}:{})",
                w[0],
                w[1],
                file_of(&w[0]),
                g[&w[0]][&w[1]]
            )
        })
        .collect();
    format!("  {}\n    {}", cycle.join(" → "), steps.join("\n    "))
}

fn file_of(sources: &Sources) -> impl Fn(&str) -> String + '_ {
    move |m: &str| {
        let stem = m.replace("::", "/");
        if Path::new("src").join(format!("{stem}.rs")).exists() || !sources.contains_key(m) {
            format!("src/{stem}.rs")
        } else {
            format!("src/{stem}/mod.rs")
        }
    }
}

#[test]
fn no_import_circle_between_files_or_folders() {
    let mut sources = Sources::new();
    read_tree(Path::new("src"), Path::new("src"), &mut sources);
    let g = graph(&sources);
    assert!(
        g.len() > 100,
        "the graph reads the crate: {} modules",
        g.len()
    );
    assert!(
        g["run::variant"].contains_key("scenario"),
        "{:?}",
        g["run::variant"]
    );
    let folders = folder_graph(&g);
    let file_cycles: Vec<String> = cycles(&g)
        .iter()
        .map(|c| describe(&g, c, file_of(&sources)))
        .collect();
    let folder_cycles: Vec<String> = cycles(&folders)
        .iter()
        .map(|c| describe(&folders, c, |m| format!("first in a file of `{m}`, line")))
        .collect();
    assert!(
        file_cycles.is_empty() && folder_cycles.is_empty(),
        "import circles (the layering is vocabulary → scenario → database / access → run → \
         record → report → export → commands ← cli):\nfiles:\n{}\nfolders:\n{}",
        file_cycles.join("\n"),
        folder_cycles.join("\n")
    );
}

fn fake(files: &[(&str, &str)]) -> Sources {
    files
        .iter()
        .map(|(m, s)| (m.to_string(), s.to_string()))
        .collect()
}

#[test]
fn the_checker_sees_a_circle_and_what_is_not_one() {
    let sources = fake(&[
        ("", "pub mod a; pub mod b; pub mod c;"),
        (
            "a",
            "mod x; mod y;\npub use x::Item;\nuse crate::b::{self, f as g};",
        ),
        ("a::x", "use super::y::Thing; pub struct Item;"),
        (
            "a::y",
            "// use crate::c;\n/// [`crate::c`]\npub fn f() { let _ = \"crate::c\"; }",
        ),
        (
            "b",
            "pub fn f() { crate::c::h() }\n#[cfg(test)]\nmod tests { use crate::a; }",
        ),
        (
            "c",
            "#[cfg(test)]\nmod t;\npub fn h() { super::a::x::Item; }",
        ),
        ("c::t", "use crate::b;"),
    ]);
    let g = graph(&sources);
    let edges = |m: &str| g[m].keys().cloned().collect::<Vec<_>>();
    assert_eq!(edges("a"), ["b"], "a parent naming its children is no edge");
    assert_eq!(edges("a::x"), ["a::y"]);
    // The string "crate::c" is a path too (serde's `with = "crate::…"` is one).
    assert_eq!(edges("a::y"), ["c"], "comments are not imports");
    assert_eq!(edges("b"), ["c"], "test code is not part of the layering");
    assert_eq!(edges("c"), ["a::x"]);
    assert!(!g.contains_key("c::t"), "a test-only file is left out");
    let file_cycles = cycles(&g);
    assert_eq!(file_cycles.len(), 1, "{file_cycles:?}");
    assert_eq!(file_cycles[0].first(), file_cycles[0].last());
    let folders = folder_graph(&g);
    let folder_cycles = cycles(&folders);
    assert_eq!(
        folder_cycles,
        [vec!["a", "c", "a"], vec!["b", "c", "a", "b"]]
    );
}
