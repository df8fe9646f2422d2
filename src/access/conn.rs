//! Our connection: the tokio-postgres `Client` with what a diagnosis needs beside it.
//!
//! bb8-postgres keeps nothing but the `Client` and drops the connection task's result, so a
//! terminated backend looks like a bare "connection closed". [`PgConn`] keeps the connection
//! task's terminal error and its server notices (25001/25P01 tell interleaved transactions on a
//! shared connection), the statements prepared on this connection, and our own
//! in-transaction flag (bb8 does not reset connections, so a pooled connection can come back
//! inside a transaction).

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use tokio::sync::OnceCell;
use tokio_postgres::types::{ToSql, Type};
use tokio_postgres::{Client, Statement};

use std::future::Future;

use super::cancels::StatementTrack;
use super::capture::Captured;
pub(crate) use super::connection::Command;
use super::connection::{Connection, Marks};
use super::gauges::Gauges;
use super::io::Driver;
use crate::database::Tls;
use crate::record::errors::{self, ErrorClass, OpError, Phase};
use crate::scenario::model::{AccessMode, AccessSettings, QueryMode, SettingValue};
use crate::value::StatementInfo;
use crate::value::Value;

/// Opens connections for one variant: same server, settings and statements for all.
#[derive(Debug)]
pub struct Connector {
    config: tokio_postgres::Config,
    tls: Tls,
    /// `stress:<run id>:`, after the application name of the settings (`PGAPPNAME`) if any.
    prefix: String,
    serial: AtomicU64,
    session_sql: Option<String>,
    pub(crate) query_mode: QueryMode,
    pub(crate) statements: Arc<[StatementInfo]>,
    pub(crate) gauges: Arc<Gauges>,
    /// Whether the holder drives the connection's I/O (see `io.rs`); not for shared ones.
    inline_io: bool,
    /// Where to open the socket instead of the settings' hosts: the network proxy.
    dial: Option<std::net::SocketAddr>,
}

impl Connector {
    /// Connects with `config` and `tls`; each connection is named after run `run_id`, applies
    /// `access`'s session settings and query mode, and counts itself in `gauges`.
    pub fn new(
        config: tokio_postgres::Config,
        tls: Tls,
        run_id: &str,
        access: &AccessSettings,
        statements: Arc<[StatementInfo]>,
        gauges: Arc<Gauges>,
    ) -> Connector {
        let prefix = match config.get_application_name() {
            Some(app) => format!("{}:{}", app_prefix(app), application_prefix(run_id)),
            None => application_prefix(run_id),
        };
        Connector {
            config,
            tls,
            prefix,
            serial: AtomicU64::new(0),
            session_sql: session_sql(&access.session_settings),
            query_mode: access.query_mode,
            statements,
            gauges,
            inline_io: access.mode != AccessMode::Shared,
            dial: None,
        }
    }

    /// Opens the sockets at `dial` (the network proxy) when given.
    pub(crate) fn dialing(mut self, dial: Option<std::net::SocketAddr>) -> Connector {
        self.dial = dial;
        self
    }

    /// The `application_name` prefix of this run's connections (`stress:<run id>:`, after
    /// the settings' application name: `PGAPPNAME=shop` gives `shop:stress:<run id>:`).
    pub fn application_prefix(&self) -> String {
        self.prefix.clone()
    }

    /// Opens a connection named `stress:<run id>:<n>` and applies the session settings.
    pub async fn connect(&self) -> Result<PgConn, OpError> {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        let mut config = self.config.clone();
        config.application_name(format!("{}{serial}", self.prefix));
        let (client, connection, socket) = super::open::open(&config, &self.tls, self.dial).await?;
        let conn = PgConn {
            client,
            driver: Driver::new(connection, socket, self.inline_io, self.gauges.clone()),
            prepared: (0..self.statements.len())
                .map(|_| OnceCell::new())
                .collect(),
            in_transaction: AtomicBool::new(false),
            marks: Marks::default(),
            serial,
            track: self.gauges.cancels.register(serial),
            session_sql: self.session_sql.clone(),
            query_mode: self.query_mode,
            statements: self.statements.clone(),
            gauges: self.gauges.clone(),
            failed_check: AtomicBool::new(false),
        };
        self.gauges.opened();
        if let Some(sql) = &self.session_sql {
            conn.driver
                .run(conn.client.batch_execute(sql))
                .await
                .map_err(|e| errors::classify(&e, Phase::Connect, conn.terminal().as_ref()))?;
        }
        Ok(conn)
    }
}

/// `stress:<run id>:`: every connection of a run has an `application_name` with this prefix.
pub(crate) fn application_prefix(run_id: &str) -> String {
    format!("stress:{run_id}:")
}

/// The settings' application name, cut so that ours (`stress:<run id>:<n>`) still fits in
/// the server's 63 bytes.
fn app_prefix(app: &str) -> &str {
    let mut end = app.len().min(20);
    while !app.is_char_boundary(end) {
        end -= 1;
    }
    &app[..end]
}

fn session_sql(settings: &std::collections::BTreeMap<String, SettingValue>) -> Option<String> {
    if settings.is_empty() {
        return None;
    }
    Some(
        settings
            .iter()
            .map(|(name, value)| {
                format!(
                    "SET {} TO '{}'",
                    quote_ident(name),
                    value.0.replace('\'', "''")
                )
            })
            .collect::<Vec<_>>()
            .join("; "),
    )
}

/// Quotes each dotted part of a setting name (`app.flag` → `"app"."flag"`).
fn quote_ident(name: &str) -> String {
    name.split('.')
        .map(|p| format!("\"{}\"", p.replace('"', "\"\"")))
        .collect::<Vec<_>>()
        .join(".")
}

/// A statement prepared on a connection, with its name on the server when the wire may run it
/// (`wire.rs`).
#[derive(Debug)]
struct Prepared {
    statement: Statement,
    name: Option<String>,
}

/// A connection of this run.
#[derive(Debug)]
pub struct PgConn {
    // The client is declared (and so dropped) before the driver: see `Driver`'s drop.
    client: Client,
    driver: Driver,
    prepared: Box<[OnceCell<Prepared>]>,
    in_transaction: AtomicBool,
    /// Who holds and held it (see [`Marks`]).
    pub(crate) marks: Marks,
    /// The `<n>` of `stress:<run id>:<n>`.
    pub serial: u64,
    /// Its statements' numbers, for cancel races (see `cancels.rs`).
    track: Arc<StatementTrack>,
    /// `access.session_settings` as applied at connect (again after a `DISCARD ALL`).
    pub(super) session_sql: Option<String>,
    query_mode: QueryMode,
    statements: Arc<[StatementInfo]>,
    gauges: Arc<Gauges>,
    /// It failed a check at check-out (a pre-ping): closed for that, it is counted by the
    /// pool as invalid (`closed_invalid`), not again as found broken on return (review of
    /// 2026-12-03: four connections read as seven deaths).
    failed_check: AtomicBool,
}

impl PgConn {
    /// Closed, or known to be dead although the connection task has not noticed yet (a
    /// statement met the server's FATAL error): not to be used again.
    pub(crate) fn is_broken(&self) -> bool {
        self.driver.state.is_dead() || self.client.is_closed()
    }

    /// Whether this thread opened it or drove it last: a pool prefers such a connection.
    pub(crate) fn is_local(&self) -> bool {
        self.driver.is_local()
    }

    /// Marks the connection dead (closed under its user): it will not be handed out again.
    pub(crate) fn mark_dead(&self, cause: OpError) {
        self.driver.state.died(cause);
    }

    /// The error the connection task ended with, if it has ended with one.
    pub(crate) fn terminal(&self) -> Option<OpError> {
        self.driver.state.terminal()
    }

    /// Forgets the statements prepared on this connection (a `DISCARD ALL` deallocated them on
    /// the server): they are prepared again at their next use.
    pub(super) fn forget_prepared(&mut self) {
        self.prepared.iter_mut().for_each(|p| drop(p.take()));
    }

    /// Whether a BEGIN was sent without a COMMIT or ROLLBACK completing after it.
    pub(crate) fn maybe_in_transaction(&self) -> bool {
        self.in_transaction.load(Ordering::Relaxed)
    }

    fn fail(&self, e: &tokio_postgres::Error, phase: Phase) -> OpError {
        let terminal = self.terminal();
        let cause = errors::classify(e, Phase::Statement, terminal.as_ref());
        if cause.class.is_connection_loss() {
            self.driver.state.died(cause);
        }
        errors::classify(e, phase, terminal.as_ref())
    }

    /// The pre-ping of `test_on_check_out`: one empty simple query.
    pub(crate) async fn ping(&self) -> Result<(), OpError> {
        let statement = self.track.begin().await;
        let result = self
            .driver
            .run(self.client.simple_query(""))
            .await
            .map(drop)
            .map_err(|e| {
                self.check_failed();
                self.fail(&e, Phase::Statement)
            });
        statement.end(&result, &self.gauges.cancels);
        result
    }

    /// Its check at check-out failed or was cut: see `failed_check`.
    pub(crate) fn check_failed(&self) {
        self.failed_check.store(true, Ordering::Relaxed);
    }

    /// BEGIN, COMMIT, ROLLBACK and other parameterless commands, on the simple protocol.
    pub(crate) async fn command(&self, sql: &str, kind: Command) -> Result<(), OpError> {
        if kind == Command::Begin {
            // Set before sending: if the operation is abandoned mid-flight, the server may be
            // inside the transaction already.
            self.in_transaction.store(true, Ordering::Relaxed);
        }
        let phase = if kind == Command::Commit {
            Phase::Commit
        } else {
            Phase::Statement
        };
        let statement = self.track.begin().await;
        let result = self.driver.run(self.client.batch_execute(sql)).await;
        if kind != Command::Begin && (result.is_ok() || kind == Command::Commit) {
            self.in_transaction.store(false, Ordering::Relaxed);
        }
        let result = result.map_err(|e| self.fail(&e, phase));
        statement.end(&result, &self.gauges.cancels);
        result
    }

    /// Runs statement `index` with `values`; writes captured columns of the first row into
    /// `slots`.
    pub async fn execute(
        &self,
        index: usize,
        values: &[Value],
        captures: &[(String, usize)],
        slots: &mut [Value],
    ) -> Result<(), OpError> {
        let statement = self.track.begin().await;
        let result = match self.wire_started(index, values, captures) {
            Some(wire) => std::future::poll_fn(|cx| self.driver.poll_wire(wire, cx)).await,
            None => {
                self.driver
                    .run(self.execute_on_client(index, values, captures, slots))
                    .await
            }
        };
        statement.end(&result, &self.gauges.cancels);
        result
    }

    /// The wire, with statement `index` queued on it, when the wire may run it (`wire.rs`): a
    /// statement prepared already, whose rows are not captured.
    fn wire_started(
        &self,
        index: usize,
        values: &[Value],
        captures: &[(String, usize)],
    ) -> Option<&super::wire::Wire> {
        let wire = self.driver.wire()?;
        let prepared = self.prepared[index].get()?;
        let name = prepared.name.as_deref()?;
        let wanted = self.query_mode == QueryMode::Prepared && captures.is_empty();
        (wanted && wire.start(name, prepared.statement.params(), values)).then_some(wire)
    }

    // Futures are moved by value through several layers (lease, driver, timeout) and moving
    // them copies their whole state machine; so the rare paths (first preparation, captures,
    // the other query modes) are boxed, which keeps the common one (a cached prepared
    // statement without captures) small.
    async fn execute_on_client(
        &self,
        index: usize,
        values: &[Value],
        captures: &[(String, usize)],
        slots: &mut [Value],
    ) -> Result<(), OpError> {
        if self.query_mode != QueryMode::Prepared || !captures.is_empty() {
            return Box::pin(self.execute_other(index, values, captures, slots)).await;
        }
        let statement = &self.prepared(index).await?.statement;
        // The values themselves, not a `Vec` of references to them made per statement.
        self.client
            .execute_raw(statement, values)
            .await
            .map(drop)
            .map_err(|e| self.fail(&e, Phase::Statement))
    }

    /// Statement `index`, prepared on this connection the first time it is used.
    async fn prepared(&self, index: usize) -> Result<&Prepared, OpError> {
        if let Some(prepared) = self.prepared[index].get() {
            return Ok(prepared);
        }
        let info = &self.statements[index];
        let prepare = || async {
            let statement = self
                .client
                .prepare_typed(&info.sql, &info.param_types)
                .await?;
            let name = super::wire::statement_name(&statement);
            Ok(Prepared { statement, name })
        };
        Box::pin(self.prepared[index].get_or_try_init(prepare))
            .await
            .map_err(|e| self.fail(&e, Phase::Statement))
    }

    async fn execute_other(
        &self,
        index: usize,
        values: &[Value],
        captures: &[(String, usize)],
        slots: &mut [Value],
    ) -> Result<(), OpError> {
        let info = &self.statements[index];
        match self.query_mode {
            QueryMode::Prepared => {
                let statement = &self.prepared(index).await?.statement;
                let params: Vec<&(dyn ToSql + Sync)> = values.iter().map(|v| v as _).collect();
                let rows = self.client.query(statement, &params).await;
                self.capture_typed(rows, captures, slots)
            }
            QueryMode::Extended => {
                let params: Vec<(&(dyn ToSql + Sync), Type)> = values
                    .iter()
                    .zip(&info.param_types)
                    .map(|(v, t)| (v as &(dyn ToSql + Sync), t.clone()))
                    .collect();
                if captures.is_empty() {
                    let done = self.client.execute_typed(&info.sql, &params).await;
                    done.map(drop).map_err(|e| self.fail(&e, Phase::Statement))
                } else {
                    let rows = self.client.query_typed(&info.sql, &params).await;
                    self.capture_typed(rows, captures, slots)
                }
            }
            QueryMode::Simple => {
                let sql = info.template.render(values);
                let messages = self.client.simple_query(&sql).await;
                self.capture_simple(messages, captures, slots)
            }
        }
    }

    fn capture_typed(
        &self,
        rows: Result<Vec<tokio_postgres::Row>, tokio_postgres::Error>,
        captures: &[(String, usize)],
        slots: &mut [Value],
    ) -> Result<(), OpError> {
        let rows = rows.map_err(|e| self.fail(&e, Phase::Statement))?;
        let row = rows.first().ok_or_else(|| no_row(captures))?;
        for (column, slot) in captures {
            let Captured(value) = row
                .try_get::<_, Captured>(column.as_str())
                .map_err(|e| capture_failed(column, &e))?;
            slots[*slot] = value;
        }
        Ok(())
    }

    fn capture_simple(
        &self,
        messages: Result<Vec<tokio_postgres::SimpleQueryMessage>, tokio_postgres::Error>,
        captures: &[(String, usize)],
        slots: &mut [Value],
    ) -> Result<(), OpError> {
        let messages = messages.map_err(|e| self.fail(&e, Phase::Statement))?;
        if captures.is_empty() {
            return Ok(());
        }
        let row = messages
            .iter()
            .find_map(|m| match m {
                tokio_postgres::SimpleQueryMessage::Row(r) => Some(r),
                _ => None,
            })
            .ok_or_else(|| no_row(captures))?;
        for (column, slot) in captures {
            let text = row
                .try_get(column.as_str())
                .map_err(|e| capture_failed(column, &e))?;
            slots[*slot] = text.map_or(Value::Null, |t| Value::Text(t.to_string()));
        }
        Ok(())
    }
}

fn capture_failed(column: &str, e: &tokio_postgres::Error) -> OpError {
    OpError::new(
        ErrorClass::ClientError,
        format!("cannot capture `{column}`: {}", errors::describe(e)),
    )
}

fn no_row(captures: &[(String, usize)]) -> OpError {
    let names: Vec<_> = captures.iter().map(|(c, _)| format!("`{c}`")).collect();
    OpError::new(
        ErrorClass::ClientError,
        format!(
            "the statement returned no row to capture {} from",
            names.join(", ")
        ),
    )
}

impl Drop for PgConn {
    fn drop(&mut self) {
        self.gauges.cancels.forget(self.serial);
        let broken = self.is_broken() && !self.failed_check.load(Ordering::Relaxed);
        self.gauges.closed(broken);
    }
}

impl Connection for PgConn {
    fn is_broken(&self) -> bool {
        PgConn::is_broken(self)
    }

    fn mark_dead(&self, cause: OpError) {
        PgConn::mark_dead(self, cause);
    }

    fn maybe_in_transaction(&self) -> bool {
        PgConn::maybe_in_transaction(self)
    }

    fn marks(&self) -> &Marks {
        &self.marks
    }

    fn execute<'a>(
        &'a self,
        index: usize,
        values: &'a [Value],
        captures: &'a [(String, usize)],
        slots: &'a mut [Value],
    ) -> impl Future<Output = Result<(), OpError>> + 'a {
        PgConn::execute(self, index, values, captures, slots)
    }

    fn command<'a>(
        &'a self,
        sql: &'a str,
        kind: Command,
    ) -> impl Future<Output = Result<(), OpError>> + 'a {
        PgConn::command(self, sql, kind)
    }
}
