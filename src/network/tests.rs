//! The proxy on real sockets of 127.0.0.1: an echo server behind it, the toxics forced in
//! order through the control handle (no sleeps hoped to be long enough: each wait is for a
//! byte, a close or a reset, with wide limits).

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, TcpStream};

use super::toxics::{Direction, LinkToxics, Plan};
use super::*;

/// `ReadyForQuery` (idle): echoed back, it ends a "statement".
const READY: [u8; 6] = [b'Z', 0, 0, 0, 5, b'I'];

fn block_on<F: std::future::Future>(f: F) -> F::Output {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .unwrap()
        .block_on(f)
}

/// An echo server on 127.0.0.1; runs until the runtime ends.
async fn echo() -> SocketAddr {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    tokio::spawn(async move {
        while let Ok((mut s, _)) = l.accept().await {
            tokio::spawn(async move {
                let mut buf = vec![0u8; 64 * 1024];
                while let Ok(n) = s.read(&mut buf).await {
                    if n == 0 || s.write_all(&buf[..n]).await.is_err() {
                        break;
                    }
                }
            });
        }
    });
    addr
}

async fn proxy(always: Vec<Toxic>) -> Proxy {
    Proxy::start(vec![echo().await], always).unwrap()
}

async fn connect(p: &ProxyHandle) -> TcpStream {
    let s = TcpStream::connect(p.addr()).await.unwrap();
    s.set_nodelay(true).unwrap();
    s
}

/// Sends `data` and reads as many bytes back, within `limit`.
async fn round_trip(s: &mut TcpStream, data: &[u8], limit: Duration) -> std::io::Result<Vec<u8>> {
    s.write_all(data).await?;
    let mut back = vec![0u8; data.len()];
    match tokio::time::timeout(limit, s.read_exact(&mut back)).await {
        Ok(r) => r.map(|_| back),
        Err(_) => Err(std::io::Error::new(
            std::io::ErrorKind::TimedOut,
            "no answer",
        )),
    }
}

/// Waits until the proxy has `n` connections registered.
async fn registered(p: &ProxyHandle, n: usize) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while p.connections() != n {
        assert!(
            Instant::now() < deadline,
            "{} connections, not {n}",
            p.connections()
        );
        tokio::time::sleep(Duration::from_millis(1)).await;
    }
}

fn spec(toxic: Toxic) -> ToxicSpec {
    ToxicSpec::always(toxic)
}

const LONG: Duration = Duration::from_secs(10);

#[test]
fn bytes_pass_both_ways_unchanged() {
    block_on(async {
        let p = proxy(vec![]).await;
        let mut s = connect(&p.handle()).await;
        let data: Vec<u8> = (0..200_000u32).map(|i| i as u8).collect();
        let back = round_trip(&mut s, &data, LONG).await.unwrap();
        assert_eq!(back, data);
    });
}

#[test]
fn latency_delays_each_direction() {
    block_on(async {
        let p = proxy(vec![Toxic::Latency {
            latency: Duration::from_millis(20),
            jitter: Duration::ZERO,
        }])
        .await;
        let mut s = connect(&p.handle()).await;
        round_trip(&mut s, b"warm", LONG).await.unwrap();
        let mut rtts = Vec::new();
        for _ in 0..5 {
            let began = Instant::now();
            round_trip(&mut s, b"ping", LONG).await.unwrap();
            rtts.push(began.elapsed());
        }
        rtts.sort();
        let median = rtts[2];
        // 20 ms each way: 40 ms, within ±20%.
        assert!(
            median >= Duration::from_millis(40) && median <= Duration::from_millis(48),
            "{rtts:?}"
        );
    });
}

#[test]
fn a_blackhole_holds_data_until_removed() {
    block_on(async {
        let p = proxy(vec![]).await;
        let h = p.handle();
        let mut s = connect(&h).await;
        round_trip(&mut s, b"before", LONG).await.unwrap();
        let hole = h.add(spec(Toxic::Timeout {
            timeout: Duration::ZERO,
        }));
        assert_eq!((hole.open, hole.affected), (1, 1));
        let held = round_trip(&mut s, b"held", Duration::from_millis(300)).await;
        assert_eq!(held.unwrap_err().kind(), std::io::ErrorKind::TimedOut);
        h.remove(hole.id);
        let back = round_trip(&mut s, b"after", LONG).await.unwrap();
        assert_eq!(back, b"helda", "what was held arrives first");
        let mut rest = [0u8; 4];
        s.read_exact(&mut rest).await.unwrap();
        assert_eq!(&rest, b"fter");
    });
}

#[test]
fn a_timeout_closes_the_connection_after_it() {
    block_on(async {
        let p = proxy(vec![]).await;
        let h = p.handle();
        let mut s = connect(&h).await;
        round_trip(&mut s, b"x", LONG).await.unwrap();
        let began = Instant::now();
        h.add(spec(Toxic::Timeout {
            timeout: Duration::from_millis(200),
        }));
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(LONG, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0, "closed");
        assert!(
            began.elapsed() >= Duration::from_millis(190),
            "{:?}",
            began.elapsed()
        );
    });
}

#[test]
fn reset_peer_resets_the_harness_side() {
    block_on(async {
        let p = proxy(vec![]).await;
        let h = p.handle();
        let mut s = connect(&h).await;
        round_trip(&mut s, b"x", LONG).await.unwrap();
        h.add(spec(Toxic::ResetPeer {
            timeout: Duration::ZERO,
        }));
        let mut buf = [0u8; 1];
        let e = tokio::time::timeout(LONG, s.read(&mut buf)).await.unwrap();
        assert_eq!(e.unwrap_err().kind(), std::io::ErrorKind::ConnectionReset);
    });
}

#[test]
fn down_refuses_new_connections_closes_open_ones_and_comes_back() {
    block_on(async {
        let p = proxy(vec![]).await;
        let h = p.handle();
        let mut s = connect(&h).await;
        round_trip(&mut s, b"x", LONG).await.unwrap();
        let down = h.add(spec(Toxic::Down));
        let mut buf = [0u8; 1];
        let n = tokio::time::timeout(LONG, s.read(&mut buf))
            .await
            .unwrap()
            .unwrap();
        assert_eq!(n, 0);
        // The listening socket is closed by the proxy's thread: wait for the refusal.
        let deadline = Instant::now() + LONG;
        loop {
            match TcpStream::connect(h.addr()).await {
                Err(e) => {
                    assert_eq!(e.kind(), std::io::ErrorKind::ConnectionRefused);
                    break;
                }
                Ok(_) => assert!(Instant::now() < deadline, "still accepting"),
            }
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
        h.remove(down.id);
        let deadline = Instant::now() + LONG;
        let mut again = loop {
            if let Ok(s) = TcpStream::connect(h.addr()).await {
                break s;
            }
            assert!(Instant::now() < deadline, "never back");
            tokio::time::sleep(Duration::from_millis(5)).await;
        };
        assert_eq!(
            round_trip(&mut again, b"back", LONG).await.unwrap(),
            b"back"
        );
    });
}

#[test]
fn idle_only_spares_a_connection_with_a_statement_in_flight() {
    block_on(async {
        let p = proxy(vec![]).await;
        let h = p.handle();
        let mut idle = connect(&h).await;
        let mut busy = connect(&h).await;
        registered(&h, 2).await;
        // `idle` ends its exchange with ReadyForQuery; `busy` has sent and seen no reply end.
        round_trip(&mut idle, &READY, LONG).await.unwrap();
        round_trip(&mut busy, b"SELECT pg_sleep", LONG)
            .await
            .unwrap();
        tokio::time::sleep(link::IDLE_FOR * 2).await;
        let mut toxic = spec(Toxic::Timeout {
            timeout: Duration::ZERO,
        });
        toxic.idle_only = true;
        let applied = h.add(toxic);
        assert_eq!((applied.open, applied.affected, applied.busy), (2, 1, 1));
        assert!(round_trip(&mut busy, b"more", LONG).await.is_ok());
        let dropped = round_trip(&mut idle, b"lost", Duration::from_millis(300)).await;
        assert!(dropped.is_err(), "the idle connection is blackholed");
        // A connection opened later is spared too.
        let mut later = connect(&h).await;
        assert!(round_trip(&mut later, b"new", LONG).await.is_ok());
    });
}

#[test]
fn fraction_picks_a_share_of_the_connections() {
    block_on(async {
        let p = proxy(vec![]).await;
        let h = p.handle();
        let mut all = Vec::new();
        for _ in 0..40 {
            all.push(connect(&h).await);
        }
        registered(&h, 40).await;
        let mut toxic = spec(Toxic::Latency {
            latency: Duration::from_millis(1),
            jitter: Duration::ZERO,
        });
        toxic.fraction = 0.5;
        let a = h.add(toxic);
        assert!(a.affected > 5 && a.affected < 35, "{a:?}");
    });
}

/// An echo server for one connection that also keeps what it received, and hands it over when
/// the connection closes.
async fn recording_echo() -> (SocketAddr, tokio::sync::oneshot::Receiver<Vec<u8>>) {
    let l = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = l.local_addr().unwrap();
    let (tx, rx) = tokio::sync::oneshot::channel();
    tokio::spawn(async move {
        let (mut s, _) = l.accept().await.unwrap();
        let (mut got, mut buf) = (Vec::new(), [0u8; 1024]);
        while let Ok(n) = s.read(&mut buf).await {
            if n == 0 {
                break;
            }
            got.extend_from_slice(&buf[..n]);
            let _ = s.write_all(&buf[..n]).await;
        }
        let _ = tx.send(got);
    });
    (addr, rx)
}

#[test]
fn limit_data_closes_after_the_bytes() {
    block_on(async {
        let (server, received) = recording_echo().await;
        let p = Proxy::start(vec![server], vec![]).unwrap();
        let h = p.handle();
        let mut s = connect(&h).await;
        round_trip(&mut s, b"before", LONG).await.unwrap();
        let mut toxic = spec(Toxic::LimitData { bytes: 10 });
        toxic.stream = Streams::Upstream;
        h.add(toxic);
        s.write_all(b"0123456789abcdef").await.unwrap();
        let mut back = Vec::new();
        // The connection is closed once the ten bytes passed (before their echo, maybe).
        let _ = tokio::time::timeout(LONG, s.read_to_end(&mut back))
            .await
            .expect("closed");
        assert!(b"0123456789".starts_with(&back), "{back:?}");
        // The server got what passed before the toxic and the ten bytes after it, no more.
        let got = tokio::time::timeout(LONG, received)
            .await
            .expect("the server's side closed too")
            .unwrap();
        assert_eq!(
            got,
            b"before0123456789",
            "{}",
            String::from_utf8_lossy(&got)
        );
    });
}

#[test]
fn slicer_and_bandwidth_keep_the_bytes_and_take_their_time() {
    block_on(async {
        let p = proxy(vec![]).await;
        let h = p.handle();
        let mut s = connect(&h).await;
        h.add(spec(Toxic::Slicer {
            average_size: 100,
            size_variation: 50,
            delay: Duration::from_micros(10),
        }));
        let mut rate = spec(Toxic::Bandwidth { rate: 1000 });
        rate.stream = Streams::Downstream;
        h.add(rate);
        registered(&h, 1).await;
        let data: Vec<u8> = (0..200_000u32).map(|i| (i * 7) as u8).collect();
        let began = Instant::now();
        let back = round_trip(&mut s, &data, LONG).await.unwrap();
        assert_eq!(back, data);
        // 200 kB at 1000 kB/s: at least 0.2 s.
        assert!(
            began.elapsed() >= Duration::from_millis(180),
            "{:?}",
            began.elapsed()
        );
    });
}

#[test]
fn slow_close_delays_the_close() {
    block_on(async {
        let p = proxy(vec![]).await;
        let h = p.handle();
        let mut s = connect(&h).await;
        round_trip(&mut s, b"x", LONG).await.unwrap();
        let mut toxic = spec(Toxic::SlowClose {
            delay: Duration::from_millis(300),
        });
        toxic.stream = Streams::Upstream;
        h.add(toxic);
        registered(&h, 1).await;
        let began = Instant::now();
        s.shutdown().await.unwrap();
        let mut rest = Vec::new();
        tokio::time::timeout(LONG, s.read_to_end(&mut rest))
            .await
            .unwrap()
            .unwrap();
        assert!(
            began.elapsed() >= Duration::from_millis(290),
            "{:?}",
            began.elapsed()
        );
    });
}

#[test]
fn plans_sum_latencies_and_keep_the_lowest_rate_and_limit() {
    let mk = |id, toxic, stream| toxics::Applied {
        id,
        toxic,
        stream,
        since: Instant::now(),
    };
    let t = LinkToxics {
        toxics: vec![
            mk(
                1,
                Toxic::Latency {
                    latency: Duration::from_millis(1),
                    jitter: Duration::ZERO,
                },
                Streams::Both,
            ),
            mk(
                2,
                Toxic::Latency {
                    latency: Duration::from_millis(2),
                    jitter: Duration::ZERO,
                },
                Streams::Upstream,
            ),
            mk(3, Toxic::Bandwidth { rate: 5 }, Streams::Both),
            mk(4, Toxic::Bandwidth { rate: 2 }, Streams::Downstream),
            mk(5, Toxic::LimitData { bytes: 9 }, Streams::Both),
            mk(6, Toxic::LimitData { bytes: 4 }, Streams::Both),
        ],
        closed: false,
    };
    let up = Plan::of(&t, Direction::Upstream);
    assert_eq!(up.latency, Duration::from_millis(3));
    assert_eq!(up.rate, Some(5000));
    assert_eq!(up.limit, Some((6, 4)));
    let down = Plan::of(&t, Direction::Downstream);
    assert_eq!(down.latency, Duration::from_millis(1));
    assert_eq!(down.rate, Some(2000));
    assert_eq!(down.read_size(32 * 1024), 200);
    assert!(t.ending().is_none());
}

#[test]
fn jitter_stays_within_its_bounds() {
    let p = Plan {
        latency: Duration::from_millis(10),
        jitter: Duration::from_millis(3),
        ..Plan::default()
    };
    let mut rng = fastrand::Rng::with_seed(1);
    let delays: Vec<_> = (0..1000).map(|_| p.delay(&mut rng)).collect();
    assert!(
        delays
            .iter()
            .all(|d| *d >= Duration::from_millis(7) && *d <= Duration::from_millis(13))
    );
    assert!(delays.iter().any(|d| *d < Duration::from_millis(9)));
    assert!(delays.iter().any(|d| *d > Duration::from_millis(11)));
}
