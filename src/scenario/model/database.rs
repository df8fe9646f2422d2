//! `[database]` and `[database.embedded]`: where the database comes from.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

/// `[database]`: where the database comes from and how each variant's state is made.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct DatabaseSettings {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) url: Option<String>,
    #[serde(default)]
    pub setup: Vec<String>,
    #[serde(default)]
    pub teardown: Vec<String>,
    #[serde(default)]
    pub(crate) embedded: EmbeddedSettings,
    /// A container of a PostgreSQL image instead of the embedded server (see `docker.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) docker: Option<DockerSettings>,
    /// A throwaway PgBouncer in front of the database (see `pgbouncer.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) pgbouncer: Option<PgBouncerSettings>,
}

/// `[database.embedded]`: settings of the throwaway server.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct EmbeddedSettings {
    #[serde(default = "default_max_connections")]
    pub max_connections: u32,
    /// TLS: a throwaway CA and server certificate, `ssl = on`, `hostssl`-only rules; the
    /// harness connects with `verify-full` against that CA.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ssl: bool,
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
            ssl: false,
            settings: BTreeMap::new(),
        }
    }
}
