//! Rate limits (GCRA, from `governor`): one bucket per key, and one per client address for
//! requests whose key is missing, unknown or revoked. And a cap on what one key may hold open
//! at once (live streams).

use std::collections::HashMap;
use std::net::IpAddr;
use std::num::NonZeroU32;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use governor::clock::{Clock, DefaultClock};
use governor::{DefaultKeyedRateLimiter, Quota, RateLimiter};

/// Requests per second per key and per bad-key client address.
pub struct RateLimits {
    per_key: DefaultKeyedRateLimiter<[u8; 32]>,
    per_address: DefaultKeyedRateLimiter<IpAddr>,
    clock: DefaultClock,
}

impl RateLimits {
    /// `per_key` requests a second per key with bursts of `key_burst`; `anonymous` a second
    /// (and as a burst) per client address.
    pub fn new(per_key: NonZeroU32, key_burst: NonZeroU32, anonymous: NonZeroU32) -> RateLimits {
        RateLimits {
            per_key: RateLimiter::keyed(Quota::per_second(per_key).allow_burst(key_burst)),
            per_address: RateLimiter::keyed(Quota::per_second(anonymous)),
            clock: DefaultClock::default(),
        }
    }

    /// `Err(wait)` when the key (by its hash) is over its limit.
    pub fn check_key(&self, key_hash: &[u8; 32]) -> Result<(), Duration> {
        self.per_key
            .check_key(key_hash)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// `Err(wait)` when the address is over the limit for requests without a good key.
    pub fn check_address(&self, address: IpAddr) -> Result<(), Duration> {
        self.per_address
            .check_key(&address)
            .map_err(|not_until| not_until.wait_time_from(self.clock.now()))
    }

    /// Forgets buckets that are full again, so addresses seen once do not stay in memory.
    pub fn forget_idle(&self) {
        self.per_key.retain_recent();
        self.per_key.shrink_to_fit();
        self.per_address.retain_recent();
        self.per_address.shrink_to_fit();
    }
}

/// At most `cap` things open at once per key (live streams): a slot is held by a
/// [`CapSlot`] and freed when it is dropped.
pub struct PerKeyCap {
    cap: usize,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

/// One held slot of a [`PerKeyCap`].
pub struct CapSlot {
    key_id: String,
    open: Arc<Mutex<HashMap<String, usize>>>,
}

impl PerKeyCap {
    pub fn new(cap: usize) -> PerKeyCap {
        PerKeyCap {
            cap,
            open: Arc::default(),
        }
    }

    /// A slot for `key_id`, or `None` when it holds `cap` already.
    pub fn try_take(&self, key_id: &str) -> Option<CapSlot> {
        let mut open = self.open.lock().ok()?;
        let count = open.entry(key_id.to_owned()).or_default();
        if *count >= self.cap {
            return None;
        }
        *count += 1;
        Some(CapSlot {
            key_id: key_id.to_owned(),
            open: Arc::clone(&self.open),
        })
    }
}

impl Drop for CapSlot {
    fn drop(&mut self) {
        if let Ok(mut open) = self.open.lock()
            && let Some(count) = open.get_mut(&self.key_id)
        {
            *count -= 1;
            if *count == 0 {
                open.remove(&self.key_id);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn n(value: u32) -> NonZeroU32 {
        NonZeroU32::new(value).expect("non-zero")
    }

    #[test]
    fn a_key_past_its_burst_is_told_to_wait() {
        let limits = RateLimits::new(n(1), n(2), n(1));
        let key = [1u8; 32];
        assert!(limits.check_key(&key).is_ok());
        assert!(limits.check_key(&key).is_ok());
        let wait = limits.check_key(&key).expect_err("over the burst");
        assert!(wait > Duration::ZERO && wait <= Duration::from_secs(1));
        assert!(
            limits.check_key(&[2u8; 32]).is_ok(),
            "other keys are not affected"
        );
        let address: IpAddr = "127.0.0.1".parse().expect("ip");
        assert!(limits.check_address(address).is_ok());
        assert!(limits.check_address(address).is_err());
    }

    #[test]
    fn a_key_holds_at_most_cap_slots() {
        let cap = PerKeyCap::new(2);
        let first = cap.try_take("a").expect("first");
        let _second = cap.try_take("a").expect("second");
        assert!(cap.try_take("a").is_none());
        assert!(cap.try_take("b").is_some());
        drop(first);
        assert!(cap.try_take("a").is_some());
    }
}
