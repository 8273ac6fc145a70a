//! Visitors and sessions for events that do not name them (docs/API.md, "Where buyers come from"), kept in Redis so that
//! every ingestion instance agrees and ingestion itself keeps no state.
//!
//! **Cookieless visitor id.** An event without `visitor_id` whose shopper's IP address and
//! user agent are known gets `SHA-256(salt ‖ shop ‖ ip ‖ user agent)`, cut to 128 bits, as
//! 32 hex digits. The salt is 32 random bytes made for each UTC day (of the event's arrival)
//! at its first use, atomically (one Lua script: the first instance to ask creates it, every
//! other reads that one), and expires 48 hours after it was made: once it is gone nobody,
//! the operator included, can recompute which IP and user agent a past id stood for. A
//! consequence, documented rather than hidden: at UTC midnight the salt changes, so a
//! shopper active across midnight becomes a new visitor with a new session.
//!
//! **Sessions.** An event without `session_id` whose visitor is known (sent or cookieless)
//! joins the visitor's last session when its time lies less than 30 minutes from the
//! visitor's latest event, and otherwise starts a new one (a UUIDv7). The visitor's latest
//! event time and session live in a Redis hash updated by one Lua script per event, so two
//! instances cannot both start a session for the same visitor; the scripts of one request
//! go in one pipelined round trip, in the events' time order. A late event more than 30
//! minutes before the visitor's latest one gets a session of its own and changes nothing.

use std::sync::Mutex;
use std::time::Duration;

use chrono::{DateTime, NaiveDate, Utc};
use events_core::event::{Event, Shopper, new_event_id};
use events_core::transport::{LazyConnection, TransportError};
use sha2::{Digest, Sha256};

/// A visitor's events less than this apart are one session.
pub const SESSION_GAP: Duration = Duration::from_secs(30 * 60);
/// How long a day's salt lives after it is made.
pub const SALT_LIFETIME: Duration = Duration::from_secs(48 * 3600);
/// How long a visitor's session state outlives its latest event: the gap, plus room for
/// events that arrive late.
const VISIT_LIFETIME: Duration = Duration::from_secs(2 * 3600);

/// Returns the day's salt, creating it when absent. KEYS[1]: the salt's key; ARGV[1]: a new
/// salt; ARGV[2]: its lifetime in seconds.
const SALT_SCRIPT: &str = r"
local salt = redis.call('GET', KEYS[1])
if salt then return salt end
redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
return ARGV[1]
";

/// The session of one event. KEYS[1]: the visitor's hash; ARGV: the event's time (ms), a new
/// session id, the gap (ms), the hash's lifetime (s).
const SESSION_SCRIPT: &str = r"
local t = tonumber(ARGV[1])
local gap = tonumber(ARGV[3])
local state = redis.call('HMGET', KEYS[1], 'last', 'session')
local last = tonumber(state[1])
local session = state[2]
if last and session then
  if t >= last and t - last < gap then
    redis.call('HSET', KEYS[1], 'last', t)
    redis.call('EXPIRE', KEYS[1], ARGV[4])
    return session
  elseif t < last then
    if last - t < gap then return session end
    return ARGV[2]
  end
end
redis.call('HSET', KEYS[1], 'last', t, 'session', ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[4])
return ARGV[2]
";

/// The cookieless ids and sessions of one ingestion instance.
pub struct Visits {
    redis: LazyConnection,
    prefix: String,
    session_hash: String,
    /// Today's salt, once read: it cannot change during its day.
    salt: Mutex<Option<(NaiveDate, String)>>,
}

impl Visits {
    /// Keys are `{prefix}salt:{day}` and `{prefix}visit:{shop}:{visitor}`.
    pub fn new(redis: LazyConnection, prefix: &str) -> Visits {
        Visits {
            redis,
            prefix: prefix.to_owned(),
            session_hash: redis::Script::new(SESSION_SCRIPT).get_hash().to_owned(),
            salt: Mutex::new(None),
        }
    }

    /// Gives each event that lacks them its cookieless visitor id (from its shopper) and
    /// its session, in at most two round trips to Redis (the salt, once a day, and one
    /// pipeline of session scripts).
    pub async fn assign(
        &self,
        events: &mut [Event],
        shoppers: &[&Shopper],
        now: DateTime<Utc>,
    ) -> Result<(), TransportError> {
        let needs_salt = events
            .iter()
            .zip(shoppers)
            .any(|(event, shopper)| event.visitor_id.is_none() && identifies(shopper));
        if needs_salt {
            let salt = self.salt(now.date_naive()).await?;
            for (event, shopper) in events.iter_mut().zip(shoppers) {
                if let (None, Some(ip), Some(user_agent)) =
                    (&event.visitor_id, shopper.ip, shopper.user_agent.as_deref())
                {
                    event.visitor_id = Some(visitor_id(
                        &salt,
                        &event.shop_id,
                        &ip.to_string(),
                        user_agent,
                    ));
                }
            }
        }
        let mut pending: Vec<usize> = (0..events.len())
            .filter(|&i| events[i].session_id.is_none() && events[i].visitor_id.is_some())
            .collect();
        if pending.is_empty() {
            return Ok(());
        }
        pending.sort_by_key(|&i| events[i].timestamp);
        let sessions = self.sessions(events, &pending).await?;
        for (index, session) in pending.into_iter().zip(sessions) {
            events[index].session_id = Some(session);
        }
        Ok(())
    }

    /// The session of each pending event, in their order.
    async fn sessions(
        &self,
        events: &[Event],
        pending: &[usize],
    ) -> Result<Vec<String>, TransportError> {
        let mut pipe = redis::Pipeline::with_capacity(pending.len());
        for &index in pending {
            let event = &events[index];
            let visitor = event.visitor_id.as_deref().unwrap_or_default();
            pipe.cmd("EVALSHA")
                .arg(&self.session_hash)
                .arg(1)
                .arg(format!("{}visit:{}:{visitor}", self.prefix, event.shop_id))
                .arg(event.timestamp.timestamp_millis())
                .arg(new_event_id())
                .arg(SESSION_GAP.as_millis() as u64)
                .arg(VISIT_LIFETIME.as_secs());
        }
        self.within_timeout(async {
            let mut connection = self.redis.get().await?;
            match pipe.query_async(&mut connection).await {
                Err(error) if error.code() == Some("NOSCRIPT") => {
                    // A restarted or flushed Redis has forgotten the script: no script of
                    // the pipeline ran, so load it and send the pipeline again.
                    redis::cmd("SCRIPT")
                        .arg("LOAD")
                        .arg(SESSION_SCRIPT)
                        .query_async::<String>(&mut connection)
                        .await?;
                    Ok(pipe.query_async(&mut connection).await?)
                }
                other => Ok(other?),
            }
        })
        .await
    }

    /// The salt of `day`, from the cache or from Redis (made there by the first to ask).
    async fn salt(&self, day: NaiveDate) -> Result<String, TransportError> {
        if let Ok(cached) = self.salt.lock()
            && let Some((cached_day, salt)) = cached.as_ref()
            && *cached_day == day
        {
            return Ok(salt.clone());
        }
        let fresh: [u8; 32] = rand::random();
        let fresh: String = fresh.iter().map(|b| format!("{b:02x}")).collect();
        let key = format!("{}salt:{day}", self.prefix);
        let salt: String = self
            .within_timeout(async {
                let mut connection = self.redis.get().await?;
                Ok(redis::Script::new(SALT_SCRIPT)
                    .key(key)
                    .arg(fresh)
                    .arg(SALT_LIFETIME.as_secs())
                    .invoke_async(&mut connection)
                    .await?)
            })
            .await?;
        if let Ok(mut cached) = self.salt.lock() {
            *cached = Some((day, salt.clone()));
        }
        Ok(salt)
    }

    async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, TransportError>>,
    ) -> Result<T, TransportError> {
        let timeout = self.redis.timeout;
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| TransportError::Timeout(timeout))?
    }
}

/// Whether a shopper can be told apart without an id.
fn identifies(shopper: &Shopper) -> bool {
    shopper.ip.is_some() && shopper.user_agent.is_some()
}

/// The keyed hash of a cookieless visitor: each part length-prefixed, so that no two
/// different tuples hash the same text.
pub fn visitor_id(salt: &str, shop: &str, ip: &str, user_agent: &str) -> String {
    let mut hash = Sha256::new();
    for part in [salt, shop, ip, user_agent] {
        hash.update((part.len() as u64).to_be_bytes());
        hash.update(part.as_bytes());
    }
    hash.finalize()[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_visitor_id_depends_on_every_part() {
        let base = visitor_id("salt", "shop", "203.0.113.7", "UA");
        assert_eq!(base.len(), 32);
        assert_eq!(base, visitor_id("salt", "shop", "203.0.113.7", "UA"));
        for other in [
            visitor_id("salt2", "shop", "203.0.113.7", "UA"),
            visitor_id("salt", "shop2", "203.0.113.7", "UA"),
            visitor_id("salt", "shop", "203.0.113.8", "UA"),
            visitor_id("salt", "shop", "203.0.113.7", "UA2"),
            visitor_id("salts", "hop", "203.0.113.7", "UA"),
        ] {
            assert_ne!(base, other);
        }
    }
}
