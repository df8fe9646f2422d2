//! The scenario file's shape: one variant's effective settings, with every default spelled out.
//!
//! These types are what a scenario deserializes into after variants and `--set` are merged
//! (unknown keys are errors), what `stress check --print` shows, and what the report records
//! under `settings`. Semantic checks live in `validate.rs`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};

pub use super::expect::ExpectSettings;
pub use super::faults::{FaultKind, FaultSettings, RestartMode};
pub use super::pacing::{OnFailure, Pacing};
use crate::record::errors::ErrorClass;

/// One variant's effective settings: the whole scenario document after merging.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub description: Option<String>,
    /// Seed of the parameter streams; a random one is chosen (and reported) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seed: Option<u64>,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub load: LoadSettings,
    #[serde(default)]
    pub access: AccessSettings,
    #[serde(default)]
    pub pool: PoolSettings,
    #[serde(default)]
    pub workload: Vec<WorkloadSettings>,
    /// Faults injected during the measured phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub fault: Vec<FaultSettings>,
    /// The CI gate's checks (see `expect.rs`). `[sweep]` never gets here: the loader expands
    /// it into variants first (see `sweep.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub expect: Option<ExpectSettings>,
}

impl Settings {
    /// The settings as they may be shown or stored (`check --print`, the report, the settings
    /// hash): the database URL's password replaced by `***`.
    pub fn redacted(&self) -> Settings {
        let mut shown = self.clone();
        if let Some(url) = &mut shown.database.url {
            *url = crate::database::url::redacted_str(url);
        }
        shown
    }
}

/// `[database]`: where the database comes from and how each variant's state is made.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<String>,
    #[serde(default)]
    pub setup: Vec<String>,
    #[serde(default)]
    pub teardown: Vec<String>,
    #[serde(default)]
    pub embedded: EmbeddedSettings,
    /// Later issue (cargo feature `docker`): parsed so it can be rejected with its position.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub docker: Option<toml::Value>,
}

/// `[database.embedded]`: settings of the throwaway server.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSettings {
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// Any other server setting, passed as `-c name=value`.
    #[serde(default)]
    pub settings: BTreeMap<String, SettingValue>,
}

fn default_max_connections() -> u32 {
    100
}

impl Default for EmbeddedSettings {
    fn default() -> Self {
        EmbeddedSettings {
            max_connections: default_max_connections(),
            settings: BTreeMap::new(),
        }
    }
}

/// `[load]`: how many tasks, for how long.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct LoadSettings {
    #[serde(default = "default_tasks")]
    pub tasks: u32,
    /// Measured phase length; `duration` and `iterations` exclude each other (default 10s).
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub duration: Option<Duration>,
    /// Operations per task in the measured phase.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iterations: Option<u64>,
    #[serde(default, with = "super::duration")]
    pub think_time: Duration,
    #[serde(default, with = "super::duration")]
    pub warmup: Duration,
    /// Client-side deadline per operation (asyncio.wait_for): `op_deadline_exceeded`.
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub op_timeout: Option<Duration>,
    /// Open model: arrivals per second; `tasks` is then the most operations in flight.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<f64>,
    /// Linear ramps of tasks (closed model) or rate (open model) to each target, as k6 does.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub stages: Vec<Stage>,
    /// Retry operations that failed with these classes (pgbench's `--max-tries`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub retry: Option<RetrySettings>,
    /// What a task does after a failed operation and between tries (see `pacing.rs`).
    #[serde(default, skip_serializing_if = "OnFailure::is_think")]
    pub on_failure: OnFailure,
}

/// `retry = { on = ["serialization_failure", "deadlock_detected"], max_tries = 3 }`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct RetrySettings {
    pub on: Vec<ErrorClass>,
    /// Tries in all, the first included.
    pub max_tries: u32,
}

fn default_tasks() -> u32 {
    1
}

/// Measured phase length when neither `duration` nor `iterations` is given.
pub const DEFAULT_DURATION: Duration = Duration::from_secs(10);

impl LoadSettings {
    /// How long the stages last in all (saturating: validation refuses more than
    /// [`super::duration::MAX`]).
    pub fn staged_length(&self) -> Option<Duration> {
        (!self.stages.is_empty()).then(|| {
            self.stages
                .iter()
                .fold(Duration::ZERO, |sum, st| sum.saturating_add(st.duration))
        })
    }

    /// How long the measured phase lasts, when that is known before the run: the stages', the
    /// `duration`, or the default; unknown with `iterations`.
    pub fn measured_length(&self) -> Option<Duration> {
        self.staged_length()
            .or(match (self.duration, self.iterations) {
                (Some(d), _) => Some(d),
                (None, Some(_)) => None,
                (None, None) => Some(DEFAULT_DURATION),
            })
    }
}

impl Default for LoadSettings {
    fn default() -> Self {
        LoadSettings {
            tasks: default_tasks(),
            duration: None,
            iterations: None,
            think_time: Duration::ZERO,
            warmup: Duration::ZERO,
            op_timeout: None,
            rate: None,
            stages: Vec::new(),
            retry: None,
            on_failure: OnFailure::Think,
        }
    }
}

/// One ramp: reach `target` (tasks, or arrivals per second) linearly over `duration`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct Stage {
    #[serde(with = "super::duration")]
    pub duration: Duration,
    pub target: f64,
}

/// `[access]`: how tasks get a connection.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccessSettings {
    #[serde(default)]
    pub mode: AccessMode,
    /// Shared mode only; ignored by the other modes.
    #[serde(default)]
    pub semantics: Semantics,
    #[serde(default = "default_instances")]
    pub instances: u32,
    #[serde(default)]
    pub query_mode: QueryMode,
    /// `SET name = value` on every connection, in every mode.
    #[serde(default)]
    pub session_settings: BTreeMap<String, SettingValue>,
    /// Operations that hold a connection longer than this are leaks (HikariCP's
    /// leakDetectionThreshold), counted per workload with their longest hold.
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub leak_threshold: Option<Duration>,
}

fn default_instances() -> u32 {
    1
}

impl Default for AccessSettings {
    fn default() -> Self {
        AccessSettings {
            mode: AccessMode::default(),
            semantics: Semantics::default(),
            instances: default_instances(),
            query_mode: QueryMode::default(),
            session_settings: BTreeMap::new(),
            leak_threshold: None,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum AccessMode {
    Shared,
    #[default]
    Pool,
    PerOperation,
    PerTask,
}

impl AccessMode {
    pub fn as_str(self) -> &'static str {
        match self {
            AccessMode::Shared => "shared",
            AccessMode::Pool => "pool",
            AccessMode::PerOperation => "per_operation",
            AccessMode::PerTask => "per_task",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum Semantics {
    /// A statement sent while another is in flight fails at once (asyncpg).
    #[default]
    Exclusive,
    /// Overlapping statements are pipelined on the one connection (tokio-postgres).
    Pipelined,
    /// A statement waits for the one in flight (psycopg 3's lock).
    Serialized,
}

impl Semantics {
    pub fn as_str(self) -> &'static str {
        match self {
            Semantics::Exclusive => "exclusive",
            Semantics::Pipelined => "pipelined",
            Semantics::Serialized => "serialized",
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QueryMode {
    /// Named statements, prepared once per connection and cached.
    #[default]
    Prepared,
    /// Unnamed statements: parse, bind and execute in one round trip, every time.
    Extended,
    /// The simple query protocol, parameters inlined as literals.
    Simple,
}

/// `[pool]`: bb8's settings, with bb8's names and defaults.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolSettings {
    #[serde(default = "default_max_size")]
    pub max_size: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub min_idle: Option<u32>,
    #[serde(default = "default_connection_timeout", with = "super::duration")]
    pub connection_timeout: Duration,
    #[serde(default = "default_idle_timeout")]
    pub idle_timeout: Toggle,
    #[serde(default = "default_max_lifetime")]
    pub max_lifetime: Toggle,
    #[serde(default = "default_reaper_rate", with = "super::duration")]
    pub reaper_rate: Duration,
    #[serde(default = "yes")]
    pub test_on_check_out: bool,
    #[serde(default)]
    pub queue_strategy: QueueStrategy,
    /// bb8 retries failed connects until `connection_timeout`.
    #[serde(default = "yes")]
    pub retry_connection: bool,
}

fn default_max_size() -> u32 {
    10
}
fn default_connection_timeout() -> Duration {
    Duration::from_secs(30)
}
fn default_idle_timeout() -> Toggle {
    Toggle(Some(Duration::from_secs(10 * 60)))
}
fn default_max_lifetime() -> Toggle {
    Toggle(Some(Duration::from_secs(30 * 60)))
}
fn default_reaper_rate() -> Duration {
    Duration::from_secs(30)
}
fn yes() -> bool {
    true
}

impl Default for PoolSettings {
    fn default() -> Self {
        PoolSettings {
            max_size: default_max_size(),
            min_idle: None,
            connection_timeout: default_connection_timeout(),
            idle_timeout: default_idle_timeout(),
            max_lifetime: default_max_lifetime(),
            reaper_rate: default_reaper_rate(),
            test_on_check_out: true,
            queue_strategy: QueueStrategy::default(),
            retry_connection: true,
        }
    }
}

#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub enum QueueStrategy {
    #[default]
    Fifo,
    Lifo,
}

/// A duration that can be switched off with `"off"` (bb8's `None`).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Toggle(pub Option<Duration>);

impl Serialize for Toggle {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        match self.0 {
            Some(d) => s.serialize_str(&humantime::format_duration(d).to_string()),
            None => s.serialize_str("off"),
        }
    }
}

impl<'de> Deserialize<'de> for Toggle {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = Toggle;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a duration such as \"10m\", or \"off\"")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<Toggle, E> {
                if v == "off" {
                    return Ok(Toggle(None));
                }
                let d = humantime::parse_duration(v)
                    .map_err(|e| E::custom(format!("invalid duration {v:?}: {e}")))?;
                match super::duration::too_long(d) {
                    Some(message) => Err(E::custom(message)),
                    None => Ok(Toggle(Some(d))),
                }
            }
        }
        d.deserialize_str(V)
    }
}

/// A server or session setting: a string, number or boolean, passed on as text.
#[derive(Clone, Debug, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct SettingValue(pub String);

impl Serialize for SettingValue {
    fn serialize<S: Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.0)
    }
}

impl<'de> Deserialize<'de> for SettingValue {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        struct V;
        impl Visitor<'_> for V {
            type Value = SettingValue;
            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("a string, number or boolean")
            }
            fn visit_str<E: de::Error>(self, v: &str) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_i64<E: de::Error>(self, v: i64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_u64<E: de::Error>(self, v: u64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_f64<E: de::Error>(self, v: f64) -> Result<SettingValue, E> {
                Ok(SettingValue(v.to_string()))
            }
            fn visit_bool<E: de::Error>(self, v: bool) -> Result<SettingValue, E> {
                Ok(SettingValue(if v { "on" } else { "off" }.to_string()))
            }
        }
        d.deserialize_any(V)
    }
}

/// `[[workload]]`: one named entry of the weighted mix.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct WorkloadSettings {
    pub name: String,
    #[serde(default = "default_weight")]
    pub weight: u32,
    #[serde(default)]
    pub transaction: bool,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub isolation: Option<Isolation>,
    /// Values drawn once per operation, usable as `@name` in the steps.
    #[serde(default, rename = "let", skip_serializing_if = "BTreeMap::is_empty")]
    pub lets: BTreeMap<String, Param>,
    /// `"acknowledged_writes"`: each operation also writes a unique id into the harness's
    /// ledger table, inside its transaction; after the load the ledger is read back to find
    /// acknowledged writes that are missing (lost) and failed ones that are there (phantom).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verify: Option<Verify>,
    /// `"ledger"`: a ready-made verified write (a transaction whose only write is the ledger's);
    /// steps may be added, a sleep say, to widen the race.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub builtin: Option<Builtin>,
    #[serde(default)]
    pub step: Vec<StepSettings>,
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
    pub fn sql(self) -> &'static str {
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
    pub sql: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub params: Vec<Param>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capture: Vec<String>,
    #[serde(
        default,
        with = "super::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub sleep: Option<Duration>,
}

/// A statement parameter or `let` value as written: an expression string (generator or
/// `@name`), a literal number or boolean, or `{ value = "..." }` for a literal string.
#[derive(Clone, Debug, PartialEq)]
pub enum Param {
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
