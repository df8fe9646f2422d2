//! One proxied connection: a pump per direction, each with one buffer reused for every chunk,
//! both in the connection's task; the toxics come through a `watch` channel and are turned into
//! each direction's [`Plan`] only when they change.
//!
//! The link also tells whether its connection is idle on the PostgreSQL protocol (for
//! `idle_only`): a statement is in flight from the first byte the harness sends until the
//! server's `ReadyForQuery` (`Z`, length 5, status) ends what it sends back. A connection that
//! began with an `SSLRequest` the server accepted (`S`) is opaque (TLS: the proxy sees no
//! message): there a statement is in flight from the harness's bytes until the server's next
//! bytes, since the side that spoke last tells who waits. The limit of that reading: a
//! statement that sends something before it ends (a `NOTICE`, the first rows of a long result)
//! and then goes quiet for [`IDLE_FOR`] counts as idle. One the server refused (`N`, libpq's
//! `prefer` against a server without TLS) goes on in plain and is read as any other.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::net::tcp::{ReadHalf, WriteHalf};
use tokio::sync::watch;

use super::ring::Ring;
use super::timer::{self, Timer};
use super::toxics::{Direction, Ending, LinkToxics, Plan};

/// A connection is idle when nothing is in flight and no byte passed for this long.
pub const IDLE_FOR: Duration = Duration::from_millis(100);

/// Each direction's buffer.
const BUFFER: usize = 32 * 1024;

/// `SSLRequest`: length 8, code 80877103.
const SSL_REQUEST: [u8; 8] = [0, 0, 0, 8, 4, 210, 22, 47];

/// One connection, as the registry and its task share it.
pub(crate) struct Link {
    pub id: u64,
    pub toxics: watch::Sender<Arc<LinkToxics>>,
    /// A statement in flight: the harness sent, the server has not said `ReadyForQuery` (on
    /// an opaque connection: has not sent anything since).
    awaiting: AtomicBool,
    opaque: AtomicBool,
    /// An `SSLRequest` was sent and the server's one-byte answer has not come yet.
    ssl_answer_due: AtomicBool,
    /// Nanoseconds since `origin` of the last byte in either direction.
    last_byte: AtomicU64,
    origin: Instant,
}

impl Link {
    pub fn new(id: u64, toxics: Arc<LinkToxics>, origin: Instant) -> Link {
        Link {
            id,
            toxics: watch::Sender::new(toxics),
            awaiting: AtomicBool::new(false),
            opaque: AtomicBool::new(false),
            ssl_answer_due: AtomicBool::new(false),
            last_byte: AtomicU64::new(origin.elapsed().as_nanos() as u64),
            origin,
        }
    }

    /// No statement in flight and quiet for [`IDLE_FOR`].
    pub fn is_idle(&self) -> bool {
        let now = self.origin.elapsed().as_nanos() as u64;
        let quiet = now.saturating_sub(self.last_byte.load(Ordering::Relaxed));
        !self.awaiting.load(Ordering::Relaxed) && quiet >= IDLE_FOR.as_nanos() as u64
    }

    fn saw(&self, d: Direction, chunk: &[u8], first: bool, tail: &mut [u8; 6]) {
        self.last_byte
            .store(self.origin.elapsed().as_nanos() as u64, Ordering::Relaxed);
        match d {
            Direction::Upstream => {
                if first && chunk.starts_with(&SSL_REQUEST) {
                    self.opaque.store(true, Ordering::Relaxed);
                    self.ssl_answer_due.store(true, Ordering::Relaxed);
                }
                self.awaiting.store(true, Ordering::Relaxed);
            }
            Direction::Downstream => {
                let mut chunk = chunk;
                if self.ssl_answer_due.swap(false, Ordering::Relaxed) && !chunk.is_empty() {
                    if chunk[0] != b'N' {
                        return; // `S`: TLS from here on, opaque.
                    }
                    // Regression: a refused SSLRequest (libpq's default `prefer`) left the
                    // connection opaque, so statements in flight counted as idle.
                    self.opaque.store(false, Ordering::Relaxed);
                    chunk = &chunk[1..];
                    if chunk.is_empty() {
                        return;
                    }
                }
                if self.opaque.load(Ordering::Relaxed) {
                    // Regression: under TLS, a statement running past IDLE_FOR counted as idle
                    // and was blackholed by `idle_only`. The server spoke: it answered.
                    self.awaiting.store(false, Ordering::Relaxed);
                    return;
                }
                let keep = chunk.len().min(6);
                tail.rotate_left(keep);
                tail[6 - keep..].copy_from_slice(&chunk[chunk.len() - keep..]);
                if tail[..5] == [b'Z', 0, 0, 0, 5] && matches!(tail[5], b'I' | b'T' | b'E') {
                    self.awaiting.store(false, Ordering::Relaxed);
                }
            }
        }
    }
}

/// How a pump ended.
enum Flow {
    /// Its source closed; the close was passed on.
    Eof,
    /// The connection must end (an I/O error, `limit_data`).
    End,
}

/// Carries the connection until both directions closed or a toxic ends it.
pub(crate) async fn run(link: Arc<Link>, mut client: TcpStream, mut server: TcpStream) {
    let ending = {
        let (cr, cw) = client.split();
        let (sr, sw) = server.split();
        let up = pump(cr, sw, Direction::Upstream, &link);
        let down = pump(sr, cw, Direction::Downstream, &link);
        tokio::pin!(up, down);
        let (mut up_done, mut down_done) = (false, false);
        let mut rx = link.toxics.subscribe();
        loop {
            tokio::select! {
                flow = &mut up, if !up_done => match flow {
                    Flow::Eof => up_done = true,
                    Flow::End => break Ending::Close,
                },
                flow = &mut down, if !down_done => match flow {
                    Flow::Eof => down_done = true,
                    Flow::End => break Ending::Close,
                },
                ending = ended(&mut rx) => break ending,
            }
            if up_done && down_done {
                break Ending::Close;
            }
        }
    };
    if ending == Ending::Reset {
        // SO_LINGER 0: closing sends RST instead of FIN. Nothing was shut down before (the
        // borrowed halves do not shut down on drop), so the harness sees only the reset.
        // Deprecated for linger > 0, which blocks the thread on drop; 0 does not block.
        #[allow(deprecated)]
        let _ = client.set_linger(Some(Duration::ZERO));
    }
    drop(client);
    drop(server);
}

/// Resolves when the toxics end the connection.
async fn ended(rx: &mut watch::Receiver<Arc<LinkToxics>>) -> Ending {
    loop {
        let next = rx.borrow_and_update().ending();
        match next {
            Some((at, how)) => {
                tokio::select! {
                    () = tokio::time::sleep_until(at.into()) => return how,
                    changed = rx.changed() => if changed.is_err() { return Ending::Close },
                }
            }
            None => {
                if rx.changed().await.is_err() {
                    return Ending::Close;
                }
            }
        }
    }
}

/// One direction's state beside its buffer.
struct Pump<'a> {
    d: Direction,
    link: &'a Link,
    plan: Plan,
    timer: Option<Timer>,
    rng: fastrand::Rng,
    /// Bytes passed under the current `limit_data` (its id, bytes).
    limited: (u64, u64),
    /// `limit_data` reached: pass on what waits, then end.
    over: bool,
    tail: [u8; 6],
    first: bool,
}

/// Reads from `src` into the ring while earlier chunks wait out their delay; writes each
/// chunk to `dst` when it is due.
async fn pump(mut src: ReadHalf<'_>, mut dst: WriteHalf<'_>, d: Direction, link: &Link) -> Flow {
    let mut rx = link.toxics.subscribe();
    let mut p = Pump {
        d,
        link,
        plan: Plan::of(&rx.borrow_and_update(), d),
        timer: None,
        rng: fastrand::Rng::with_seed(link.id.wrapping_mul(2) + d as u64),
        limited: (0, 0),
        over: false,
        tail: [0; 6],
        first: true,
    };
    let mut ring = Ring::new(BUFFER);
    let mut due_timer = None;
    loop {
        // A blackhole holds the data (in the ring and in the kernel's buffers) until it goes, as
        // a partition does: TCP delivers what was sent once the path is back.
        let holding = p.plan.blackhole;
        let due = ring.due().filter(|_| !holding);
        let can_read = ring.has_room() && !p.over && !holding;
        let size = p.plan.read_size(BUFFER);
        tokio::select! {
            biased;
            changed = rx.changed() => {
                if changed.is_err() {
                    return Flow::End;
                }
                p.plan = Plan::of(&rx.borrow_and_update(), d);
            }
            () = timer::sleep_until(&mut due_timer, due.unwrap_or_else(Instant::now)), if due.is_some() => {
                if p.write(ring.front(), &mut dst).await.is_err() {
                    return Flow::End;
                }
                ring.pop();
                if p.over && ring.is_empty() {
                    return Flow::End;
                }
            }
            read = src.read(ring.room(size)), if can_read => {
                let arrived = Instant::now();
                match read {
                    Ok(0) => return p.close(&mut ring, &mut dst).await,
                    Ok(n) => p.took(&mut ring, n, arrived),
                    Err(_) => return Flow::End,
                }
            }
        }
    }
}

impl Pump<'_> {
    /// `n` bytes were read into the ring's room at `arrived`: keeps them until due, or drops
    /// them (blackhole), or keeps those under the limit.
    fn took(&mut self, ring: &mut Ring, n: usize, arrived: Instant) {
        let mut n = n;
        {
            let chunk = &ring.room(n)[..n];
            self.link.saw(self.d, chunk, self.first, &mut self.tail);
        }
        self.first = false;
        if let Some((id, limit)) = self.plan.limit {
            if self.limited.0 != id {
                self.limited = (id, 0);
            }
            let left = limit.saturating_sub(self.limited.1) as usize;
            self.over = n >= left;
            n = n.min(left);
            self.limited.1 += n as u64;
        }
        let delay = self.plan.delay(&mut self.rng);
        ring.commit(n, arrived + delay);
    }

    /// Passes a chunk on, in slices under `slicer`, at the rate under `bandwidth`.
    async fn write(&mut self, chunk: &[u8], dst: &mut WriteHalf<'_>) -> std::io::Result<()> {
        match self.plan.slicer {
            Some(s) => self.sliced(chunk, s, dst).await?,
            None => dst.write_all(chunk).await?,
        }
        if let Some(t) = self.plan.transfer_time(chunk.len()) {
            timer::sleep_until(&mut self.timer, Instant::now() + t).await;
        }
        Ok(())
    }

    /// The source closed: what waits is passed on when due, then the close (after
    /// `slow_close`'s delay).
    async fn close(&mut self, ring: &mut Ring, dst: &mut WriteHalf<'_>) -> Flow {
        let closed = Instant::now();
        while let Some(due) = ring.due() {
            timer::sleep_until(&mut self.timer, due).await;
            if self.write(ring.front(), dst).await.is_err() {
                return Flow::End;
            }
            ring.pop();
        }
        if let Some(delay) = self.plan.slow_close {
            timer::sleep_until(&mut self.timer, closed + delay).await;
        }
        let _ = dst.shutdown().await;
        Flow::Eof
    }

    async fn sliced(
        &mut self,
        mut chunk: &[u8],
        s: super::toxics::Slices,
        dst: &mut WriteHalf<'_>,
    ) -> std::io::Result<()> {
        while !chunk.is_empty() {
            let n = s.next(&mut self.rng, chunk.len());
            dst.write_all(&chunk[..n]).await?;
            dst.flush().await?;
            chunk = &chunk[n..];
            if !chunk.is_empty() && !s.delay.is_zero() {
                timer::sleep_until(&mut self.timer, Instant::now() + s.delay).await;
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A link whose origin is a second ago, so that a last byte at the origin is long past.
    fn link() -> Link {
        let origin = Instant::now() - Duration::from_secs(1);
        Link::new(1, Arc::new(LinkToxics::default()), origin)
    }

    #[test]
    fn a_refused_ssl_request_leaves_the_connection_readable() {
        let l = link();
        let mut tail = [0u8; 6];
        l.saw(Direction::Upstream, &SSL_REQUEST, true, &mut tail);
        l.saw(Direction::Downstream, b"N", false, &mut tail);
        l.saw(
            Direction::Upstream,
            b"Q\0\0\0\x0dSELECT 1\0",
            false,
            &mut tail,
        );
        assert!(l.awaiting.load(Ordering::Relaxed));
        assert!(!l.opaque.load(Ordering::Relaxed));
        assert!(!l.is_idle(), "a statement in flight is not idle");
        l.saw(
            Direction::Downstream,
            &[b'Z', 0, 0, 0, 5, b'I'],
            false,
            &mut tail,
        );
        assert!(!l.awaiting.load(Ordering::Relaxed));
    }

    #[test]
    fn an_accepted_ssl_request_makes_the_connection_opaque() {
        let l = link();
        let mut tail = [0u8; 6];
        l.saw(Direction::Upstream, &SSL_REQUEST, true, &mut tail);
        l.saw(Direction::Downstream, b"S", false, &mut tail);
        assert!(l.opaque.load(Ordering::Relaxed));
    }

    /// As if the last byte passed at the origin, a second ago (past `IDLE_FOR`).
    fn quiet(l: &Link) {
        l.last_byte.store(0, Ordering::Relaxed);
    }

    #[test]
    fn under_tls_the_harness_speaking_last_means_a_statement_in_flight() {
        let l = link();
        let mut tail = [0u8; 6];
        l.saw(Direction::Upstream, &SSL_REQUEST, true, &mut tail);
        l.saw(Direction::Downstream, b"S", false, &mut tail);
        // Handshake and startup, ending with the server's bytes: idle once quiet.
        l.saw(Direction::Upstream, b"\x16client hello", false, &mut tail);
        l.saw(Direction::Downstream, b"\x16server hello", false, &mut tail);
        quiet(&l);
        assert!(l.is_idle());
        // An encrypted statement: in flight however long the server stays quiet.
        l.saw(Direction::Upstream, b"\x17ciphertext", false, &mut tail);
        quiet(&l);
        assert!(!l.is_idle(), "a statement in flight is not idle");
        // Its answer: idle again once quiet.
        l.saw(Direction::Downstream, b"\x17ciphertext", false, &mut tail);
        assert!(!l.is_idle(), "not yet quiet");
        quiet(&l);
        assert!(l.is_idle());
    }
}
