//! The hot path's own round trip (`src/access/wire.rs`) and tokio-postgres take turns on one
//! connection of the harness, on a real server: the same outcomes and messages on either path,
//! a statement abandoned mid-flight on one path read off before the other path speaks, and a
//! terminated backend classified as tokio-postgres's path classifies it.

mod common;

use std::sync::Arc;
use std::time::Duration;

use common::*;
use stress::access::conn::{Connector, PgConn};
use stress::access::gauges::Gauges;
use stress::record::errors::{ErrorClass, OpError};
use stress::value::Value;
use stress::workload::prepare::describe_one;

const QUICK: usize = 0;
const SLEEP: usize = 1;
const DIVIDE: usize = 2;
const PLUS_ONE: usize = 3;
const SEVEN: usize = 4;

async fn run(conn: &PgConn, index: usize, values: &[Value]) -> Result<(), OpError> {
    conn.execute(index, values, &[], &mut []).await
}

/// Statement `index` through tokio-postgres (a capture keeps it off the wire): column `x`.
async fn captured(conn: &PgConn, index: usize, values: &[Value]) -> Result<Value, OpError> {
    let mut slots = [Value::Null];
    conn.execute(index, values, &[("x".to_string(), 0)], &mut slots)
        .await?;
    Ok(slots[0].clone())
}

#[test]
fn the_wire_and_tokio_postgres_take_turns_on_one_connection() {
    let url = database("wire_turns");
    block_on(async {
        let (admin, io) = tokio_postgres::connect(&url, tokio_postgres::NoTls)
            .await
            .unwrap();
        tokio::spawn(io);
        // tokio-postgres names the statement as the wire expects (it reads the name from
        // `Debug`: if that changes, the wire is never used and this fails).
        let probe = admin.prepare("SELECT 1").await.unwrap();
        let name = stress::access::wire::statement_name(&probe).expect("a statement name");
        assert!(name.starts_with('s'), "{name}");
        let mut statements = Vec::new();
        for sql in [
            "SELECT 1",
            "SELECT pg_sleep(0.4)",
            "SELECT 1 / 0",
            "SELECT $1::int + 1 AS x",
            "SELECT 7 AS x",
        ] {
            statements.push(describe_one(&admin, sql).await.unwrap());
        }
        let access = toml::from_str("mode = \"pool\"").unwrap();
        let connector = Connector::new(
            url.parse().unwrap(),
            stress::database::Tls::plain(),
            "wire",
            &access,
            Arc::from(statements),
            Arc::new(Gauges::default()),
        );
        let conn = connector.connect().await.unwrap();

        // The first use prepares (tokio-postgres), the next ones run on the wire: the same
        // outcome, the same error and message.
        run(&conn, QUICK, &[]).await.unwrap();
        run(&conn, QUICK, &[]).await.unwrap();
        let first = run(&conn, DIVIDE, &[]).await.unwrap_err();
        let second = run(&conn, DIVIDE, &[]).await.unwrap_err();
        assert_eq!(first, second);
        assert_eq!(first.class, ErrorClass::SqlError);
        assert_eq!(first.to_string(), "sql_error: division by zero (22012)");
        run(&conn, PLUS_ONE, &[Value::Int(41)]).await.unwrap();
        let bad = run(&conn, PLUS_ONE, &[Value::Text("forty".into())]).await;
        assert!(bad.unwrap_err().to_string().ends_with("(22P02)"));
        assert_eq!(
            captured(&conn, PLUS_ONE, &[Value::Int(41)]).await.unwrap(),
            Value::Int(42)
        );

        // Abandoned on the wire: the next statement on tokio-postgres reads it off first.
        run(&conn, SLEEP, &[]).await.unwrap();
        let abandoned = tokio::time::timeout(Duration::from_millis(50), run(&conn, SLEEP, &[]));
        assert!(abandoned.await.is_err(), "the sleep outlasts the timeout");
        assert_eq!(captured(&conn, SEVEN, &[]).await.unwrap(), Value::Int(7));
        // Abandoned on the wire twice: the wire reads both off before its own.
        for _ in 0..2 {
            let abandoned = tokio::time::timeout(Duration::from_millis(50), run(&conn, SLEEP, &[]));
            assert!(abandoned.await.is_err());
        }
        let began = std::time::Instant::now();
        run(&conn, QUICK, &[]).await.unwrap();
        assert!(
            began.elapsed() > Duration::from_millis(500),
            "it waited for both sleeps"
        );
        // Abandoned on tokio-postgres (a capture): the wire waits for tokio-postgres.
        let abandoned = tokio::time::timeout(Duration::from_millis(50), async {
            let mut slots = [Value::Null];
            conn.execute(SLEEP, &[], &[("pg_sleep".to_string(), 0)], &mut slots)
                .await
        });
        assert!(abandoned.await.is_err());
        run(&conn, DIVIDE, &[]).await.unwrap_err();
        run(&conn, QUICK, &[]).await.unwrap();

        // A terminated backend: the wire's statement is admin_terminated, as tokio-postgres's.
        let pid: i32 = admin
            .query_one(
                "SELECT pid FROM pg_stat_activity WHERE application_name = $1",
                &[&format!("stress:wire:{}", conn.serial)],
            )
            .await
            .unwrap()
            .get(0);
        admin
            .execute("SELECT pg_terminate_backend($1)", &[&pid])
            .await
            .unwrap();
        let killed = run(&conn, QUICK, &[]).await.unwrap_err();
        assert_eq!(killed.class, ErrorClass::AdminTerminated, "{killed}");
        let after = run(&conn, QUICK, &[]).await.unwrap_err();
        assert!(
            matches!(
                after.class,
                ErrorClass::AdminTerminated | ErrorClass::ConnectionClosed
            ),
            "{after}"
        );
    });
}
