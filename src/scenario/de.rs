//! A serde `Deserializer` over [`Node`] that attaches the origin and the dotted path of the
//! innermost value to every error, including serde's own (`unknown field`, `invalid type`,
//! `missing field`, and errors of `humantime-serde` for a bad duration).
//!
//! `#[serde(flatten)]` is avoided in the model: it disables `deny_unknown_fields`.

use std::fmt;

use serde::de::{self, DeserializeSeed, IntoDeserializer, Visitor};

use super::node::{Entry, Kind, Node, Path, Seg};
use super::source::Origin;

/// A deserialization error with the origin and path of the value that caused it.
#[derive(Debug)]
pub(crate) struct DeError {
    pub(crate) message: String,
    pub(crate) origin: Option<Origin>,
    pub(crate) path: Path,
}

impl DeError {
    fn at(mut self, origin: &Origin) -> Self {
        if self.origin.is_none() {
            self.origin = Some(origin.clone());
        }
        self
    }

    fn under(mut self, seg: Seg) -> Self {
        self.path.0.insert(0, seg);
        self
    }
}

impl fmt::Display for DeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.message)
    }
}

impl std::error::Error for DeError {}

impl de::Error for DeError {
    fn custom<T: fmt::Display>(msg: T) -> Self {
        DeError {
            message: msg.to_string(),
            origin: None,
            path: Path::default(),
        }
    }
}

/// Deserializes `T` from a node tree.
pub(crate) fn from_node<'de, T: serde::Deserialize<'de>>(node: &Node) -> Result<T, DeError> {
    T::deserialize(NodeDe { node })
}

struct NodeDe<'a> {
    node: &'a Node,
}

impl<'de> de::Deserializer<'de> for NodeDe<'_> {
    type Error = DeError;

    fn deserialize_any<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let result = match &self.node.kind {
            Kind::Str(s) | Kind::Datetime(s) => visitor.visit_str(s),
            Kind::Int(i) => visitor.visit_i64(*i),
            Kind::BigInt(s) => Err(de::Error::custom(format!(
                "{s} is beyond TOML's integers (at most {})",
                i64::MAX
            ))),
            Kind::Float(f) => visitor.visit_f64(*f),
            Kind::Bool(b) => visitor.visit_bool(*b),
            Kind::Array(items) => visitor.visit_seq(SeqDe {
                items: items.iter(),
                index: 0,
            }),
            Kind::Table(entries) => visitor.visit_map(MapDe {
                entries: entries.iter(),
                value: None,
            }),
        };
        result.map_err(|e| e.at(&self.node.origin))
    }

    fn deserialize_option<V: Visitor<'de>>(self, visitor: V) -> Result<V::Value, DeError> {
        let origin = self.node.origin.clone();
        visitor.visit_some(self).map_err(|e| e.at(&origin))
    }

    fn deserialize_newtype_struct<V: Visitor<'de>>(
        self,
        _name: &'static str,
        visitor: V,
    ) -> Result<V::Value, DeError> {
        let origin = self.node.origin.clone();
        visitor
            .visit_newtype_struct(self)
            .map_err(|e| e.at(&origin))
    }

    fn deserialize_enum<V: Visitor<'de>>(
        self,
        _name: &'static str,
        _variants: &'static [&'static str],
        visitor: V,
    ) -> Result<V::Value, DeError> {
        match &self.node.kind {
            Kind::Str(s) => {
                let de: de::value::StrDeserializer<'_, DeError> = s.as_str().into_deserializer();
                visitor.visit_enum(de)
            }
            _ => Err(de::Error::invalid_type(unexpected(self.node), &visitor)),
        }
        .map_err(|e| e.at(&self.node.origin))
    }

    serde::forward_to_deserialize_any! {
        bool i8 i16 i32 i64 i128 u8 u16 u32 u64 u128 f32 f64 char str string
        bytes byte_buf unit unit_struct seq tuple tuple_struct map struct identifier ignored_any
    }
}

fn unexpected(node: &Node) -> de::Unexpected<'_> {
    match &node.kind {
        Kind::Str(s) | Kind::Datetime(s) => de::Unexpected::Str(s),
        Kind::Int(i) => de::Unexpected::Signed(*i),
        Kind::BigInt(_) => de::Unexpected::Other("an integer beyond TOML's"),
        Kind::Float(f) => de::Unexpected::Float(*f),
        Kind::Bool(b) => de::Unexpected::Bool(*b),
        Kind::Array(_) => de::Unexpected::Seq,
        Kind::Table(_) => de::Unexpected::Map,
    }
}

struct SeqDe<'a> {
    items: std::slice::Iter<'a, Node>,
    index: usize,
}

impl<'de> de::SeqAccess<'de> for SeqDe<'_> {
    type Error = DeError;

    fn next_element_seed<T: DeserializeSeed<'de>>(
        &mut self,
        seed: T,
    ) -> Result<Option<T::Value>, DeError> {
        let Some(node) = self.items.next() else {
            return Ok(None);
        };
        let index = self.index;
        self.index += 1;
        // `at`: an error raised after the value was read (a duration over the bound, say)
        // carries no origin yet; it is this value's.
        seed.deserialize(NodeDe { node })
            .map(Some)
            .map_err(|e| e.at(&node.origin).under(Seg::Index(index)))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.items.len())
    }
}

struct MapDe<'a> {
    entries: std::slice::Iter<'a, Entry>,
    value: Option<&'a Entry>,
}

impl<'de> de::MapAccess<'de> for MapDe<'_> {
    type Error = DeError;

    fn next_key_seed<K: DeserializeSeed<'de>>(
        &mut self,
        seed: K,
    ) -> Result<Option<K::Value>, DeError> {
        let Some(entry) = self.entries.next() else {
            return Ok(None);
        };
        self.value = Some(entry);
        let key: de::value::StrDeserializer<'_, DeError> = entry.key.as_str().into_deserializer();
        seed.deserialize(key)
            .map(Some)
            .map_err(|e| e.at(&entry.key_origin).under(Seg::Key(entry.key.clone())))
    }

    fn next_value_seed<V: DeserializeSeed<'de>>(&mut self, seed: V) -> Result<V::Value, DeError> {
        let entry = self
            .value
            .take()
            .expect("next_value_seed after next_key_seed");
        seed.deserialize(NodeDe { node: &entry.value })
            .map_err(|e| e.at(&entry.value.origin).under(Seg::Key(entry.key.clone())))
    }

    fn size_hint(&self) -> Option<usize> {
        Some(self.entries.len())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use serde::Deserialize;

    use super::*;
    use crate::scenario::source::{SourceKind, SourceMap};

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Outer {
        inner: Inner,
        #[serde(default)]
        list: Vec<Inner>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(deny_unknown_fields)]
    #[allow(dead_code)]
    struct Inner {
        #[serde(default)]
        n: u32,
        #[serde(default, with = "humantime_serde")]
        d: Option<Duration>,
        #[serde(default)]
        mode: Option<Mode>,
    }

    #[derive(Debug, Deserialize)]
    #[serde(rename_all = "snake_case")]
    enum Mode {
        Shared,
        Pool,
    }

    fn error_of(text: &str) -> (String, String, String) {
        let mut sources = SourceMap::default();
        let id = sources.add(SourceKind::File("t.toml".into()), text);
        let node = Node::parse_document(&sources, id).unwrap();
        let e = from_node::<Outer>(&node).unwrap_err();
        let location = sources.location(e.origin.as_ref().unwrap());
        (location, e.path.to_string(), e.message)
    }

    #[test]
    fn unknown_key_points_at_the_key() {
        let (at, path, msg) = error_of("[inner]\nn = 1\nbogus = 2\n");
        assert_eq!(at, "t.toml:3:1");
        assert_eq!(path, "inner.bogus");
        assert!(msg.contains("unknown field `bogus`"), "{msg}");
    }

    #[test]
    fn wrong_type_points_at_the_value() {
        let (at, path, msg) = error_of("[inner]\nn = \"five\"\n");
        assert_eq!(at, "t.toml:2:5");
        assert_eq!(path, "inner.n");
        assert!(msg.contains("invalid type"), "{msg}");
    }

    #[test]
    fn bad_duration_and_enum_point_at_the_value() {
        let (at, path, _) = error_of("[inner]\nd = \"10 parsecs\"\n");
        assert_eq!((at.as_str(), path.as_str()), ("t.toml:2:5", "inner.d"));
        let (at, path, msg) = error_of("[inner]\nmode = \"sharde\"\n");
        assert_eq!((at.as_str(), path.as_str()), ("t.toml:2:8", "inner.mode"));
        assert!(msg.contains("unknown variant `sharde`"), "{msg}");
    }

    #[derive(Debug, Deserialize)]
    #[allow(dead_code)]
    struct Bounded {
        #[serde(with = "crate::scenario::duration")]
        d: Duration,
    }

    #[test]
    fn a_duration_over_the_bound_points_at_its_value() {
        let mut sources = SourceMap::default();
        let id = sources.add(SourceKind::File("t.toml".into()), "\nd = \"11y\"\n");
        let node = Node::parse_document(&sources, id).unwrap();
        let e = from_node::<Bounded>(&node).unwrap_err();
        assert_eq!(sources.location(e.origin.as_ref().unwrap()), "t.toml:2:5");
        assert!(e.message.contains("10 years"), "{}", e.message);
    }

    /// Regression (review of 2026-12-03): `"10y"` was refused as "longer than the longest
    /// duration a scenario may give (10 years)": the bound counted 365-day years, humantime's
    /// `y` is 365.25 days.
    #[test]
    fn ten_years_is_not_longer_than_ten_years() {
        let mut sources = SourceMap::default();
        for (text, ok) in [("10y", true), ("3650d", true), ("10y 1s", false)] {
            let id = sources.add(
                SourceKind::File("t.toml".into()),
                format!("d = \"{text}\"\n").as_str(),
            );
            let node = Node::parse_document(&sources, id).unwrap();
            assert_eq!(from_node::<Bounded>(&node).is_ok(), ok, "{text}");
        }
    }

    #[test]
    fn errors_in_arrays_of_tables_carry_the_index() {
        let (at, path, _) = error_of("[inner]\n[[list]]\nn = 1\n[[list]]\nn = -3\n");
        assert_eq!((at.as_str(), path.as_str()), ("t.toml:5:5", "list[1].n"));
    }

    #[test]
    fn missing_field_points_at_the_table() {
        let (_, path, msg) = error_of("list = []\n");
        assert_eq!(path, "");
        assert!(msg.contains("missing field `inner`"), "{msg}");
    }
}
