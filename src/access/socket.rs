//! A connection's socket that follows the thread using it.
//!
//! The load runs one current-thread runtime per core (see `run/workers.rs`), and a pooled
//! connection is used by tasks of every thread. A tokio socket stays registered with the
//! runtime that opened it, so a task on another thread would be woken through that runtime:
//! a cross-thread wakeup per statement, which halves throughput on `SELECT 1`. This socket
//! moves its registration to the runtime of the thread that polls it (two `epoll_ctl` calls,
//! only when the connection changed threads), so the statement's I/O stays on its thread.
//!
//! We open the socket ourselves and hand it to tokio-postgres with `connect_raw`.

use std::cell::Cell;
use std::io;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, Ordering};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::{TcpStream, UnixStream};
use tokio_postgres::config::Host;

static NEXT_THREAD: AtomicU64 = AtomicU64::new(1);

thread_local! {
    static THREAD: Cell<u64> = const { Cell::new(0) };
}

/// A cheap id of the current thread.
fn thread_id() -> u64 {
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
pub struct LocalSocket {
    stream: Option<Stream>,
    home: u64,
}

impl LocalSocket {
    /// Connects to the first host of `config` that answers (TCP or unix socket).
    pub async fn connect(config: &tokio_postgres::Config) -> io::Result<LocalSocket> {
        let ports = config.get_ports();
        let timeout = config.get_connect_timeout().copied();
        let mut last = io::Error::new(
            io::ErrorKind::InvalidInput,
            "no host in the connection settings",
        );
        for (i, host) in config.get_hosts().iter().enumerate() {
            let port = ports.get(i).or(ports.first()).copied().unwrap_or(5432);
            match with_timeout(timeout, open(host, port)).await {
                Ok(stream) => {
                    return Ok(LocalSocket {
                        stream: Some(stream),
                        home: thread_id(),
                    });
                }
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    /// Connects to `addr` over TCP instead of the hosts of the settings (the network proxy's
    /// address: the settings keep the server's name, for TLS).
    pub async fn connect_to(
        addr: std::net::SocketAddr,
        timeout: Option<Duration>,
    ) -> io::Result<LocalSocket> {
        let s = with_timeout(timeout, TcpStream::connect(addr)).await?;
        s.set_nodelay(true)?;
        Ok(LocalSocket {
            stream: Some(Stream::Tcp(s)),
            home: thread_id(),
        })
    }

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
}

async fn open(host: &Host, port: u16) -> io::Result<Stream> {
    match host {
        Host::Tcp(name) => {
            let s = TcpStream::connect((name.as_str(), port)).await?;
            s.set_nodelay(true)?;
            Ok(Stream::Tcp(s))
        }
        Host::Unix(dir) => Ok(Stream::Unix(
            UnixStream::connect(dir.join(format!(".s.PGSQL.{port}"))).await?,
        )),
    }
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

impl AsyncRead for LocalSocket {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        delegate!(this, s => s.poll_read(cx, buf))
    }
}

impl AsyncWrite for LocalSocket {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        let this = self.get_mut();
        delegate!(this, s => s.poll_write(cx, buf))
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        delegate!(this, s => s.poll_flush(cx))
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        delegate!(this, s => s.poll_shutdown(cx))
    }
}
