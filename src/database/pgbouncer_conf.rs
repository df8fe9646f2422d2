//! What a throwaway PgBouncer is started from: its binary (`PGBOUNCER_BIN`, `PATH`,
//! `/usr/sbin/pgbouncer`), its version, and the files `stress` writes for it (configuration and
//! auth file) in its private temporary directory.
//!
//! Who may log in: the harness only. The auth file holds the MD5 verifier of a random 256-bit
//! password made for this PgBouncer (never the database's password, never in a log or output),
//! for a user of its own (see [`Upstream::client_user`]); the database's own password, when the
//! source has one, is written only into the configuration's `[databases]` line, which PgBouncer
//! uses to log in to the server. Both files are in a 0700 directory and removed with it.
//!
//! Why MD5 and not SCRAM between the harness and PgBouncer: PgBouncer 1.18 copies a
//! SCRAM-authenticated client's keys into the `[databases]` user and then logs in to the server
//! with them instead of that user's password, which fails. MD5 is a challenge-response over
//! 127.0.0.1 here, with a random password that lives as long as the run.

use std::fmt::Write as _;
use std::path::{Path, PathBuf};
use std::process::Command;

use super::InfraError;
use super::auth::Secret;
use crate::conninfo::tls::{SslMode, Tls};
use crate::scenario::model::PgBouncerSettings;

/// Where PgBouncer's binary is looked for last.
const SYSTEM_BINARY: &str = "/usr/sbin/pgbouncer";

/// The binary: `PGBOUNCER_BIN`, else `pgbouncer` on `PATH`, else `/usr/sbin/pgbouncer`.
pub(crate) fn binary() -> Result<PathBuf, InfraError> {
    if let Some(bin) = std::env::var_os("PGBOUNCER_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        return match bin.is_file() {
            true => Ok(bin),
            false => Err(InfraError::new(format!(
                "PGBOUNCER_BIN names {}, which is not a file",
                bin.display()
            ))),
        };
    }
    let on_path = std::env::var_os("PATH").and_then(|path| {
        std::env::split_paths(&path)
            .map(|dir| dir.join("pgbouncer"))
            .find(|p| p.is_file())
    });
    if let Some(bin) = on_path {
        return Ok(bin);
    }
    let system = PathBuf::from(SYSTEM_BINARY);
    match system.is_file() {
        true => Ok(system),
        false => Err(InfraError::new(
            "[database.pgbouncer]: PgBouncer was not found (not on PATH, no PGBOUNCER_BIN, no \
             /usr/sbin/pgbouncer): install it (Debian: apt-get install pgbouncer) or set \
             PGBOUNCER_BIN",
        )),
    }
}

/// A PgBouncer version: `(major, minor, patch)`.
pub(crate) type Version = (u32, u32, u32);

/// The version `bin --version` prints ("PgBouncer 1.18.0").
pub(crate) fn version(bin: &Path) -> Result<Version, InfraError> {
    let out = Command::new(bin)
        .arg("--version")
        .output()
        .map_err(|e| InfraError::new(format!("cannot run {} --version: {e}", bin.display())))?;
    let text = String::from_utf8_lossy(&out.stdout);
    parse_version(&text).ok_or_else(|| {
        InfraError::new(format!(
            "{} --version printed no PgBouncer version: {}",
            bin.display(),
            text.lines().next().unwrap_or_default()
        ))
    })
}

fn parse_version(text: &str) -> Option<Version> {
    let word = text
        .lines()
        .find_map(|l| l.strip_prefix("PgBouncer "))?
        .split_whitespace()
        .next()?;
    let mut parts = word.split('.').map(|p| {
        p.chars()
            .take_while(char::is_ascii_digit)
            .collect::<String>()
            .parse::<u32>()
            .ok()
    });
    let major = parts.next()??;
    let minor = parts.next().flatten().unwrap_or(0);
    let patch = parts.next().flatten().unwrap_or(0);
    Some((major, minor, patch))
}

/// `max_prepared_statements` exists from PgBouncer 1.21 on; older ones refuse to start with it.
pub(crate) fn check_supported(
    settings: &PgBouncerSettings,
    bin: &Path,
    v: Version,
) -> Result<(), InfraError> {
    if settings.max_prepared_statements.is_some() && v < (1, 21, 0) {
        return Err(InfraError::bad_input(format!(
            "database.pgbouncer.max_prepared_statements: needs PgBouncer 1.21 or later, and {} \
             is {}.{}.{}; remove the key (and use access.query_mode = \"extended\" for \
             statements that survive transaction pooling) or point PGBOUNCER_BIN at a newer \
             PgBouncer",
            bin.display(),
            v.0,
            v.1,
            v.2
        )));
    }
    Ok(())
}

/// The server PgBouncer logs in to, from the source's connection settings.
#[derive(Clone, Debug)]
pub(crate) struct Upstream {
    pub(crate) host: String,
    pub(crate) port: u16,
    pub(crate) user: String,
    pub(crate) dbname: String,
    /// The source's password, if it has one.
    pub(crate) password: Option<String>,
    /// How PgBouncer must reach the server when the source asks for TLS (`require` and the
    /// `verify-*` modes): the mode and the root certificate file. Review of 2026-12-03: an
    /// embedded server with `ssl = true` (hostssl-only rules) refused PgBouncer's plain login.
    pub(crate) server_tls: Option<(SslMode, Option<PathBuf>)>,
}

impl Upstream {
    /// The user the harness logs in to PgBouncer as: not the server's user, whose entry
    /// (with its password, in `[databases]`) PgBouncer would otherwise replace with the auth
    /// file's verifier, and then fail to log in to the server.
    pub(crate) fn client_user(&self) -> &'static str {
        match self.user.as_str() {
            "stress" => "stress_harness",
            _ => "stress",
        }
    }

    pub(crate) fn of(config: &tokio_postgres::Config, tls: &Tls) -> Result<Upstream, InfraError> {
        use tokio_postgres::config::Host;
        let host = match config.get_hosts().first() {
            Some(Host::Tcp(h)) => h.clone(),
            Some(Host::Unix(p)) => p.display().to_string(),
            None => "127.0.0.1".to_string(),
        };
        let port = config.get_ports().first().copied().unwrap_or(5432);
        let user = config
            .get_user()
            .map(str::to_string)
            .or_else(|| std::env::var("USER").ok())
            .ok_or_else(|| {
                InfraError::new("[database.pgbouncer]: the database's connection names no user")
            })?;
        let dbname = config
            .get_dbname()
            .map_or_else(|| user.clone(), str::to_string);
        let password = config
            .get_password()
            .map(|p| String::from_utf8_lossy(p).into_owned());
        let needs_tls = matches!(
            tls.mode,
            SslMode::Require | SslMode::VerifyCa | SslMode::VerifyFull
        );
        Ok(Upstream {
            host,
            port,
            user,
            dbname,
            password,
            server_tls: needs_tls.then(|| (tls.mode, tls.root_file.clone())),
        })
    }
}

/// A value in PgBouncer's connection-string syntax: single-quoted, quotes doubled.
fn quoted(value: &str) -> String {
    format!("'{}'", value.replace('\'', "''"))
}

/// A name in the auth file's syntax: double-quoted, quotes doubled.
fn auth_quoted(value: &str) -> String {
    format!("\"{}\"", value.replace('"', "\"\""))
}

/// The configuration file: the one database, where to listen, the files, then the scenario's
/// settings (later lines win in PgBouncer's configuration, but reserved keys are refused by
/// validation before this).
pub(crate) fn config_text(
    settings: &PgBouncerSettings,
    up: &Upstream,
    dir: &Path,
    port: u16,
) -> String {
    let mut db = format!(
        "host={} port={} dbname={} user={}",
        quoted(&up.host),
        up.port,
        quoted(&up.dbname),
        quoted(&up.user)
    );
    if let Some(p) = &up.password {
        let _ = write!(db, " password={}", quoted(p));
    }
    let mut text = format!(
        "; Written by stress for one run; removed with its directory.\n\
         [databases]\n{} = {db}\n\n[pgbouncer]\n",
        ini_name(&up.dbname)
    );
    let ours = [
        ("listen_addr", "127.0.0.1".to_string()),
        ("listen_port", port.to_string()),
        ("unix_socket_dir", String::new()),
        ("auth_type", "md5".to_string()),
        ("auth_file", dir.join("userlist.txt").display().to_string()),
        ("admin_users", up.client_user().to_string()),
        ("pidfile", dir.join("pgbouncer.pid").display().to_string()),
        ("log_connections", "0".to_string()),
        ("log_disconnections", "0".to_string()),
    ];
    for (name, value) in ours {
        let _ = writeln!(text, "{name} = {value}");
    }
    // Before the scenario's settings, which may name other ones.
    if let Some((mode, root)) = &up.server_tls {
        let _ = writeln!(text, "server_tls_sslmode = {}", mode.as_str());
        if let Some(root) = root {
            let _ = writeln!(text, "server_tls_ca_file = {}", root.display());
        }
    }
    for (name, value) in settings.lines() {
        let _ = writeln!(text, "{name} = {value}");
    }
    text
}

/// A database name as a key of `[databases]` (quoted when it is not a plain word).
fn ini_name(name: &str) -> String {
    match name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_') {
        true => name.to_string(),
        false => auth_quoted(name),
    }
}

/// The auth file: the harness's user with the MD5 verifier of `secret` (`md5` and the hex of
/// md5(password + user), as PostgreSQL stores it).
pub(crate) fn auth_text(user: &str, secret: &Secret) -> String {
    use md5::{Digest, Md5};
    let digest = Md5::digest(format!("{}{user}", secret.expose()).as_bytes());
    let hex: String = digest.iter().map(|b| format!("{b:02x}")).collect();
    format!(
        "{} {}\n",
        auth_quoted(user),
        auth_quoted(&format!("md5{hex}"))
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn versions_are_read_from_the_first_line() {
        let text = "PgBouncer 1.18.0\nlibevent 2.1.12-stable\n";
        assert_eq!(parse_version(text), Some((1, 18, 0)));
        assert_eq!(parse_version("PgBouncer 1.21\n"), Some((1, 21, 0)));
        assert_eq!(parse_version("pgbouncer\n"), None);
    }

    #[test]
    fn max_prepared_statements_is_refused_before_1_21() {
        let s = PgBouncerSettings {
            max_prepared_statements: Some(100),
            ..PgBouncerSettings::default()
        };
        let bin = Path::new("/usr/sbin/pgbouncer");
        let e = check_supported(&s, bin, (1, 18, 0)).unwrap_err();
        assert!(e.bad_input && e.message.contains("1.21"), "{}", e.message);
        assert!(check_supported(&s, bin, (1, 21, 0)).is_ok());
        assert!(check_supported(&PgBouncerSettings::default(), bin, (1, 18, 0)).is_ok());
    }

    #[test]
    fn the_config_quotes_what_it_must_and_keeps_the_password_out_of_the_auth_file() {
        let up = Upstream {
            host: "127.0.0.1".into(),
            port: 5433,
            user: "app".into(),
            dbname: "my-db".into(),
            password: Some("it's".into()),
            server_tls: None,
        };
        let dir = Path::new("/tmp/stress-pgbouncer-x");
        let text = config_text(&PgBouncerSettings::default(), &up, dir, 6432);
        assert!(!text.contains("server_tls"), "{text}");
        let tls = Upstream {
            server_tls: Some((SslMode::VerifyFull, Some("/tmp/s/ca.crt".into()))),
            ..up.clone()
        };
        let with_tls = config_text(&PgBouncerSettings::default(), &tls, dir, 6432);
        assert!(
            with_tls
                .contains("server_tls_sslmode = verify-full\nserver_tls_ca_file = /tmp/s/ca.crt\n"),
            "{with_tls}"
        );
        assert!(text.contains("\"my-db\" = host='127.0.0.1' port=5433 dbname='my-db'"));
        assert!(text.contains("password='it''s'"), "{text}");
        assert!(text.contains("listen_port = 6432") && text.contains("pool_mode = session"));
        let secret = Secret::generate().unwrap();
        let auth = auth_text("stress", &secret);
        assert!(auth.starts_with("\"stress\" \"md5"), "{auth}");
        assert_eq!(auth.trim().len(), "\"stress\" \"md5\"".len() + 32);
        assert!(!auth.contains(secret.expose()) && !auth.contains("it's"));
    }
}
