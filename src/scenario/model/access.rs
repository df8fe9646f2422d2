//! `[access]`: how tasks get a connection (mode, shared-connection semantics, query mode).

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::*;

/// `[access]`: how tasks get a connection.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct AccessSettings {
    #[serde(default)]
    pub(crate) mode: AccessMode,
    /// Shared mode only; ignored by the other modes.
    #[serde(default)]
    pub(crate) semantics: Semantics,
    #[serde(default = "default_instances")]
    pub(crate) instances: u32,
    #[serde(default)]
    pub(crate) query_mode: QueryMode,
    /// `SET name = value` on every connection, in every mode.
    #[serde(default)]
    pub(crate) session_settings: BTreeMap<String, SettingValue>,
    /// Operations that hold a connection longer than this are leaks (HikariCP's
    /// leakDetectionThreshold), counted per workload with their longest hold.
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) leak_threshold: Option<Duration>,
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
    pub(crate) fn as_str(self) -> &'static str {
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
