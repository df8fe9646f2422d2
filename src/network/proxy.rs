//! The proxy: listens on 127.0.0.1 (a free port), and for each connection it accepts opens one
//! to the server and carries the bytes ([`super::link`]). It runs on a thread of its own with a
//! current-thread runtime; [`ProxyHandle`] adds and removes toxics from any thread.

use std::collections::BTreeMap;
use std::io;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use tokio::net::{TcpListener, TcpStream};
use tokio::sync::watch;

use super::link::{self, Link};
use super::toxics::{self, LinkToxics, Toxic, ToxicSpec};

/// A toxic every new connection gets (chosen by its `fraction`).
struct Standing {
    id: u64,
    spec: ToxicSpec,
}

struct Registry {
    links: BTreeMap<u64, Arc<Link>>,
    standing: Vec<Standing>,
    next_id: u64,
    rng: fastrand::Rng,
}

struct Shared {
    listen: SocketAddr,
    upstream: Vec<SocketAddr>,
    registry: Mutex<Registry>,
    /// Down (`down` toxics in place): no listener, no connections.
    down: watch::Sender<u32>,
    stop: watch::Sender<bool>,
    origin: Instant,
}

impl Shared {
    fn registry(&self) -> MutexGuard<'_, Registry> {
        self.registry.lock().unwrap_or_else(|e| e.into_inner())
    }
}

/// The proxy; dropping it stops it and closes its connections.
pub struct Proxy {
    handle: ProxyHandle,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Controls a running proxy; cheap to clone.
#[derive(Clone)]
pub(crate) struct ProxyHandle {
    shared: Arc<Shared>,
}

/// What adding a toxic did.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Applied {
    /// To remove it.
    pub(crate) id: u64,
    /// Connections open when it came, those it acts on, and those spared because in use.
    pub(crate) open: usize,
    pub(crate) affected: usize,
    pub(crate) busy: usize,
}

impl Proxy {
    /// Listens on a free port of 127.0.0.1 and carries connections to `upstream` (the first
    /// address that accepts), with `always` on every connection.
    pub(crate) fn start(upstream: Vec<SocketAddr>, always: Vec<Toxic>) -> io::Result<Proxy> {
        let listener = std::net::TcpListener::bind(("127.0.0.1", 0))?;
        listener.set_nonblocking(true)?;
        let shared = Arc::new(Shared {
            listen: listener.local_addr()?,
            upstream,
            registry: Mutex::new(Registry {
                links: BTreeMap::new(),
                standing: Vec::new(),
                next_id: 1,
                rng: fastrand::Rng::with_seed(0x5eed),
            }),
            down: watch::Sender::new(0),
            stop: watch::Sender::new(false),
            origin: Instant::now(),
        });
        let handle = ProxyHandle { shared };
        for toxic in always {
            handle.add(ToxicSpec::always(toxic));
        }
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()?;
        let shared = handle.shared.clone();
        let thread = std::thread::Builder::new()
            .name("stress-proxy".into())
            .spawn(move || {
                rt.block_on(async move {
                    if let Ok(l) = TcpListener::from_std(listener) {
                        accept_loop(shared, l).await;
                    }
                })
            })?;
        Ok(Proxy {
            handle,
            thread: Some(thread),
        })
    }

    pub(crate) fn handle(&self) -> ProxyHandle {
        self.handle.clone()
    }

    /// Where the harness connects.
    pub(crate) fn addr(&self) -> SocketAddr {
        self.handle.shared.listen
    }
}

impl std::fmt::Debug for Proxy {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Proxy").field("addr", &self.addr()).finish()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.handle.shared.stop.send_replace(true);
        self.handle.close_all();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}

impl ProxyHandle {
    #[cfg(test)]
    pub(crate) fn addr(&self) -> SocketAddr {
        self.shared.listen
    }

    /// Connections open now.
    #[cfg(test)]
    pub(crate) fn connections(&self) -> usize {
        self.shared.registry().links.len()
    }

    /// Adds a toxic: to the connections open now (each chosen by `fraction`, and only if idle
    /// with `idle_only`), and, unless `idle_only`, to those opened while it stays.
    pub(crate) fn add(&self, spec: ToxicSpec) -> Applied {
        let mut r = self.shared.registry();
        let id = r.next_id;
        r.next_id += 1;
        let open = r.links.len();
        if spec.toxic == Toxic::Down {
            r.standing.push(Standing { id, spec });
            drop(r);
            self.shared.down.send_modify(|d| *d += 1);
            self.close_all();
            return Applied {
                id,
                open,
                affected: open,
                busy: 0,
            };
        }
        let (mut affected, mut busy) = (0, 0);
        let now = Instant::now();
        let Registry { links, rng, .. } = &mut *r;
        for link in links.values() {
            if !toxics::chosen(spec.fraction, rng) {
                continue;
            }
            if spec.idle_only && !link.is_idle() {
                busy += 1;
                continue;
            }
            affected += 1;
            let applied = applied(id, &spec, now);
            link.toxics.send_modify(|t| *t = t.with(applied));
        }
        if !spec.idle_only {
            r.standing.push(Standing { id, spec });
        }
        Applied {
            id,
            open,
            affected,
            busy,
        }
    }

    /// Removes a toxic from every connection (and from new ones).
    pub(crate) fn remove(&self, id: u64) {
        let mut r = self.shared.registry();
        let was_down = r
            .standing
            .iter()
            .any(|s| s.id == id && s.spec.toxic == Toxic::Down);
        r.standing.retain(|s| s.id != id);
        for link in r.links.values() {
            if link.toxics.borrow().has(id) {
                link.toxics.send_modify(|t| *t = t.without(id));
            }
        }
        drop(r);
        if was_down {
            self.shared.down.send_modify(|d| *d = d.saturating_sub(1));
        }
    }

    fn close_all(&self) {
        for link in self.shared.registry().links.values() {
            link.toxics.send_modify(|t| {
                let mut closed = LinkToxics::clone(t);
                closed.closed = true;
                *t = Arc::new(closed);
            });
        }
    }

    /// Registers a new connection with the standing toxics chosen for it.
    fn register(&self) -> Arc<Link> {
        let mut r = self.shared.registry();
        let id = r.next_id;
        r.next_id += 1;
        let now = Instant::now();
        let Registry { standing, rng, .. } = &mut *r;
        let mut toxics = LinkToxics::default();
        for s in standing.iter().filter(|s| s.spec.toxic != Toxic::Down) {
            if toxics::chosen(s.spec.fraction, rng) {
                toxics.toxics.push(applied(s.id, &s.spec, now));
            }
        }
        let link = Arc::new(Link::new(id, Arc::new(toxics), self.shared.origin));
        r.links.insert(id, link.clone());
        link
    }

    fn unregister(&self, id: u64) {
        self.shared.registry().links.remove(&id);
    }
}

fn applied(id: u64, spec: &ToxicSpec, since: Instant) -> toxics::Applied {
    toxics::Applied {
        id,
        toxic: spec.toxic.clone(),
        stream: spec.stream,
        since,
    }
}

/// Accepts until stopped; while down, the listening socket is closed (connects are refused)
/// and opened again on the same port when it comes back up.
async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    let handle = ProxyHandle { shared };
    let mut stop = handle.shared.stop.subscribe();
    let mut down = handle.shared.down.subscribe();
    let mut listener = Some(listener);
    loop {
        if *stop.borrow_and_update() {
            return;
        }
        let is_down = *down.borrow_and_update() > 0;
        if is_down {
            listener = None;
        } else if listener.is_none() {
            listener = TcpListener::bind(handle.shared.listen).await.ok();
        }
        let Some(l) = listener.as_ref() else {
            tokio::select! {
                _ = down.changed() => {}
                _ = stop.changed() => {}
                // Rebinding failed (the port taken meanwhile): try again.
                () = tokio::time::sleep(std::time::Duration::from_millis(50)), if !is_down => {}
            }
            continue;
        };
        tokio::select! {
            accepted = l.accept() => {
                if let Ok((client, _)) = accepted {
                    let handle = handle.clone();
                    tokio::spawn(async move { carry(handle, client).await });
                }
            }
            _ = down.changed() => {}
            _ = stop.changed() => {}
        }
    }
}

/// Opens the server side and carries the connection; when the server cannot be reached, the
/// harness's connection is reset, as a server that is down would.
async fn carry(handle: ProxyHandle, client: TcpStream) {
    let server = match TcpStream::connect(&handle.shared.upstream[..]).await {
        Ok(s) => s,
        Err(_) => {
            // Deprecated for linger > 0, which blocks the thread on drop; 0 does not block.
            #[allow(deprecated)]
            let _ = client.set_linger(Some(std::time::Duration::ZERO));
            return;
        }
    };
    let _ = client.set_nodelay(true);
    let _ = server.set_nodelay(true);
    let link = handle.register();
    link::run(link.clone(), client, server).await;
    handle.unregister(link.id);
}
