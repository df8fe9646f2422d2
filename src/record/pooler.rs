//! Why a pooler refused an operation: PgBouncer sends every one of its own errors with SQLSTATE
//! 08P01 and its reason as the message. [`reason`] maps that message to a stable key, kept per
//! key under `errors.pooler_error.reasons` (as `sqlstates` keeps codes); [`REASONS`] also says
//! what each one means, for the diagnosis and the documentation. [`PoolerSecond`] is a
//! pooler's second as sampled and as the report's timeline shows it.

use schemars::JsonSchema;
use serde::{Deserialize, Serialize};

/// A PgBouncer reason: the key the report uses, the text PgBouncer sends (a part of it that
/// does not vary), and what it means.
pub(crate) struct Reason {
    pub(crate) key: &'static str,
    pub(crate) texts: &'static [&'static str],
    pub(crate) meaning: &'static str,
}

/// Every reason `stress` tells apart, the most specific texts first (as matched).
pub(crate) const REASONS: &[Reason] = &[
    Reason {
        key: "max_client_conn",
        texts: &["no more connections allowed (max_client_conn)"],
        meaning: "more client connections than PgBouncer's max_client_conn: it refused the connect; \
                  raise max_client_conn or open fewer connections (a smaller pool per instance)",
    },
    Reason {
        key: "query_wait_timeout",
        texts: &["query_wait_timeout"],
        meaning: "a client waited longer than query_wait_timeout for a server connection (every one \
                  of default_pool_size busy, or the pool paused): raise default_pool_size or \
                  reserve_pool_size, or hold server connections for less time",
    },
    Reason {
        key: "query_timeout",
        texts: &["query_timeout", "query timeout"],
        meaning: "a query ran longer than PgBouncer's query_timeout and its connection was closed",
    },
    Reason {
        key: "server_conn_crashed",
        texts: &["server conn crashed?"],
        meaning: "the server connection PgBouncer had given this client died under it (a \
                  terminated backend, a restarted server): retry on a fresh connection",
    },
    Reason {
        key: "server_login_retry",
        texts: &[
            "pgbouncer cannot connect to server",
            "server login has been failing",
        ],
        meaning: "PgBouncer could not log in to the server and fails clients at once for \
                  server_login_retry: the server is down or refuses PgBouncer's login",
    },
    Reason {
        key: "server_login_failed",
        texts: &[
            "server login failed",
            "password authentication failed for user",
        ],
        meaning: "the server refused PgBouncer's login (its user or password for the database)",
    },
    Reason {
        key: "client_login_timeout",
        texts: &["client_login_timeout"],
        meaning: "the login did not complete within client_login_timeout (the server was down)",
    },
    Reason {
        key: "client_idle_timeout",
        texts: &["client_idle_timeout"],
        meaning: "PgBouncer closed a client connection idle longer than client_idle_timeout",
    },
    Reason {
        key: "idle_transaction_timeout",
        texts: &["idle transaction timeout"],
        meaning: "a transaction stayed idle longer than PgBouncer's idle_transaction_timeout",
    },
    Reason {
        key: "server_lifetime",
        texts: &["server lifetime over", "server idle timeout"],
        meaning: "PgBouncer retired the server connection in use (server_lifetime, \
                  server_idle_timeout)",
    },
    Reason {
        key: "shutting_down",
        texts: &[
            "pooler is shutting down",
            "server shutting down",
            "database configuration changed",
        ],
        meaning: "PgBouncer was shutting down or reloading (a restart_pooler fault, a deploy)",
    },
    Reason {
        key: "paused",
        texts: &["pause mode", "pause failed", "suspend_timeout"],
        meaning: "PgBouncer was paused or suspended (PAUSE, SUSPEND; a pause_pooler fault)",
    },
    Reason {
        key: "no_such_database",
        texts: &["no such database", "is disabled"],
        meaning: "PgBouncer has no such database, or it was disabled (DISABLE)",
    },
    Reason {
        key: "unsupported_startup_parameter",
        texts: &["unsupported startup parameter"],
        meaning: "the driver sent a startup parameter PgBouncer does not pass on: list it in \
                  ignore_startup_parameters",
    },
    Reason {
        key: "prepared_statement",
        texts: &[
            "prepared statement did not exist",
            "prepared statement name is already in use",
        ],
        meaning: "PgBouncer's own prepared-statement tracking (max_prepared_statements) refused a \
                  statement name",
    },
];

/// PgBouncer's pools for the run's database at the end of a second (`SHOW POOLS`, summed over
/// its users) and what its counters moved during that second (`SHOW STATS`).
#[derive(Clone, Debug, Default, Serialize, Deserialize, JsonSchema, PartialEq, Eq)]
#[serde(deny_unknown_fields)]
pub struct PoolerSecond {
    /// Client connections linked to a server connection or idle, able to run.
    pub(crate) cl_active: u64,
    /// Client connections waiting for a server connection.
    pub cl_waiting: u64,
    /// Server connections linked to a client.
    pub(crate) sv_active: u64,
    /// Server connections idle, ready for a client.
    pub(crate) sv_idle: u64,
    /// Server connections idle for longer than server_check_delay, to be checked first.
    pub(crate) sv_used: u64,
    /// The longest current wait of a client for a server connection, in milliseconds.
    pub(crate) maxwait_ms: u64,
    /// Transactions PgBouncer passed on during this second.
    pub(crate) transactions: u64,
    /// Queries PgBouncer passed on during this second.
    pub queries: u64,
    /// Milliseconds clients spent waiting for a server connection during this second.
    pub(crate) wait_ms: u64,
}

impl PoolerSecond {
    /// Adds another machine's same second (each with its own pooler): counts summed, the
    /// longest wait.
    pub(crate) fn merge(&mut self, s: &PoolerSecond) {
        self.cl_active += s.cl_active;
        self.cl_waiting += s.cl_waiting;
        self.sv_active += s.sv_active;
        self.sv_idle += s.sv_idle;
        self.sv_used += s.sv_used;
        self.maxwait_ms = self.maxwait_ms.max(s.maxwait_ms);
        self.transactions += s.transactions;
        self.queries += s.queries;
        self.wait_ms += s.wait_ms;
    }
}

/// The key for anything not in [`REASONS`] (PostgreSQL's own 08P01 protocol violations too).
pub(crate) const OTHER: &str = "other";

/// The reason key of a pooler's message.
pub(crate) fn reason(message: &str) -> &'static str {
    REASONS
        .iter()
        .find(|r| r.texts.iter().any(|t| message.contains(t)))
        .map_or(OTHER, |r| r.key)
}

/// What a reason key means (empty for [`OTHER`] and unknown keys).
pub(crate) fn meaning(key: &str) -> &'static str {
    REASONS
        .iter()
        .find(|r| r.key == key)
        .map_or("", |r| r.meaning)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pgbouncer_messages_map_to_their_reasons() {
        let cases = [
            (
                "no more connections allowed (max_client_conn)",
                "max_client_conn",
            ),
            ("query_wait_timeout", "query_wait_timeout"),
            ("server conn crashed?", "server_conn_crashed"),
            ("pgbouncer cannot connect to server", "server_login_retry"),
            (
                "server login has been failing, try again later (server_login_retry)",
                "server_login_retry",
            ),
            ("no such database: app", "no_such_database"),
            (
                "connection closed (the connection had ended: client_idle_timeout)",
                "client_idle_timeout",
            ),
            ("invalid frontend message type 0", OTHER),
        ];
        for (message, key) in cases {
            assert_eq!(reason(message), key, "{message}");
        }
    }

    #[test]
    fn every_reason_is_explained_and_keys_are_unique() {
        let mut keys: Vec<_> = REASONS.iter().map(|r| r.key).collect();
        keys.sort_unstable();
        keys.dedup();
        assert_eq!(keys.len(), REASONS.len());
        assert!(REASONS.iter().all(|r| !meaning(r.key).is_empty()));
        assert_eq!(meaning(OTHER), "");
    }
}
