//! TLS with libpq's semantics: `sslmode`, `sslrootcert` (a file or `system`), `sslcert` /
//! `sslkey` (a client certificate), `sslnegotiation`; turned into a rustls client configuration
//! once per database, before anything runs (a missing or unreadable file is bad input).
//!
//! The modes, as libpq: `disable` never, `allow` plain first and TLS if the server refuses it,
//! `prefer` (the default) TLS first and plain if the server does not offer it or the TLS
//! session is refused, `require` TLS without verification — unless a root certificate is given
//! (or `~/.postgresql/root.crt` exists), when it verifies the chain like `verify-ca` —,
//! `verify-ca` the chain, `verify-full` the chain and the host name. `sslrootcert=system` takes
//! the operating system's trust store and, as libpq, `verify-full` only.

use std::path::{Path, PathBuf};
use std::sync::Arc;

use rustls::client::WebPkiServerVerifier;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::crypto::CryptoProvider;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, ServerName, UnixTime};
use rustls::{CertificateError, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres_rustls::MakeRustlsConnect;

/// libpq's `sslmode`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
pub enum SslMode {
    Disable,
    Allow,
    Prefer,
    Require,
    VerifyCa,
    VerifyFull,
}

impl SslMode {
    pub(crate) fn parse(text: &str) -> Result<SslMode, String> {
        Ok(match text {
            "disable" => SslMode::Disable,
            "allow" => SslMode::Allow,
            "prefer" => SslMode::Prefer,
            "require" => SslMode::Require,
            "verify-ca" => SslMode::VerifyCa,
            "verify-full" => SslMode::VerifyFull,
            other => {
                return Err(format!(
                    "sslmode `{}` is not one of disable, allow, prefer, require, verify-ca, \
                     verify-full",
                    crate::redact::redact(other)
                ));
            }
        })
    }

    pub(crate) fn as_str(self) -> &'static str {
        match self {
            SslMode::Disable => "disable",
            SslMode::Allow => "allow",
            SslMode::Prefer => "prefer",
            SslMode::Require => "require",
            SslMode::VerifyCa => "verify-ca",
            SslMode::VerifyFull => "verify-full",
        }
    }
}

/// The TLS options as written (URL, key=value, `PGSSL*`); `None` is "not given".
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct TlsOptions {
    pub(crate) mode: Option<SslMode>,
    pub(crate) rootcert: Option<String>,
    pub(crate) cert: Option<PathBuf>,
    pub(crate) key: Option<PathBuf>,
}

/// What every connection to one database uses: the mode and the rustls configuration.
#[derive(Clone)]
pub struct Tls {
    pub mode: SslMode,
    /// Whether the server's certificate is checked (`require` with a root certificate too).
    pub verifies: bool,
    /// The root certificate file named by `sslrootcert` (not `system`): a PgBouncer in front of
    /// this server is told to verify it against the same file.
    pub(crate) root_file: Option<PathBuf>,
    client: Arc<rustls::ClientConfig>,
    make: MakeRustlsConnect,
}

impl std::fmt::Debug for Tls {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Tls")
            .field("mode", &self.mode)
            .field("verifies", &self.verifies)
            .finish_non_exhaustive()
    }
}

impl Default for Tls {
    /// No TLS (`disable`): for unix sockets and for settings made in code.
    fn default() -> Tls {
        Tls::plain()
    }
}

fn provider() -> Arc<CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

/// `~/.postgresql/<name>`, libpq's default place of certificates and keys.
fn default_file(name: &str) -> Option<PathBuf> {
    let home = std::env::var_os("HOME")?;
    Some(Path::new(&home).join(".postgresql").join(name))
}

impl Tls {
    /// `sslmode=disable`.
    pub fn plain() -> Tls {
        let client = builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(NoVerification(provider())))
            .with_no_client_auth();
        Tls::with(SslMode::Disable, false, client)
    }

    /// `verify-full` against the CA certificate in `ca_file` (the embedded server's).
    pub(crate) fn verify_full(ca_file: &Path) -> Result<Tls, String> {
        Tls::new(&TlsOptions {
            mode: Some(SslMode::VerifyFull),
            rootcert: Some(ca_file.display().to_string()),
            cert: None,
            key: None,
        })
    }

    /// Resolves the options as libpq does and reads the files they name; the error names the
    /// option and the file.
    pub(crate) fn new(options: &TlsOptions) -> Result<Tls, String> {
        let system = options.rootcert.as_deref() == Some("system");
        let mode = match options.mode {
            Some(m) => m,
            None if system => SslMode::VerifyFull,
            None => SslMode::Prefer,
        };
        if system && mode != SslMode::VerifyFull {
            return Err(format!(
                "weak sslmode `{}` may not be used with sslrootcert=system (use verify-full)",
                mode.as_str()
            ));
        }
        let roots = roots(options, mode)?;
        let verifies = roots.is_some();
        let verifier: Arc<dyn ServerCertVerifier> = match roots {
            None => Arc::new(NoVerification(provider())),
            Some(roots) => {
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider())
                    .build()
                    .map_err(|e| format!("sslrootcert: {e}"))?;
                match mode {
                    SslMode::VerifyFull => webpki,
                    _ => Arc::new(ChainOnly(webpki)),
                }
            }
        };
        let with_verifier = builder()
            .dangerous()
            .with_custom_certificate_verifier(verifier);
        let client = match client_cert(options)? {
            Some((certs, key)) => with_verifier
                .with_client_auth_cert(certs, key)
                .map_err(|e| format!("sslcert/sslkey: {e}"))?,
            None => with_verifier.with_no_client_auth(),
        };
        let mut tls = Tls::with(mode, verifies, client);
        tls.root_file = (options.rootcert.as_deref())
            .filter(|r| *r != "system")
            .map(PathBuf::from);
        Ok(tls)
    }

    fn with(mode: SslMode, verifies: bool, client: rustls::ClientConfig) -> Tls {
        Tls {
            mode,
            verifies,
            root_file: None,
            make: MakeRustlsConnect::new(client.clone()),
            client: Arc::new(client),
        }
    }

    /// tokio-postgres's TLS connector with this configuration.
    pub(crate) fn connector(&self) -> MakeRustlsConnect {
        self.make.clone()
    }

    /// The same, with ALPN `postgresql` (required by `sslnegotiation=direct`).
    pub(crate) fn direct(self) -> Tls {
        let mut client = (*self.client).clone();
        client.alpn_protocols = vec![b"postgresql".to_vec()];
        Tls {
            root_file: self.root_file,
            ..Tls::with(self.mode, self.verifies, client)
        }
    }
}

fn builder() -> rustls::ConfigBuilder<rustls::ClientConfig, rustls::WantsVerifier> {
    rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .expect("ring supports the default protocol versions")
}

/// The trusted roots, when the server's certificate is to be checked.
fn roots(options: &TlsOptions, mode: SslMode) -> Result<Option<Arc<RootCertStore>>, String> {
    if mode <= SslMode::Prefer && options.rootcert.is_none() {
        // Not verified (prefer, allow: as libpq, a certificate is checked only from require on).
        return Ok(None);
    }
    let given = options.rootcert.as_deref();
    if given == Some("system") {
        let found = rustls_native_certs::load_native_certs();
        let mut store = RootCertStore::empty();
        store.add_parsable_certificates(found.certs);
        if store.is_empty() {
            return Err("sslrootcert=system: the system's trust store holds no certificate".into());
        }
        return Ok(Some(Arc::new(store)));
    }
    let path = match given {
        Some(p) => PathBuf::from(p),
        None => match default_file("root.crt") {
            Some(p) if p.is_file() => p,
            _ if mode == SslMode::Require => return Ok(None),
            p => {
                let shown = p.map_or("~/.postgresql/root.crt".into(), |p| p.display().to_string());
                return Err(format!(
                    "sslmode={}: root certificate file {shown} does not exist: give sslrootcert, \
                     use sslrootcert=system, or choose a mode that does not verify (require)",
                    mode.as_str()
                ));
            }
        },
    };
    let certs = read_certs(&path).map_err(|e| format!("sslrootcert {}: {e}", path.display()))?;
    let mut store = RootCertStore::empty();
    let (added, _) = store.add_parsable_certificates(certs);
    if added == 0 {
        return Err(format!(
            "sslrootcert {}: no usable certificate in the file",
            path.display()
        ));
    }
    Ok(Some(Arc::new(store)))
}

type ClientCert = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

/// The client certificate and key: as given, or libpq's defaults when the certificate exists.
fn client_cert(options: &TlsOptions) -> Result<Option<ClientCert>, String> {
    let cert = match &options.cert {
        Some(p) => p.clone(),
        None => match default_file("postgresql.crt") {
            Some(p) if p.is_file() => p,
            _ => return Ok(None),
        },
    };
    let key = match &options.key {
        Some(p) => p.clone(),
        None => default_file("postgresql.key").unwrap_or_default(),
    };
    let certs = read_certs(&cert).map_err(|e| format!("sslcert {}: {e}", cert.display()))?;
    let key = PrivateKeyDer::from_pem_file(&key)
        .map_err(|e| format!("sslkey {}: {}", key.display(), pem_error(e)))?;
    Ok(Some((certs, key)))
}

fn read_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, String> {
    let certs = CertificateDer::pem_file_iter(path)
        .map_err(pem_error)?
        .collect::<Result<Vec<_>, _>>()
        .map_err(pem_error)?;
    if certs.is_empty() {
        return Err("no PEM certificate in the file".into());
    }
    Ok(certs)
}

fn pem_error(e: rustls::pki_types::pem::Error) -> String {
    match e {
        rustls::pki_types::pem::Error::Io(io) => io.to_string(),
        rustls::pki_types::pem::Error::NoItemsFound => "no PEM item of the right kind".into(),
        other => format!("not a PEM file: {other:?}"),
    }
}

/// `require` without a root certificate: any certificate, as libpq; the handshake's
/// signatures are still checked (the session is encrypted with the key of that certificate).
#[derive(Debug)]
struct NoVerification(Arc<CryptoProvider>);

impl ServerCertVerifier for NoVerification {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls12_signature(message, cert, dss, algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        let algorithms = &self.0.signature_verification_algorithms;
        rustls::crypto::verify_tls13_signature(message, cert, dss, algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

/// `verify-ca` (and `require` with a root certificate): the chain, not the host name.
#[derive(Debug)]
struct ChainOnly(Arc<WebPkiServerVerifier>);

impl ServerCertVerifier for ChainOnly {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        server_name: &ServerName<'_>,
        ocsp: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        match self
            .0
            .verify_server_cert(end_entity, intermediates, server_name, ocsp, now)
        {
            Err(rustls::Error::InvalidCertificate(
                CertificateError::NotValidForName | CertificateError::NotValidForNameContext { .. },
            )) => Ok(ServerCertVerified::assertion()),
            other => other,
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_parse_as_libpq_names_them() {
        for m in [
            "disable",
            "allow",
            "prefer",
            "require",
            "verify-ca",
            "verify-full",
        ] {
            assert_eq!(SslMode::parse(m).unwrap().as_str(), m);
        }
        let e = SslMode::parse("verify").unwrap_err();
        assert!(e.contains("not one of"), "{e}");
    }

    #[test]
    fn system_roots_take_verify_full_only() {
        let weak = TlsOptions {
            mode: Some(SslMode::Require),
            rootcert: Some("system".into()),
            ..TlsOptions::default()
        };
        let e = Tls::new(&weak).unwrap_err();
        assert!(e.contains("verify-full"), "{e}");
    }

    #[test]
    fn a_missing_root_file_names_the_option_and_the_file() {
        let options = TlsOptions {
            mode: Some(SslMode::VerifyCa),
            rootcert: Some("/nonexistent/ca.crt".into()),
            ..TlsOptions::default()
        };
        let e = Tls::new(&options).unwrap_err();
        assert!(e.contains("sslrootcert /nonexistent/ca.crt"), "{e}");
    }

    #[test]
    fn require_without_a_root_does_not_verify() {
        let options = TlsOptions {
            mode: Some(SslMode::Require),
            rootcert: None,
            ..TlsOptions::default()
        };
        // Unless ~/.postgresql/root.crt exists, as libpq.
        if !default_file("root.crt").is_some_and(|p| p.is_file()) {
            assert!(!Tls::new(&options).unwrap().verifies);
        }
    }
}
