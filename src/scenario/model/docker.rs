//! `[database.docker]`: PostgreSQL in a container started by `stress` (cargo feature `docker`,
//! on by default): which image, its environment, server settings, the data directory on a
//! tmpfs or not, and how its port is reached.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::*;

/// The image used when `[database.docker]` names none: Docker Hub's official image, as users
/// have it.
pub(crate) const DEFAULT_IMAGE: &str = "postgres:16";

/// `[database.docker]`: a throwaway container of a PostgreSQL image.
#[derive(Clone, Debug, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(deny_unknown_fields)]
pub struct DockerSettings {
    /// `name:tag`, pulled when missing (when a registry is reachable).
    #[serde(default = "default_image")]
    pub(crate) image: String,
    /// Environment of the container (`POSTGRES_USER`, `POSTGRES_DB`, ...). `POSTGRES_PASSWORD`
    /// is drawn for each container unless set here.
    #[serde(default)]
    pub(crate) env: BTreeMap<String, String>,
    #[serde(default = "default_max_connections")]
    pub(crate) max_connections: u32,
    /// Any other server setting, passed as `-c name=value`.
    #[serde(default)]
    pub(crate) settings: BTreeMap<String, SettingValue>,
    /// The data directory on a tmpfs (in memory): faster, gone with the container.
    #[serde(default)]
    pub(crate) tmpfs: bool,
    #[serde(default)]
    pub(crate) network: DockerNetwork,
}

/// How the container's server is reached.
#[derive(Clone, Copy, Debug, Default, Deserialize, Serialize, PartialEq, Eq, Hash)]
#[serde(rename_all = "lowercase")]
pub enum DockerNetwork {
    /// Docker's default bridge, the server's 5432 mapped to a free port of the host.
    #[default]
    Bridge,
    /// The host's network: the server listens on a free port picked by `stress` (`-c port=N`).
    Host,
}

fn default_image() -> String {
    DEFAULT_IMAGE.to_string()
}

fn default_max_connections() -> u32 {
    100
}

impl Default for DockerSettings {
    fn default() -> Self {
        DockerSettings {
            image: default_image(),
            env: BTreeMap::new(),
            max_connections: default_max_connections(),
            settings: BTreeMap::new(),
            tmpfs: false,
            network: DockerNetwork::default(),
        }
    }
}
