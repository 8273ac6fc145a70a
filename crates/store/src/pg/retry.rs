//! Transactions PostgreSQL aborted to break a deadlock or a serialization conflict (SQLSTATE
//! `40P01`, `40001`), run again. Nothing of an aborted transaction was applied, and each
//! writer's transaction is idempotent (claims, `ON CONFLICT`), so running it again is the
//! cure, not an error to report: the consumer's batch is not failed, backed off or split.

use std::time::Duration;

use postgres::error::SqlState;

use crate::StoreError;

/// How many times one transaction is tried before its conflict is returned (the consumer then
/// retries the batch with backoff, as for any failing store).
const ATTEMPTS: u32 = 5;

/// Whether PostgreSQL aborted the transaction as a deadlock victim or a serialization failure.
pub(crate) fn is_conflict(error: &StoreError) -> bool {
    let StoreError::Postgres(error) = error else {
        return false;
    };
    error.code().is_some_and(|code| {
        *code == SqlState::T_R_DEADLOCK_DETECTED || *code == SqlState::T_R_SERIALIZATION_FAILURE
    })
}

/// Runs `attempt` (one whole transaction) until it is not aborted as a conflict, at most
/// [`ATTEMPTS`] times, after a short pause that grows and differs between processes, so the
/// two sides of a deadlock do not meet again in step.
pub(crate) fn on_conflict<T>(
    what: &'static str,
    mut attempt: impl FnMut() -> Result<T, StoreError>,
) -> Result<T, StoreError> {
    let mut tried = 1;
    loop {
        match attempt() {
            Err(error) if tried < ATTEMPTS && is_conflict(&error) => {
                tracing::warn!(%error, what, tried, "PostgreSQL aborted a transaction as a conflict; running it again");
                std::thread::sleep(pause(tried));
                tried += 1;
            }
            other => return other,
        }
    }
}

/// 10 ms, 20 ms, 40 ms, … plus up to 10 ms of jitter.
fn pause(tried: u32) -> Duration {
    let jitter = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map_or(0, |d| d.subsec_nanos())
        ^ std::process::id();
    Duration::from_millis((10 << tried.min(6)) + u64::from(jitter % 10))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_conflicts_are_run_again() {
        let mut calls = 0;
        let result: Result<(), StoreError> = on_conflict("test", || {
            calls += 1;
            Err(StoreError::Corrupt("x".into()))
        });
        assert!(result.is_err());
        assert_eq!(
            calls, 1,
            "a failure that is not a conflict is returned at once"
        );
        assert!(pause(1) >= Duration::from_millis(20) && pause(1) < Duration::from_millis(30));
    }
}
