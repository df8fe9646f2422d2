//! The scenario file's shape: one variant's effective settings, with every default spelled out.
//!
//! These types are what a scenario deserializes into after variants and `--set` are merged
//! (unknown keys are errors), what `stress check --print` shows, and what the report records
//! under `settings`. Semantic checks live in `validate.rs`.

use serde::{Deserialize, Serialize};

mod access;
mod database;
mod docker;
mod load;
mod network;
mod pgbouncer;
mod pool;
mod pool_models;
pub(crate) mod toxics;
mod values;
mod workload;

pub(crate) use super::expect::ExpectSettings;
pub use super::faults::{FaultKind, FaultSettings, RestartMode};
pub(crate) use super::pacing::{OnFailure, Pacing};
use crate::record::errors::ErrorClass;
pub use access::*;
pub use database::*;
pub use docker::*;
pub use load::*;
pub(crate) use network::*;
pub use pgbouncer::*;
pub use pool::*;
pub(crate) use pool_models::*;
pub(crate) use toxics::*;
pub(crate) use values::*;
pub use workload::*;

/// One variant's effective settings: the whole scenario document after merging.
#[derive(Clone, Debug, Deserialize, Serialize)]
#[serde(deny_unknown_fields)]
pub struct Settings {
    pub(crate) name: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) description: Option<String>,
    /// Seed of the parameter streams; a random one is chosen (and reported) when absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) seed: Option<u64>,
    #[serde(default)]
    pub database: DatabaseSettings,
    #[serde(default)]
    pub(crate) load: LoadSettings,
    #[serde(default)]
    pub(crate) access: AccessSettings,
    #[serde(default)]
    pub(crate) pool: PoolSettings,
    #[serde(default, skip_serializing_if = "NetworkSettings::is_off")]
    pub(crate) network: NetworkSettings,
    #[serde(default)]
    pub(crate) workload: Vec<WorkloadSettings>,
    /// Faults injected during the measured phase.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub(crate) fault: Vec<FaultSettings>,
    /// The CI gate's checks (see `expect.rs`). `[sweep]` never gets here: the loader expands
    /// it into variants first (see `sweep.rs`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) expect: Option<ExpectSettings>,
}

impl Settings {
    /// The settings as they may be shown or stored (`check --print`, the report, the settings
    /// hash): the database URL's password replaced by `***`.
    pub(crate) fn redacted(&self) -> Settings {
        let mut shown = self.clone();
        if let Some(url) = &mut shown.database.url {
            *url = crate::conninfo::url::redacted_str(url);
        }
        if let Some(docker) = &mut shown.database.docker {
            for (name, value) in &mut docker.env {
                if name.to_ascii_uppercase().contains("PASSWORD") {
                    *value = "***".into();
                }
            }
        }
        shown
    }
}
