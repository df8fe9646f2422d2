//! Classification of driver errors and SQLSTATEs into the contract's classes.
use super::*;

#[test]
fn every_class_name_round_trips_and_matches_serde() {
    for class in ErrorClass::ALL {
        assert_eq!(ErrorClass::from_name(class.name()), Some(class));
        let json = serde_json::to_string(&class).unwrap();
        assert_eq!(json, format!("\"{}\"", class.name()));
    }
}

#[test]
fn sqlstates_map_to_the_contract_classes() {
    let cases = [
        ("25P02", "", ErrorClass::InFailedTransaction),
        ("28P01", "", ErrorClass::AuthFailed),
        ("28000", "", ErrorClass::AuthFailed),
        ("42P05", "", ErrorClass::PreparedStatementMismatch),
        ("3D000", "", ErrorClass::AuthFailed),
        ("53300", "", ErrorClass::TooManyConnections),
        ("53200", "", ErrorClass::ResourceExhausted),
        ("57P01", "", ErrorClass::AdminTerminated),
        ("57P02", "", ErrorClass::ServerCrash),
        ("57P03", "", ErrorClass::ServerUnavailable),
        ("57P05", "", ErrorClass::SessionTimeout),
        ("25P03", "", ErrorClass::SessionTimeout),
        (
            "57014",
            "canceling statement due to statement timeout",
            ErrorClass::StatementTimeout,
        ),
        (
            "57014",
            "canceling statement due to user request",
            ErrorClass::QueryCanceled,
        ),
        ("55P03", "", ErrorClass::LockTimeout),
        ("40001", "", ErrorClass::SerializationFailure),
        ("40P01", "", ErrorClass::DeadlockDetected),
        ("08P01", "", ErrorClass::PoolerError),
        ("26000", "", ErrorClass::PreparedStatementMismatch),
        ("42601", "", ErrorClass::SqlError),
        (
            "0A000",
            "cached plan must not change result type",
            ErrorClass::CachedPlanInvalid,
        ),
        ("0A000", "LOCK TABLE is not supported", ErrorClass::SqlError),
        (
            "25006",
            "cannot execute INSERT in a read-only transaction",
            ErrorClass::ReadOnlyTransaction,
        ),
    ];
    for (code, message, class) in cases {
        assert_eq!(
            class_of_sqlstate(&SqlState::from_code(code), message),
            class,
            "{code}"
        );
    }
}

#[test]
fn tally_keeps_the_first_sample_and_merges() {
    let mut a = ErrorTally::default();
    let e = |m: &str| OpError {
        class: ErrorClass::SqlError,
        sqlstate: Some("42P01".into()),
        message: m.into(),
    };
    a.add(&e("second"), 20);
    a.add(&e("first"), 10);
    let mut b = ErrorTally::default();
    b.add(&e("earliest"), 5);
    a.merge(&b);
    let t = &a.classes[&ErrorClass::SqlError];
    assert_eq!(t.count, 3);
    assert_eq!(t.sqlstates["42P01"], 3);
    assert_eq!((t.first_at_ms, t.last_at_ms), (5, 20));
    assert_eq!(t.sample, "earliest");
}

#[test]
fn stats_merge_takes_the_earliest_sample_and_the_latest_end() {
    let stats = |count, first, last, sample: &str| ErrorStats {
        count,
        first_at_ms: first,
        last_at_ms: last,
        sample: sample.into(),
        ..ErrorStats::default()
    };
    let mut m = ErrorStats::default();
    m.merge(&stats(2, 300, 400, "late machine"));
    assert_eq!(m, stats(2, 300, 400, "late machine"));
    m.merge(&stats(1, 100, 200, "early machine"));
    m.merge(&stats(1, 100, 900, "a tie keeps the first"));
    assert_eq!(m, stats(4, 100, 900, "early machine"));
}
