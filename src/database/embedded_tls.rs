//! The embedded server with TLS (`[database.embedded] ssl = true`): a throwaway CA made for
//! this server (never trusted by anything else), a server certificate for `127.0.0.1`, `::1`
//! and `localhost` signed by it, `ssl = on`, and `hostssl`-only rules: a plain connection is
//! refused by the server. The harness connects with `verify-full` against that CA.
//!
//! The role [`CERT_ROLE`] authenticates with a client certificate (`cert`), which
//! [`ServerTls::client_certificate`] issues; every other role with its SCRAM password.

use std::fs;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use rcgen::{
    BasicConstraints, CertificateParams, DistinguishedName, DnType, IsCa, KeyPair, KeyUsagePurpose,
};

use super::InfraError;
use super::binaries::RunAs;
use super::cluster;

/// The role whose connections authenticate with a client certificate (the `cert` rule).
pub(crate) const CERT_ROLE: &str = "stress_cert";

/// The per-run `pg_hba.conf` with TLS: TCP only over TLS.
pub(crate) const HBA: &str = "\
# Written by stress for this server only; the template's rules are not used.
# The unix socket is in a 0700 directory of the server's user: only it (and root) can reach it.
local all all trust
# TCP over TLS only: a plain connection finds no rule and is refused.
hostssl all stress_cert 127.0.0.1/32 cert
hostssl all stress_cert ::1/128 cert
hostssl all all 127.0.0.1/32 scram-sha-256
hostssl all all ::1/128 scram-sha-256
";

/// Files in the data directory (the server resolves relative names there).
const SERVER_CERT: &str = "server.crt";
const SERVER_KEY: &str = "server.key";
const CA_IN_DATA: &str = "root.crt";

/// The CA of one embedded server, kept to issue client certificates.
pub struct ServerTls {
    ca: rcgen::Certificate,
    ca_key: KeyPair,
    /// The CA certificate, for clients (`sslrootcert`).
    pub ca_file: PathBuf,
}

impl std::fmt::Debug for ServerTls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ServerTls")
            .field("ca_file", &self.ca_file)
            .finish_non_exhaustive()
    }
}

fn failed(what: &str, e: impl std::fmt::Display) -> InfraError {
    InfraError::new(format!("embedded server TLS: cannot {what}: {e}"))
}

impl ServerTls {
    /// Makes the CA and the server's certificate, writes them where the server reads them
    /// (`data`) and the CA where clients read it (`dir`).
    pub(crate) fn create(
        dir: &Path,
        data: &Path,
        run_as: Option<&RunAs>,
    ) -> Result<ServerTls, InfraError> {
        let ca_key = KeyPair::generate().map_err(|e| failed("make a key", e))?;
        let mut params =
            CertificateParams::new(Vec::<String>::new()).map_err(|e| failed("make the CA", e))?;
        params.is_ca = IsCa::Ca(BasicConstraints::Unconstrained);
        params.key_usages = vec![KeyUsagePurpose::KeyCertSign, KeyUsagePurpose::CrlSign];
        params.distinguished_name = name("stress throwaway CA");
        let ca = params
            .self_signed(&ca_key)
            .map_err(|e| failed("make the CA", e))?;
        let tls = ServerTls {
            ca_file: dir.join("ca.crt"),
            ca,
            ca_key,
        };
        let names = ["127.0.0.1", "::1", "localhost"].map(String::from).to_vec();
        let (cert, key) = tls.issue(names, "localhost")?;
        let write = |path: PathBuf, text: &str, mode: u32| -> Result<(), InfraError> {
            fs::write(&path, text).map_err(|e| failed(&format!("write {}", path.display()), e))?;
            fs::set_permissions(&path, fs::Permissions::from_mode(mode))
                .map_err(|e| failed(&format!("protect {}", path.display()), e))?;
            cluster::give_to(&path, run_as)
        };
        write(data.join(SERVER_CERT), &cert, 0o644)?;
        write(data.join(SERVER_KEY), &key, 0o600)?;
        write(data.join(CA_IN_DATA), &tls.ca.pem(), 0o644)?;
        write(tls.ca_file.clone(), &tls.ca.pem(), 0o644)?;
        Ok(tls)
    }

    /// The server's settings for TLS (`-c name=value`).
    pub(crate) fn server_settings() -> [(&'static str, &'static str); 4] {
        [
            ("ssl", "on"),
            ("ssl_cert_file", SERVER_CERT),
            ("ssl_key_file", SERVER_KEY),
            ("ssl_ca_file", CA_IN_DATA),
        ]
    }

    /// A certificate and key (PEM) signed by the CA, for `names` (alternative names) with
    /// common name `cn`.
    fn issue(&self, names: Vec<String>, cn: &str) -> Result<(String, String), InfraError> {
        let key = KeyPair::generate().map_err(|e| failed("make a key", e))?;
        let mut params =
            CertificateParams::new(names).map_err(|e| failed("make a certificate", e))?;
        params.distinguished_name = name(cn);
        let cert = params
            .signed_by(&key, &self.ca, &self.ca_key)
            .map_err(|e| failed("sign a certificate", e))?;
        Ok((cert.pem(), key.serialize_pem()))
    }

    /// Writes a client certificate for `role` (its common name) and its key into `dir`;
    /// returns their paths (for `sslcert` and `sslkey`).
    pub fn client_certificate(
        &self,
        role: &str,
        dir: &Path,
    ) -> Result<(PathBuf, PathBuf), InfraError> {
        let (cert, key) = self.issue(Vec::new(), role)?;
        let (cert_file, key_file) = (
            dir.join(format!("{role}.crt")),
            dir.join(format!("{role}.key")),
        );
        fs::write(&cert_file, cert).map_err(|e| failed("write the client certificate", e))?;
        fs::write(&key_file, key).map_err(|e| failed("write the client key", e))?;
        fs::set_permissions(&key_file, fs::Permissions::from_mode(0o600))
            .map_err(|e| failed("protect the client key", e))?;
        Ok((cert_file, key_file))
    }
}

fn name(cn: &str) -> DistinguishedName {
    let mut dn = DistinguishedName::new();
    dn.push(DnType::CommonName, cn);
    dn
}
