//! The ledger table of the acknowledged-writes check (see `record/writes.rs`): made before
//! the load when a workload is verified, read back after it, then dropped. Named after the
//! run, so concurrent runs on one database do not meet.

use futures_util::TryStreamExt;

use super::RunError;
use super::admin::Admin;
use crate::record::errors::describe;
use crate::record::writes::{WriteBook, Writes};

pub(crate) struct Ledger {
    pub(crate) table: String,
}

impl Ledger {
    /// Creates the ledger for a run.
    pub(crate) async fn create(admin: &Admin, run_id: &str) -> Result<Ledger, RunError> {
        let table = format!("stress_ledger_{run_id}");
        let client = admin.client().await?;
        client
            .batch_execute(&format!(
                "DROP TABLE IF EXISTS {table}; CREATE TABLE {table} (write_id bigint PRIMARY KEY)"
            ))
            .await
            .map_err(|e| {
                RunError::BadInput(format!(
                    "cannot create the ledger table {table}: {}",
                    describe(&e)
                ))
            })?;
        Ok(Ledger { table })
    }

    /// The statement each verified operation runs last in its transaction.
    pub(crate) fn insert_sql(&self) -> String {
        format!("INSERT INTO {} (write_id) VALUES ($1)", self.table)
    }

    /// Reads the ledger back (streamed: memory does not grow with it) against the book.
    pub(crate) async fn check(&self, admin: &Admin, book: &WriteBook) -> Result<Writes, String> {
        let client = admin.client().await.map_err(|e| e.to_string())?;
        let sql = format!("SELECT write_id FROM {}", self.table);
        let rows = client
            .query_raw(&sql, std::iter::empty::<i64>())
            .await
            .map_err(|e| describe(&e))?;
        let mut rows = std::pin::pin!(rows);
        let mut checker = book.checker();
        while let Some(row) = rows.try_next().await.map_err(|e| describe(&e))? {
            checker.present(row.get::<_, i64>(0));
        }
        Ok(checker.finish())
    }

    /// Drops the table; a failure is a warning for the report.
    pub(crate) async fn remove(self, admin: &Admin) -> Option<String> {
        let client = match admin.client().await {
            Ok(c) => c,
            Err(e) => return Some(format!("cannot drop the ledger table {}: {e}", self.table)),
        };
        client
            .batch_execute(&format!("DROP TABLE IF EXISTS {}", self.table))
            .await
            .err()
            .map(|e| {
                format!(
                    "cannot drop the ledger table {}: {}",
                    self.table,
                    describe(&e)
                )
            })
    }
}
