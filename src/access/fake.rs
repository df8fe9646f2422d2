//! A fake connection for the access modes' unit tests: it implements the lease's
//! [`Connection`] and the pool models' [`ModelConn`], and its statements can be held in flight
//! ([`Fake::pause_next`]) or find the server gone ([`Factory::kill`]), so tests force their
//! orderings with oneshots instead of timing.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};

use tokio::sync::oneshot;

use super::connection::{Command, Connection, Marks};
use super::models::{ModelConn, Opener};
use crate::record::errors::{ErrorClass, OpError};
use crate::value::Value;

/// A statement held in flight: `started` fires when it is sent, it ends when `resume` fires.
type Pause = (oneshot::Sender<()>, oneshot::Receiver<()>);

#[derive(Debug)]
pub(super) struct Fake {
    pub(crate) id: u64,
    in_tx: AtomicBool,
    /// Known dead (closed, or marked dead by its user).
    broken: AtomicBool,
    /// The server end is gone: the next statement (or ping) fails and finds it out.
    gone: Arc<AtomicBool>,
    marks: Marks,
    pause: Mutex<Option<Pause>>,
}

impl Fake {
    /// Holds the next statement in flight: returns (sent, resume).
    pub(crate) fn pause_next(&self) -> (oneshot::Receiver<()>, oneshot::Sender<()>) {
        let (started, sent) = oneshot::channel();
        let (resume, resumed) = oneshot::channel();
        *self.pause.lock().unwrap() = Some((started, resumed));
        (sent, resume)
    }

    async fn statement(&self) -> Result<(), OpError> {
        let pause = self.pause.lock().unwrap().take();
        if let Some((started, resume)) = pause {
            let _ = started.send(());
            let _ = resume.await;
        }
        if self.gone.load(Ordering::SeqCst) || self.broken.load(Ordering::SeqCst) {
            self.broken.store(true, Ordering::SeqCst);
            return Err(OpError::new(
                ErrorClass::ConnectionClosed,
                "server closed the connection unexpectedly",
            ));
        }
        Ok(())
    }
}

impl Connection for Fake {
    fn is_broken(&self) -> bool {
        self.broken.load(Ordering::SeqCst)
    }

    fn mark_dead(&self, _cause: OpError) {
        self.broken.store(true, Ordering::SeqCst);
    }

    fn maybe_in_transaction(&self) -> bool {
        self.in_tx.load(Ordering::SeqCst)
    }

    fn marks(&self) -> &Marks {
        &self.marks
    }

    async fn execute<'a>(
        &'a self,
        _index: usize,
        _values: &'a [Value],
        _captures: &'a [(String, usize)],
        _slots: &'a mut [Value],
    ) -> Result<(), OpError> {
        self.statement().await
    }

    async fn command<'a>(&'a self, _sql: &'a str, kind: Command) -> Result<(), OpError> {
        if kind == Command::Begin {
            self.in_tx.store(true, Ordering::SeqCst);
        }
        let result = self.statement().await;
        if kind != Command::Begin && (result.is_ok() || kind == Command::Commit) {
            self.in_tx.store(false, Ordering::SeqCst);
        }
        result
    }
}

impl ModelConn for Fake {
    fn is_broken(&self) -> bool {
        Connection::is_broken(self)
    }

    fn in_transaction(&self) -> bool {
        self.maybe_in_transaction()
    }

    async fn run(&self, _sql: &'static str) -> Result<(), OpError> {
        Connection::command(self, "ROLLBACK", Command::Reset).await
    }

    async fn ping(&self) -> Result<(), OpError> {
        self.statement().await
    }
}

/// Opens fakes, numbered from 1, and can kill them while they sit idle.
#[derive(Debug, Default)]
pub(super) struct Factory {
    pub(crate) opened: AtomicU64,
    gone: Mutex<Vec<Arc<AtomicBool>>>,
}

impl Factory {
    /// The server end of connection `id` goes away (nothing tells the client).
    pub(crate) fn kill(&self, id: u64) {
        self.gone.lock().unwrap()[id as usize - 1].store(true, Ordering::SeqCst);
    }
}

impl Opener for Arc<Factory> {
    type Conn = Fake;

    async fn open(&self) -> Result<Fake, OpError> {
        let gone = Arc::new(AtomicBool::new(false));
        let mut all = self.gone.lock().unwrap();
        all.push(gone.clone());
        let id = self.opened.fetch_add(1, Ordering::SeqCst) + 1;
        Ok(Fake {
            id,
            in_tx: AtomicBool::new(false),
            broken: AtomicBool::new(false),
            gone,
            marks: Marks::default(),
            pause: Mutex::new(None),
        })
    }
}
