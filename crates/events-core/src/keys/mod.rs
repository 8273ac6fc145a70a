//! API keys (docs/SECURITY.md): what a key is, how one is made and recognised, and where keys live.
//!
//! A key is `pk_`, `sk_` or `rk_` followed by 43 random base62 characters (256 bits). Only its
//! SHA-256 is kept, in Redis, next to its metadata ([`KeyRecord`]); a presented key is hashed,
//! looked up by that hash and compared with the stored hash in constant time. Redis is the one
//! place keys live because it is the one component every service already reaches (ingestion
//! must work without the store) and it is persisted (append-only file). Each service keeps a
//! copy in memory ([`cache::KeyCache`]), refreshed every few seconds, so a revocation reaches
//! every service within 10 s and a short Redis outage does not lock anyone out.
//!
//! | module | owns |
//! |---|---|
//! | [`store`] | the keys in Redis: create, list, revoke, load, last use |
//! | [`cache`] | each service's in-memory copy and its refresh loop |
//! | [`access`] | what both HTTP services share: `AUTH`, finding the presented key, the 401/403/429/503 answers |
//! | [`limits`] | per-key and per-address rate limits (`governor`) |
//! | [`client`] | the client address, believing `X-Forwarded-For` only from `TRUSTED_PROXIES` |

pub mod access;
pub mod cache;
pub mod client;
pub mod limits;
pub mod store;

use rand::Rng;
use rand::distr::Alphanumeric;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

/// Random characters after a key's prefix: 43 base62 characters hold 256 bits.
const KEY_RANDOM_CHARS: usize = 43;
/// Random characters after an id's `key_` prefix.
const ID_RANDOM_CHARS: usize = 16;

/// What a key may do.
#[derive(
    Debug,
    Clone,
    Copy,
    PartialEq,
    Eq,
    Hash,
    Serialize,
    Deserialize,
    clap::ValueEnum,
    utoipa::ToSchema,
)]
#[serde(rename_all = "lowercase")]
pub enum KeyKind {
    /// `pk_`: sends events for one shop from browsers of its allowed origins; may travel in a
    /// URL (`sendBeacon` cannot set headers).
    Public,
    /// `sk_`: sends events for one shop from a server; never in a URL.
    Write,
    /// `rk_`: reads one shop or all shops; in a URL only on `/api/v1/live`.
    Read,
}

impl KeyKind {
    pub fn prefix(self) -> &'static str {
        match self {
            KeyKind::Public => "pk_",
            KeyKind::Write => "sk_",
            KeyKind::Read => "rk_",
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            KeyKind::Public => "public",
            KeyKind::Write => "write",
            KeyKind::Read => "read",
        }
    }
}

/// A key's metadata, as stored and as `analytics keys list` prints it (never the key).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyRecord {
    pub id: String,
    pub kind: KeyKind,
    /// The shop the key is for; `None` for an all-shops read key.
    pub shop_id: Option<String>,
    pub name: Option<String>,
    /// The browser origins a public key may be used from; empty for other kinds.
    pub origins: Vec<String>,
    /// Whether a public key may send purchases (write keys always may).
    pub allow_purchases: bool,
    pub created_at: String,
    /// Filled in from the last-use hash when listed; not part of the stored record.
    #[serde(default)]
    pub last_used_at: Option<String>,
    pub revoked: bool,
}

impl KeyRecord {
    /// Whether the key may send a purchase.
    pub fn may_send_purchases(&self) -> bool {
        match self.kind {
            KeyKind::Write => true,
            KeyKind::Public => self.allow_purchases,
            KeyKind::Read => false,
        }
    }

    /// Whether the key answers for `shop_id` (an all-shops key answers for every shop).
    pub fn covers_shop(&self, shop_id: &str) -> bool {
        self.shop_id.as_deref().is_none_or(|mine| mine == shop_id)
    }
}

/// Why `analytics keys create` refuses what it was asked for; each names the flag.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum KeyRuleError {
    #[error("a {0} key needs --shop")]
    NeedsShop(&'static str),
    #[error("--shop `{0}` must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")]
    BadShop(String),
    #[error("a public key needs at least one --origin (such as https://shop.example)")]
    NeedsOrigin,
    #[error("`{0}` is not an origin such as https://shop.example or http://localhost:8000")]
    BadOrigin(String),
    #[error("--origin is for public keys only")]
    OriginOnPrivateKey,
    #[error("--allow-purchases is for public keys only (write keys always may)")]
    PurchasesOnPrivateKey,
    #[error("--name must be at most 200 characters without control characters")]
    BadName,
}

/// What a new key is for, as `analytics keys create` is asked.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct NewKey {
    pub kind: KeyKind,
    pub shop_id: Option<String>,
    pub origins: Vec<String>,
    pub allow_purchases: bool,
    pub name: Option<String>,
}

impl NewKey {
    /// Checks the combination: a shop unless an all-shops read key, origins only (and at
    /// least one) on public keys, purchases allowed only on public keys.
    pub fn check(mut self) -> Result<NewKey, KeyRuleError> {
        match (&self.shop_id, self.kind) {
            (None, KeyKind::Read) => {}
            (None, _) => return Err(KeyRuleError::NeedsShop(self.kind.as_str())),
            (Some(shop), _) => check_shop_id(shop)?,
        }
        if self.kind == KeyKind::Public {
            if self.origins.is_empty() {
                return Err(KeyRuleError::NeedsOrigin);
            }
            self.origins = self
                .origins
                .iter()
                .map(|o| normalize_origin(o))
                .collect::<Result<_, _>>()?;
            self.origins.dedup();
        } else {
            if !self.origins.is_empty() {
                return Err(KeyRuleError::OriginOnPrivateKey);
            }
            if self.allow_purchases {
                return Err(KeyRuleError::PurchasesOnPrivateKey);
            }
        }
        if let Some(name) = &self.name
            && (name.chars().count() > 200 || name.chars().any(char::is_control))
        {
            return Err(KeyRuleError::BadName);
        }
        Ok(self)
    }
}

/// A fresh key of `kind`: its prefix and 256 random bits in base62.
pub fn generate_key(kind: KeyKind) -> String {
    let mut key = String::with_capacity(3 + KEY_RANDOM_CHARS);
    key.push_str(kind.prefix());
    key.extend(
        rand::rng()
            .sample_iter(&Alphanumeric)
            .take(KEY_RANDOM_CHARS)
            .map(char::from),
    );
    key
}

/// A fresh key id (`key_` and 16 base62 characters): what `list` shows and `revoke` takes.
pub fn generate_id() -> String {
    let random: String = rand::rng()
        .sample_iter(&Alphanumeric)
        .take(ID_RANDOM_CHARS)
        .map(char::from)
        .collect();
    format!("key_{random}")
}

/// The SHA-256 of a key. Keys are 256 random bits, so a fast hash is enough: there is nothing
/// to guess that a slow hash would protect.
pub fn hash_key(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

/// Lower-case hex, as hashes are spelled in Redis.
pub fn to_hex(bytes: &[u8; 32]) -> String {
    use std::fmt::Write;
    bytes.iter().fold(String::with_capacity(64), |mut s, b| {
        let _ = write!(s, "{b:02x}");
        s
    })
}

/// Parses 64 hex characters back into a hash.
pub fn from_hex(text: &str) -> Option<[u8; 32]> {
    if text.len() != 64 || !text.is_ascii() {
        return None;
    }
    let mut out = [0u8; 32];
    for (i, byte) in out.iter_mut().enumerate() {
        *byte = u8::from_str_radix(&text[2 * i..2 * i + 2], 16).ok()?;
    }
    Some(out)
}

/// Whether a text could be a key at all (its prefix and alphabet), before it is hashed.
pub fn looks_like_key(text: &str) -> bool {
    let rest = ["pk_", "sk_", "rk_"]
        .iter()
        .find_map(|p| text.strip_prefix(p));
    rest.is_some_and(|r| {
        !r.is_empty() && r.len() <= 128 && r.bytes().all(|b| b.is_ascii_alphanumeric())
    })
}

/// The shop rule of events (docs/API.md): 1–64 characters of `[A-Za-z0-9._-]`.
fn check_shop_id(shop: &str) -> Result<(), KeyRuleError> {
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if shop.is_empty() || shop.len() > 64 || !shop.chars().all(allowed) {
        return Err(KeyRuleError::BadShop(shop.to_owned()));
    }
    Ok(())
}

/// An origin as browsers send it: `scheme://host[:port]`, lower case, no path.
pub fn normalize_origin(text: &str) -> Result<String, KeyRuleError> {
    let trimmed = text.trim().trim_end_matches('/');
    let bad = || KeyRuleError::BadOrigin(text.to_owned());
    let (scheme, rest) = trimmed.split_once("://").ok_or_else(bad)?;
    let scheme = scheme.to_ascii_lowercase();
    if !matches!(scheme.as_str(), "http" | "https") || rest.is_empty() {
        return Err(bad());
    }
    let valid = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | ':' | '[' | ']');
    if !rest.chars().all(valid) {
        return Err(bad());
    }
    Ok(format!("{scheme}://{}", rest.to_ascii_lowercase()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_carry_their_prefix_and_256_random_bits() {
        let key = generate_key(KeyKind::Write);
        assert!(key.starts_with("sk_"));
        assert_eq!(key.len(), 3 + 43);
        assert!(looks_like_key(&key));
        assert_ne!(key, generate_key(KeyKind::Write));
        assert!(generate_key(KeyKind::Public).starts_with("pk_"));
        assert!(generate_key(KeyKind::Read).starts_with("rk_"));
    }

    #[test]
    fn hashes_round_trip_through_hex() {
        let hash = hash_key("rk_abc");
        assert_eq!(from_hex(&to_hex(&hash)), Some(hash));
        assert_eq!(from_hex("zz"), None);
    }

    #[test]
    fn only_key_shaped_text_looks_like_a_key() {
        assert!(looks_like_key("pk_abc123"));
        assert!(!looks_like_key("xk_abc"));
        assert!(!looks_like_key("sk_"));
        assert!(!looks_like_key("sk_a b"));
    }

    #[test]
    fn new_keys_are_checked() {
        let read_all = NewKey {
            kind: KeyKind::Read,
            shop_id: None,
            origins: vec![],
            allow_purchases: false,
            name: None,
        };
        assert!(read_all.clone().check().is_ok());
        let write_all = NewKey {
            kind: KeyKind::Write,
            ..read_all.clone()
        };
        assert!(write_all.check().is_err());
        let public = NewKey {
            kind: KeyKind::Public,
            shop_id: Some("s".into()),
            origins: vec!["HTTPS://Shop.Example/".into()],
            allow_purchases: true,
            name: None,
        };
        assert_eq!(
            public.clone().check().map(|k| k.origins),
            Ok(vec!["https://shop.example".to_owned()])
        );
        let no_origin = NewKey {
            origins: vec![],
            ..public.clone()
        };
        assert!(no_origin.check().is_err());
        let write_with_origin = NewKey {
            kind: KeyKind::Write,
            allow_purchases: false,
            ..public
        };
        assert!(write_with_origin.check().is_err());
    }

    #[test]
    fn origins_are_normalized_or_refused() {
        assert_eq!(
            normalize_origin("http://localhost:8000"),
            Ok("http://localhost:8000".into())
        );
        assert!(normalize_origin("localhost:8000").is_err());
        assert!(normalize_origin("https://a.example/path").is_err());
        assert!(normalize_origin("ftp://a.example").is_err());
    }
}
