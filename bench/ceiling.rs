//! The ceiling of `stress`'s stack: tokio-postgres alone, with nothing of the harness.
//!
//! One current-thread tokio runtime per thread (as `stress`'s workers), each client on its own
//! connection driven by a task of its own (as tokio-postgres suggests), a prepared `SELECT 1`
//! in a loop with two clock reads around it (as any latency measurement needs): the shape of
//! `pgbench -M prepared`. No pool, no histogram, no diagnosis. `bench/vs-pgbench.sh` runs it
//! beside pgbench and `stress`, so the gap between `stress` and pgbench splits into what the
//! stack costs (this program against pgbench) and what the harness adds (`stress` against it).
//!
//! Usage: `tokio-postgres-ceiling URL CLIENTS THREADS SECONDS`; prints `ops/s` and the count.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::{Duration, Instant};

type Error = Box<dyn std::error::Error + Send + Sync>;

fn main() {
    if let Err(e) = run() {
        eprintln!("tokio-postgres-ceiling: {e}");
        std::process::exit(2);
    }
}

fn run() -> Result<(), Error> {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let [url, clients, threads, seconds] = args.as_slice() else {
        return Err("usage: tokio-postgres-ceiling URL CLIENTS THREADS SECONDS".into());
    };
    let (clients, threads): (usize, usize) = (clients.parse()?, threads.parse()?);
    let seconds: u64 = seconds.parse()?;
    let stop = Arc::new(AtomicBool::new(false));
    let count = Arc::new(AtomicU64::new(0));
    let mut handles = Vec::new();
    for t in 0..threads.max(1) {
        let mine = (t..clients).step_by(threads.max(1)).count();
        let (url, stop, count) = (url.clone(), stop.clone(), count.clone());
        handles.push(std::thread::spawn(move || worker(&url, mine, stop, count)));
    }
    let started = Instant::now();
    std::thread::sleep(Duration::from_secs(seconds));
    stop.store(true, Ordering::Relaxed);
    for h in handles {
        h.join().map_err(|_| "a worker panicked")??;
    }
    let n = count.load(Ordering::Relaxed);
    let ops_s = n as f64 / started.elapsed().as_secs_f64();
    println!("ops/s {ops_s:.0} ops {n}");
    Ok(())
}

/// One thread's clients, until `stop`.
fn worker(
    url: &str,
    clients: usize,
    stop: Arc<AtomicBool>,
    count: Arc<AtomicU64>,
) -> Result<(), Error> {
    let rt = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()?;
    let local = tokio::task::LocalSet::new();
    local.block_on(&rt, async move {
        let mut tasks = Vec::new();
        for _ in 0..clients {
            let (url, stop, count) = (url.to_string(), stop.clone(), count.clone());
            tasks.push(tokio::task::spawn_local(async move {
                client(&url, &stop, &count).await
            }));
        }
        for t in tasks {
            t.await??;
        }
        Ok(())
    })
}

async fn client(url: &str, stop: &AtomicBool, count: &AtomicU64) -> Result<(), Error> {
    let (client, connection) = tokio_postgres::connect(url, tokio_postgres::NoTls).await?;
    tokio::task::spawn_local(connection);
    let statement = client.prepare("SELECT 1").await?;
    let (mut n, mut busy) = (0u64, Duration::ZERO);
    while !stop.load(Ordering::Relaxed) {
        let started = Instant::now();
        client.query(&statement, &[]).await?;
        busy += started.elapsed();
        n += 1;
    }
    std::hint::black_box(busy);
    count.fetch_add(n, Ordering::Relaxed);
    Ok(())
}
