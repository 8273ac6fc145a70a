//! The keys in Redis, the one place they live.
//!
//! - `analytics:keys` — a hash: the hex SHA-256 of each key → its [`KeyRecord`] as JSON
//!   (without `last_used_at`). Revoked keys stay, marked `revoked`, so `list` still shows them.
//! - `analytics:keys:last_used` — a hash: key id → when a service last saw it used (RFC 3339),
//!   written at most once a minute per key by each service, off the request path.
//!
//! Writing a key is one `HSET` (one `HSETNX`, for a new key), which Redis's append-only file
//! makes durable like the events themselves.

use std::collections::HashMap;
use std::time::Duration;

use crate::transport::LazyConnection;
use chrono::{SecondsFormat, Utc};
use redis::AsyncCommands;
use redis::aio::ConnectionManager;

use super::{KeyRecord, NewKey, from_hex, generate_id, generate_key, hash_key, to_hex};

/// The hash of key records.
pub const KEYS_HASH: &str = "analytics:keys";
/// The hash of last uses.
pub const LAST_USED_HASH: &str = "analytics:keys:last_used";
/// Set once the first keys of an installation were made (`analytics keys bootstrap`).
pub const BOOTSTRAPPED: &str = "analytics:keys:bootstrapped";

#[derive(Debug, thiserror::Error)]
pub enum KeyStoreError {
    #[error("Redis did not answer within {0:?}")]
    Timeout(Duration),
    #[error("Redis: {0}")]
    Redis(#[from] redis::RedisError),
    #[error("no key has the id `{0}`")]
    UnknownId(String),
    #[error(transparent)]
    Invalid(#[from] super::KeyRuleError),
}

/// The keys in Redis. Connects lazily and reconnects by itself.
pub struct KeyStore {
    redis: LazyConnection,
}

/// A stored key: its hash and its record.
#[derive(Debug, Clone)]
pub struct StoredKey {
    pub hash: [u8; 32],
    pub record: KeyRecord,
}

impl KeyStore {
    pub fn new(redis_url: &str, timeout: Duration) -> Result<KeyStore, KeyStoreError> {
        Ok(KeyStore {
            redis: LazyConnection::open(redis_url, timeout)?,
        })
    }

    /// Creates a key; returns it (the only time it is ever seen) with its record.
    pub async fn create(&self, new: NewKey) -> Result<(String, KeyRecord), KeyStoreError> {
        let new = new.check()?;
        let key = generate_key(new.kind);
        let record = KeyRecord {
            id: generate_id(),
            kind: new.kind,
            shop_id: new.shop_id,
            name: new.name,
            origins: new.origins,
            allow_purchases: new.allow_purchases,
            created_at: now_rfc3339(),
            last_used_at: None,
            revoked: false,
        };
        let json = serde_json::to_string(&record).unwrap_or_default();
        let hash = to_hex(&hash_key(&key));
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            // 256 random bits never collide; HSETNX only makes sure nothing is overwritten.
            let _: bool = connection.hset_nx(KEYS_HASH, &hash, json).await?;
            Ok(())
        })
        .await?;
        Ok((key, record))
    }

    /// Every key, revoked ones included, with its hash.
    pub async fn load(&self) -> Result<Vec<StoredKey>, KeyStoreError> {
        let raw: HashMap<String, String> = self
            .within_timeout(async {
                let mut connection = self.connection().await?;
                Ok(connection.hgetall(KEYS_HASH).await?)
            })
            .await?;
        let mut keys: Vec<StoredKey> = raw
            .into_iter()
            .filter_map(|(hash, json)| {
                let hash = from_hex(&hash)?;
                let record = serde_json::from_str::<KeyRecord>(&json).ok()?;
                Some(StoredKey { hash, record })
            })
            .collect();
        keys.sort_by(|a, b| {
            (&a.record.created_at, &a.record.id).cmp(&(&b.record.created_at, &b.record.id))
        });
        Ok(keys)
    }

    /// Every key's record with its last use, oldest first: what `analytics keys list` prints.
    pub async fn list(&self) -> Result<Vec<KeyRecord>, KeyStoreError> {
        let keys = self.load().await?;
        let last_used: HashMap<String, String> = self
            .within_timeout(async {
                let mut connection = self.connection().await?;
                Ok(connection.hgetall(LAST_USED_HASH).await?)
            })
            .await?;
        Ok(keys
            .into_iter()
            .map(|stored| {
                let mut record = stored.record;
                record.last_used_at = last_used.get(&record.id).cloned();
                record
            })
            .collect())
    }

    /// Marks the key with `id` revoked. Revoking a revoked key again is not an error.
    pub async fn revoke(&self, id: &str) -> Result<KeyRecord, KeyStoreError> {
        let keys = self.load().await?;
        let Some(stored) = keys.into_iter().find(|k| k.record.id == id) else {
            return Err(KeyStoreError::UnknownId(id.to_owned()));
        };
        let mut record = stored.record;
        record.revoked = true;
        record.last_used_at = None;
        let json = serde_json::to_string(&record).unwrap_or_default();
        let hash = to_hex(&stored.hash);
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            let _: () = connection.hset(KEYS_HASH, hash, json).await?;
            Ok(())
        })
        .await?;
        Ok(record)
    }

    /// `true` the first time it is called on this Redis (and never again): whether this caller
    /// should make an installation's first keys.
    pub async fn claim_bootstrap(&self) -> Result<bool, KeyStoreError> {
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            let claimed: Option<String> = redis::cmd("SET")
                .arg(BOOTSTRAPPED)
                .arg(now_rfc3339())
                .arg("NX")
                .query_async(&mut connection)
                .await?;
            Ok(claimed.is_some())
        })
        .await
    }

    /// Records when keys were last used (`id` → Unix seconds).
    pub async fn record_last_use(&self, uses: &[(String, i64)]) -> Result<(), KeyStoreError> {
        if uses.is_empty() {
            return Ok(());
        }
        let items: Vec<(String, String)> = uses
            .iter()
            .filter_map(|(id, secs)| {
                let time = chrono::DateTime::from_timestamp(*secs, 0)?;
                Some((id.clone(), time.to_rfc3339_opts(SecondsFormat::Secs, true)))
            })
            .collect();
        self.within_timeout(async {
            let mut connection = self.connection().await?;
            let _: () = connection.hset_multiple(LAST_USED_HASH, &items).await?;
            Ok(())
        })
        .await
    }

    async fn connection(&self) -> Result<ConnectionManager, KeyStoreError> {
        Ok(self.redis.get().await?)
    }

    async fn within_timeout<T>(
        &self,
        work: impl Future<Output = Result<T, KeyStoreError>>,
    ) -> Result<T, KeyStoreError> {
        let timeout = self.redis.timeout;
        tokio::time::timeout(timeout, work)
            .await
            .map_err(|_| KeyStoreError::Timeout(timeout))?
    }
}

fn now_rfc3339() -> String {
    Utc::now().to_rfc3339_opts(SecondsFormat::Secs, true)
}
