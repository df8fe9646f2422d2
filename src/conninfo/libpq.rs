//! libpq's connection conventions on top of tokio-postgres's parser: the options it does not
//! know (`sslmode` beyond three values, `sslrootcert`, `sslcert`, `sslkey`, `service`,
//! `passfile`, `keepalives_count`), the service file, the `PG*` variables for what the string
//! leaves out (in libpq's order: the string, then the service, then the environment), and the
//! password file. The result is a tokio-postgres `Config` and the TLS to use with it.

use std::collections::{BTreeMap, BTreeSet};
use std::time::Duration;

use percent_encoding::{NON_ALPHANUMERIC, percent_decode_str, utf8_percent_encode};
use tokio_postgres::config::{Host, SslNegotiation};

use super::libpq_files;
use super::tls::{SslMode, Tls, TlsOptions};

/// Options handled here, not by tokio-postgres.
const OURS: &[&str] = &[
    "sslmode",
    "sslrootcert",
    "sslcert",
    "sslkey",
    "service",
    "passfile",
    // Milliseconds in libpq; tokio-postgres reads seconds.
    "tcp_user_timeout",
];

/// The environment variables libpq reads for options the string does not set.
const ENV: &[(&str, &str)] = &[
    ("PGHOST", "host"),
    ("PGHOSTADDR", "hostaddr"),
    ("PGPORT", "port"),
    ("PGDATABASE", "dbname"),
    ("PGUSER", "user"),
    ("PGPASSWORD", "password"),
    ("PGPASSFILE", "passfile"),
    ("PGOPTIONS", "options"),
    ("PGAPPNAME", "application_name"),
    ("PGSSLMODE", "sslmode"),
    ("PGSSLROOTCERT", "sslrootcert"),
    ("PGSSLCERT", "sslcert"),
    ("PGSSLKEY", "sslkey"),
    ("PGSSLNEGOTIATION", "sslnegotiation"),
    ("PGCONNECT_TIMEOUT", "connect_timeout"),
    ("PGTARGETSESSIONATTRS", "target_session_attrs"),
    ("PGCHANNELBINDING", "channel_binding"),
];

/// Connection settings as libpq would resolve them.
#[derive(Clone, Debug)]
pub struct Resolved {
    pub config: tokio_postgres::Config,
    pub tls: Tls,
}

/// Whether the environment names a server (so that no embedded one is started).
pub(crate) fn env_names_a_server() -> bool {
    !server_variables().is_empty()
}

/// The libpq variables set (not empty) that name a server, in this order: `PGHOST`,
/// `PGHOSTADDR`, `PGPORT`, `PGUSER`, `PGDATABASE`, `PGSERVICE`.
pub(crate) fn server_variables() -> Vec<&'static str> {
    [
        "PGHOST",
        "PGHOSTADDR",
        "PGPORT",
        "PGUSER",
        "PGDATABASE",
        "PGSERVICE",
    ]
    .into_iter()
    .filter(|v| env(v).is_some())
    .collect()
}

fn env(name: &str) -> Option<String> {
    std::env::var(name).ok().filter(|v| !v.is_empty())
}

/// Resolves a connection string (a URL or `key=value` settings; empty for the environment
/// alone). `check` parses with tokio-postgres and says what is wrong.
pub(crate) fn resolve(
    text: &str,
    check: impl Fn(&str) -> Result<tokio_postgres::Config, String>,
) -> Result<Resolved, String> {
    let mut split = Split::of(text);
    let first = check(&split.rest)?;
    mark_present(&first, &mut split.present);
    let service = split
        .ours
        .get("service")
        .cloned()
        .or_else(|| env("PGSERVICE"));
    if let Some(name) = service {
        for (key, value) in libpq_files::service(&name)? {
            split.set_default(&key, value);
        }
    }
    for (var, key) in ENV {
        if let Some(value) = env(var) {
            if *var == "PGPORT" {
                check_port(&value)?;
            }
            split.set_default(key, value);
        }
    }
    let mut config = check(&split.text())?;
    defaults(&mut config);
    if let Some(ms) = split.ours.get("tcp_user_timeout") {
        tcp_user_timeout(&mut config, ms)?;
    }
    password_from_file(&mut config, split.ours.get("passfile").map(String::as_str));
    let tls = tls(&split.ours, &config)?;
    Ok(Resolved { config, tls })
}

/// `tcp_user_timeout`, in milliseconds as libpq reads it.
fn tcp_user_timeout(config: &mut tokio_postgres::Config, ms: &str) -> Result<(), String> {
    match ms.trim().parse::<i64>() {
        Ok(n) if n > 0 => {
            config.tcp_user_timeout(Duration::from_millis(n as u64));
            Ok(())
        }
        Ok(_) => Ok(()),
        Err(_) => Err(format!(
            "tcp_user_timeout `{}` is not a number of milliseconds",
            crate::redact::redact(ms)
        )),
    }
}

/// The TLS of the `ssl*` options, with ALPN for `sslnegotiation=direct`.
fn tls(ours: &BTreeMap<String, String>, config: &tokio_postgres::Config) -> Result<Tls, String> {
    let options = TlsOptions {
        mode: ours.get("sslmode").map(|m| SslMode::parse(m)).transpose()?,
        rootcert: ours.get("sslrootcert").cloned(),
        cert: ours.get("sslcert").map(Into::into),
        key: ours.get("sslkey").map(Into::into),
    };
    let tls = Tls::new(&options)?;
    if config.get_ssl_negotiation() != SslNegotiation::Direct {
        return Ok(tls);
    }
    if tls.mode < SslMode::Require {
        return Err(format!(
            "weak sslmode `{}` may not be used with sslnegotiation=direct (use require, \
             verify-ca or verify-full)",
            tls.mode.as_str()
        ));
    }
    Ok(tls.direct())
}

/// The string without libpq's own options (for display: they hold no password).
pub(crate) fn without_own_options(text: &str) -> String {
    Split::of(text).rest
}

fn check_port(value: &str) -> Result<(), String> {
    for p in value.split(',') {
        if !matches!(p.trim().parse::<u16>(), Ok(n) if n > 0) {
            return Err(format!(
                "PGPORT `{}`: the port must be a number from 1 to 65535",
                crate::redact::redact(value)
            ));
        }
    }
    Ok(())
}

/// libpq's defaults for what nothing set: host `localhost`, user `$USER`, dbname the user,
/// a 10 s connect timeout (ours: libpq waits forever).
fn defaults(c: &mut tokio_postgres::Config) {
    if c.get_hosts().is_empty() && c.get_hostaddrs().is_empty() {
        c.host("localhost");
    }
    if c.get_user().is_none() {
        c.user(env("USER").as_deref().unwrap_or("postgres"));
    }
    if c.get_dbname().is_none() {
        let user = c.get_user().unwrap_or("postgres").to_string();
        c.dbname(&user);
    }
    if c.get_connect_timeout().is_none() {
        c.connect_timeout(Duration::from_secs(10));
    }
}

/// The password from the password file, when none was given.
fn password_from_file(c: &mut tokio_postgres::Config, passfile: Option<&str>) {
    if c.get_password().is_some() {
        return;
    }
    let Some(file) = libpq_files::passfile(passfile) else {
        return;
    };
    let host = match c.get_hosts().first() {
        Some(Host::Tcp(h)) => h.clone(),
        // libpq matches a unix socket to `localhost`.
        Some(Host::Unix(_)) => "localhost".to_string(),
        None => match c.get_hostaddrs().first() {
            Some(a) => a.to_string(),
            None => return,
        },
    };
    let port = c.get_ports().first().copied().unwrap_or(5432);
    let (db, user) = (c.get_dbname().unwrap_or(""), c.get_user().unwrap_or(""));
    if let Some(pw) = libpq_files::password(&file, &host, port, db, user) {
        c.password(pw);
    }
}

/// What tokio-postgres parsed: those options are present and take no default.
fn mark_present(c: &tokio_postgres::Config, present: &mut BTreeSet<String>) {
    let set = [
        ("host", !c.get_hosts().is_empty()),
        ("hostaddr", !c.get_hostaddrs().is_empty()),
        ("port", !c.get_ports().is_empty()),
        ("user", c.get_user().is_some()),
        ("password", c.get_password().is_some()),
        ("dbname", c.get_dbname().is_some()),
        ("options", c.get_options().is_some()),
        ("application_name", c.get_application_name().is_some()),
        ("connect_timeout", c.get_connect_timeout().is_some()),
    ];
    for (key, is_set) in set {
        if is_set {
            present.insert(key.to_string());
        }
    }
}

/// A connection string split into what tokio-postgres parses and libpq's own options.
#[derive(Debug, Default)]
struct Split {
    /// The string without our options (`keepalives_count` renamed `keepalives_retries`).
    rest: String,
    is_url: bool,
    ours: BTreeMap<String, String>,
    present: BTreeSet<String>,
    /// Defaults to add to `rest` (from the service file and the environment).
    added: Vec<(String, String)>,
}

impl Split {
    fn of(text: &str) -> Split {
        if text.contains("://") {
            Split::of_url(text)
        } else {
            Split::of_pairs(text)
        }
    }

    fn of_url(text: &str) -> Split {
        let mut split = Split {
            is_url: true,
            ..Split::default()
        };
        let Some((base, query)) = text.split_once('?') else {
            split.rest = text.to_string();
            return split;
        };
        let mut kept = Vec::new();
        for part in query.split('&') {
            let (k, v) = part.split_once('=').unwrap_or((part, ""));
            let key = percent_decode_str(k).decode_utf8_lossy().to_string();
            split.present.insert(canonical(&key).to_string());
            if OURS.contains(&key.as_str()) {
                let value = percent_decode_str(v).decode_utf8_lossy().to_string();
                split.ours.insert(key, value);
            } else if key == "keepalives_count" {
                kept.push(format!("keepalives_retries={v}"));
            } else {
                kept.push(part.to_string());
            }
        }
        split.rest = match kept.is_empty() {
            true => base.to_string(),
            false => format!("{base}?{}", kept.join("&")),
        };
        split
    }

    fn of_pairs(text: &str) -> Split {
        let Some(pairs) = pairs(text) else {
            // Malformed: tokio-postgres says what is wrong with it.
            return Split {
                rest: text.to_string(),
                ..Split::default()
            };
        };
        let mut split = Split::default();
        let mut kept = Vec::new();
        for (key, value) in pairs {
            split.present.insert(canonical(&key).to_string());
            if OURS.contains(&key.as_str()) {
                split.ours.insert(key, value);
            } else {
                kept.push((canonical(&key).to_string(), value));
            }
        }
        split.rest = kept
            .iter()
            .map(|(k, v)| format!("{k}={}", quote(v)))
            .collect::<Vec<_>>()
            .join(" ");
        split
    }

    /// Sets `key` unless the string (or an earlier default) set it.
    fn set_default(&mut self, key: &str, value: String) {
        let key = canonical(key);
        if !self.present.insert(key.to_string()) {
            return;
        }
        if OURS.contains(&key) {
            self.ours.insert(key.to_string(), value);
        } else {
            self.added.push((key.to_string(), value));
        }
    }

    /// `rest` with the defaults added.
    fn text(&self) -> String {
        let mut text = self.rest.clone();
        for (key, value) in &self.added {
            if self.is_url {
                text.push(if text.contains('?') { '&' } else { '?' });
                text.push_str(&format!(
                    "{key}={}",
                    utf8_percent_encode(value, NON_ALPHANUMERIC)
                ));
            } else {
                if !text.is_empty() {
                    text.push(' ');
                }
                text.push_str(&format!("{key}={}", quote(value)));
            }
        }
        text
    }
}

/// libpq's name of an option tokio-postgres spells otherwise.
fn canonical(key: &str) -> &str {
    match key {
        "keepalives_count" => "keepalives_retries",
        other => other,
    }
}

fn quote(value: &str) -> String {
    format!("'{}'", value.replace('\\', "\\\\").replace('\'', "\\'"))
}

/// `key = value` pairs (values bare or single-quoted, with `\` escapes), or `None` when the
/// text is not of that form.
fn pairs(text: &str) -> Option<Vec<(String, String)>> {
    let mut out = Vec::new();
    let mut chars = text.chars().peekable();
    loop {
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        if chars.peek().is_none() {
            return Some(out);
        }
        let mut key = String::new();
        while let Some(c) = chars.next_if(|c| *c != '=' && !c.is_whitespace()) {
            key.push(c);
        }
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        chars.next_if_eq(&'=')?;
        while chars.next_if(|c| c.is_whitespace()).is_some() {}
        let mut value = String::new();
        if chars.next_if_eq(&'\'').is_some() {
            loop {
                match chars.next()? {
                    '\'' => break,
                    '\\' => value.push(chars.next()?),
                    c => value.push(c),
                }
            }
        } else {
            while let Some(c) = chars.next_if(|c| !c.is_whitespace()) {
                value.push(if c == '\\' { chars.next()? } else { c });
            }
        }
        out.push((key, value));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<tokio_postgres::Config, String> {
        text.parse()
            .map_err(|e: tokio_postgres::Error| e.to_string())
    }

    #[test]
    fn libpq_options_are_taken_out_of_urls_and_pairs() {
        let s = Split::of(
            "postgres://u@h/db?sslmode=verify-full&sslrootcert=%2Fca.crt&keepalives_count=3&connect_timeout=2",
        );
        assert_eq!(s.ours["sslmode"], "verify-full");
        assert_eq!(s.ours["sslrootcert"], "/ca.crt");
        assert_eq!(
            s.rest,
            "postgres://u@h/db?keepalives_retries=3&connect_timeout=2"
        );
        let s = Split::of("host=h sslmode = require password='a b\\'c' keepalives_count=4");
        assert_eq!(s.ours["sslmode"], "require");
        let c = parse(&s.rest).unwrap();
        assert_eq!(c.get_password(), Some(&b"a b'c"[..]));
        assert_eq!(c.get_keepalives_retries(), Some(4));
    }

    #[test]
    fn defaults_do_not_override_what_the_string_says() {
        let mut s = Split::of("postgres://u@h/db");
        s.present.insert("user".into());
        s.set_default("user", "other".into());
        s.set_default("application_name", "my app".into());
        s.set_default("sslmode", "require".into());
        assert_eq!(s.text(), "postgres://u@h/db?application_name=my%20app");
        assert_eq!(s.ours["sslmode"], "require");
        let c = parse(&s.text()).unwrap();
        assert_eq!(c.get_application_name(), Some("my app"));
    }

    #[test]
    fn direct_negotiation_needs_require_or_stronger() {
        let check = |text: &str| parse(text);
        let e = resolve("postgres://u:p@h/db?sslnegotiation=direct", check).unwrap_err();
        assert!(e.contains("sslnegotiation=direct"), "{e}");
        let ok = resolve(
            "postgres://u:p@h/db?sslnegotiation=direct&sslmode=require",
            check,
        )
        .unwrap();
        assert_eq!(ok.config.get_ssl_negotiation(), SslNegotiation::Direct);
        assert_eq!(ok.tls.mode, SslMode::Require);
    }

    #[test]
    fn malformed_pairs_are_left_to_the_parser() {
        assert!(pairs("host").is_none());
        assert!(pairs("password='open").is_none());
        assert_eq!(pairs("").unwrap(), vec![]);
    }
}
