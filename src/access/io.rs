//! Driving a connection's I/O, and remembering how it died.
//!
//! tokio-postgres splits a connection into a `Client` (sends requests) and a `Connection` (the
//! socket, which someone must poll). Two ways to poll it:
//! - [`Io::Task`]: a task of its own, as tokio-postgres suggests. Needed when several tasks
//!   wait on one connection at once (shared mode): whoever is waiting must be woken.
//! - [`Io::Inline`]: by the task that holds the connection, while it waits for its own
//!   statement. Used when one task at a time uses a connection (pool, per task, per
//!   operation): no hop through a second task per statement, and the socket is read on the
//!   thread of the task that uses it. Idle connections are not polled; what arrived meanwhile
//!   (a notice, the server's FATAL message) is read at the next use.
//!
//! An inline connection on a plain socket also has a [`Wire`]: cached prepared statements are
//! sent and read on the socket by stress itself (`wire.rs`); a request of tokio-postgres first
//! lets the wire read the responses it is still owed.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use tokio_postgres::AsyncMessage;

use super::death::ConnState;
use super::gauges::Gauges;
use super::socket::Shared;
use super::wire::Wire;
use crate::record::errors::{self, OpError};

type Connection = super::open::PgConnection;

/// Who polls the connection.
///
/// The inline connection is boxed: a tokio-postgres `Connection` holds its codec, buffers and
/// queues inline, and a pooled connection moves by value several times per checkout and
/// return (bb8's idle queue, its `PooledConnection`, our lease). Unboxed, those copies were
/// about a fifth of the harness's instructions per `SELECT 1` (callgrind, pool of 8: 23.8k
/// instructions per operation before, 18.5k after); one pointer per poll costs nothing beside
/// that.
pub(crate) enum Io {
    Task,
    Inline(Box<Mutex<Option<Connection>>>),
}

impl std::fmt::Debug for Io {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            Io::Task => "Io::Task",
            Io::Inline(_) => "Io::Inline",
        })
    }
}

/// A connection's I/O with its state.
#[derive(Debug)]
pub(crate) struct Driver {
    io: Io,
    pub(crate) state: Arc<ConnState>,
    gauges: Arc<Gauges>,
    /// The thread that opened it or last drove it inline (`socket::thread_id`), whose
    /// runtime its socket is registered with: a pool hands it preferably to a task of that
    /// thread (`Driver::is_local`, bb8's patched `ManageConnection::is_local`).
    home: AtomicU64,
    /// The round trip of cached prepared statements on the socket itself (`wire.rs`): inline
    /// plain connections only.
    wire: Option<Wire>,
}

impl Driver {
    /// Starts driving `connection` (open on `socket`): in a task of its own, or inline.
    pub(crate) fn new(
        connection: Connection,
        socket: Shared,
        inline: bool,
        gauges: Arc<Gauges>,
    ) -> Driver {
        let state = Arc::new(ConnState::default());
        // Only an inline connection follows its messages (`side.rs`): a spawned one is read at
        // any time by its own task, and never has a wire.
        let plain = inline && socket.lock().expect("socket lock").side.opened();
        let (io, wire) = if inline {
            let io = Io::Inline(Box::new(Mutex::new(Some(connection))));
            (io, plain.then(|| Wire::new(socket)))
        } else {
            spawn(connection, state.clone(), gauges.clone());
            (Io::Task, None)
        };
        Driver {
            io,
            state,
            gauges,
            home: AtomicU64::new(super::socket::thread_id()),
            wire,
        }
    }

    /// The wire, when this connection has one.
    pub(crate) fn wire(&self) -> Option<&Wire> {
        self.wire.as_ref()
    }

    /// Runs what `Wire::start` queued (see `wire.rs`).
    pub(crate) fn poll_wire(&self, wire: &Wire, cx: &mut Context<'_>) -> Poll<Result<(), OpError>> {
        self.driven_here();
        wire.poll(cx, &self.state, &self.gauges)
    }

    /// Notes the current thread as the one that drove the connection last. Stored only when it
    /// changed: the line stays shared, not written, in the steady state.
    fn driven_here(&self) {
        let here = super::socket::thread_id();
        if self.home.load(Ordering::Relaxed) != here {
            self.home.store(here, Ordering::Relaxed);
        }
    }

    /// Runs `fut` (a request on this connection's client), driving the connection meanwhile
    /// when it is driven inline. A plain future rather than an `async fn`: an async fn would
    /// hold its future argument twice (rust-lang/rust#62958), and this is the hot path.
    pub(crate) fn run<F: Future>(&self, fut: F) -> Driven<'_, F> {
        Driven {
            driver: self,
            fut,
            queued: false,
        }
    }

    /// Whether the current thread opened it or drove it last.
    pub(crate) fn is_local(&self) -> bool {
        self.home.load(Ordering::Relaxed) == super::socket::thread_id()
    }

    /// Sends what the client queued and reads what arrived; false when the connection is gone
    /// (it died now or earlier), so nothing is left to wake its requests.
    fn poll_inline(&self, connection: &Mutex<Option<Connection>>, cx: &mut Context<'_>) -> bool {
        let mut guard = connection.lock().expect("connection lock");
        self.driven_here();
        let Some(conn) = guard.as_mut() else {
            return false;
        };
        loop {
            match conn.poll_message(cx) {
                Poll::Ready(Some(Ok(AsyncMessage::Notice(n)))) => self.gauges.notice(n.code()),
                Poll::Ready(Some(Ok(_))) => {}
                Poll::Ready(Some(Err(e))) => {
                    self.state.died(errors::classify_terminal(&e));
                    // Dropping it fails the requests still waiting: the client sees it closed.
                    *guard = None;
                    return false;
                }
                Poll::Ready(None) => {
                    *guard = None;
                    return false;
                }
                Poll::Pending => return true,
            }
        }
    }
}

pin_project_lite::pin_project! {
    /// A request on a connection, driving the connection's I/O while it waits (inline mode).
    pub(crate) struct Driven<'a, F> {
        driver: &'a Driver,
        #[pin]
        fut: F,
        // The request was polled once (queued on the client): until the connection has read
        // something, polling it again can only find it waiting.
        queued: bool,
    }
}

impl<F: Future> Future for Driven<'_, F> {
    type Output = F::Output;

    /// Inline, a request's response can only come in through `poll_inline`, whose socket
    /// wakes this task; so the request is polled with a waker that does nothing, and the
    /// connection is left with one when the request is done. Otherwise each statement woke its
    /// own task twice while it ran (the response handed over through the client's channel; the
    /// next request queued on a channel the connection had registered this task with), and the
    /// whole task was polled once more for nothing: 3 polls per statement instead of 2.
    fn poll(self: std::pin::Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        let mut this = self.project();
        let Io::Inline(connection) = &this.driver.io else {
            return this.fut.poll(cx);
        };
        let mut quiet = Context::from_waker(std::task::Waker::noop());
        let wire = this.driver.wire.as_ref();
        if !*this.queued {
            // What the wire is still owed is read before tokio-postgres reads anything.
            if let Some(wire) = wire {
                std::task::ready!(this.driver.poll_wire(wire, cx)).ok();
            }
            *this.queued = true;
            if let Poll::Ready(v) = this.fut.as_mut().poll(&mut quiet) {
                return Poll::Ready(v);
            }
        }
        // Sends the request, reads what arrived; the response may be in now.
        if !this.driver.poll_inline(connection, cx) {
            return this.fut.poll(cx);
        }
        let done = this.fut.poll(&mut quiet);
        if done.is_ready() {
            this.driver.poll_inline(connection, &mut quiet);
        }
        done
    }
}

impl Drop for Driver {
    fn drop(&mut self) {
        // The client was dropped first (it is declared before the driver): polled once more,
        // an inline connection sends Terminate and closes, as a spawned one does by itself.
        if let Io::Inline(connection) = &mut self.io
            && let Some(conn) = connection.get_mut().ok().and_then(Option::take)
            && let Ok(rt) = tokio::runtime::Handle::try_current()
        {
            let gauges = self.gauges.clone();
            gauges.io_started();
            rt.spawn(async move {
                let _ = conn.await;
                gauges.io_ended();
            });
        }
    }
}

fn spawn(mut connection: Connection, state: Arc<ConnState>, gauges: Arc<Gauges>) {
    gauges.io_started();
    tokio::spawn(async move {
        let result = std::future::poll_fn(|cx| {
            loop {
                match connection.poll_message(cx) {
                    Poll::Ready(Some(Ok(AsyncMessage::Notice(notice)))) => {
                        gauges.notice(notice.code())
                    }
                    Poll::Ready(Some(Ok(_))) => {}
                    Poll::Ready(Some(Err(e))) => return Poll::Ready(Err(e)),
                    Poll::Ready(None) => return Poll::Ready(Ok(())),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        if let Err(e) = result {
            state.died(errors::classify_terminal(&e));
        }
        gauges.io_ended();
    });
}
