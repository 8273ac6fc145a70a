//! A query whose client has gone is stopped (docs/SECURITY.md): dropping the future of
//! `ReadPool::run` interrupts the SQLite statement instead of letting it run on a blocking
//! thread for as long as it takes.

use std::sync::mpsc;
use std::time::Duration;

use events_core::store::ReadPool;

#[tokio::test]
async fn a_query_whose_caller_has_gone_is_interrupted() {
    let dir = tempfile::tempdir().expect("temp dir");
    let pool = ReadPool::open(&dir.path().join("analytics.db")).expect("opens");
    let (finished, outcome) = mpsc::channel();
    let endless = pool.run(move |connection| {
        // Counts for ever unless interrupted.
        let counted: rusqlite::Result<i64> = connection.query_row(
            "WITH RECURSIVE n(x) AS (SELECT 1 UNION ALL SELECT x + 1 FROM n) SELECT count(*) FROM n",
            [],
            |row| row.get(0),
        );
        let _ = finished.send(counted.is_err());
        Ok(())
    });
    // The client hangs up: the future is dropped.
    assert!(
        tokio::time::timeout(Duration::from_millis(200), endless)
            .await
            .is_err()
    );
    let interrupted =
        tokio::task::spawn_blocking(move || outcome.recv_timeout(Duration::from_secs(30)))
            .await
            .expect("joins");
    assert_eq!(
        interrupted,
        Ok(true),
        "the query went on after its caller left"
    );
}
