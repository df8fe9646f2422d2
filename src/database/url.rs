//! Connection strings: parsing (URL or `key=value`), the libpq environment variables, and the
//! redacted form that reports, logs and errors show (never a password).

use std::time::Duration;

use tokio_postgres::config::Host;

use super::InfraError;

/// Parses a connection string; the error never repeats the string (it may hold a password).
pub fn parse(url: &str) -> Result<tokio_postgres::Config, InfraError> {
    let mut config: tokio_postgres::Config = url
        .parse()
        .map_err(|e| InfraError::new(format!("invalid database URL: {e}")))?;
    if config.get_connect_timeout().is_none() {
        config.connect_timeout(Duration::from_secs(10));
    }
    Ok(config)
}

/// A config from `PGHOST`, `PGPORT`, `PGUSER`, `PGPASSWORD`, `PGDATABASE`, when any of the
/// first four is set.
pub fn from_libpq_env() -> Option<tokio_postgres::Config> {
    let var = |name: &str| std::env::var(name).ok().filter(|v| !v.is_empty());
    let host = var("PGHOST");
    let port = var("PGPORT");
    let user = var("PGUSER");
    let dbname = var("PGDATABASE");
    if host.is_none() && port.is_none() && user.is_none() && dbname.is_none() {
        return None;
    }
    let mut c = tokio_postgres::Config::new();
    let host = host.unwrap_or_else(|| "localhost".to_string());
    for h in host.split(',') {
        c.host(h);
    }
    if let Some(p) = port.and_then(|p| p.parse().ok()) {
        c.port(p);
    }
    let user = user
        .or_else(|| var("USER"))
        .unwrap_or_else(|| "postgres".to_string());
    c.user(&user);
    c.dbname(dbname.as_deref().unwrap_or(&user));
    if let Some(pw) = var("PGPASSWORD") {
        c.password(pw);
    }
    c.connect_timeout(Duration::from_secs(10));
    Some(c)
}

/// `postgres://user:***@host:port/dbname`: what may be shown anywhere.
pub fn redacted(c: &tokio_postgres::Config) -> String {
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
pub fn redacted_str(url: &str) -> String {
    match url.parse::<tokio_postgres::Config>() {
        Ok(c) => redacted(&c),
        Err(_) => "***".to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn redaction_hides_the_password() {
        let c = parse("postgres://app:s3cret@db.example:6432/shop").unwrap();
        let shown = redacted(&c);
        assert_eq!(shown, "postgres://app:***@db.example:6432/shop");
        assert!(!shown.contains("s3cret"));
        let c = parse("host=/var/run/postgresql user=app password=x dbname=a").unwrap();
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
    fn a_bad_url_error_does_not_echo_the_url() {
        let e = parse("postgres://app:s3cret@host:notaport/db").unwrap_err();
        assert!(!e.message.contains("s3cret"), "{}", e.message);
    }
}
