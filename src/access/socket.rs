//! A connection's socket that follows the thread using it.
//!
//! The load runs one current-thread runtime per core (see `run/workers.rs`), and a pooled
//! connection is used by tasks of every thread. A tokio socket stays registered with the
//! runtime that opened it, so a task on another thread would be woken through that runtime:
//! a cross-thread wakeup per statement, which halves throughput on `SELECT 1`. This socket
//! moves its registration to the runtime of the thread that polls it (two `epoll_ctl` calls,
//! only when the connection changed threads), so the statement's I/O stays on its thread. The
//! pool hands a task an idle connection of its own thread first (`pool.rs`, bb8's patched
//! `is_local`), so such moves are rare: on `SELECT 1` they were one checkout in a hundred,
//! enough to make the kernel wake a third of the backends from the other CPU.
//!
//! We open the socket ourselves and hand it to tokio-postgres with `connect_raw`; so the TCP
//! options libpq honours (`keepalives`, `keepalives_idle`, `keepalives_interval`,
//! `keepalives_count`, `tcp_user_timeout`) are set here, and `hostaddr` is honoured (the host
//! name then serves TLS's verification only).

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::Host;

use super::side::Side;

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// A cheap id of the current thread.
pub(crate) fn thread_id() -> u64 {
    THREAD.with(|t| {
        if t.get() == 0 {
            t.set(NEXT_THREAD.fetch_add(1, Ordering::Relaxed));
        }
        t.get()
    })
}

enum Stream {
    Tcp(TcpStream),
    Unix(UnixStream),
}

/// A TCP or unix socket registered with the runtime of the thread that last polled it.
///
/// Its stream is behind a lock shared with the statement round trip of `wire.rs` (see
/// `side.rs`): tokio-postgres owns the `LocalSocket`, the wire a [`Shared`] handle. The lock is
/// never contended (one task at a time uses a connection); it costs one uncontended lock per
/// read or write.
pub struct LocalSocket {
    shared: Shared,
    /// The name TLS verifies (the host, or the address when only `hostaddr` was given); none
    /// for a unix socket, where libpq uses no TLS.
    pub(crate) tls_name: Option<String>,
}

/// The socket's stream and what it shares with the wire.
pub type Shared = Arc<Mutex<Inner>>;

/// What is behind the socket's lock.
#[derive(Debug)]
pub struct Inner {
    stream: Option<Stream>,
    home: u64,
    pub(crate) side: Side,
}

impl std::fmt::Debug for Stream {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Stream::Tcp(_) => "Tcp",
            Stream::Unix(_) => "Unix",
        })
    }
}

impl LocalSocket {
    /// Connects to the first host of `config` that answers (TCP or unix socket).
    pub(crate) async fn connect(config: &tokio_postgres::Config) -> io::Result<LocalSocket> {
        let ports = config.get_ports();
        let timeout = config.get_connect_timeout().copied();
        let mut last = io::Error::new(
            io::ErrorKind::InvalidInput,
            "no host in the connection settings",
        );
        let (hosts, addrs) = (config.get_hosts(), config.get_hostaddrs());
        for i in 0..hosts.len().max(addrs.len()) {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            let (host, addr) = (hosts.get(i), addrs.get(i));
            let tls_name = match (host, addr) {
                (Some(Host::Tcp(name)), _) => Some(name.clone()),
                (Some(Host::Unix(_)), _) => None,
                (None, a) => a.map(|a| a.to_string()),
            };
            match with_timeout(timeout, open(host, addr, port, config)).await {
                Ok(stream) => return Ok(LocalSocket::new(stream, tls_name)),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Runs `f` on the TCP socket (for its options), if it is one.
    #[cfg(test)]
    pub(crate) fn with_tcp<R>(&self, f: impl FnOnce(&TcpStream) -> R) -> Option<R> {
        match self.lock().stream.as_ref()? {
            Stream::Tcp(s) => Some(f(s)),
            Stream::Unix(_) => None,
        }
    }

    /// Connects to `addr` over TCP instead of the hosts of `config` (the network proxy's
    /// address): `config` still gives the timeout and the name TLS verifies, the server's.
    pub(crate) async fn connect_to(
        addr: std::net::SocketAddr,
        config: &tokio_postgres::Config,
    ) -> io::Result<LocalSocket> {
        let timeout = config.get_connect_timeout().copied();
        let s = with_timeout(timeout, TcpStream::connect(addr)).await?;
        s.set_nodelay(true)?;
        let tls_name = match config.get_hosts().first() {
            Some(Host::Tcp(name)) => Some(name.clone()),
            Some(Host::Unix(_)) => None,
            None => config.get_hostaddrs().first().map(|a| a.to_string()),
        };
        Ok(LocalSocket::new(Stream::Tcp(s), tls_name))
    }

    fn new(stream: Stream, tls_name: Option<String>) -> LocalSocket {
        let inner = Inner {
            stream: Some(stream),
            home: thread_id(),
            side: Side::default(),
        };
        LocalSocket {
            shared: Arc::new(Mutex::new(inner)),
            tls_name,
        }
    }

    /// The handle the wire keeps on this socket.
    pub(crate) fn shared(&self) -> Shared {
        self.shared.clone()
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock().expect("socket lock")
    }
}

macro_rules! delegate {
    ($self:ident, $s:ident => $call:expr) => {
        match $self.at_home() {
            Err(e) => Poll::Ready(Err(e)),
            Ok(Stream::Tcp($s)) => {
                let $s = Pin::new($s);
                $call
            }
            Ok(Stream::Unix($s)) => {
                let $s = Pin::new($s);
                $call
            }
        }
    };
}

impl Inner {
    /// Re-registers the socket with this thread's runtime if it was registered elsewhere.
    fn at_home(&mut self) -> io::Result<&mut Stream> {
        let here = thread_id();
        if here != self.home {
            let moved = match self.stream.take().expect("socket present") {
                Stream::Tcp(s) => Stream::Tcp(TcpStream::from_std(s.into_std()?)?),
                Stream::Unix(s) => Stream::Unix(UnixStream::from_std(s.into_std()?)?),
            };
            self.stream = Some(moved);
            self.home = here;
        }
        Ok(self.stream.as_mut().expect("socket present"))
    }

    /// Reads what the socket has into `side.read` (the wire's reads); `Ok(0)` at its end.
    pub(crate) fn poll_fill(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<usize>> {
        let mut read = std::mem::take(&mut self.side.read);
        read.reserve(8192);
        let spare = read.spare_capacity_mut();
        let mut buf = ReadBuf::uninit(spare);
        let polled = delegate!(self, s => s.poll_read(cx, &mut buf));
        let n = buf.filled().len();
        // SAFETY: `ReadBuf` counts the bytes the stream initialised at the start of `spare`.
        unsafe { read.set_len(read.len() + n) };
        self.side.read = read;
        polled.map_ok(|()| n)
    }

    /// Sends `side.write` (the wire's requests) until it is empty.
    pub(crate) fn poll_send(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while !self.side.write.is_empty() {
            let write = std::mem::take(&mut self.side.write);
            let polled = delegate!(self, s => s.poll_write(cx, &write));
            self.side.write = write;
            match polled {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(io::ErrorKind::WriteZero.into())),
                Poll::Ready(Ok(n)) => bytes::Buf::advance(&mut self.side.write, n),
                Poll::Ready(Err(e)) => return Poll::Ready(Err(e)),
                Poll::Pending => return Poll::Pending,
            }
        }
        Poll::Ready(Ok(()))
    }
}

async fn open(
    host: Option<&Host>,
    addr: Option<&std::net::IpAddr>,
    port: u16,
    config: &tokio_postgres::Config,
) -> io::Result<Stream> {
    let s = match (host, addr) {
        (_, Some(addr)) => TcpStream::connect((*addr, port)).await?,
        (Some(Host::Tcp(name)), None) => TcpStream::connect((name.as_str(), port)).await?,
        (Some(Host::Unix(dir)), None) => {
            let path = dir.join(format!(".s.PGSQL.{port}"));
            return Ok(Stream::Unix(UnixStream::connect(path).await?));
        }
        (None, None) => return Err(io::Error::other("no host")),
    };
    s.set_nodelay(true)?;
    tcp_options(&s, config)?;
    Ok(Stream::Tcp(s))
}

/// libpq's TCP options: keepalives (on by default, as libpq) with their idle time, interval
/// and count, and `tcp_user_timeout`.
fn tcp_options(s: &TcpStream, config: &tokio_postgres::Config) -> io::Result<()> {
    let sock = socket2::SockRef::from(s);
    if config.get_keepalives() {
        let mut keepalive = socket2::TcpKeepalive::new().with_time(config.get_keepalives_idle());
        if let Some(interval) = config.get_keepalives_interval() {
            keepalive = keepalive.with_interval(interval);
        }
        if let Some(count) = config.get_keepalives_retries() {
            keepalive = keepalive.with_retries(count);
        }
        sock.set_tcp_keepalive(&keepalive)?;
    }
    if let Some(limit) = config.get_tcp_user_timeout() {
        sock.set_tcp_user_timeout(Some(*limit))?;
    }
    Ok(())
}

async fn with_timeout<T>(
    limit: Option<Duration>,
    f: impl std::future::Future<Output = io::Result<T>>,
) -> io::Result<T> {
    match limit {
        None => f.await,
        Some(d) => tokio::time::timeout(d, f).await.unwrap_or_else(|_| {
            Err(io::Error::new(
                io::ErrorKind::TimedOut,
                "connection timed out",
            ))
        }),
    }
}

impl AsyncRead for LocalSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        let inner = &mut *inner;
        // What the wire read past its own response comes first.
        if !inner.side.read.is_empty() {
            let n = inner.side.read.len().min(buf.remaining());
            let taken = inner.side.read.split_to(n);
            buf.put_slice(&taken);
            inner.side.got(&taken);
            return Poll::Ready(Ok(()));
        }
        let before = buf.filled().len();
        let polled = delegate!(inner, s => s.poll_read(cx, buf));
        inner.side.got(&buf.filled()[before..]);
        polled
    }
}

impl AsyncWrite for LocalSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let mut inner = self.lock();
        let polled = delegate!(inner, s => s.poll_write(cx, buf));
        if let Poll::Ready(Ok(n)) = polled {
            inner.side.wrote(&buf[..n]);
        }
        polled
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        delegate!(inner, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let mut inner = self.lock();
        delegate!(inner, s => s.poll_shutdown(cx))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn socket_for(options: &str) -> (std::net::TcpListener, LocalSocket) {
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let url = format!("postgres://u:p@127.0.0.1:{port}/db?{options}");
        let config = crate::database::url::parse(&url).unwrap().config;
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        let socket = runtime.block_on(LocalSocket::connect(&config)).unwrap();
        (listener, socket)
    }

    /// The TCP socket itself (a duplicate of its descriptor), to read its options.
    fn dup(socket: &LocalSocket) -> socket2::Socket {
        socket
            .with_tcp(|t| socket2::SockRef::from(t).try_clone().unwrap())
            .unwrap()
    }

    #[test]
    fn libpq_tcp_options_are_set_on_the_socket() {
        let (_listener, socket) = socket_for(
            "keepalives_idle=7&keepalives_interval=3&keepalives_count=4&tcp_user_timeout=5000",
        );
        let tcp = dup(&socket);
        assert!(tcp.keepalive().unwrap());
        assert_eq!(tcp.tcp_keepalive_time().unwrap(), Duration::from_secs(7));
        assert_eq!(
            tcp.tcp_keepalive_interval().unwrap(),
            Duration::from_secs(3)
        );
        assert_eq!(tcp.tcp_keepalive_retries().unwrap(), 4);
        // libpq's tcp_user_timeout is in milliseconds.
        assert_eq!(
            tcp.tcp_user_timeout().unwrap(),
            Some(Duration::from_millis(5000))
        );
        assert_eq!(socket.tls_name.as_deref(), Some("127.0.0.1"));
    }

    #[test]
    fn keepalives_are_on_by_default_and_off_with_keepalives_0() {
        let (_listener, socket) = socket_for("");
        let tcp = dup(&socket);
        assert!(tcp.keepalive().unwrap(), "libpq's default");
        assert_eq!(tcp.tcp_user_timeout().unwrap(), None);
        let (_listener, socket) = socket_for("keepalives=0");
        let tcp = dup(&socket);
        assert!(!tcp.keepalive().unwrap());
    }

    #[test]
    fn hostaddr_is_dialled_and_the_host_name_kept_for_tls() {
        let (_listener, socket) = {
            let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
            let port = listener.local_addr().unwrap().port();
            let url = format!("host=db.invalid hostaddr=127.0.0.1 port={port} user=u");
            let config = crate::database::url::parse(&url).unwrap().config;
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()
                .unwrap();
            (
                listener,
                runtime.block_on(LocalSocket::connect(&config)).unwrap(),
            )
        };
        assert_eq!(socket.tls_name.as_deref(), Some("db.invalid"));
    }
}
