//! The background connects of a pool model: the `min_size` of its opening, those for waiting
//! clients (psycopg_pool's `AddConnection`), and the refills back to `min_size`.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Instant;

use super::{Core, Held, wake_oldest};
use crate::access::models::stats::bump;
use crate::access::models::{Opener, Opens};
use crate::record::errors::OpError;

/// Why a background connect runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Connect {
    /// One of `min_size` at the pool's opening.
    Initial,
    /// For waiting clients (psycopg_pool's `_growing`).
    Growing,
    /// Back to `min_size` after a close.
    Refill,
}

impl<O: Opener> Core<O> {
    /// [`Core::add_connection`] with a named type: it spawns itself.
    pub(super) fn add_boxed(
        self: Arc<Self>,
        why: Connect,
    ) -> Pin<Box<dyn Future<Output = ()> + Send>> {
        Box::pin(self.add_connection(why))
    }

    /// A background connect (psycopg_pool's `AddConnection`), retried with back-off until
    /// `reconnect_timeout`; `growing` connects go on while clients wait.
    async fn add_connection(self: Arc<Self>, why: Connect) {
        let growing = why == Connect::Growing;
        let started = Instant::now();
        let mut delay = std::time::Duration::from_secs(1);
        let conn = loop {
            match self.opener.open().await {
                Ok(conn) => break Some(conn),
                Err(e) => {
                    self.note_connect_error(e);
                    if started.elapsed() + delay > self.rules.reconnect_timeout
                        || self.lock().closed
                    {
                        break None;
                    }
                    tokio::time::sleep(delay).await;
                    delay *= 2;
                }
            }
        };
        if why == Connect::Initial {
            self.lock().initializing -= 1;
        }
        let Some(conn) = conn else {
            let mut st = self.lock();
            st.total -= 1;
            st.growing &= !growing;
            // A waiter held back by the opening now opens its own.
            if why == Connect::Initial && self.rules.opens == Opens::InTask {
                wake_oldest(&mut st.waiters);
            }
            return;
        };
        bump(&self.stats.created);
        self.give_back(Held {
            conn,
            created: Instant::now(),
            queries: 0,
        });
        if growing {
            let mut st = self.lock();
            let room = self.rules.max_size.is_none_or(|max| st.total < max);
            if room && !st.closed && st.waiters.iter().any(|(w, _)| !w.is_closed()) {
                st.total += 1;
                tokio::spawn(Arc::clone(&self).add_boxed(Connect::Growing));
            } else {
                st.growing = false;
            }
        }
    }

    pub(super) fn note_connect_error(&self, e: OpError) {
        let mut errors = self.connect_errors.lock().expect("connect errors");
        *errors.0.entry(e.class).or_default() += 1;
        errors.1 = Some((Instant::now(), e));
    }
}
