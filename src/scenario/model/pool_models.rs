//! `[pool] model = "asyncpg" | "sqlalchemy" | "psycopg"`: the settings of the pool models, each
//! with its library's own key names and defaults (bb8's are in `pool.rs`).
//!
//! In a scenario the model's keys are written flat in `[pool]` beside `model`; the loader moves
//! them into the model's own table (`pool.sqlalchemy`) and refuses any key of another model at
//! its line (see `scenario/pool_keys.rs`). The report and the settings hash carry that table.
//! Defaults, with where they come from (versions pinned in `tests/fidelity/requirements.txt`):
//! - asyncpg 0.32 `create_pool(min_size=10, max_size=10, max_queries=50000,
//!   max_inactive_connection_lifetime=300.0)`; `pool.acquire(timeout=None)`;
//! - SQLAlchemy 2.0 `QueuePool(pool_size=5, max_overflow=10, timeout=30.0, use_lifo=False)`,
//!   `Pool(recycle=-1, pre_ping=False, reset_on_return=True)` (`True` is `"rollback"`);
//! - psycopg_pool 3.3 `AsyncConnectionPool(min_size=4, max_size=None, timeout=30.0,
//!   max_waiting=0, max_lifetime=3600.0, max_idle=600.0, reconnect_timeout=300.0, check=None)`.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::values::{ResetOnReturn, Toggle};

/// Which pool a variant reproduces.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, PartialOrd, Ord)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PoolModel {
    /// bb8, with the keys of `[pool]` (today's behaviour).
    #[default]
    Bb8,
    /// asyncpg's `Pool`.
    Asyncpg,
    /// SQLAlchemy's `QueuePool` (`AsyncAdaptedQueuePool` under `create_async_engine`).
    Sqlalchemy,
    /// psycopg_pool's `AsyncConnectionPool`.
    Psycopg,
}

impl PoolModel {
    pub(crate) const ALL: [PoolModel; 4] = [
        PoolModel::Bb8,
        PoolModel::Asyncpg,
        PoolModel::Sqlalchemy,
        PoolModel::Psycopg,
    ];

    /// The name written in `pool.model` (and the model's own table).
    pub(crate) fn name(self) -> &'static str {
        match self {
            PoolModel::Bb8 => "bb8",
            PoolModel::Asyncpg => "asyncpg",
            PoolModel::Sqlalchemy => "sqlalchemy",
            PoolModel::Psycopg => "psycopg",
        }
    }

    pub(crate) fn from_name(name: &str) -> Option<PoolModel> {
        PoolModel::ALL.into_iter().find(|m| m.name() == name)
    }

    /// The keys this model takes in `[pool]` (besides `model`).
    pub(crate) fn keys(self) -> &'static [&'static str] {
        match self {
            PoolModel::Bb8 => &[
                "max_size",
                "min_idle",
                "connection_timeout",
                "idle_timeout",
                "max_lifetime",
                "reaper_rate",
                "test_on_check_out",
                "queue_strategy",
                "retry_connection",
                "reset_on_return",
            ],
            PoolModel::Asyncpg => &[
                "min_size",
                "max_size",
                "acquire_timeout",
                "max_queries",
                "max_inactive_connection_lifetime",
            ],
            PoolModel::Sqlalchemy => &[
                "pool_size",
                "max_overflow",
                "pool_timeout",
                "pool_recycle",
                "pool_pre_ping",
                "pool_use_lifo",
                "reset_on_return",
            ],
            PoolModel::Psycopg => &[
                "min_size",
                "max_size",
                "timeout",
                "max_waiting",
                "max_lifetime",
                "max_idle",
                "reconnect_timeout",
                "check",
            ],
        }
    }

    pub(crate) fn is_bb8(&self) -> bool {
        *self == PoolModel::Bb8
    }

    /// The library's own words (see [`ModelWords`]).
    pub(crate) fn words(self) -> &'static ModelWords {
        match self {
            PoolModel::Bb8 => &BB8_WORDS,
            PoolModel::Asyncpg => &ASYNCPG_WORDS,
            PoolModel::Sqlalchemy => &SQLALCHEMY_WORDS,
            PoolModel::Psycopg => &PSYCOPG_WORDS,
        }
    }
}

/// A pool model's own words for what the diagnosis names: its keys, and the behaviours a
/// finding blames, so that advice speaks of the library the user runs.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ModelWords {
    /// The library's name in a sentence.
    pub library: &'static str,
    /// The key(s) that size one pool.
    pub size: &'static str,
    /// How long an acquire waits.
    pub timeout: &'static str,
    /// The check at checkout, as a setting to turn on (`None`: the library has none).
    pub pre_ping: Option<&'static str>,
    /// The key that keeps connections open while idle (`None`: SQLAlchemy's pool starts empty).
    pub kept_open: Option<&'static str>,
    /// Why a connection counted in `closed_max_lifetime` was closed (its age or its use).
    pub lifetime: &'static str,
    /// Why one counted in `closed_idle_timeout` was (`None`: the library closes none for idling).
    pub idle: Option<&'static str>,
    /// What to change so that the pool stops replacing its own connections.
    pub keep_longer: &'static str,
    /// How a released connection may reach a newcomer before the longest waiter (`None`: the
    /// library hands it to the oldest waiter, FIFO).
    pub barging: Option<&'static str>,
}

const BB8_WORDS: ModelWords = ModelWords {
    library: "bb8",
    size: "max_size",
    timeout: "connection_timeout",
    pre_ping: Some("test_on_check_out"),
    kept_open: Some("min_idle"),
    lifetime: "max_lifetime",
    idle: Some("idle_timeout"),
    keep_longer: "lengthen max_lifetime and idle_timeout (or set min_idle)",
    barging: Some(
        "bb8 hands a released connection to whichever task asks next (often the one that had just \
         released it), not to the longest waiter",
    ),
};

const ASYNCPG_WORDS: ModelWords = ModelWords {
    library: "asyncpg",
    size: "max_size",
    timeout: "acquire_timeout",
    pre_ping: None,
    kept_open: Some("min_size"),
    lifetime: "max_queries",
    idle: Some("max_inactive_connection_lifetime"),
    keep_longer: "raise max_queries and max_inactive_connection_lifetime (or min_size, below which idle \
                  connections are kept)",
    barging: None,
};

const SQLALCHEMY_WORDS: ModelWords = ModelWords {
    library: "SQLAlchemy's QueuePool",
    size: "pool_size + max_overflow",
    timeout: "pool_timeout",
    pre_ping: Some("pool_pre_ping"),
    kept_open: None,
    lifetime: "pool_recycle",
    idle: None,
    keep_longer: "raise pool_size towards the peak in use, so that overflow connections are not closed \
                  when given back and reopened at the next burst (and lengthen pool_recycle if set)",
    barging: Some(
        "SQLAlchemy's async queue puts a released connection back and only wakes the oldest waiter, so \
         a task that asks first (often the one that had just released it) takes it",
    ),
};

const PSYCOPG_WORDS: ModelWords = ModelWords {
    library: "psycopg_pool",
    size: "max_size",
    timeout: "timeout",
    pre_ping: Some("check = \"check_connection\""),
    kept_open: Some("min_size"),
    lifetime: "max_lifetime",
    idle: Some("max_idle"),
    keep_longer: "lengthen max_lifetime and max_idle (or raise min_size, below which max_idle closes none)",
    barging: None,
};

/// `model = "asyncpg"`: `asyncpg.create_pool(...)` and `pool.acquire(timeout=...)`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct AsyncpgSettings {
    /// Connections opened when the pool is created (`min_size`, 10).
    #[serde(default = "ten")]
    pub(crate) min_size: u32,
    /// Most connections (`max_size`, 10); opened lazily by acquires beyond `min_size`.
    #[serde(default = "ten")]
    pub(crate) max_size: u32,
    /// `pool.acquire(timeout=...)`: off (wait forever) by default, as asyncpg.
    #[serde(default = "off")]
    pub(crate) acquire_timeout: Toggle,
    /// Queries after which a connection is closed on release and replaced (50,000).
    #[serde(default = "fifty_thousand")]
    pub(crate) max_queries: u64,
    /// An idle connection beyond `min_size` is closed after this long (300 s; "off" is
    /// asyncpg's 0).
    #[serde(default = "five_minutes")]
    pub(crate) max_inactive_connection_lifetime: Toggle,
}

impl Default for AsyncpgSettings {
    fn default() -> Self {
        AsyncpgSettings {
            min_size: 10,
            max_size: 10,
            acquire_timeout: off(),
            max_queries: fifty_thousand(),
            max_inactive_connection_lifetime: five_minutes(),
        }
    }
}

/// `model = "sqlalchemy"`: `create_engine`/`create_async_engine(url, pool_size=..., ...)`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct SqlalchemySettings {
    /// Connections kept in the pool when returned (5); the pool starts empty.
    #[serde(default = "five")]
    pub(crate) pool_size: u32,
    /// Connections beyond `pool_size`, closed when returned while `pool_size` are idle (10;
    /// -1: no limit).
    #[serde(default = "ten_i")]
    pub(crate) max_overflow: i32,
    /// How long a checkout waits once `pool_size + max_overflow` are out (30 s).
    #[serde(default = "thirty_seconds", with = "crate::scenario::duration")]
    pub(crate) pool_timeout: Duration,
    /// A connection older than this is replaced at checkout (off, SQLAlchemy's -1).
    #[serde(default = "off")]
    pub(crate) pool_recycle: Toggle,
    /// Ping a connection at checkout; a dead one is replaced (false).
    #[serde(default)]
    pub(crate) pool_pre_ping: bool,
    /// Take the most recently returned connection (false: the oldest).
    #[serde(default)]
    pub(crate) pool_use_lifo: bool,
    /// What a returned connection gets (`rollback`, SQLAlchemy's default).
    #[serde(default = "rollback")]
    pub(crate) reset_on_return: ResetOnReturn,
}

impl Default for SqlalchemySettings {
    fn default() -> Self {
        SqlalchemySettings {
            pool_size: 5,
            max_overflow: 10,
            pool_timeout: thirty_seconds(),
            pool_recycle: off(),
            pool_pre_ping: false,
            pool_use_lifo: false,
            reset_on_return: ResetOnReturn::Rollback,
        }
    }
}

/// psycopg_pool's `check` callback.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq)]
#[serde(rename_all = "snake_case")]
pub(crate) enum PsycopgCheck {
    /// No check at checkout (psycopg_pool's `check=None`).
    #[default]
    None,
    /// `check=AsyncConnectionPool.check_connection`: an empty query at checkout.
    CheckConnection,
}

/// `model = "psycopg"`: `psycopg_pool.AsyncConnectionPool(conninfo, ...)`.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub(crate) struct PsycopgSettings {
    /// Connections kept open (4), opened in the background when the pool opens.
    #[serde(default = "four")]
    pub(crate) min_size: u32,
    /// Most connections (defaults to `min_size`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) max_size: Option<u32>,
    /// How long `getconn()` waits (30 s).
    #[serde(default = "thirty_seconds", with = "crate::scenario::duration")]
    pub(crate) timeout: Duration,
    /// Most requests waiting; beyond it `TooManyRequests` at once (0: no limit).
    #[serde(default)]
    pub(crate) max_waiting: u32,
    /// A connection older than this is closed when returned and replaced (1 h).
    #[serde(default = "one_hour", with = "crate::scenario::duration")]
    pub(crate) max_lifetime: Duration,
    /// Idle connections beyond `min_size` unused this long are closed (10 min).
    #[serde(default = "ten_minutes", with = "crate::scenario::duration")]
    pub(crate) max_idle: Duration,
    /// How long a failed connection keeps being retried in the background (5 min).
    #[serde(default = "five_minutes_d", with = "crate::scenario::duration")]
    pub(crate) reconnect_timeout: Duration,
    /// The check at checkout.
    #[serde(default)]
    pub(crate) check: PsycopgCheck,
}

impl PsycopgSettings {
    /// `max_size`, or `min_size` when not given.
    pub(crate) fn effective_max_size(&self) -> u32 {
        self.max_size.unwrap_or(self.min_size)
    }
}

impl Default for PsycopgSettings {
    fn default() -> Self {
        PsycopgSettings {
            min_size: 4,
            max_size: None,
            timeout: thirty_seconds(),
            max_waiting: 0,
            max_lifetime: one_hour(),
            max_idle: ten_minutes(),
            reconnect_timeout: five_minutes_d(),
            check: PsycopgCheck::None,
        }
    }
}

fn four() -> u32 {
    4
}
fn five() -> u32 {
    5
}
fn ten() -> u32 {
    10
}
fn ten_i() -> i32 {
    10
}
fn fifty_thousand() -> u64 {
    50_000
}
fn off() -> Toggle {
    Toggle(None)
}
fn rollback() -> ResetOnReturn {
    ResetOnReturn::Rollback
}
fn thirty_seconds() -> Duration {
    Duration::from_secs(30)
}
fn five_minutes() -> Toggle {
    Toggle(Some(five_minutes_d()))
}
fn five_minutes_d() -> Duration {
    Duration::from_secs(300)
}
fn ten_minutes() -> Duration {
    Duration::from_secs(600)
}
fn one_hour() -> Duration {
    Duration::from_secs(3600)
}

impl super::PoolSettings {
    /// The most connections one pool instance opens at once, whatever the model (bb8's
    /// `max_size`; SQLAlchemy's `pool_size + max_overflow`, `None` when unlimited).
    pub(crate) fn capacity(&self) -> Option<u32> {
        match self.model {
            PoolModel::Bb8 => Some(self.max_size),
            PoolModel::Asyncpg => Some(self.asyncpg().max_size),
            PoolModel::Sqlalchemy => {
                let s = self.sqlalchemy();
                u32::try_from(s.max_overflow)
                    .ok()
                    .map(|o| s.pool_size.saturating_add(o))
            }
            PoolModel::Psycopg => Some(self.psycopg().effective_max_size()),
        }
    }

    /// The connections a pool keeps open when idle (bb8's `min_idle`, asyncpg's and psycopg's
    /// `min_size`; SQLAlchemy's pool starts empty and keeps up to `pool_size`).
    pub(crate) fn kept_open(&self) -> u32 {
        match self.model {
            PoolModel::Bb8 => self.min_idle.unwrap_or(0),
            PoolModel::Asyncpg => self.asyncpg().min_size,
            PoolModel::Sqlalchemy => 0,
            PoolModel::Psycopg => self.psycopg().min_size,
        }
    }

    /// How long an acquire waits (`None`: forever, asyncpg's default).
    pub(crate) fn acquire_timeout(&self) -> Option<Duration> {
        match self.model {
            PoolModel::Bb8 => Some(self.connection_timeout),
            PoolModel::Asyncpg => self.asyncpg().acquire_timeout.0,
            PoolModel::Sqlalchemy => Some(self.sqlalchemy().pool_timeout),
            PoolModel::Psycopg => Some(self.psycopg().timeout),
        }
    }

    /// Whether a checkout pings the connection first.
    pub(crate) fn pings_on_checkout(&self) -> bool {
        match self.model {
            PoolModel::Bb8 => self.test_on_check_out,
            PoolModel::Asyncpg => false,
            PoolModel::Sqlalchemy => self.sqlalchemy().pool_pre_ping,
            PoolModel::Psycopg => self.psycopg().check == PsycopgCheck::CheckConnection,
        }
    }

    /// The model's own words for what the diagnosis names (`max_overflow`, not `max_size`,
    /// for SQLAlchemy).
    pub(crate) fn words(&self) -> &'static ModelWords {
        self.model.words()
    }

    /// Whether a connection given back is reset (a transaction left open is rolled back):
    /// bb8's and SQLAlchemy's `reset_on_return`; asyncpg's `Connection.reset()` and
    /// psycopg_pool's `_reset_connection` always do.
    pub(crate) fn resets_on_return(&self) -> bool {
        match self.model {
            PoolModel::Bb8 => !self.reset_on_return.is_none(),
            PoolModel::Asyncpg | PoolModel::Psycopg => true,
            PoolModel::Sqlalchemy => !self.sqlalchemy().reset_on_return.is_none(),
        }
    }

    /// The age after which a connection is replaced (bb8's and psycopg's `max_lifetime`,
    /// SQLAlchemy's `pool_recycle`; asyncpg has none: `max_queries` counts queries).
    pub(crate) fn age_limit(&self) -> Option<Duration> {
        match self.model {
            PoolModel::Bb8 => self.max_lifetime.0,
            PoolModel::Asyncpg => None,
            PoolModel::Sqlalchemy => self.sqlalchemy().pool_recycle.0,
            PoolModel::Psycopg => Some(self.psycopg().max_lifetime),
        }
    }

    /// The key of [`Self::age_limit`] in the model's own words (`None`: asyncpg has no age
    /// limit).
    pub(crate) fn age_key(&self) -> Option<&'static str> {
        match self.model {
            PoolModel::Bb8 | PoolModel::Psycopg => Some("max_lifetime"),
            PoolModel::Asyncpg => None,
            PoolModel::Sqlalchemy => Some("pool_recycle"),
        }
    }

    pub(crate) fn asyncpg(&self) -> AsyncpgSettings {
        self.asyncpg.clone().unwrap_or_default()
    }

    pub(crate) fn sqlalchemy(&self) -> SqlalchemySettings {
        self.sqlalchemy.clone().unwrap_or_default()
    }

    pub(crate) fn psycopg(&self) -> PsycopgSettings {
        self.psycopg.clone().unwrap_or_default()
    }
}

impl super::PoolSettings {
    /// [`PoolSettings::capacity`](super::PoolSettings::capacity), or `tasks` when unlimited
    /// (at most one connection per task is ever wanted).
    pub(crate) fn size_limit(&self, tasks: u32) -> u32 {
        self.capacity().unwrap_or(tasks)
    }
}
