//! The harness's own connection: setup, teardown, statement preparation, sampling and faults.
//! Named `stress:<run id>:admin`, never counted among the run's backends, and reopened when
//! the server restarted under it.

use std::sync::{Arc, Mutex};

use tokio_postgres::Client;

use super::RunError;
use crate::access::conn::application_prefix;
use crate::database::{Database, Tls};
use crate::record::errors::{OpError, describe};

pub(crate) struct Admin {
    config: tokio_postgres::Config,
    tls: Tls,
    pub(crate) name: String,
    display_url: String,
    client: Mutex<Arc<Client>>,
}

/// The server as the admin connection sees it.
#[derive(Clone, Debug)]
pub(crate) struct ServerInfo {
    pub(crate) version: String,
    pub(crate) max_connections: u32,
    pub(crate) reserved_connections: u32,
    /// Whether our role is a superuser, who may also use the reserved connection slots.
    pub(crate) superuser: bool,
}

async fn open(config: &tokio_postgres::Config, tls: &Tls) -> Result<Client, OpError> {
    let (client, connection, _) = crate::access::open::open(config, tls, None).await?;
    // Its errors surface on its own queries.
    tokio::spawn(async move {
        let _ = connection.await;
    });
    Ok(client)
}

impl Admin {
    pub(crate) async fn connect(db: &Database, run_id: &str) -> Result<Admin, RunError> {
        let name = format!("{}admin", application_prefix(run_id));
        let mut config = db.config.clone();
        config.application_name(&name);
        let client = open(&config, &db.tls)
            .await
            .map_err(|e| RunError::Infra(format!("cannot connect to {}: {e}", db.display_url)))?;
        Ok(Admin {
            config,
            tls: db.tls.clone(),
            name,
            display_url: db.display_url.clone(),
            client: Mutex::new(Arc::new(client)),
        })
    }

    /// The admin client, reopened if its connection died (a restarted server).
    pub(crate) async fn client(&self) -> Result<Arc<Client>, RunError> {
        let current = self.client.lock().expect("admin lock").clone();
        if !current.is_closed() {
            return Ok(current);
        }
        let fresh = Arc::new(open(&self.config, &self.tls).await.map_err(|e| {
            RunError::Infra(format!("cannot reconnect to {}: {e}", self.display_url))
        })?);
        *self.client.lock().expect("admin lock") = fresh.clone();
        Ok(fresh)
    }

    /// A connection of its own, under the admin's name (never counted among the run's backends),
    /// for a fault that holds a transaction open (`kind = "sql"` with `for`).
    pub(crate) async fn open_session(&self) -> Result<Client, RunError> {
        open(&self.config, &self.tls)
            .await
            .map_err(|e| RunError::Infra(format!("cannot connect to {}: {e}", self.display_url)))
    }

    /// Cancels what the admin connection runs (see [`crate::access::open::cancel`]).
    pub(crate) async fn cancel(&self, token: &tokio_postgres::CancelToken) {
        crate::access::open::cancel(&self.config, &self.tls, token).await;
    }

    pub(crate) async fn server_info(&self) -> Result<ServerInfo, RunError> {
        let row = self
            .client()
            .await?
            .query_one(
                "SELECT current_setting('server_version'), \
                        current_setting('max_connections')::int, \
                        current_setting('superuser_reserved_connections')::int, \
                        current_setting('is_superuser') = 'on'",
                &[],
            )
            .await
            .map_err(|e| {
                RunError::Infra(format!(
                    "cannot read the server's settings: {}",
                    describe(&e)
                ))
            })?;
        let n = |i: usize| u32::try_from(row.get::<_, i32>(i)).unwrap_or(0);
        let version: String = row.get(0);
        Ok(ServerInfo {
            version: version
                .split_whitespace()
                .next()
                .unwrap_or_default()
                .to_string(),
            max_connections: n(1),
            reserved_connections: n(2),
            superuser: row.get(3),
        })
    }
}
