//! `[database.pgbouncer]`: a throwaway PgBouncer that `stress` starts in front of the database
//! (embedded or URL); the harness's connections go through it (see `database/pgbouncer.rs`).
//!
//! ```toml
//! [database.pgbouncer]
//! pool_mode = "transaction"      # session | transaction | statement
//! default_pool_size = 5
//! max_client_conn = 100
//! settings = { server_lifetime = 3600 }   # any other [pgbouncer] setting
//! ```

use std::collections::BTreeMap;
use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::SettingValue;

/// PgBouncer's `pool_mode`: when a server connection goes back to the pool.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "snake_case")]
pub enum PoolMode {
    /// After the client disconnects (PgBouncer's default).
    #[default]
    Session,
    /// After each transaction: session state (SET, prepared statements, advisory locks) does
    /// not follow the client.
    Transaction,
    /// After each statement: multi-statement transactions are refused.
    Statement,
}

impl PoolMode {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            PoolMode::Session => "session",
            PoolMode::Transaction => "transaction",
            PoolMode::Statement => "statement",
        }
    }
}

/// `[database.pgbouncer]`: the settings of the throwaway PgBouncer. Unset keys keep
/// PgBouncer's own defaults.
#[derive(Clone, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct PgBouncerSettings {
    #[serde(default)]
    pub(crate) pool_mode: PoolMode,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) default_pool_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_pool_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) reserve_pool_size: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_client_conn: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_db_connections: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) server_reset_query: Option<String>,
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) query_wait_timeout: Option<Duration>,
    #[serde(
        default,
        with = "crate::scenario::duration",
        skip_serializing_if = "Option::is_none"
    )]
    pub(crate) server_idle_timeout: Option<Duration>,
    /// PgBouncer 1.21 and later: prepared statements tracked across transaction pooling.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_prepared_statements: Option<u32>,
    /// Any other `[pgbouncer]` setting, written to its configuration file as given.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub(crate) settings: BTreeMap<String, SettingValue>,
}

/// Settings `stress` writes itself (where PgBouncer listens, who may log in, its files): a
/// scenario may not set them in `settings`.
pub(crate) const RESERVED: &[&str] = &[
    "listen_addr",
    "listen_port",
    "unix_socket_dir",
    "auth_type",
    "auth_file",
    "auth_user",
    "auth_query",
    "auth_hba_file",
    "admin_users",
    "stats_users",
    "logfile",
    "pidfile",
    "user",
    "conffile",
];

impl PgBouncerSettings {
    /// The `[pgbouncer]` lines for these settings (without the ones `stress` writes itself),
    /// as `(name, value)` in PgBouncer's units (seconds for durations).
    pub(crate) fn lines(&self) -> Vec<(String, String)> {
        let mut lines = vec![("pool_mode".to_string(), self.pool_mode.as_str().to_string())];
        let numbers = [
            ("default_pool_size", self.default_pool_size),
            ("min_pool_size", self.min_pool_size),
            ("reserve_pool_size", self.reserve_pool_size),
            ("max_client_conn", self.max_client_conn),
            ("max_db_connections", self.max_db_connections),
            ("max_prepared_statements", self.max_prepared_statements),
        ];
        for (name, value) in numbers {
            if let Some(v) = value {
                lines.push((name.to_string(), v.to_string()));
            }
        }
        if let Some(q) = &self.server_reset_query {
            lines.push(("server_reset_query".to_string(), q.clone()));
        }
        for (name, value) in [
            ("query_wait_timeout", self.query_wait_timeout),
            ("server_idle_timeout", self.server_idle_timeout),
        ] {
            if let Some(d) = value {
                lines.push((name.to_string(), seconds(d)));
            }
        }
        for (name, value) in &self.settings {
            lines.push((name.clone(), value.0.clone()));
        }
        lines
    }
}

/// A duration in PgBouncer's unit, seconds (fractions allowed since 1.8).
fn seconds(d: Duration) -> String {
    let s = d.as_secs_f64();
    if s.fract() == 0.0 {
        format!("{}", d.as_secs())
    } else {
        format!("{s}")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lines_hold_the_set_keys_in_pgbouncer_units() {
        let s = PgBouncerSettings {
            pool_mode: PoolMode::Transaction,
            default_pool_size: Some(3),
            query_wait_timeout: Some(Duration::from_millis(1500)),
            server_idle_timeout: Some(Duration::from_secs(10)),
            settings: [("server_lifetime".to_string(), SettingValue("60".into()))].into(),
            ..PgBouncerSettings::default()
        };
        let lines = s.lines();
        let get = |k: &str| lines.iter().find(|(n, _)| n == k).map(|(_, v)| v.as_str());
        assert_eq!(get("pool_mode"), Some("transaction"));
        assert_eq!(get("default_pool_size"), Some("3"));
        assert_eq!(get("query_wait_timeout"), Some("1.5"));
        assert_eq!(get("server_idle_timeout"), Some("10"));
        assert_eq!(get("server_lifetime"), Some("60"));
        assert_eq!(get("max_client_conn"), None);
    }
}
