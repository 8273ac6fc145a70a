//! What the consumer knows about its own health, for `GET /ready`: the last Redis failure and
//! the last store failure, each cleared by the next success.

use std::sync::Mutex;

#[derive(Debug, Default)]
pub struct Status {
    redis_error: Mutex<Option<String>>,
    store_error: Mutex<Option<String>>,
}

impl Status {
    pub fn set_redis_error(&self, error: Option<String>) {
        *self.redis_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    pub fn set_store_error(&self, error: Option<String>) {
        *self.store_error.lock().unwrap_or_else(|p| p.into_inner()) = error;
    }

    /// `Ok` while both work; otherwise what is failing.
    pub fn readiness(&self) -> Result<(), String> {
        let redis = self
            .redis_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let store = self
            .store_error
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let problems: Vec<String> = [
            redis.map(|e| format!("redis: {e}")),
            store.map(|e| format!("store: {e}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        if problems.is_empty() {
            Ok(())
        } else {
            Err(problems.join("; "))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn readiness_names_each_failure_until_it_clears() {
        let status = Status::default();
        assert_eq!(status.readiness(), Ok(()));
        status.set_store_error(Some("disk I/O error".into()));
        status.set_redis_error(Some("connection refused".into()));
        assert_eq!(
            status.readiness(),
            Err("redis: connection refused; store: disk I/O error".into())
        );
        status.set_redis_error(None);
        status.set_store_error(None);
        assert_eq!(status.readiness(), Ok(()));
    }
}
