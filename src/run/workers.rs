//! The runtime layout of the load: one worker thread per core, each running a current-thread
//! tokio runtime, tasks spread round-robin over them.
//!
//! Why not tokio's multi-thread runtime: on two cores it measured about 0.6× of pgbench on
//! `SELECT 1`, against about 0.8× for one current-thread runtime per core (work stealing and
//! cross-thread wakeups cost more than they balance). The tasks of a worker share one
//! [`Recorder`] without locking (they never run at the same time).
//!
//! A connection's I/O task runs on the runtime that opened it, and another worker's task may be
//! using that connection; so a worker that has finished its tasks keeps its runtime running
//! until every worker is done and the connections are closed ([`Workers::release`]).

use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Mutex};
use std::thread;

use tokio::sync::{oneshot, watch};
use tokio::task::{AbortHandle, JoinHandle, LocalSet, spawn_local};

use super::arrivals::{self, Arrivals, Share};
use super::pacer::Pacer;
use super::shape::Shape;
use super::stop::Stop;
use super::task::{LoadRun, run_task};
use crate::access::gauges::Gauges;
use crate::record::errors::{ErrorClass, OpError};
use crate::record::{Progress, Recorder, Totals};

/// The worker threads of one variant.
pub(crate) struct Workers {
    done: Vec<oneshot::Receiver<Totals>>,
    release: watch::Sender<bool>,
    threads: Vec<thread::JoinHandle<()>>,
    aborts: Arc<Mutex<Vec<AbortHandle>>>,
    gauges: Arc<Gauges>,
    stop: Arc<Stop>,
    pub(crate) progress: Vec<Arc<Progress>>,
}

/// Worker threads to use for `tasks` tasks: one per core (`STRESS_WORKER_THREADS` overrides).
pub(crate) fn thread_count(tasks: usize) -> usize {
    let cores = std::env::var("STRESS_WORKER_THREADS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| std::thread::available_parallelism().map_or(1, |n| n.get()));
    cores.clamp(1, tasks.max(1))
}

impl Workers {
    /// Starts the threads and their tasks.
    pub(crate) fn start(
        count: usize,
        tasks: usize,
        load: &Arc<LoadRun>,
    ) -> std::io::Result<Workers> {
        let (release, released) = watch::channel(false);
        let aborts = Arc::new(Mutex::new(Vec::new()));
        let stop = Arc::new(Stop::new(
            load.deadline,
            load.iterations,
            load.interrupt.clone(),
        ));
        let mut w = Workers {
            done: Vec::new(),
            release,
            threads: Vec::new(),
            aborts: aborts.clone(),
            gauges: load.access.gauges().clone(),
            stop: stop.clone(),
            progress: Vec::new(),
        };
        for id in 0..count {
            let (done_tx, done_rx) = oneshot::channel();
            let progress = Arc::new(Progress::default());
            let mine: Vec<usize> = (id..tasks).step_by(count).collect();
            let load = load.clone();
            let released = released.clone();
            let aborts = aborts.clone();
            let worker_progress = progress.clone();
            let stop = stop.clone();
            let thread = std::thread::Builder::new()
                .name(format!("stress-worker-{id}"))
                .spawn(move || {
                    let links = Links {
                        progress: worker_progress,
                        aborts,
                        done: done_tx,
                        released,
                        stop,
                    };
                    worker(load, (id, count), mine, links);
                })?;
            w.done.push(done_rx);
            w.threads.push(thread);
            w.progress.push(progress);
        }
        Ok(w)
    }

    /// A handle that aborts every task (on Ctrl-C), usable from another task.
    pub(crate) fn aborter(&self) -> Aborter {
        Aborter(self.aborts.clone(), self.gauges.clone(), self.stop.clone())
    }

    /// Waits until every worker's tasks have ended and returns what each recorded.
    pub(crate) async fn totals(&mut self, workloads: usize) -> Vec<Totals> {
        let mut all = Vec::new();
        for rx in self.done.drain(..) {
            all.push(rx.await.unwrap_or_else(|_| {
                // The worker thread died before reporting (it could not build its runtime).
                let mut t = Totals::new(workloads, 0);
                t.failed += 1;
                t.errors.add(
                    &OpError::new(ErrorClass::ClientError, "a worker thread failed"),
                    0,
                );
                t
            }));
        }
        all
    }

    /// Lets the workers stop their runtimes, and joins them.
    pub(crate) fn release(self) {
        let _ = self.release.send(true);
        for t in self.threads {
            let _ = t.join();
        }
    }
}

/// Aborts every task of the workers: in-flight operations are dropped, not recorded, and
/// their connections given back inside a transaction are not counted as anomalies.
#[derive(Clone)]
pub(crate) struct Aborter(Arc<Mutex<Vec<AbortHandle>>>, Arc<Gauges>, Arc<Stop>);

impl Aborter {
    pub(crate) fn abort(&self) {
        self.1.stop_load();
        self.2.halt();
        for a in self.0.lock().expect("aborts lock").iter() {
            a.abort();
        }
    }
}

/// What ties a worker thread to the control thread.
struct Links {
    progress: Arc<Progress>,
    aborts: Arc<Mutex<Vec<AbortHandle>>>,
    done: oneshot::Sender<Totals>,
    released: watch::Receiver<bool>,
    /// The load's one stop signal, which every task's loop reads.
    stop: Arc<Stop>,
}

fn worker(load: Arc<LoadRun>, place: (usize, usize), tasks: Vec<usize>, links: Links) {
    let Links {
        progress,
        aborts,
        done,
        mut released,
        stop,
    } = links;
    let Ok(rt) = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    else {
        return;
    };
    let local = LocalSet::new();
    local.block_on(&rt, async move {
        let recorder = Rc::new(RefCell::new(Recorder::new(
            load.plan.workloads.len(),
            load.measure_start,
            load.timeline.clone(),
            progress,
            load.faults.clone(),
            load.leak_threshold,
        )));
        let handles = spawn_tasks(&load, place, tasks, &recorder, &stop);
        drop(stop);
        aborts
            .lock()
            .expect("aborts lock")
            .extend(handles.iter().map(|h| h.abort_handle()));
        drop(load);
        let mut panics = Vec::new();
        for h in handles {
            if let Err(e) = h.await
                && e.is_panic()
            {
                panics.push(panic_message(e.into_panic()));
            }
        }
        let recorder = Rc::try_unwrap(recorder)
            .map_err(|_| ())
            .expect("every task has ended")
            .into_inner();
        let mut totals = recorder.finish();
        for p in panics {
            // A bug of ours: never silent.
            totals.failed += 1;
            let e = OpError::new(
                ErrorClass::ClientError,
                format!("a load task panicked: {p}"),
            );
            totals.errors.add(&e, 0);
        }
        let _ = done.send(totals);
        let _ = released.wait_for(|r| *r).await;
    });
}

/// Spawns this worker's tasks on its `LocalSet`, each its own worker loop with its pacer:
/// closed-model pacers, or open-model ones fed by this worker's share of the arrivals.
fn spawn_tasks(
    load: &Arc<LoadRun>,
    (id, count): (usize, usize),
    tasks: Vec<usize>,
    recorder: &Rc<RefCell<Recorder>>,
    stop: &Arc<Stop>,
) -> Vec<JoinHandle<()>> {
    let spawn = |t: usize, pacer: Pacer| {
        let (load, recorder, stop) = (load.clone(), recorder.clone(), stop.clone());
        spawn_local(run_task(load, t, recorder, pacer, stop))
    };
    let rate = match &load.shape {
        Shape::Closed { active } => {
            let (start, measure_start) = (load.start, load.measure_start);
            return tasks
                .into_iter()
                .map(|t| spawn(t, Pacer::closed(active.clone(), start, measure_start, t)))
                .collect();
        }
        Shape::Open { rate } => rate,
    };
    let arrivals = Rc::new(Arrivals::default());
    let share = Share {
        rate: rate.clone(),
        start: load.start,
        worker: id,
        workers: count,
    };
    let mut handles: Vec<_> = tasks
        .into_iter()
        .map(|t| spawn(t, Pacer::open(arrivals.clone())))
        .collect();
    handles.push(spawn_local(arrivals::generate(
        arrivals,
        share,
        recorder.clone(),
        stop.clone(),
    )));
    handles
}

fn panic_message(p: Box<dyn std::any::Any + Send>) -> String {
    p.downcast_ref::<&str>()
        .map(|s| s.to_string())
        .or_else(|| p.downcast_ref::<String>().cloned())
        .unwrap_or_else(|| "unknown panic".into())
}
