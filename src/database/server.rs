//! A server started by `stress` for a run: the embedded one, or a container
//! (`[database.docker]`, or the fallback when no server binaries are found). The faults that
//! stop and start the server act on either through [`Server`].

#[cfg(feature = "docker")]
use super::docker::DockerServer;
use super::{EmbeddedServer, InfraError, SourceKind, StopMode};
#[cfg(feature = "docker")]
use crate::scenario::model::DockerSettings;
use crate::scenario::model::{DatabaseSettings, EmbeddedSettings};

/// A running server of ours.
// One per variant at most, behind an `Arc<Mutex<_>>`: the embedded server's size (its TLS
// material) costs nothing here, and boxing it would only add a pointer chase to every match.
#[allow(clippy::large_enum_variant)]
#[derive(Debug)]
pub enum Server {
    Embedded(EmbeddedServer),
    #[cfg(feature = "docker")]
    Docker(DockerServer),
}

/// Which server a variant wants: the settings it is started with.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Wanted {
    Embedded(EmbeddedSettings),
    #[cfg(feature = "docker")]
    Docker(DockerSettings),
}

impl Wanted {
    /// The variant's: `[database.docker]` when set, else the embedded server.
    pub(crate) fn of(settings: &DatabaseSettings) -> Wanted {
        #[cfg(feature = "docker")]
        if let Some(d) = &settings.docker {
            return Wanted::Docker(d.clone());
        }
        Wanted::Embedded(settings.embedded.clone())
    }
}

impl Server {
    /// Connection settings for its superuser on 127.0.0.1.
    pub(crate) fn config(&self) -> tokio_postgres::Config {
        match self {
            Server::Embedded(s) => s.config(),
            #[cfg(feature = "docker")]
            Server::Docker(s) => s.config(),
        }
    }

    /// How the harness connects to it: the embedded server's TLS (`ssl = true`), or plain.
    pub(crate) fn tls(&self) -> super::Tls {
        match self {
            Server::Embedded(s) => s.tls(),
            #[cfg(feature = "docker")]
            Server::Docker(_) => super::Tls::plain(),
        }
    }

    pub(crate) fn source(&self) -> SourceKind {
        match self {
            Server::Embedded(_) => SourceKind::Embedded,
            #[cfg(feature = "docker")]
            Server::Docker(_) => SourceKind::Docker,
        }
    }

    /// Whether it was started with the settings a variant wants (else it gets its own).
    pub(crate) fn serves(&self, wanted: &Wanted) -> bool {
        match (self, wanted) {
            (Server::Embedded(s), Wanted::Embedded(w)) => &s.settings == w,
            #[cfg(feature = "docker")]
            (Server::Docker(s), Wanted::Docker(w)) => &s.settings == w,
            #[cfg(feature = "docker")]
            _ => false,
        }
    }

    /// Stops the server; the container (or data directory) stays for [`Self::restart`].
    pub(crate) fn stop(&mut self, mode: StopMode) -> Result<(), InfraError> {
        match self {
            Server::Embedded(s) => {
                s.stop(mode);
                Ok(())
            }
            #[cfg(feature = "docker")]
            Server::Docker(s) => s.stop(mode),
        }
    }

    /// Starts the stopped server again, on the same port.
    pub(crate) fn restart(&mut self) -> Result<(), InfraError> {
        match self {
            Server::Embedded(s) => s.restart(),
            #[cfg(feature = "docker")]
            Server::Docker(s) => s.restart(),
        }
    }

    /// The embedded server, when it is one.
    pub(crate) fn embedded(&self) -> Option<&EmbeddedServer> {
        match self {
            Server::Embedded(s) => Some(s),
            #[cfg(feature = "docker")]
            Server::Docker(_) => None,
        }
    }

    /// The container, when it is one.
    #[cfg(feature = "docker")]
    pub(crate) fn docker(&self) -> Option<&DockerServer> {
        match self {
            Server::Docker(s) => Some(s),
            Server::Embedded(_) => None,
        }
    }
}
