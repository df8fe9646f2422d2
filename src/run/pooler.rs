//! PgBouncer's admin console (the `pgbouncer` database): the per-second sample of its pools
//! (`SHOW POOLS`, `SHOW STATS`) for the timeline, and the commands of the `pause_pooler` fault.
//! Reached over its own connection, reopened when PgBouncer was restarted under it; the
//! console speaks the simple query protocol only.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use tokio_postgres::{Client, NoTls, SimpleQueryMessage};

use crate::database::PgBouncer;
use crate::record::errors::describe;
use crate::record::pooler::PoolerSecond;

/// `SHOW STATS`'s counters for the run's database, as last read.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
struct Counters {
    transactions: u64,
    queries: u64,
    wait_us: u64,
}

/// A connection to PgBouncer's admin console.
pub(crate) struct PoolerConsole {
    config: tokio_postgres::Config,
    /// The run's database in PgBouncer: the `SHOW` rows read.
    dbname: String,
    client: Mutex<Option<Arc<Client>>>,
    last: Mutex<Option<Counters>>,
}

impl PoolerConsole {
    pub(crate) fn new(pooler: &PgBouncer, run_id: &str) -> PoolerConsole {
        let mut config = pooler.console_config();
        config.application_name(format!("stress:{run_id}:pooler-console"));
        PoolerConsole {
            config,
            dbname: pooler.dbname().to_string(),
            client: Mutex::new(None),
            last: Mutex::new(None),
        }
    }

    async fn client(&self) -> Result<Arc<Client>, String> {
        let current = self.client.lock().expect("console lock").clone();
        if let Some(c) = current.filter(|c| !c.is_closed()) {
            return Ok(c);
        }
        let (client, connection) = self
            .config
            .connect(NoTls)
            .await
            .map_err(|e| format!("cannot reach PgBouncer's admin console: {}", describe(&e)))?;
        tokio::spawn(async move {
            let _ = connection.await;
        });
        let client = Arc::new(client);
        *self.client.lock().expect("console lock") = Some(client.clone());
        Ok(client)
    }

    /// Runs an admin command (`PAUSE`, `RESUME`, `SHOW POOLS`...); its rows as name → value.
    pub(crate) async fn run(&self, command: &str) -> Result<Vec<HashMap<String, String>>, String> {
        let client = self.client().await?;
        let messages = client
            .simple_query(command)
            .await
            .map_err(|e| format!("PgBouncer refused {command}: {}", describe(&e)))?;
        Ok(messages
            .iter()
            .filter_map(|m| match m {
                SimpleQueryMessage::Row(row) => Some(
                    row.columns()
                        .iter()
                        .enumerate()
                        .map(|(i, c)| (c.name().to_string(), row.get(i).unwrap_or("").to_string()))
                        .collect(),
                ),
                _ => None,
            })
            .collect())
    }

    /// Reads the counters once, so that the first sample counts from the start of the
    /// measured phase.
    pub(crate) async fn prime(&self) {
        if let Ok(c) = self.counters().await {
            *self.last.lock().expect("console lock") = Some(c);
        }
    }

    async fn counters(&self) -> Result<Counters, String> {
        let rows = self.run("SHOW STATS").await?;
        let mut c = Counters::default();
        for row in rows.iter().filter(|r| self.ours(r)) {
            c.transactions += number(row, "total_xact_count");
            c.queries += number(row, "total_query_count");
            c.wait_us += number(row, "total_wait_time");
        }
        Ok(c)
    }

    fn ours(&self, row: &HashMap<String, String>) -> bool {
        row.get("database").is_some_and(|d| *d == self.dbname)
    }

    /// The pools at this moment and the counters' progress since the last sample; `None`
    /// when the console does not answer (PgBouncer restarting, say).
    pub(crate) async fn sample(&self) -> Option<PoolerSecond> {
        let pools = self.run("SHOW POOLS").await.ok()?;
        let mut s = PoolerSecond::default();
        for row in pools.iter().filter(|r| self.ours(r)) {
            s.cl_active += number(row, "cl_active");
            s.cl_waiting += number(row, "cl_waiting");
            s.sv_active += number(row, "sv_active");
            s.sv_idle += number(row, "sv_idle");
            s.sv_used += number(row, "sv_used");
            let wait_ms = number(row, "maxwait") * 1000 + number(row, "maxwait_us") / 1000;
            s.maxwait_ms = s.maxwait_ms.max(wait_ms);
        }
        if let Ok(now) = self.counters().await {
            let before = self.last.lock().expect("console lock").replace(now);
            let d = delta(before, now);
            s.transactions = d.transactions;
            s.queries = d.queries;
            s.wait_ms = d.wait_us / 1000;
        }
        Some(s)
    }
}

/// How far the counters moved; a restarted PgBouncer counts from zero again.
fn delta(before: Option<Counters>, now: Counters) -> Counters {
    let Some(b) = before else {
        return now;
    };
    let moved = |b: u64, n: u64| if n >= b { n - b } else { n };
    Counters {
        transactions: moved(b.transactions, now.transactions),
        queries: moved(b.queries, now.queries),
        wait_us: moved(b.wait_us, now.wait_us),
    }
}

fn number(row: &HashMap<String, String>, column: &str) -> u64 {
    row.get(column).and_then(|v| v.parse().ok()).unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn counters_move_forward_and_restart_from_zero() {
        let c = |t, q, w| Counters {
            transactions: t,
            queries: q,
            wait_us: w,
        };
        assert_eq!(
            delta(Some(c(10, 20, 3000)), c(15, 30, 5000)),
            c(5, 10, 2000)
        );
        assert_eq!(delta(Some(c(10, 20, 3000)), c(2, 4, 100)), c(2, 4, 100));
        assert_eq!(delta(None, c(1, 2, 3)), c(1, 2, 3));
    }
}
