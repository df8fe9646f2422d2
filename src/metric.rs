//! The metric vocabulary, the same everywhere: `[expect]` keys, `--tolerance` arguments, the
//! verdict's checks and the comparison tables.
//!
//! | metric | value | direction |
//! |---|---|---|
//! | `error_rate` | failed / total | max |
//! | `errors.<class>` | failed operations of that class (a count) | max |
//! | `operation.<stat>` | latency of successful operations, ms | max |
//! | `acquire.<stat>` | latency of acquires, ms | max |
//! | `throughput` | successful operations per second | min |
//! | `anomalies.<name>` | a field of the report's `anomalies` (a count) | max |
//! | `workload.<name>.<stat>` | latency of that workload's successful operations, ms | max |
//! | `workload.<name>.error_rate` | that workload's failed / total | max |
//! | `connections.opened` | connections the run opened: the report's `pool.connections_created` | max |
//!
//! A workload's name may hold dots: the statistic is what follows the last one. Whether the
//! workload exists is the scenario's business (`[expect]` checks it against its workloads) or
//! the reports' (`compare` checks a `--tolerance` against them), not the vocabulary's.
//!
//! `<stat>` is `p50`, `p90`, `p99`, `p999`, `max` or `mean`. `<class>` is an error class of the
//! contract (`pool_timeout`, ...). `<name>` is any field of the report's `Anomalies`: the list is
//! [`ANOMALIES`] here, below the report, and a test of `report::measure` keeps it equal to the
//! fields of `Anomalies`' JSON Schema. Resolving a metric in a report is the report's business
//! (`report::measure`), so this vocabulary does not depend on the output model. Some anomalies
//! are measured only when the scenario asks (`lost_writes` with a verified workload, `leaks` with
//! `access.leak_threshold`): resolving one then says what to set ([`Measured::NotMeasured`]),
//! it never passes silently as zero.

use std::fmt;
use std::str::FromStr;
use std::sync::OnceLock;

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

use crate::record::errors::ErrorClass;

/// A statistic of a latency histogram.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Stat {
    P50,
    P90,
    P99,
    P999,
    Max,
    Mean,
}

impl Stat {
    pub const ALL: [Stat; 6] = [
        Stat::P50,
        Stat::P90,
        Stat::P99,
        Stat::P999,
        Stat::Max,
        Stat::Mean,
    ];

    pub fn name(self) -> &'static str {
        match self {
            Stat::P50 => "p50",
            Stat::P90 => "p90",
            Stat::P99 => "p99",
            Stat::P999 => "p999",
            Stat::Max => "max",
            Stat::Mean => "mean",
        }
    }
}

/// A metric of a variant's report.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Metric {
    ErrorRate,
    Errors(ErrorClass),
    Operation(Stat),
    Acquire(Stat),
    Throughput,
    /// A field of the report's `Anomalies` (one of [`ANOMALIES`]).
    Anomaly(String),
    /// A measure of one workload's operations (incident 003's team gates the fast chat query's
    /// p99 while the slow dashboard query runs beside it, which the overall p99 hides).
    Workload(String, WorkloadMeasure),
    /// Connections the run opened, the report's `pool.connections_created` and the summary's
    /// "opened" column (one meaning of the word everywhere; review of 2026-12-03): the one
    /// check that counts the warmup too, since the connections a configuration opens before the
    /// load are part of its cost. A gate against a change back to a connection per request
    /// (incident 003), whose latency may still pass.
    ConnectionsOpened,
}

/// What a `workload.<name>.…` metric measures of that workload's operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum WorkloadMeasure {
    /// A statistic of its successful operations' latency.
    Latency(Stat),
    /// Its failed operations over its operations.
    ErrorRate,
}

/// Whether a check puts an upper or a lower bound on the metric.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize, JsonSchema)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    /// The value must not exceed the limit (latencies, errors, anomalies).
    Max,
    /// The value must not fall below the limit (throughput).
    Min,
}

/// What the numbers of a metric mean.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Unit {
    /// A fraction, 0 to 1.
    Ratio,
    /// Events.
    Count,
    /// Milliseconds.
    Millis,
    /// Operations per second.
    PerSecond,
}

/// A metric's value in a variant, or why there is none.
#[derive(Clone, Debug, PartialEq)]
pub enum Measured {
    Value(f64),
    NotMeasured(String),
}

/// A metric name that is not in the vocabulary.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("unknown metric `{name}`: {hint}")]
pub struct UnknownMetric {
    pub(crate) name: String,
    pub(crate) hint: String,
}

/// The field names of the report's `Anomalies`, in its JSON Schema's order (a test of
/// `report::measure` checks that they are the same).
pub(crate) const ANOMALIES: &[&str] = &[
    "advisory_locks_held",
    "advisory_unlock_failed",
    "cancel_requests_misdirected",
    "leaks",
    "lost_writes",
    "phantom_writes",
    "returned_in_transaction",
    "session_state_leaked",
    "transaction_interleaved",
];

/// [`ANOMALIES`] as owned names.
pub fn anomaly_names() -> &'static [String] {
    static NAMES: OnceLock<Vec<String>> = OnceLock::new();
    NAMES.get_or_init(|| ANOMALIES.iter().map(|n| n.to_string()).collect())
}

const VOCABULARY: &str = "metrics are error_rate, errors.<class>, operation.<stat>, \
                          acquire.<stat>, throughput, anomalies.<name>, \
                          workload.<name>.<stat>, workload.<name>.error_rate and \
                          connections.opened";

fn unknown(name: &str, hint: impl Into<String>) -> UnknownMetric {
    UnknownMetric {
        name: name.to_string(),
        hint: hint.into(),
    }
}

fn stat(name: &str, part: &str) -> Result<Stat, UnknownMetric> {
    Stat::ALL
        .into_iter()
        .find(|s| s.name() == part)
        .ok_or_else(|| {
            let stats: Vec<_> = Stat::ALL.iter().map(|s| s.name()).collect();
            unknown(name, format!("the statistics are {}", stats.join(", ")))
        })
}

impl FromStr for Metric {
    type Err = UnknownMetric;

    fn from_str(name: &str) -> Result<Metric, UnknownMetric> {
        let (head, rest) = match name.split_once('.') {
            Some((h, r)) => (h, Some(r)),
            None => (name, None),
        };
        match (head, rest) {
            ("error_rate", None) => Ok(Metric::ErrorRate),
            ("throughput", None) => Ok(Metric::Throughput),
            ("operation", Some(s)) => Ok(Metric::Operation(stat(name, s)?)),
            ("acquire", Some(s)) => Ok(Metric::Acquire(stat(name, s)?)),
            ("errors", Some(class)) => {
                ErrorClass::from_name(class)
                    .map(Metric::Errors)
                    .ok_or_else(|| {
                        let all: Vec<_> = ErrorClass::ALL.iter().map(|c| c.name()).collect();
                        unknown(
                            name,
                            format!(
                                "no error class `{class}`; the classes are {}",
                                all.join(", ")
                            ),
                        )
                    })
            }
            ("anomalies", Some(field)) => {
                let names = anomaly_names();
                if names.iter().any(|n| n == field) {
                    Ok(Metric::Anomaly(field.to_string()))
                } else {
                    Err(unknown(
                        name,
                        format!("the anomalies are {}", names.join(", ")),
                    ))
                }
            }
            ("workload", Some(rest)) => workload(name, rest),
            ("connections", Some("opened")) => Ok(Metric::ConnectionsOpened),
            ("connections" | "pool", _) => Err(unknown(
                name,
                format!("the connections' metric is connections.opened ({VOCABULARY})"),
            )),
            ("operation" | "acquire" | "errors" | "anomalies" | "workload", None) => Err(unknown(
                name,
                format!("name one of them: {head}.<...> ({VOCABULARY})"),
            )),
            _ => Err(unknown(name, VOCABULARY)),
        }
    }
}

/// `workload.<rest>`: the workload's name, then `.<stat>` or `.error_rate` after its last dot.
fn workload(name: &str, rest: &str) -> Result<Metric, UnknownMetric> {
    let Some((workload, measure)) = rest.rsplit_once('.').filter(|(w, _)| !w.is_empty()) else {
        return Err(unknown(
            name,
            "name a workload and what to measure of it: workload.<name>.<stat> or \
             workload.<name>.error_rate",
        ));
    };
    let measure = match measure {
        "error_rate" => WorkloadMeasure::ErrorRate,
        stat_name => WorkloadMeasure::Latency(
            stat(name, stat_name)
                .map_err(|e| unknown(name, format!("{}, or error_rate", e.hint)))?,
        ),
    };
    Ok(Metric::Workload(workload.to_string(), measure))
}

impl fmt::Display for Metric {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Metric::ErrorRate => f.write_str("error_rate"),
            Metric::Errors(c) => write!(f, "errors.{}", c.name()),
            Metric::Operation(s) => write!(f, "operation.{}", s.name()),
            Metric::Acquire(s) => write!(f, "acquire.{}", s.name()),
            Metric::Throughput => f.write_str("throughput"),
            Metric::Anomaly(n) => write!(f, "anomalies.{n}"),
            Metric::Workload(w, WorkloadMeasure::Latency(s)) => {
                write!(f, "workload.{w}.{}", s.name())
            }
            Metric::Workload(w, WorkloadMeasure::ErrorRate) => write!(f, "workload.{w}.error_rate"),
            Metric::ConnectionsOpened => f.write_str("connections.opened"),
        }
    }
}

impl Metric {
    /// The workload a `workload.<name>.…` metric names.
    pub(crate) fn workload(&self) -> Option<&str> {
        match self {
            Metric::Workload(w, _) => Some(w),
            _ => None,
        }
    }

    /// `throughput` is a minimum; every other metric a maximum.
    pub(crate) fn direction(&self) -> Direction {
        match self {
            Metric::Throughput => Direction::Min,
            _ => Direction::Max,
        }
    }

    pub(crate) fn unit(&self) -> Unit {
        match self {
            Metric::ErrorRate | Metric::Workload(_, WorkloadMeasure::ErrorRate) => Unit::Ratio,
            Metric::Errors(_) | Metric::Anomaly(_) | Metric::ConnectionsOpened => Unit::Count,
            Metric::Operation(_)
            | Metric::Acquire(_)
            | Metric::Workload(_, WorkloadMeasure::Latency(_)) => Unit::Millis,
            Metric::Throughput => Unit::PerSecond,
        }
    }

    /// A value of this metric as people read it: `12.3ms`, `0.50%`, `7`, `812.4 ops/s`.
    pub fn format(&self, value: f64) -> String {
        match self.unit() {
            Unit::Ratio => format_pct(value, 2),
            Unit::Count => format!("{value:.0}"),
            Unit::Millis => format_ms(value),
            Unit::PerSecond => format!("{value:.1} ops/s"),
        }
    }
}

/// Milliseconds as the tables show them: whole microseconds below 1 ms (`42µs`), then `2.35ms`,
/// `12.3ms`, `1.03s`.
pub(crate) fn format_ms(v: f64) -> String {
    if (v * 1000.0).round() < 1000.0 {
        format!("{:.0}µs", (v * 1000.0).max(0.0))
    } else if v >= 1000.0 {
        format!("{:.2}s", v / 1000.0)
    } else if v >= 10.0 {
        format!("{v:.1}ms")
    } else {
        format!("{v:.2}ms")
    }
}

/// A ratio (0.25) as a percentage with at least `decimals` decimals, and more when needed to
/// show two significant digits of a small share, or one of what a large one lacks: 2 of 12,391 is
/// `0.016%`, never `0.0%`; 12,390 of 12,391 is `99.992%`, never `100.0%`. 0 is `0%`.
pub(crate) fn format_pct(ratio: f64, decimals: usize) -> String {
    let pct = ratio * 100.0;
    if pct == 0.0 || !pct.is_finite() {
        return format!("{pct:.0}%");
    }
    // Decimals that show `digits` significant digits of `x` (0 for 10 and above).
    let needed = |x: f64, digits: f64| match x {
        x if x <= 0.0 || x >= 10.0 => 0,
        x => (digits - 1.0 - x.log10().floor()).clamp(0.0, 9.0) as usize,
    };
    let rest = if pct < 100.0 {
        needed(100.0 - pct, 1.0)
    } else {
        0
    };
    let decimals = decimals.max(needed(pct.abs(), 2.0)).max(rest);
    format!("{pct:.decimals$}%")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_of_name_parses_and_prints_back() {
        for name in [
            "error_rate",
            "errors.pool_timeout",
            "operation.p99",
            "operation.p999",
            "operation.mean",
            "acquire.max",
            "throughput",
            "anomalies.transaction_interleaved",
            "anomalies.lost_writes",
            "workload.chat.p99",
            "workload.chat.error_rate",
            "workload.v2.dashboard.mean",
            "connections.opened",
        ] {
            let m: Metric = name.parse().unwrap();
            assert_eq!(m.to_string(), name);
        }
    }

    #[test]
    fn a_workload_metric_names_the_workload_before_the_last_dot() {
        assert_eq!(
            "workload.v2.dashboard.p99".parse::<Metric>(),
            Ok(Metric::Workload(
                "v2.dashboard".into(),
                WorkloadMeasure::Latency(Stat::P99)
            ))
        );
        let m: Metric = "workload.chat.error_rate".parse().unwrap();
        assert_eq!(m.workload(), Some("chat"));
        assert_eq!(m.unit(), Unit::Ratio);
        assert_eq!(m.direction(), Direction::Max);
        assert_eq!(
            "workload.chat.max".parse::<Metric>().unwrap().unit(),
            Unit::Millis
        );
        for bad in [
            "workload",
            "workload.chat",
            "workload..p99",
            "workload.chat.p95",
        ] {
            let e = bad.parse::<Metric>().unwrap_err();
            assert!(e.hint.contains("error_rate"), "{bad}: {e}");
        }
    }

    #[test]
    fn unknown_names_say_what_exists() {
        let e = "errors.pool_timout".parse::<Metric>().unwrap_err();
        assert!(
            e.to_string().contains("no error class `pool_timout`"),
            "{e}"
        );
        assert!(e.hint.contains("pool_timeout"), "{e}");
        let e = "operation.p95".parse::<Metric>().unwrap_err();
        assert!(e.hint.contains("p50, p90, p99, p999, max, mean"), "{e}");
        let e = "anomalies.nope".parse::<Metric>().unwrap_err();
        assert!(e.hint.contains("transaction_interleaved"), "{e}");
        let e = "pool.connections_created".parse::<Metric>().unwrap_err();
        assert!(e.hint.contains("connections.opened"), "{e}");
        let e = "latency".parse::<Metric>().unwrap_err();
        assert!(e.hint.contains("error_rate"), "{e}");
        assert!("operation".parse::<Metric>().is_err());
    }

    #[test]
    fn throughput_is_the_only_minimum() {
        assert_eq!(Metric::Throughput.direction(), Direction::Min);
        for name in [
            "error_rate",
            "errors.sql_error",
            "acquire.p50",
            "anomalies.leaks",
        ] {
            assert_eq!(name.parse::<Metric>().unwrap().direction(), Direction::Max);
        }
    }

    #[test]
    fn values_are_formatted_in_their_unit() {
        assert_eq!(Metric::ErrorRate.format(0.005), "0.50%");
        assert_eq!(Metric::ErrorRate.format(2.0 / 12_391.0), "0.016%");
        assert_eq!(Metric::Acquire(Stat::P99).format(0.042), "42µs");
        assert_eq!(Metric::Operation(Stat::P99).format(12.34), "12.3ms");
        assert_eq!(Metric::Throughput.format(812.44), "812.4 ops/s");
        assert_eq!(Metric::Errors(ErrorClass::SqlError).format(7.0), "7");
    }
}
