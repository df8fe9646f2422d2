//! A cached prepared statement's round trip on the socket itself (issue 11's hot path).
//!
//! tokio-postgres sends each request through a channel to its connection, which writes it,
//! reads the response, parses every message into an owned value and sends them back through a
//! second channel: on `SELECT 1` its client and connection were about two thirds of the
//! harness's instructions per operation, and stress spent about three times pgbench's user CPU
//! per statement. For the one request that a load repeats (Bind, Execute and Sync of a statement
//! already prepared on the connection, its rows not read), the wire encodes the request with
//! `postgres-protocol` (tokio-postgres's own encoder) into a buffer it keeps, writes it on the
//! socket and reads the response in place: no channel, no allocation, no message copied.
//!
//! Everything else (connecting, preparing, captures, commands, pings, TLS, the simple and
//! unnamed-statement query modes) stays with tokio-postgres, on the same socket; `side.rs` says
//! how the two take turns. Errors are classified as tokio-postgres's are (`record/errors.rs`),
//! with the same messages, so a report does not depend on which path ran a statement.

use std::sync::MutexGuard;
use std::task::{Context, Poll};

use bytes::Buf;
use bytes::BytesMut;
use fallible_iterator::FallibleIterator;
use postgres_protocol::message::{backend, frontend};
use tokio_postgres::Statement;
use tokio_postgres::error::SqlState;
use tokio_postgres::types::{IsNull, ToSql, Type};

use super::death::ConnState;
use super::gauges::Gauges;
use super::side::Side;
use super::socket::{Inner, Shared};
use crate::record::errors::{self, ErrorClass, OpError};
use crate::value::Value;

/// A connection's wire: a handle on its socket (plain connections driven inline only).
#[derive(Debug)]
pub(crate) struct Wire {
    shared: Shared,
}

impl Wire {
    pub(crate) fn new(shared: Shared) -> Wire {
        Wire { shared }
    }

    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.shared.lock().expect("socket lock")
    }

    /// Queues Bind, Execute and Sync of `statement` with `values`, if the wire may speak now;
    /// `false` leaves the statement to tokio-postgres (which also reports values that do not
    /// fit: their count, a value it cannot encode).
    pub(crate) fn start(&self, name: &str, types: &[Type], values: &[Value]) -> bool {
        let mut inner = self.lock();
        let side = &mut inner.side;
        if !side.wire_may_start() || values.len() != types.len() {
            return false;
        }
        let mark = side.write.len();
        if encode(name, types, values, &mut side.write).is_err() {
            side.write.truncate(mark);
            return false;
        }
        side.owed += 1;
        true
    }

    /// Sends what is queued and reads the responses owed: the last one's outcome (`Ok` when
    /// nothing was owed). Earlier ones (statements abandoned by their operation) are read and
    /// dropped, as tokio-postgres drops the response of a request nobody waits for.
    pub(crate) fn poll(
        &self,
        cx: &mut Context<'_>,
        state: &ConnState,
        gauges: &Gauges,
    ) -> Poll<Result<(), OpError>> {
        let mut inner = self.lock();
        loop {
            if let Some(done) = read_messages(&mut inner.side, state, gauges) {
                return Poll::Ready(done);
            }
            // The socket's buffer may be full: reading can go on meanwhile.
            if let Poll::Ready(Err(e)) = inner.poll_send(cx) {
                return Poll::Ready(Err(lost(&mut inner.side, state, Some(e))));
            }
            match inner.poll_fill(cx) {
                Poll::Ready(Ok(0)) => return Poll::Ready(Err(lost(&mut inner.side, state, None))),
                Poll::Ready(Ok(_)) => {}
                Poll::Ready(Err(e)) => {
                    return Poll::Ready(Err(lost(&mut inner.side, state, Some(e))));
                }
                Poll::Pending => return Poll::Pending,
            }
        }
    }
}

/// The name tokio-postgres gave `statement` on the server. tokio-postgres keeps it to itself
/// (`Statement::name` is crate-private) but shows it in `Debug` (`Statement { name: "s1", ..`);
/// `None`, and so no wire for it, if that ever changes.
pub fn statement_name(statement: &Statement) -> Option<String> {
    let debug = format!("{statement:?}");
    let rest = debug.strip_prefix("Statement { name: \"")?;
    let name = &rest[..rest.find('"')?];
    let plausible =
        name.len() > 1 && name.starts_with('s') && name[1..].bytes().all(|b| b.is_ascii_digit());
    plausible.then(|| name.to_string())
}

/// tokio-postgres's encoding of a statement's execution (`query::encode`): Bind of the unnamed
/// portal with the values in their formats and every result column in binary, Execute of all
/// rows, Sync.
fn encode(name: &str, types: &[Type], values: &[Value], buf: &mut BytesMut) -> Result<(), ()> {
    let formats = values
        .iter()
        .zip(types)
        .map(|(v, t)| v.encode_format(t) as i16);
    frontend::bind(
        "",
        name,
        formats,
        values.iter().zip(types),
        |(v, t), buf| match v.to_sql_checked(t, buf)? {
            IsNull::No => Ok(postgres_protocol::IsNull::No),
            IsNull::Yes => Ok(postgres_protocol::IsNull::Yes),
        },
        Some(1),
        buf,
    )
    .map_err(drop)?;
    frontend::execute("", 0, buf).map_err(drop)?;
    frontend::sync(buf);
    Ok(())
}

/// Reads the complete messages in the buffer; `Some` with the outcome of the last response
/// owed once it is read in full, `None` when more bytes are needed.
fn read_messages(
    side: &mut Side,
    state: &ConnState,
    gauges: &Gauges,
) -> Option<Result<(), OpError>> {
    while side.owed > 0 {
        let (tag, total) = header(&side.read)?;
        if side.read.len() < total {
            side.read.reserve(total - side.read.len());
            return None;
        }
        match tag {
            b'Z' => {
                side.read.advance(total);
                side.owed -= 1;
                let failed = side.failed.take();
                if side.owed == 0 {
                    return Some(failed.map_or(Ok(()), Err));
                }
            }
            b'E' | b'N' => {
                let message = side.read.split_to(total);
                let Some((code, text)) = fields(message) else {
                    return Some(Err(desync(side, state, tag)));
                };
                if tag == b'N' {
                    gauges.notice(&code);
                    continue;
                }
                let e = server_error(&code, text);
                if e.class.is_connection_loss() {
                    state.died(e.clone());
                }
                side.failed.get_or_insert(e);
            }
            // BindComplete, DataRow, CommandComplete, EmptyQueryResponse, NoData,
            // PortalSuspended; ParameterStatus and NotificationResponse come at any time.
            b'2' | b'D' | b'C' | b'I' | b'n' | b's' | b'S' | b'A' => side.read.advance(total),
            other => return Some(Err(desync(side, state, other))),
        }
    }
    Some(Ok(()))
}

/// A message's type and whole length, once its header is in.
fn header(buf: &[u8]) -> Option<(u8, usize)> {
    let head: [u8; 5] = buf.get(..5)?.try_into().ok()?;
    let len = u32::from_be_bytes([head[1], head[2], head[3], head[4]]) as usize;
    Some((head[0], 1 + len.max(4)))
}

/// The SQLSTATE and message of an ErrorResponse or NoticeResponse.
fn fields(mut message: BytesMut) -> Option<(SqlState, String)> {
    match backend::Message::parse(&mut message).ok()?? {
        backend::Message::ErrorResponse(body) => code_and_text(body.fields()),
        backend::Message::NoticeResponse(body) => code_and_text(body.fields()),
        _ => None,
    }
}

fn code_and_text(mut fields: backend::ErrorFields<'_>) -> Option<(SqlState, String)> {
    let (mut code, mut text) = (None, String::new());
    while let Ok(Some(field)) = fields.next() {
        match field.type_() {
            b'C' => {
                code = Some(SqlState::from_code(&String::from_utf8_lossy(
                    field.value_bytes(),
                )))
            }
            b'M' => text = String::from_utf8_lossy(field.value_bytes()).into_owned(),
            _ => {}
        }
    }
    Some((code?, text))
}

/// A server error, as `errors::classify` makes it of tokio-postgres's `DbError`.
fn server_error(code: &SqlState, message: String) -> OpError {
    OpError {
        class: errors::class_of_sqlstate(code, &message),
        sqlstate: Some(code.code().to_string()),
        message,
    }
}

/// The connection was lost (`io` is the socket's error, none at its end): the statement's
/// error is the server's if it sent one, else tokio-postgres's "connection closed" explained by
/// how the connection ended.
fn lost(side: &mut Side, state: &ConnState, io: Option<std::io::Error>) -> OpError {
    if let Some(e) = io {
        state.died(OpError::new(
            ErrorClass::ConnectionClosed,
            format!("error communicating with the server: {e}"),
        ));
    }
    side.owed = 0;
    side.write.clear();
    let e = side
        .failed
        .take()
        .unwrap_or_else(|| errors::closed(state.terminal().as_ref()));
    state.died(e.clone());
    e
}

/// A message the wire cannot place: the protocol is out of step, the connection unusable.
fn desync(side: &mut Side, state: &ConnState, tag: u8) -> OpError {
    let e = OpError::new(
        ErrorClass::ClientError,
        format!(
            "unexpected message from server (type {:?})",
            char::from(tag)
        ),
    );
    state.died(e.clone());
    side.owed = 0;
    side.failed = None;
    e
}
