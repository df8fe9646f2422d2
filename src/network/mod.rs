//! A network between the harness and the server: a TCP proxy on 127.0.0.1 that every load
//! connection passes through when a scenario asks for it (`[network]`, `[[fault]] kind =
//! "network"`), with toxiproxy's toxics and names.
//!
//! Why here and not toxiproxy or a crate: toxiproxy is a separate Go server to install, start
//! and drive over HTTP; the one embeddable Rust port, `noxious`, is unmaintained since 2021 and
//! has no `reset_peer`; neither knows which connections are idle *on the PostgreSQL protocol*
//! (`idle_only`, the NAT that drops idle flows). So the proxy is ours:
//!
//! - [`proxy`]: the accept loop on its own thread and runtime (so its timers and wakeups do not
//!   compete with the harness's control thread), the registry of connections, and
//!   [`ProxyHandle`], the control handle that adds and removes toxics at runtime;
//! - [`link`]: one connection, a pump per direction with one buffer each, reused (no
//!   allocation per packet; the toxics a pump applies are recomputed only when they change);
//!   `ring`: that buffer, a ring whose chunks each wait out their own latency;
//! - [`toxics`]: what each toxic does to a direction's bytes, and which connections it picks;
//! - [`timer`]: sub-millisecond sleeps (a `timerfd`), since tokio's timer rounds up to the next
//!   millisecond and "1 ms away" must not become 1.5 ms.
//!
//! What it cannot do, being a userspace proxy: TCP keepalive probes and `tcp_user_timeout` are
//! answered by the proxy's own kernel socket, so a blackholed connection still looks alive to
//! them (the harness's socket never sees the blackhole at the TCP level).

pub(crate) mod link;
pub(crate) mod proxy;
mod ring;
pub(crate) mod timer;
pub(crate) mod toxics;

#[cfg(test)]
mod tests;

pub(crate) use proxy::{Proxy, ProxyHandle};
pub(crate) use toxics::{Streams, Toxic, ToxicSpec};
