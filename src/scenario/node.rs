//! A TOML document as a tree whose every value and key keeps its [`Origin`].
//!
//! `toml::Value` drops spans, and `Spanned<T>` only keeps them where a type asks for them, so
//! scenarios are read into this tree first. Variants are deep-merged and `--set` values written
//! into it with their own origins; only then is the tree deserialized (see `de.rs`) and validated,
//! and every error can still name the line a value came from.

use std::fmt;

use toml::de::{DeTable, DeValue};

use super::source::{Origin, ScenarioError, SourceId, SourceMap};

/// A value with the place it came from.
#[derive(Clone, Debug)]
pub(crate) struct Node {
    pub(crate) kind: Kind,
    pub(crate) origin: Origin,
}

/// The TOML value kinds.
#[derive(Clone, Debug)]
pub(crate) enum Kind {
    Str(String),
    Int(i64),
    /// An integer beyond TOML's (`i64`): its text, refused where it is read.
    BigInt(String),
    Float(f64),
    Bool(bool),
    Datetime(String),
    Array(Vec<Node>),
    Table(Vec<Entry>),
}

/// A key of a table with its value, both with origins.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) key: String,
    pub(crate) key_origin: Origin,
    pub(crate) value: Node,
}

/// One step of a path into the tree.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Seg {
    Key(String),
    Index(usize),
}

/// A problem with the value at `path`.
#[derive(Debug, Clone, PartialEq)]
pub(crate) struct Problem {
    pub(crate) path: Path,
    pub(crate) message: String,
    pub(crate) help: Option<String>,
}

/// A path into the tree, shown as a dotted key (`workload[0].step[1].sql`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Path(pub Vec<Seg>);

impl Path {
    pub(crate) fn key(mut self, key: &str) -> Path {
        self.0.push(Seg::Key(key.to_string()));
        self
    }

    pub(crate) fn index(mut self, index: usize) -> Path {
        self.0.push(Seg::Index(index));
        self
    }
}

impl fmt::Display for Path {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut first = true;
        for seg in &self.0 {
            match seg {
                Seg::Key(k) => {
                    if !first {
                        f.write_str(".")?;
                    }
                    if k.is_empty() || k.contains(['.', ' ', '"']) {
                        write!(f, "{k:?}")?;
                    } else {
                        f.write_str(k)?;
                    }
                }
                Seg::Index(i) => write!(f, "[{i}]")?,
            }
            first = false;
        }
        Ok(())
    }
}

impl Node {
    /// Parses a whole TOML document of `source`.
    pub(crate) fn parse_document(
        sources: &SourceMap,
        source: SourceId,
    ) -> Result<Node, Box<ScenarioError>> {
        let text = sources.get(source).text.clone();
        let table = DeTable::parse(&text).map_err(|e| syntax_error(sources, source, &e))?;
        Ok(from_de_table(table.get_ref(), source, table.span()))
    }

    /// Parses a single TOML value (as written after `=`), for `--set`.
    pub(crate) fn parse_value(text: &str, source: SourceId, offset: usize) -> Option<Node> {
        let value = DeValue::parse(text).ok()?;
        let mut node = from_de(value.get_ref(), source, value.span());
        node.shift(offset);
        Some(node)
    }

    fn shift(&mut self, offset: usize) {
        self.origin.span = self.origin.span.start + offset..self.origin.span.end + offset;
        match &mut self.kind {
            Kind::Array(items) => items.iter_mut().for_each(|n| n.shift(offset)),
            Kind::Table(entries) => {
                for e in entries {
                    e.key_origin.span =
                        e.key_origin.span.start + offset..e.key_origin.span.end + offset;
                    e.value.shift(offset);
                }
            }
            _ => {}
        }
    }

    pub(crate) fn type_name(&self) -> &'static str {
        match self.kind {
            Kind::Str(_) => "string",
            Kind::Int(_) | Kind::BigInt(_) => "integer",
            Kind::Float(_) => "float",
            Kind::Bool(_) => "boolean",
            Kind::Datetime(_) => "datetime",
            Kind::Array(_) => "array",
            Kind::Table(_) => "table",
        }
    }

    pub(crate) fn as_str(&self) -> Option<&str> {
        match &self.kind {
            Kind::Str(s) => Some(s),
            _ => None,
        }
    }

    pub(crate) fn entries(&self) -> Option<&[Entry]> {
        match &self.kind {
            Kind::Table(entries) => Some(entries),
            _ => None,
        }
    }

    /// The entry of a table, if this is a table that has `key`.
    pub(crate) fn entry(&self, key: &str) -> Option<&Entry> {
        self.entries()?.iter().find(|e| e.key == key)
    }

    pub(crate) fn get(&self, key: &str) -> Option<&Node> {
        self.entry(key).map(|e| &e.value)
    }

    /// Removes and returns the entry `key` of a table.
    pub(crate) fn remove(&mut self, key: &str) -> Option<Entry> {
        match &mut self.kind {
            Kind::Table(entries) => {
                let at = entries.iter().position(|e| e.key == key)?;
                Some(entries.remove(at))
            }
            _ => None,
        }
    }

    /// The node at `path`, and the origin that best names it: the value's own origin, or the
    /// deepest ancestor that exists when the value was not written (a default).
    pub(crate) fn origin_of(&self, path: &Path) -> Origin {
        let mut node = self;
        for seg in &path.0 {
            let next = match (seg, &node.kind) {
                (Seg::Key(k), Kind::Table(_)) => node.get(k),
                (Seg::Index(i), Kind::Array(items)) => items.get(*i),
                _ => None,
            };
            match next {
                Some(n) => node = n,
                None => break,
            }
        }
        node.origin.clone()
    }

    /// Deep-merges `over` into `self`: tables merge key by key, anything else is replaced.
    pub(crate) fn merge(&mut self, over: Node) {
        match (&mut self.kind, over.kind) {
            (Kind::Table(base), Kind::Table(over_entries)) => {
                for entry in over_entries {
                    match base.iter_mut().find(|e| e.key == entry.key) {
                        Some(existing) => existing.value.merge(entry.value),
                        None => base.push(entry),
                    }
                }
            }
            (_, kind) => {
                self.kind = kind;
                self.origin = over.origin;
            }
        }
    }

    /// Writes `value` at the dotted `keys`, creating tables on the way; `key_origin` is where the
    /// keys were written. Fails when a key on the way holds something other than a table.
    pub(crate) fn set(&mut self, keys: &[(String, Origin)], value: Node) -> Result<(), String> {
        let Some(((key, key_origin), rest)) = keys.split_first() else {
            self.merge(value);
            return Ok(());
        };
        let Kind::Table(entries) = &mut self.kind else {
            return Err(format!("is a {}, not a table", self.type_name()));
        };
        if let Some(entry) = entries.iter_mut().find(|e| &e.key == key) {
            if rest.is_empty() {
                entry.value = value;
                return Ok(());
            }
            return entry
                .value
                .set(rest, value)
                .map_err(|e| format!("`{key}` {e}"));
        }
        let child = if rest.is_empty() {
            value
        } else {
            let mut table = Node {
                kind: Kind::Table(Vec::new()),
                origin: key_origin.clone(),
            };
            table.set(rest, value)?;
            table
        };
        entries.push(Entry {
            key: key.clone(),
            key_origin: key_origin.clone(),
            value: child,
        });
        Ok(())
    }
}

fn syntax_error(sources: &SourceMap, source: SourceId, e: &toml::de::Error) -> Box<ScenarioError> {
    let span = e.span().unwrap_or(0..0);
    Box::new(sources.error(
        &Origin { source, span },
        "",
        format!("invalid TOML: {}", e.message().trim()),
    ))
}

fn from_de_table(table: &DeTable<'_>, source: SourceId, span: std::ops::Range<usize>) -> Node {
    let entries = table
        .iter()
        .map(|(k, v)| Entry {
            key: k.get_ref().to_string(),
            key_origin: Origin {
                source,
                span: k.span(),
            },
            value: from_de(v.get_ref(), source, v.span()),
        })
        .collect();
    Node {
        kind: Kind::Table(entries),
        origin: Origin { source, span },
    }
}

fn from_de(value: &DeValue<'_>, source: SourceId, span: std::ops::Range<usize>) -> Node {
    let kind = match value {
        DeValue::String(s) => Kind::Str(s.to_string()),
        DeValue::Integer(i) => match i64::from_str_radix(i.as_str(), i.radix()) {
            Ok(v) => Kind::Int(v),
            // Out of i64 range: keep the text so the type check reports it with its origin.
            Err(_) => Kind::BigInt(i.as_str().to_string()),
        },
        DeValue::Float(f) => Kind::Float(parse_float(f.as_str())),
        DeValue::Boolean(b) => Kind::Bool(*b),
        DeValue::Datetime(d) => Kind::Datetime(d.to_string()),
        DeValue::Array(items) => Kind::Array(
            items
                .iter()
                .map(|item| from_de(item.get_ref(), source, item.span()))
                .collect(),
        ),
        DeValue::Table(table) => return from_de_table(table, source, span),
    };
    Node {
        kind,
        origin: Origin { source, span },
    }
}

fn parse_float(text: &str) -> f64 {
    let cleaned: String = text.chars().filter(|c| *c != '_').collect();
    match cleaned.trim_start_matches(['+', '-']) {
        "inf" if cleaned.starts_with('-') => f64::NEG_INFINITY,
        "inf" => f64::INFINITY,
        "nan" => f64::NAN,
        _ => cleaned.parse().unwrap_or(f64::NAN),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::scenario::source::SourceKind;

    fn parse(text: &str) -> (SourceMap, Node) {
        let mut sources = SourceMap::default();
        let id = sources.add(SourceKind::File("t.toml".into()), text);
        let node = Node::parse_document(&sources, id).unwrap();
        (sources, node)
    }

    #[test]
    fn merge_keeps_the_origin_of_each_value() {
        let (sources, mut base) =
            parse("[pool]\nmax_size = 1\nmin_idle = 1\n[x]\nover = { pool = { max_size = 9 } }\n");
        let over = base.get("x").unwrap().get("over").unwrap().clone();
        base.merge(over);
        let path = Path::default().key("pool").key("max_size");
        assert_eq!(sources.location(&base.origin_of(&path)), "t.toml:5:30");
        let path = Path::default().key("pool").key("min_idle");
        assert_eq!(sources.location(&base.origin_of(&path)), "t.toml:3:12");
    }

    #[test]
    fn origin_of_a_missing_value_is_its_deepest_ancestor() {
        let (sources, base) = parse("name = \"a\"\n[pool]\nmax_size = 1\n");
        let path = Path::default().key("pool").key("min_idle");
        assert_eq!(sources.location(&base.origin_of(&path)), "t.toml:2:1");
    }

    #[test]
    fn path_display_quotes_keys_with_dots() {
        let p = Path::default()
            .key("database")
            .key("a.b")
            .key("workload")
            .index(2);
        assert_eq!(p.to_string(), "database.\"a.b\".workload[2]");
    }
}
