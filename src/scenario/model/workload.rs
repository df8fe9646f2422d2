//! `[[workload]]` and its steps and parameters.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

/// `[[workload]]`: one named entry of the weighted mix.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSettings {
    pub(crate) name: String,
    #[serde(default = "default_weight")]
    pub(crate) weight: u32,
    #[serde(default)]
    pub(crate) transaction: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) isolation: Option<Isolation>,
    /// Values drawn once per operation, usable as `@name` in the steps.
    #[serde(default, rename = "let", skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) lets: BTreeMap<String, Param>,
    /// `"acknowledged_writes"`: each operation also writes a unique id into the harness's
    /// ledger table, inside its transaction; after the load the ledger is read back to find
    /// acknowledged writes that are missing (lost) and failed ones that are there (phantom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) verify: Option<Verify>,
    /// `"ledger"`: a ready-made verified write (a transaction whose only write is the ledger's);
    /// steps may be added, a sleep say, to widen the race.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) builtin: Option<Builtin>,
    #[serde(default)]
    pub(crate) step: Vec<StepSettings>,
}

fn default_weight() -> u32 {
    1
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Verify {
    AcknowledgedWrites,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Builtin {
    Ledger,
    /// Each operation reads the session mark it finds and leaves its own with `SET`.
    SessionState,
    /// `pg_advisory_lock` on one checkout, `pg_advisory_unlock` on the next (the wrong way).
    AdvisoryLock,
    /// `pg_advisory_xact_lock` inside the operation's transaction (the right way).
    AdvisoryXactLock,
}

#[derive(Clone, Copy, Debug, Deserialize, Serialize, PartialEq, Eq)]
pub enum Isolation {
    #[serde(rename = "read uncommitted")]
    ReadUncommitted,
    #[serde(rename = "read committed")]
    ReadCommitted,
    #[serde(rename = "repeatable read")]
    RepeatableRead,
    #[serde(rename = "serializable")]
    Serializable,
}

impl Isolation {
    pub(crate) fn sql(self) -> &'static str {
        match self {
            Isolation::ReadUncommitted => "READ UNCOMMITTED",
            Isolation::ReadCommitted => "READ COMMITTED",
            Isolation::RepeatableRead => "REPEATABLE READ",
            Isolation::Serializable => "SERIALIZABLE",
        }
    }
}

/// `[[workload.step]]`: a statement, or a sleep that holds the connection.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct StepSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sql: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) params: Vec<Param>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) capture: Vec<String>,
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) sleep: Option<Duration>,
}

/// A statement parameter or `let` value as written: an expression string (generator or
/// `@name`), a literal number or boolean, or `{ value = "..." }` for a literal string.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum Param {
    Expr(String),
    Int(i64),
    Float(f64),
    Bool(bool),
    Literal(String),
}

impl Serialize for Param {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        use serde::ser::SerializeMap;
        match self {
            Param::Expr(e) => s.serialize_str(e),
            Param::Int(i) => s.serialize_i64(*i),
            Param::Float(f) => s.serialize_f64(*f),
            Param::Bool(b) => s.serialize_bool(*b),
            Param::Literal(v) => {
                let mut m = s.serialize_map(Some(1))?;
                m.serialize_entry("value", v)?;
                m.end()
            }
        }
    }
}

impl<'de> Deserialize<'de> for Param {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl<'de> Visitor<'de> for V {
            type Value = Param;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a generator such as \"random_int(1, 10)\", \"@name\", a number, a boolean, or { value = \"literal\" }")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Param, E> {
                Ok(Param::Expr(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<Param, E> {
                Ok(Param::Int(v))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<Param, E> {
                Ok(Param::Float(v))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<Param, E> {
                Ok(Param::Bool(v))
            }
            fn visit_map<A: de::MapAccess<'de>>(self, mut map: A) -> Result<Param, A::Error> {
                let mut value = None;
                while let Some(key) = map.next_key::<String>()? {
                    if key != "value" || value.is_some() {
                        return Err(de::Error::unknown_field(&key, &["value"]));
                    }
                    value = Some(map.next_value::<String>()?);
                }
                value
                    .map(Param::Literal)
                    .ok_or_else(|| de::Error::missing_field("value"))
            }
        }
        d.deserialize_any(V)
    }
}
