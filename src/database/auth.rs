//! Who may connect to the embedded server: only the harness.
//!
//! - TCP (127.0.0.1 and ::1) takes SCRAM-SHA-256 only, with a random password made for each
//!   server start (32 bytes from the OS's CSPRNG). The template cluster, shared by every run,
//!   never holds it: it is set in the per-run copy.
//! - The unix socket lives in the server's temporary directory, mode 0700 and owned by the
//!   server's user: only that user (the harness itself, or the `postgres` account the harness
//!   runs the server as when it is root) and root can reach it. `local all all trust` is
//!   therefore safe, and it is how the password is set: over that socket, before anyone could
//!   log in over TCP. Peer authentication would not do: a root harness is `root`, not
//!   `postgres`, to the server. There is no moment when TCP admits anyone without a password:
//!   from the first start, TCP asks for a password the role does not have yet.
//! - The password is never on a command line (`ps`), in a message or in a report: the server
//!   receives only its SCRAM verifier, and [`Secret`] does not show itself in `Debug`.
//!
//! The verifier is computed here (RFC 5802) rather than by postgres-protocol, whose iteration
//! count is fixed at 4096: see [`SCRAM_ITERATIONS`].

use std::fmt;
use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::time::Duration;

use super::InfraError;
use super::binaries::RunAs;
use super::cluster::{self, SUPERUSER};

/// Bytes of randomness in a password (written as hex: no character needs escaping in a URL).
const SECRET_BYTES: usize = 32;

/// The rules the per-run `pg_hba.conf` holds; nothing else is admitted.
pub(crate) const HBA: &str = "\
# Written by stress for this server only; the template's rules are not used.
# The unix socket is in a 0700 directory of the server's user: only it (and root) can reach it.
local all all trust
host all all 127.0.0.1/32 scram-sha-256
host all all ::1/128 scram-sha-256
";

/// A password; shown as `***` by `Debug`.
#[derive(Clone, PartialEq, Eq)]
pub(crate) struct Secret(String);

impl Secret {
    /// A fresh random password.
    pub(crate) fn generate() -> Result<Secret, InfraError> {
        let mut bytes = [0u8; SECRET_BYTES];
        getrandom::fill(&mut bytes).map_err(|e| {
            InfraError::new(format!(
                "cannot draw a password for the embedded server: {e}"
            ))
        })?;
        Ok(Secret(bytes.iter().map(|b| format!("{b:02x}")).collect()))
    }

    /// The password itself: for connection settings only, never for display.
    pub(crate) fn expose(&self) -> &str {
        &self.0
    }
}

/// A password given by the user (`POSTGRES_PASSWORD` in `[database.docker] env`).
impl From<String> for Secret {
    fn from(password: String) -> Secret {
        Secret(password)
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(***)")
    }
}

/// Makes `dir` (the socket's directory) enterable by its owner only.
pub(crate) fn private_dir(dir: &Path) -> Result<(), InfraError> {
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700)).map_err(|e| {
        InfraError::new(format!(
            "cannot make {} private (mode 0700): {e}",
            dir.display()
        ))
    })
}

/// Writes the per-run `pg_hba.conf` and the password hashing into the copied data directory,
/// before its first start; files are given to the server's user.
pub(crate) fn configure(data: &Path, run_as: Option<&RunAs>, hba: &str) -> Result<(), InfraError> {
    let write = |name: &str, text: &str, append: bool| {
        let path = data.join(name);
        let result = if append {
            fs::OpenOptions::new()
                .append(true)
                .open(&path)
                .and_then(|mut f| std::io::Write::write_all(&mut f, text.as_bytes()))
        } else {
            fs::write(&path, text)
        };
        result.map_err(|e| InfraError::new(format!("cannot write {}: {e}", path.display())))?;
        cluster::give_to(&path, run_as)
    };
    write("pg_hba.conf", hba, false)?;
    write(
        "postgresql.conf",
        "\n# stress: passwords are stored as SCRAM-SHA-256 verifiers\npassword_encryption = 'scram-sha-256'\n",
        true,
    )
}

/// Sets the superuser's password over the private unix socket in `socket_dir` (and creates
/// `cert_role`, which logs in with a client certificate only). It runs on a thread of its own
/// with its own runtime, as the server may be started from async code.
pub(crate) fn set_password(
    socket_dir: &Path,
    port: u16,
    secret: &Secret,
    cert_role: Option<&str>,
) -> Result<(), InfraError> {
    // The server gets the verifier, not the password (and may log the statement harmlessly).
    let verifier = scram_verifier(secret.expose().as_bytes(), &salt()?);
    let mut config = tokio_postgres::Config::new();
    config
        .host_path(socket_dir)
        .port(port)
        .user(SUPERUSER)
        .dbname("postgres")
        .application_name("stress:setup")
        .connect_timeout(Duration::from_secs(10));
    let mut sql = format!("ALTER ROLE {SUPERUSER} PASSWORD '{verifier}'");
    if let Some(role) = cert_role {
        sql.push_str(&format!(
            "; CREATE ROLE {role} LOGIN; GRANT pg_read_all_stats TO {role}"
        ));
    }
    let work = move || -> Result<(), String> {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .map_err(|e| e.to_string())?;
        runtime.block_on(async {
            let (client, connection) = config
                .connect(tokio_postgres::NoTls)
                .await
                .map_err(|e| e.to_string())?;
            let driver = tokio::spawn(connection);
            let done = client.batch_execute(&sql).await.map_err(|e| e.to_string());
            drop(client);
            let _ = driver.await;
            done
        })
    };
    let outcome = std::thread::scope(|s| s.spawn(work).join());
    match outcome {
        Ok(Ok(())) => Ok(()),
        Ok(Err(e)) => Err(InfraError::new(format!(
            "cannot set the embedded server's password over its unix socket: {e}"
        ))),
        Err(_) => Err(InfraError::new(
            "cannot set the embedded server's password: its thread panicked",
        )),
    }
}

/// PBKDF2 iterations of the verifier. One: the password is 256 random bits, which no count
/// makes easier or harder to guess (iterations slow the guessing of weak passwords), while
/// every connection the harness opens, and measures, pays for each of them on the client side
/// (4096, PostgreSQL's default, cost 150 ms per connect in a debug build).
const SCRAM_ITERATIONS: u32 = 1;

/// A fresh 16-byte salt.
fn salt() -> Result<[u8; 16], InfraError> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt)
        .map_err(|e| InfraError::new(format!("cannot draw a salt for the password: {e}")))?;
    Ok(salt)
}

/// The SCRAM-SHA-256 verifier PostgreSQL stores for `password` (RFC 5802, RFC 5803):
/// `SCRAM-SHA-256$<iterations>:<salt>$<StoredKey>:<ServerKey>`. `password` is ASCII, which
/// SASLprep leaves as it is.
fn scram_verifier(password: &[u8], salt: &[u8]) -> String {
    use base64::Engine;
    use base64::engine::general_purpose::STANDARD;
    use hmac::{Hmac, KeyInit, Mac};
    use sha2_scram::{Digest, Sha256};
    let hmac = |key: &[u8], parts: &[&[u8]]| {
        let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC takes keys of any size");
        for part in parts {
            mac.update(part);
        }
        mac.finalize().into_bytes()
    };
    // Hi(password, salt, 1): PBKDF2-HMAC-SHA-256 with one iteration is its first block, U1.
    const _: () = assert!(SCRAM_ITERATIONS == 1, "Hi below computes one iteration");
    let salted = hmac(password, &[salt, &1u32.to_be_bytes()]);
    let client_key = hmac(&salted, &[b"Client Key"]);
    let stored_key = Sha256::digest(client_key);
    let server_key = hmac(&salted, &[b"Server Key"]);
    format!(
        "SCRAM-SHA-256${SCRAM_ITERATIONS}:{}${}:{}",
        STANDARD.encode(salt),
        STANDARD.encode(stored_key),
        STANDARD.encode(server_key)
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_are_long_random_and_never_shown() {
        let a = Secret::generate().unwrap();
        let b = Secret::generate().unwrap();
        assert_ne!(a, b);
        assert_eq!(a.expose().len(), SECRET_BYTES * 2);
        assert!(a.expose().bytes().all(|c| c.is_ascii_hexdigit()));
        assert!(!format!("{a:?}").contains(a.expose()));
    }

    #[test]
    fn tcp_takes_scram_only() {
        for line in HBA.lines().filter(|l| l.starts_with("host")) {
            assert!(line.ends_with("scram-sha-256"), "{line}");
        }
        let trust: Vec<_> = HBA.lines().filter(|l| l.ends_with("trust")).collect();
        assert_eq!(trust, ["local all all trust"]);
    }
}
