//! The embedded default without server binaries: when none are found (`PG_BIN`, `PATH`,
//! `/usr/lib/postgresql/*/bin`) but a Docker engine answers, the variant's server is a
//! container instead, with the same `max_connections` and settings, its data directory on a
//! tmpfs like the embedded server's throwaway cluster, and `stress` says so. The image is
//! `postgres:16` unless `STRESS_DOCKER_IMAGE` names another; the network is the default bridge
//! unless `STRESS_DOCKER_NETWORK=host`.

use super::InfraError;
use super::binaries;
use super::docker::engine_answers;
use crate::scenario::model::{DEFAULT_IMAGE, DockerNetwork, DockerSettings, EmbeddedSettings};

/// The container to start instead of the embedded server, when one must be.
pub(super) fn wanted(embedded: &EmbeddedSettings) -> Result<Option<DockerSettings>, InfraError> {
    let missing = match binaries::find() {
        Ok(_) => return Ok(None),
        Err(e) => e,
    };
    if !engine_answers() {
        return Ok(None);
    }
    let settings = settings(embedded)?;
    crate::console::errln!(
        "stress: {}\nstress: a Docker engine answers: the server is a container of {} instead",
        missing.message,
        settings.image
    );
    Ok(Some(settings))
}

fn settings(embedded: &EmbeddedSettings) -> Result<DockerSettings, InfraError> {
    let image = std::env::var("STRESS_DOCKER_IMAGE")
        .ok()
        .filter(|i| !i.trim().is_empty())
        .unwrap_or_else(|| DEFAULT_IMAGE.to_string());
    let network = match std::env::var("STRESS_DOCKER_NETWORK").as_deref() {
        Err(_) | Ok("") | Ok("bridge") => DockerNetwork::Bridge,
        Ok("host") => DockerNetwork::Host,
        Ok(other) => {
            return Err(InfraError::new(format!(
                "STRESS_DOCKER_NETWORK={other}: must be `bridge` or `host`"
            )));
        }
    };
    Ok(DockerSettings {
        image,
        max_connections: embedded.max_connections,
        settings: embedded.settings.clone(),
        tmpfs: true,
        network,
        ..DockerSettings::default()
    })
}
