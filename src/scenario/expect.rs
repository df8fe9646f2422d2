//! `[expect]`: the CI gate's checks, as written and compiled.
//!
//! The table is written with dotted metric names (see [`crate::metric`]), which TOML reads as
//! nested tables: `errors.pool_timeout = 0` is `errors = { pool_timeout = 0 }`. So the raw
//! form ([`ExpectSettings`]) keeps whatever tables and values were written, in order, and
//! [`compile`] turns them into checks, naming the path of any bad key or limit so that the
//! loader can point at its line. `[variant.expect]` needs nothing here: the variant's table is
//! deep-merged over the base's before deserialization, key by key.
//!
//! Limits: latencies are durations (`"50ms"`), `error_rate` a fraction (`0.01`) or a
//! percentage string (`"1%"`), counts whole numbers, `throughput` operations per second.
//! `abort_on_fail = true` stops a variant as soon as a check can no longer pass.

use std::fmt;

use serde::de::{self, MapAccess, Visitor};
use serde::ser::SerializeMap;
use serde::{Deserialize, Deserializer, Serialize, Serializer};

use super::node::Path;
use super::node::Problem;
use crate::metric::{Metric, Unit};

/// The key that is a switch, not a metric.
pub(crate) const ABORT_ON_FAIL: &str = "abort_on_fail";

/// `[expect]` as written: keys in file order, values or nested tables.
#[derive(Clone, Debug, Default, PartialEq)]
pub(crate) struct ExpectSettings(pub Vec<(String, ExpectValue)>);

/// A value of `[expect]`: a limit, a switch, or a table of further keys.
#[derive(Clone, Debug, PartialEq)]
pub(crate) enum ExpectValue {
    Bool(bool),
    Int(i64),
    Float(f64),
    Str(String),
    Table(ExpectSettings),
}

/// One compiled check: the metric must stay on the right side of `limit` (in the report's
/// unit: milliseconds for latencies).
#[derive(Clone, Debug, PartialEq)]
pub(crate) struct Expectation {
    pub(crate) metric: Metric,
    pub(crate) limit: f64,
}

/// The compiled `[expect]` of one variant.
#[derive(Clone, Debug, Default, PartialEq)]
pub struct Expectations {
    pub(crate) abort_on_fail: bool,
    pub(crate) checks: Vec<Expectation>,
}

/// Compiles the raw table against the variant's `workloads` (the names a `workload.<name>.…`
/// metric may use); every problem names the path of its value under `expect`.
pub(crate) fn compile(
    raw: Option<&ExpectSettings>,
    workloads: &[&str],
) -> Result<Expectations, Vec<Problem>> {
    let mut c = Compiler {
        workloads,
        out: Expectations::default(),
        problems: Vec::new(),
        paths: Vec::new(),
    };
    let Some(raw) = raw else {
        return Ok(c.out);
    };
    let root = Path::default().key("expect");
    for (key, value) in &raw.0 {
        let path = root.clone().key(key);
        if key == ABORT_ON_FAIL {
            match value {
                ExpectValue::Bool(b) => c.out.abort_on_fail = *b,
                _ => c.problems.push(problem(path, "must be true or false")),
            }
            continue;
        }
        c.walk(key, value, path);
    }
    if c.problems.is_empty() {
        Ok(c.out)
    } else {
        Err(c.problems)
    }
}

fn problem(path: Path, message: impl Into<String>) -> Problem {
    Problem {
        path,
        message: message.into(),
        help: None,
    }
}

struct Compiler<'a> {
    workloads: &'a [&'a str],
    out: Expectations,
    problems: Vec<Problem>,
    /// Where each check of `out` was written, to refuse a metric written twice (TOML lets
    /// `workload."a.b".p99` and `workload.a.b.p99` name one metric in two keys).
    paths: Vec<Path>,
}

impl Compiler<'_> {
    /// A metric at `name`, or a table of further keys under it.
    fn walk(&mut self, name: &str, value: &ExpectValue, path: Path) {
        if let ExpectValue::Table(t) = value {
            for (key, value) in &t.0 {
                self.walk(&format!("{name}.{key}"), value, path.clone().key(key));
            }
            return;
        }
        let metric: Metric = match name.parse() {
            Ok(m) => m,
            Err(e) => return self.problems.push(problem(path, e.to_string())),
        };
        if let Some(w) = metric.workload()
            && !self.workloads.contains(&w)
        {
            let names: Vec<_> = self.workloads.iter().map(|n| format!("`{n}`")).collect();
            let message = format!(
                "no workload `{w}` in this variant; its workloads are {}",
                names.join(", ")
            );
            return self.problems.push(problem(path, message));
        }
        if let Some(i) = self.out.checks.iter().position(|c| c.metric == metric) {
            let message = format!("{metric} has a limit already, at {}", self.paths[i]);
            return self.problems.push(problem(path, message));
        }
        match limit(&metric, value) {
            Ok(limit) => {
                self.out.checks.push(Expectation { metric, limit });
                self.paths.push(path);
            }
            Err(message) => self.problems.push(problem(path, message)),
        }
    }
}

/// Reads a limit in the metric's unit.
fn limit(metric: &Metric, value: &ExpectValue) -> Result<f64, String> {
    let number = match value {
        ExpectValue::Int(i) => Some(*i as f64),
        ExpectValue::Float(f) => Some(*f),
        _ => None,
    };
    match (metric.unit(), value) {
        (Unit::Millis, ExpectValue::Str(s)) => humantime::parse_duration(s)
            .map(|d| d.as_secs_f64() * 1000.0)
            .map_err(|e| format!("invalid duration {s:?}: {e}")),
        (Unit::Millis, _) => Err(format!(
            "a latency limit is a duration such as \"50ms\" ({metric} is in milliseconds)"
        )),
        (Unit::Ratio, ExpectValue::Str(s)) => match s.trim().strip_suffix('%') {
            Some(p) => p
                .trim()
                .parse::<f64>()
                .map(|p| p / 100.0)
                .map_err(|_| format!("{s:?} is not a percentage such as \"1%\""))
                .and_then(ratio),
            None => Err(format!(
                "{metric} is a fraction such as 0.01, or a percentage string such as \"1%\""
            )),
        },
        (Unit::Ratio, _) => number
            .ok_or_else(|| format!("{metric} is a fraction such as 0.01"))
            .and_then(ratio),
        (Unit::Count, ExpectValue::Int(i)) if *i >= 0 => Ok(*i as f64),
        (Unit::Count, _) => Err(format!("{metric} counts events: a whole number, 0 or more")),
        (Unit::PerSecond, _) => match number {
            Some(n) if n.is_finite() && n >= 0.0 => Ok(n),
            _ => Err(format!(
                "{metric} is a number of operations per second, 0 or more"
            )),
        },
    }
}

fn ratio(r: f64) -> Result<f64, String> {
    if (0.0..=1.0).contains(&r) {
        Ok(r)
    } else {
        Err(format!(
            "an error rate is between 0 and 1 (0% and 100%), not {r}"
        ))
    }
}

impl Serialize for ExpectSettings {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(self.0.len()))?;
        for (k, v) in &self.0 {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }
}

impl Serialize for ExpectValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self {
            ExpectValue::Bool(b) => s.serialize_bool(*b),
            ExpectValue::Int(i) => s.serialize_i64(*i),
            ExpectValue::Float(f) => s.serialize_f64(*f),
            ExpectValue::Str(v) => s.serialize_str(v),
            ExpectValue::Table(t) => t.serialize(s),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectSettings {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        match ExpectValue::deserialize(d)? {
            ExpectValue::Table(t) => Ok(t),
            _ => Err(de::Error::custom(
                "must be a table: [expect] with metric = limit lines",
            )),
        }
    }
}

impl<'de> Deserialize<'de> for ExpectValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        d.deserialize_any(ValueVisitor)
    }
}

struct ValueVisitor;

impl<'de> Visitor<'de> for ValueVisitor {
    type Value = ExpectValue;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a limit (a number, or a duration such as \"50ms\") or a table of them")
    }

    fn visit_bool<E: de::Error>(self, v: bool) -> Result<ExpectValue, E> {
        Ok(ExpectValue::Bool(v))
    }

    fn visit_i64<E: de::Error>(self, v: i64) -> Result<ExpectValue, E> {
        Ok(ExpectValue::Int(v))
    }

    fn visit_u64<E: de::Error>(self, v: u64) -> Result<ExpectValue, E> {
        i64::try_from(v)
            .map(ExpectValue::Int)
            .map_err(|_| E::custom("too large"))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<ExpectValue, E> {
        Ok(ExpectValue::Float(v))
    }

    fn visit_str<E: de::Error>(self, v: &str) -> Result<ExpectValue, E> {
        Ok(ExpectValue::Str(v.to_string()))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<ExpectValue, A::Error> {
        let mut entries = Vec::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value::<ExpectValue>()?;
            entries.push((key, value));
        }
        Ok(ExpectValue::Table(ExpectSettings(entries)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::metric::Stat;
    use crate::record::errors::ErrorClass;

    fn table(entries: Vec<(&str, ExpectValue)>) -> ExpectSettings {
        ExpectSettings(
            entries
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect(),
        )
    }

    #[test]
    fn nested_tables_become_dotted_metrics_with_limits_in_their_unit() {
        let raw = table(vec![
            ("abort_on_fail", ExpectValue::Bool(true)),
            ("error_rate", ExpectValue::Str("1%".into())),
            (
                "errors",
                ExpectValue::Table(table(vec![("pool_timeout", ExpectValue::Int(0))])),
            ),
            (
                "operation",
                ExpectValue::Table(table(vec![("p99", ExpectValue::Str("1.5s".into()))])),
            ),
            ("throughput", ExpectValue::Int(100)),
        ]);
        let e = compile(Some(&raw), &["chat"]).unwrap();
        assert!(e.abort_on_fail);
        assert_eq!(
            e.checks,
            vec![
                Expectation {
                    metric: Metric::ErrorRate,
                    limit: 0.01
                },
                Expectation {
                    metric: Metric::Errors(ErrorClass::PoolTimeout),
                    limit: 0.0
                },
                Expectation {
                    metric: Metric::Operation(Stat::P99),
                    limit: 1500.0
                },
                Expectation {
                    metric: Metric::Throughput,
                    limit: 100.0
                },
            ]
        );
    }

    #[test]
    fn bad_keys_and_limits_name_their_path() {
        let raw = table(vec![
            (
                "errors",
                ExpectValue::Table(table(vec![("pool_timout", ExpectValue::Int(0))])),
            ),
            (
                "operation",
                ExpectValue::Table(table(vec![("p99", ExpectValue::Int(50))])),
            ),
            ("error_rate", ExpectValue::Float(1.5)),
            ("abort_on_fail", ExpectValue::Int(1)),
        ]);
        let problems = compile(Some(&raw), &["chat"]).unwrap_err();
        let paths: Vec<String> = problems.iter().map(|p| p.path.to_string()).collect();
        assert_eq!(
            paths,
            [
                "expect.errors.pool_timout",
                "expect.operation.p99",
                "expect.error_rate",
                "expect.abort_on_fail"
            ]
        );
        assert!(
            problems[0]
                .message
                .contains("unknown metric `errors.pool_timout`")
        );
        assert!(problems[1].message.contains("duration such as \"50ms\""));
    }

    /// `workload.<name>.…` keys: a name with a dot is quoted in TOML and arrives as one key;
    /// a workload the variant does not have is refused at its path, naming those it has.
    #[test]
    fn workload_metrics_name_a_workload_of_the_variant() {
        let workload = |name: &str, stat: &str, v: ExpectValue| {
            let inner = table(vec![(stat, v)]);
            ExpectValue::Table(table(vec![(name, ExpectValue::Table(inner))]))
        };
        let raw = table(vec![
            (
                "workload",
                workload("chat", "p99", ExpectValue::Str("20ms".into())),
            ),
            (
                "workload",
                workload("v2.feed", "error_rate", ExpectValue::Str("1%".into())),
            ),
        ]);
        let e = compile(Some(&raw), &["chat", "v2.feed"]).unwrap();
        let names: Vec<String> = e.checks.iter().map(|c| c.metric.to_string()).collect();
        assert_eq!(names, ["workload.chat.p99", "workload.v2.feed.error_rate"]);
        assert_eq!((e.checks[0].limit, e.checks[1].limit), (20.0, 0.01));
        let mut twice = raw.clone();
        twice.0.push((
            "workload".into(),
            workload("v2", "feed.error_rate", ExpectValue::Int(0)),
        ));
        let problems = compile(Some(&twice), &["chat", "v2.feed"]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].path.to_string(),
            "expect.workload.v2.\"feed.error_rate\""
        );
        assert!(
            problems[0].message.contains(
                "workload.v2.feed.error_rate has a limit already, at expect.workload.\"v2.feed\".error_rate"
            ),
            "{}",
            problems[0].message
        );
        let problems = compile(Some(&raw), &["chat", "dashboard"]).unwrap_err();
        assert_eq!(problems.len(), 1);
        assert_eq!(
            problems[0].path.to_string(),
            "expect.workload.\"v2.feed\".error_rate"
        );
        assert!(
            problems[0].message.contains(
                "no workload `v2.feed` in this variant; its workloads are `chat`, `dashboard`"
            ),
            "{}",
            problems[0].message
        );
    }
}
