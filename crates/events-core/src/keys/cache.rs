//! Each service's copy of the key set, looked up on every request without touching Redis.
//!
//! A task reloads the whole set every `KEYS_REFRESH` (5 s by default, so a revocation is
//! refused everywhere within 10 s) and keeps the last good copy while Redis does not answer.
//! The same task writes each key's last use, at most once a minute per key.

use std::collections::{HashMap, HashSet};
use std::sync::atomic::{AtomicI64, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use subtle::ConstantTimeEq;
use tokio_util::sync::CancellationToken;

use super::store::KeyStore;
use super::{KeyRecord, hash_key, looks_like_key};

/// A key's last use is written at most this often.
const LAST_USE_EVERY_SECS: i64 = 60;

/// One active key as the cache holds it.
pub struct CachedKey {
    hash: [u8; 32],
    pub record: KeyRecord,
    usage: Arc<Usage>,
}

impl CachedKey {
    /// The key's SHA-256: its rate-limit bucket (the key itself is never kept).
    pub fn hash(&self) -> &[u8; 32] {
        &self.hash
    }
}

/// When a key was last used and when that was last written to Redis (Unix seconds). Shared
/// across reloads, so a reload does not make every key look unwritten.
#[derive(Default)]
struct Usage {
    used: AtomicI64,
    written: AtomicI64,
}

/// The key set at one reload.
#[derive(Default)]
struct KeySet {
    by_hash: HashMap<[u8; 32], Arc<CachedKey>>,
    /// Every origin of every active public key: what ingestion answers CORS preflight for.
    public_origins: HashSet<String>,
}

/// What a lookup found.
pub enum Lookup {
    Found(Arc<CachedKey>),
    /// Unknown or revoked: both are answered the same way.
    NotFound,
    /// No copy of the key set yet (Redis has not answered since start).
    NotLoaded,
}

/// The in-memory key set of one service.
pub struct KeyCache {
    store: KeyStore,
    set: RwLock<Option<Arc<KeySet>>>,
    refresh: Duration,
}

impl KeyCache {
    pub fn new(store: KeyStore, refresh: Duration) -> Arc<KeyCache> {
        Arc::new(KeyCache {
            store,
            set: RwLock::new(None),
            refresh,
        })
    }

    /// Finds an active key. The lookup is by the key's hash; the stored hash is then compared
    /// with the presented one in constant time.
    pub fn lookup(&self, key: &str) -> Lookup {
        let Some(set) = self.current() else {
            return Lookup::NotLoaded;
        };
        if !looks_like_key(key) {
            return Lookup::NotFound;
        }
        let hash = hash_key(key);
        match set.by_hash.get(&hash) {
            Some(found) if bool::from(found.hash.ct_eq(&hash)) => {
                found.usage.used.store(now_secs(), Ordering::Relaxed);
                Lookup::Found(Arc::clone(found))
            }
            _ => Lookup::NotFound,
        }
    }

    /// Whether the key with this hash is still active (not revoked since it was checked).
    pub fn is_active(&self, hash: &[u8; 32]) -> bool {
        self.current()
            .is_some_and(|set| set.by_hash.contains_key(hash))
    }

    /// Whether `origin` is on the list of some active public key.
    pub fn is_public_origin(&self, origin: &str) -> bool {
        self.current()
            .is_some_and(|set| set.public_origins.contains(origin))
    }

    /// Whether a copy of the key set has been loaded.
    pub fn is_loaded(&self) -> bool {
        self.current().is_some()
    }

    fn current(&self) -> Option<Arc<KeySet>> {
        self.set.read().ok().and_then(|set| set.clone())
    }

    /// Reloads the key set from Redis once.
    pub async fn reload(&self) -> Result<(), super::store::KeyStoreError> {
        let stored = self.store.load().await?;
        let previous = self.current();
        let mut set = KeySet::default();
        for key in stored.into_iter().filter(|k| !k.record.revoked) {
            let usage = previous
                .as_ref()
                .and_then(|p| p.by_hash.get(&key.hash))
                .map(|k| Arc::clone(&k.usage))
                .unwrap_or_default();
            set.public_origins
                .extend(key.record.origins.iter().cloned());
            let cached = CachedKey {
                hash: key.hash,
                record: key.record,
                usage,
            };
            set.by_hash.insert(key.hash, Arc::new(cached));
        }
        if let Ok(mut slot) = self.set.write() {
            *slot = Some(Arc::new(set));
        }
        Ok(())
    }

    /// Writes the last use of keys used since their last write, at most once a minute each.
    async fn write_last_uses(&self) {
        let Some(set) = self.current() else { return };
        let mut due = Vec::new();
        for key in set.by_hash.values() {
            let used = key.usage.used.load(Ordering::Relaxed);
            let written = key.usage.written.load(Ordering::Relaxed);
            if used > written && (written == 0 || used - written >= LAST_USE_EVERY_SECS) {
                due.push((key.record.id.clone(), used, Arc::clone(&key.usage)));
            }
        }
        let uses: Vec<(String, i64)> = due
            .iter()
            .map(|(id, used, _)| (id.clone(), *used))
            .collect();
        match self.store.record_last_use(&uses).await {
            Ok(()) => {
                for (_, used, usage) in due {
                    usage.written.store(used, Ordering::Relaxed);
                }
            }
            Err(error) => tracing::debug!(%error, "could not record when keys were last used"),
        }
    }

    /// Reloads every `refresh` until `stop`, keeping the last good copy through failures; the
    /// last uses are written once more when stopped.
    pub async fn run_refresh(self: Arc<Self>, stop: CancellationToken) {
        let mut failing = false;
        loop {
            tokio::select! {
                () = stop.cancelled() => {
                    // The last uses since the previous refresh would be lost with the process.
                    self.write_last_uses().await;
                    return;
                }
                () = tokio::time::sleep(self.refresh) => {}
            }
            // Last uses first, so that a key used just before it was revoked is recorded too.
            self.write_last_uses().await;
            match self.reload().await {
                Ok(()) => {
                    if failing {
                        tracing::info!("the key set is loaded from Redis again");
                    }
                    failing = false;
                }
                Err(error) => {
                    if !failing {
                        tracing::warn!(%error, "cannot reload the key set; serving the last copy");
                    }
                    failing = true;
                }
            }
        }
    }
}

fn now_secs() -> i64 {
    chrono::Utc::now().timestamp()
}
