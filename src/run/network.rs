//! The network between the load and the server: the proxy a variant's load connects through
//! (`[network]`, and any `network` fault), and the `network` fault's action, which adds a toxic
//! to that proxy and takes it away after `for`.

use std::net::{SocketAddr, ToSocketAddrs};
use std::sync::Arc;
use std::time::Duration;

use tokio_postgres::config::Host;

use super::RunError;
use crate::network::{Proxy, ProxyHandle, Streams, Toxic, ToxicSpec};
use crate::scenario::model::{FaultSettings, NetworkSettings, Settings, StreamName, ToxicName};

/// Starts the proxy in front of `config`'s server when the variant asks for it.
pub(crate) fn start(
    settings: &Settings,
    config: &tokio_postgres::Config,
) -> Result<Option<Arc<Proxy>>, RunError> {
    if !settings.uses_proxy() {
        return Ok(None);
    }
    let upstream = upstream(config)?;
    Proxy::start(upstream, always(&settings.network))
        .map(|p| Some(Arc::new(p)))
        .map_err(|e| RunError::Infra(format!("cannot start the network proxy: {e}")))
}

/// The server's TCP addresses (the proxy connects over TCP only): each host's `hostaddr` when
/// given (libpq then does no name lookup; the host name serves TLS only), else the host name
/// resolved.
fn upstream(config: &tokio_postgres::Config) -> Result<Vec<SocketAddr>, RunError> {
    let (ports, hosts, addrs) = (
        config.get_ports(),
        config.get_hosts(),
        config.get_hostaddrs(),
    );
    let mut all = Vec::new();
    for i in 0..hosts.len().max(addrs.len()) {
        let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
        match (hosts.get(i), addrs.get(i)) {
            (_, Some(addr)) => all.push(SocketAddr::new(*addr, port)),
            (Some(Host::Tcp(name)), None) => match (name.as_str(), port).to_socket_addrs() {
                Ok(found) => all.extend(found),
                Err(e) => {
                    return Err(RunError::Infra(format!(
                        "network: cannot resolve {name}: {e}"
                    )));
                }
            },
            (Some(Host::Unix(path)), None) => {
                return Err(RunError::BadInput(format!(
                    "network: the proxy reaches the server over TCP, and this variant's server is \
                     at the unix socket {}: give a TCP host",
                    path.display()
                )));
            }
            (None, None) => {}
        }
    }
    if all.is_empty() {
        return Err(RunError::BadInput(
            "network: no server host to put the proxy in front of".into(),
        ));
    }
    Ok(all)
}

/// `[network]` as toxics every connection has.
fn always(n: &NetworkSettings) -> Vec<Toxic> {
    let mut toxics = Vec::new();
    if n.latency.is_some() || n.jitter.is_some() {
        toxics.push(Toxic::Latency {
            latency: n.latency.unwrap_or_default(),
            jitter: n.jitter.unwrap_or_default(),
        });
    }
    if let Some(rate) = n.bandwidth {
        toxics.push(Toxic::Bandwidth { rate });
    }
    toxics
}

/// The toxic a `network` fault names, with its settings.
pub(crate) fn toxic(f: &FaultSettings) -> Option<Toxic> {
    Some(match f.toxic? {
        ToxicName::Latency => Toxic::Latency {
            latency: f.latency.unwrap_or_default(),
            jitter: f.jitter.unwrap_or_default(),
        },
        ToxicName::Bandwidth => Toxic::Bandwidth {
            rate: f.rate.unwrap_or(1),
        },
        ToxicName::Timeout => Toxic::Timeout {
            timeout: f.timeout.unwrap_or_default(),
        },
        ToxicName::ResetPeer => Toxic::ResetPeer {
            timeout: f.timeout.unwrap_or_default(),
        },
        ToxicName::SlowClose => Toxic::SlowClose {
            delay: f.delay.unwrap_or_default(),
        },
        ToxicName::Slicer => Toxic::Slicer {
            average_size: f.average_size.unwrap_or(1),
            size_variation: f.size_variation.unwrap_or(0),
            delay: f.delay.unwrap_or_default(),
        },
        ToxicName::LimitData => Toxic::LimitData {
            bytes: f.bytes.unwrap_or(0),
        },
        ToxicName::Down => Toxic::Down,
    })
}

fn spec(f: &FaultSettings, toxic: Toxic) -> ToxicSpec {
    ToxicSpec {
        toxic,
        stream: match f.stream.unwrap_or_default() {
            StreamName::Upstream => Streams::Upstream,
            StreamName::Downstream => Streams::Downstream,
            StreamName::Both => Streams::Both,
        },
        fraction: f.fraction(),
        idle_only: f.idle_only.unwrap_or(false),
    }
}

/// Fires a `network` fault: adds its toxic, and removes it after `for` (kept to the end of the
/// load without it). Returns what it did, for the report's `faults`.
pub(crate) fn fire(proxy: Option<&Proxy>, f: &FaultSettings) -> String {
    let (Some(proxy), Some(toxic)) = (proxy, toxic(f)) else {
        return "not fired: no network proxy in this variant".into();
    };
    let name = toxic.name();
    let spec = spec(f, toxic);
    let handle = proxy.handle();
    let applied = handle.add(spec.clone());
    let mut detail = if spec.toxic == Toxic::Down {
        format!(
            "down: new connections refused, {} open connection(s) closed",
            applied.open
        )
    } else {
        format!(
            "{name} on {} of {} open connection(s) (stream = {}{}{})",
            applied.affected,
            applied.open,
            f.stream.map_or("both", stream_name),
            if spec.idle_only {
                ", idle ones only"
            } else {
                ""
            },
            if applied.busy > 0 {
                format!("; {} in use spared", applied.busy)
            } else {
                String::new()
            },
        )
    };
    match f.for_ {
        Some(lasts) => {
            remove_after(handle, applied.id, lasts);
            detail.push_str(&format!(
                "; removed after {}",
                humantime::format_duration(lasts)
            ));
        }
        None => detail.push_str("; kept to the end of the load"),
    }
    detail
}

fn stream_name(s: StreamName) -> &'static str {
    match s {
        StreamName::Upstream => "upstream",
        StreamName::Downstream => "downstream",
        StreamName::Both => "both",
    }
}

fn remove_after(handle: ProxyHandle, id: u64, lasts: Duration) {
    tokio::spawn(async move {
        tokio::time::sleep(lasts).await;
        handle.remove(id);
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    fn addrs(conninfo: &str) -> Vec<SocketAddr> {
        upstream(&conninfo.parse().unwrap()).unwrap()
    }

    #[test]
    fn hostaddr_is_used_without_resolving_the_host_name() {
        // `db.invalid` cannot resolve: only hostaddr can give the address.
        assert_eq!(
            addrs("host=db.invalid hostaddr=127.0.0.2 port=6000 user=u"),
            vec!["127.0.0.2:6000".parse().unwrap()]
        );
        assert_eq!(
            addrs("hostaddr=::1 port=6001 user=u"),
            vec!["[::1]:6001".parse().unwrap()]
        );
    }

    #[test]
    fn host_names_are_resolved_and_unix_sockets_refused() {
        assert_eq!(
            addrs("host=127.0.0.3 port=6002 user=u"),
            vec!["127.0.0.3:6002".parse().unwrap()]
        );
        let unix: tokio_postgres::Config = "host=/tmp port=6003 user=u".parse().unwrap();
        assert!(matches!(upstream(&unix), Err(RunError::BadInput(_))));
    }
}
