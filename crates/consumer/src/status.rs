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
    pub fn readiness(&self) -> Result<(), Unready> {
        let unready = Unready {
            redis: self
                .redis_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
            store: self
                .store_error
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .clone(),
        };
        if unready.redis.is_none() && unready.store.is_none() {
            Ok(())
        } else {
            Err(unready)
        }
    }
}

/// What fails while the consumer is not ready: the last Redis and store errors, as reported.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Unready {
    pub redis: Option<String>,
    pub store: Option<String>,
}

impl std::fmt::Display for Unready {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let problems: Vec<String> = [
            self.redis.as_ref().map(|e| format!("redis: {e}")),
            self.store.as_ref().map(|e| format!("store: {e}")),
        ]
        .into_iter()
        .flatten()
        .collect();
        f.write_str(&problems.join("; "))
    }
}

impl std::error::Error for Unready {}

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
            status.readiness().map_err(|e| e.to_string()),
            Err("redis: connection refused; store: disk I/O error".to_owned())
        );
        status.set_redis_error(None);
        status.set_store_error(None);
        assert_eq!(status.readiness(), Ok(()));
    }
}
