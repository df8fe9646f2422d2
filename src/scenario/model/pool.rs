//! `[pool]`: the pool's settings (its [`Toggle`] and [`ResetOnReturn`] values live in
//! `values.rs`, shared with the pool models).

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::pool_models::{AsyncpgSettings, PoolModel, PsycopgSettings, SqlalchemySettings};
use super::values::{ResetOnReturn, Toggle};

/// `[pool]`: bb8's settings, with bb8's names and defaults.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq)]
#[serde(deny_unknown_fields)]
pub struct PoolSettings {
    #[serde(default = "default_max_size")]
    pub(crate) max_size: u32,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) min_idle: Option<u32>,
    #[serde(
        default = "default_connection_timeout",
        with = "crate::scenario::duration"
    )]
    pub(crate) connection_timeout: Duration,
    #[serde(default = "default_idle_timeout")]
    pub(crate) idle_timeout: Toggle,
    #[serde(default = "default_max_lifetime")]
    pub(crate) max_lifetime: Toggle,
    #[serde(default = "default_reaper_rate", with = "crate::scenario::duration")]
    pub(crate) reaper_rate: Duration,
    #[serde(default = "yes")]
    pub(crate) test_on_check_out: bool,
    #[serde(default)]
    pub(crate) queue_strategy: QueueStrategy,
    /// bb8 retries failed connects until `connection_timeout`.
    #[serde(default = "yes")]
    pub(crate) retry_connection: bool,
    /// The pool reproduced: bb8 (these keys) or a library's (see `pool_models.rs`). Not
    /// written for bb8, so that bb8 scenarios keep their settings hash (and baselines).
    #[serde(default, skip_serializing_if = "PoolModel::is_bb8")]
    pub(crate) model: PoolModel,
    /// `model = "asyncpg"`: its keys, moved here from `[pool]` by the loader.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) asyncpg: Option<AsyncpgSettings>,
    /// `model = "sqlalchemy"`: likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) sqlalchemy: Option<SqlalchemySettings>,
    /// `model = "psycopg"`: likewise.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) psycopg: Option<PsycopgSettings>,
    /// What the pool does to a connection given back (see [`ResetOnReturn`]); bb8 does nothing.
    /// Not written when `none`, so that the settings (and their hash, which baselines are held
    /// to) of scenarios that do not use it stay as they were.
    #[serde(default, skip_serializing_if = "ResetOnReturn::is_none")]
    pub(crate) reset_on_return: ResetOnReturn,
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
            model: PoolModel::Bb8,
            asyncpg: None,
            sqlalchemy: None,
            psycopg: None,
            reset_on_return: ResetOnReturn::None,
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
