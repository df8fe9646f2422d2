//! Connection strings: parsing (URL or `key=value`), the libpq environment variables, and the
//! redacted form that reports, logs and errors show (never a password).

use tokio_postgres::config::Host;

use super::libpq::Resolved;

/// Resolves a connection string as libpq would (its own options, the service file, the `PG*`
/// variables, the password file, TLS); the error never repeats the string (it may hold a
/// password).
pub fn parse(url: &str) -> Result<Resolved, String> {
    resolve(url).map_err(|e| format!("invalid database URL: {e}"))
}

/// [`parse`], the error as text.
pub(crate) fn resolve(url: &str) -> Result<Resolved, String> {
    super::libpq::resolve(url, check_parsed)
}

/// Parses a connection string, or says which part of it is wrong (the scheme, the port, the
/// host, an option) without repeating any value of it but the scheme.
pub(crate) fn check(url: &str) -> Result<tokio_postgres::Config, String> {
    resolve(url).map(|r| r.config)
}

/// tokio-postgres's parse of a string without libpq's own options, with what is wrong said.
fn check_parsed(url: &str) -> Result<tokio_postgres::Config, String> {
    if let Some((scheme, _)) = url.split_once("://")
        && !matches!(scheme, "postgres" | "postgresql")
    {
        let scheme = crate::redact::redact(scheme);
        return Err(format!(
            "the scheme must be postgres:// or postgresql://, not {scheme}://"
        ));
    }
    let config = url.parse::<tokio_postgres::Config>().map_err(|e| {
        let cause = std::error::Error::source(&e).map(|c| c.to_string());
        match cause.as_deref() {
            Some("invalid value for option `port`") => {
                "the port must be a number from 1 to 65535".to_string()
            }
            Some("invalid value for option `host`") => "the host is malformed".to_string(),
            Some(c) if url.contains("://") => format!("not a PostgreSQL URL: {c}"),
            Some(c) => format!(
                "neither a URL (postgres://user@host:port/db) nor libpq key=value settings: {c}"
            ),
            None => e.to_string(),
        }
    })?;
    if config.get_ports().contains(&0) {
        return Err("the port must be a number from 1 to 65535, not 0".to_string());
    }
    Ok(config)
}

/// Connection settings from the libpq variables alone (`PGHOST`, `PGPORT`, `PGUSER`,
/// `PGDATABASE`, `PGSERVICE`, ...), when one of them names a server; an error naming the
/// variable when one is malformed (`PGPORT=abc`).
pub(crate) fn from_libpq_env() -> Result<Option<Resolved>, String> {
    if !super::libpq::env_names_a_server() {
        return Ok(None);
    }
    resolve("").map(Some)
}

/// `postgres://user:***@host:port/dbname`: what may be shown anywhere.
pub(crate) fn redacted(c: &tokio_postgres::Config) -> String {
    let mut s = String::from("postgres://");
    if let Some(user) = c.get_user() {
        s.push_str(user);
        if c.get_password().is_some() {
            s.push_str(":***");
        }
        s.push('@');
    }
    let ports = c.get_ports();
    let hosts: Vec<String> = c
        .get_hosts()
        .iter()
        .enumerate()
        .map(|(i, h)| {
            let host = match h {
                Host::Tcp(name) => name.clone(),
                Host::Unix(path) => path.display().to_string().replace('/', "%2F"),
            };
            match ports.get(i).or(ports.first()) {
                Some(p) => format!("{host}:{p}"),
                None => host,
            }
        })
        .collect();
    s.push_str(&hosts.join(","));
    if let Some(db) = c.get_dbname() {
        s.push('/');
        s.push_str(db);
    }
    s
}

/// A URL as written in a scenario, fit to be shown or stored: the password replaced by `***`
/// (a URL that does not parse is replaced whole, since it cannot be taken apart safely).
pub(crate) fn redacted_str(url: &str) -> String {
    match super::libpq::without_own_options(url).parse::<tokio_postgres::Config>() {
        Ok(c) => redacted(&c),
        Err(_) => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_the_password() {
        let c = parse("postgres://app:s3cret@db.example:6432/shop")
            .unwrap()
            .config;
        let shown = redacted(&c);
        assert_eq!(shown, "postgres://app:***@db.example:6432/shop");
        assert!(!shown.contains("s3cret"));
        let c = parse("host=/var/run/postgresql user=app password=x dbname=a")
            .unwrap()
            .config;
        assert_eq!(
            redacted(&c),
            "postgres://app:***@%2Fvar%2Frun%2Fpostgresql/a"
        );
    }

    #[test]
    fn a_url_string_is_redacted_whole_when_it_does_not_parse() {
        assert_eq!(
            redacted_str("postgres://app:s3cret@h/db"),
            "postgres://app:***@h:5432/db"
        );
        assert_eq!(redacted_str("postgres://app:s3cret@h:x/db"), "***");
    }

    #[test]
    fn a_bad_url_says_which_part_is_wrong() {
        let port = "the port must be a number from 1 to 65535";
        for (url, expected) in [
            ("postgres://app:s3cret@host:notaport/db", port),
            ("postgres://app:s3cret@host:99999/db", port),
            ("postgres://h1:5432,h2:x/db", port),
            ("postgres://h:0/db", port),
            ("mysql://app:s3cret@h/db", "the scheme must be postgres://"),
            ("postgres://app:s3cret@[::1/db", "the host is malformed"),
            ("postgres://h/db?bogus=1", "unknown option `bogus`"),
            ("host=h port=x password=s3cret", port),
            ("just text", "neither a URL"),
        ] {
            let e = check(url).unwrap_err();
            assert!(e.contains(expected), "{url}: {e}");
            assert!(!e.contains("s3cret"), "{url}: {e}");
        }
        assert!(check("postgresql://app:s3cret@h:6432/db").is_ok());
    }

    #[test]
    fn a_bad_url_error_does_not_echo_the_url() {
        let e = parse("postgres://app:s3cret@host:notaport/db").unwrap_err();
        assert!(!e.contains("s3cret"), "{e}");
    }
}
