//! Opening a connection as libpq does, on our own socket ([`LocalSocket`]): TLS by `sslmode`,
//! with libpq's second attempts (`allow`: plain, then TLS if the server refused; `prefer`: TLS,
//! then plain if the handshake failed or the server refused the TLS session), none over a
//! unix socket. Used by every connection of the load, the admin connection and the samplers;
//! the connect latency the load measures includes the handshake.

use tokio_postgres::Client;
use tokio_postgres::config::SslMode as DriverMode;
use tokio_postgres::tls::MakeTlsConnect;
use tokio_postgres_rustls::MakeRustlsConnect;

use super::socket::{LocalSocket, Shared};
use crate::database::tls::{SslMode, Tls};
use crate::record::errors::{self, ErrorClass, OpError, Phase};

/// The stream under a connection: plain or TLS over our socket.
pub(crate) type PgStream = <MakeRustlsConnect as MakeTlsConnect<LocalSocket>>::Stream;

/// A connection's I/O half, as tokio-postgres splits it.
pub(crate) type PgConnection = tokio_postgres::Connection<LocalSocket, PgStream>;

/// An open connection: its client, its I/O half, and its socket (for the wire, `wire.rs`).
pub type Opened = (Client, PgConnection, Shared);

/// Opens a connection with `config` and `tls`; the error is classified (`tls_failed` when the
/// handshake or the verification failed, or the server refused TLS that `sslmode` requires).
pub async fn open(
    config: &tokio_postgres::Config,
    tls: &Tls,
    dial: Option<std::net::SocketAddr>,
) -> Result<Opened, OpError> {
    let attempts: &[DriverMode] = match tls.mode {
        SslMode::Disable => &[DriverMode::Disable],
        SslMode::Allow => &[DriverMode::Disable, DriverMode::Require],
        SslMode::Prefer => &[DriverMode::Prefer, DriverMode::Disable],
        SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull => &[DriverMode::Require],
    };
    let mut failure = None;
    for (i, mode) in attempts.iter().enumerate() {
        match attempt(config, tls, *mode, dial).await {
            Ok(opened) => return Ok(opened),
            Err((e, plain)) => {
                let last = i + 1 == attempts.len();
                failure = Some(e);
                // A unix socket had no TLS to give up or to add; a socket that could not be
                // opened would fail again.
                if last || plain || !second_chance(failure.as_ref()) {
                    break;
                }
            }
        }
    }
    Err(failure.expect("at least one attempt"))
}

/// libpq tries again, the other way, when the server refused or TLS failed.
fn second_chance(e: Option<&OpError>) -> bool {
    e.is_some_and(|e| matches!(e.class, ErrorClass::TlsFailed | ErrorClass::AuthFailed))
}

/// One attempt, on a socket to the server of `config` or to `dial` (the network proxy, see
/// `network/`); the error says whether the socket was a unix one (TLS never tried).
async fn attempt(
    config: &tokio_postgres::Config,
    tls: &Tls,
    mode: DriverMode,
    dial: Option<std::net::SocketAddr>,
) -> Result<Opened, (OpError, bool)> {
    let socket = match dial {
        Some(addr) => LocalSocket::connect_to(addr, config).await,
        None => LocalSocket::connect(config).await,
    }
    .map_err(|e| (errors::connect_failed(e), false))?;
    let shared = socket.shared();
    let Some(name) = socket.tls_name.clone() else {
        let mut config = config.clone();
        config.ssl_mode(DriverMode::Disable);
        let connector = MakeTlsConnect::<LocalSocket>::make_tls_connect(&mut tls.connector(), "")
            .expect("infallible");
        return match config.connect_raw(socket, connector).await {
            Ok((client, connection)) => Ok((client, connection, shared)),
            Err(e) => Err((errors::classify(&e, Phase::Connect, None), true)),
        };
    };
    let connector = MakeTlsConnect::<LocalSocket>::make_tls_connect(&mut tls.connector(), &name)
        .expect("infallible");
    let opened = match config.get_ssl_mode() == mode {
        true => config.connect_raw(socket, connector).await,
        false => {
            let mut config = config.clone();
            config.ssl_mode(mode);
            config.connect_raw(socket, connector).await
        }
    };
    match opened {
        Ok((client, connection)) => Ok((client, connection, shared)),
        Err(e) => Err((errors::classify(&e, Phase::Connect, None), false)),
    }
}

/// Asks the server to cancel what `token`'s connection runs, on a new socket of ours with the
/// same TLS (tokio-postgres's own `cancel_query` knows no host for a connection opened on our
/// socket). Best effort: a failure is ignored, as the caller gives up anyway.
pub(crate) async fn cancel(
    config: &tokio_postgres::Config,
    tls: &Tls,
    token: &tokio_postgres::CancelToken,
) {
    let Ok(socket) = LocalSocket::connect(config).await else {
        return;
    };
    let name = socket.tls_name.clone().unwrap_or_default();
    let connector = MakeTlsConnect::<LocalSocket>::make_tls_connect(&mut tls.connector(), &name)
        .expect("infallible");
    let _ = token.cancel_query_raw(socket, connector).await;
}
