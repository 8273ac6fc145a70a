//! The write boundary: what the consumer and the `analytics` subcommands ask of a store, and
//! which store `DATABASE_URL` names. SQLite's [`Writer`](crate::Writer) and PostgreSQL's
//! [`PgWriter`](crate::pg::PgWriter) answer it.

use std::path::{Path, PathBuf};
use std::time::Duration;

use domain::event::Event;

use crate::retention::Retained;
use crate::{InsertOutcome, StoreError, Synchronous, Writer};

/// A store's writer: one per consumer.
pub trait WriteBackend: Send {
    /// Stores a batch in one transaction with its rollups; events already stored (same
    /// `(shop_id, event_id)`, or a purchase of an order already counted) are skipped silently.
    fn insert_batch(&mut self, events: &[Event]) -> Result<InsertOutcome, StoreError>;

    /// Deletes the raw events and day rows of people older than `days` days; the rollups keep
    /// their sums.
    fn apply_retention(&mut self, now_micros: i64, days: u32) -> Result<Retained, StoreError>;

    /// Rolls up the earliest ended day not rolled up yet that this writer has not written to
    /// for `quiet`; returns that day's start, or `None` when there is nothing to do.
    fn roll_up_next_day(
        &mut self,
        now_micros: i64,
        quiet: Duration,
    ) -> Result<Option<i64>, StoreError>;
}

impl WriteBackend for Writer {
    fn insert_batch(&mut self, events: &[Event]) -> Result<InsertOutcome, StoreError> {
        Writer::insert_batch(self, events)
    }

    fn apply_retention(&mut self, now_micros: i64, days: u32) -> Result<Retained, StoreError> {
        Writer::apply_retention(self, now_micros, days)
    }

    fn roll_up_next_day(
        &mut self,
        now_micros: i64,
        quiet: Duration,
    ) -> Result<Option<i64>, StoreError> {
        Writer::roll_up_next_day(self, now_micros, quiet)
    }
}

/// Where the store is: `DATABASE_URL`.
#[derive(Clone, PartialEq, Eq)]
pub enum StoreUrl {
    /// A SQLite file (`sqlite://PATH`, `sqlite:PATH` or a bare path).
    Sqlite(PathBuf),
    /// A PostgreSQL database (`postgres://…` or `postgresql://…`), as given.
    Postgres(String),
}

/// Why a `DATABASE_URL` was refused.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum StoreUrlError {
    #[error("unsupported scheme `{0}://`: use sqlite://PATH or postgres://USER@HOST/DB")]
    Scheme(String),
    #[error("the path of the database file is empty")]
    EmptyPath,
    #[error("not a PostgreSQL URL: {0}")]
    Postgres(String),
}

impl StoreUrl {
    /// Accepts `sqlite://PATH`, `sqlite:PATH`, a bare path, and `postgres://…` /
    /// `postgresql://…` (checked, not connected to).
    pub fn parse(text: &str) -> Result<StoreUrl, StoreUrlError> {
        if text.starts_with("postgres://") || text.starts_with("postgresql://") {
            crate::pg::tls::PgTarget::parse(text)
                .map_err(|e| StoreUrlError::Postgres(e.to_string()))?;
            return Ok(StoreUrl::Postgres(text.to_owned()));
        }
        let path = if let Some(rest) = text.strip_prefix("sqlite://") {
            rest
        } else if let Some(rest) = text.strip_prefix("sqlite:") {
            rest
        } else if let Some((scheme, _)) = text.split_once("://") {
            return Err(StoreUrlError::Scheme(scheme.to_owned()));
        } else {
            text
        };
        if path.is_empty() {
            return Err(StoreUrlError::EmptyPath);
        }
        Ok(StoreUrl::Sqlite(PathBuf::from(path)))
    }

    /// The SQLite file, if the store is one.
    pub fn sqlite_path(&self) -> Option<&Path> {
        match self {
            StoreUrl::Sqlite(path) => Some(path),
            StoreUrl::Postgres(_) => None,
        }
    }

    /// Opens the store's writer, applying pending migrations.
    pub fn open_writer(
        &self,
        synchronous: Synchronous,
    ) -> Result<Box<dyn WriteBackend>, StoreError> {
        Ok(match self {
            StoreUrl::Sqlite(path) => Box::new(Writer::open_with(path, synchronous)?),
            StoreUrl::Postgres(url) => Box::new(crate::pg::PgWriter::open(url)?),
        })
    }

    /// `analytics forget`: deletes one visitor's events and corrects every summary.
    pub fn forget_visitor(&self, shop_id: &str, visitor_id: &str) -> Result<u64, StoreError> {
        match self {
            StoreUrl::Sqlite(path) => crate::forget::forget_visitor(path, shop_id, visitor_id),
            StoreUrl::Postgres(url) => crate::pg::upkeep::forget_visitor(url, shop_id, visitor_id),
        }
    }

    /// `analytics backup PATH`: a consistent copy while everything runs.
    pub fn backup(&self, target: &Path) -> Result<u64, StoreError> {
        match self {
            StoreUrl::Sqlite(path) => crate::backup::backup(path, target),
            StoreUrl::Postgres(url) => crate::pg::upkeep::backup(url, target),
        }
    }
}

/// Shown in logs: a PostgreSQL URL without its password.
impl std::fmt::Display for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            StoreUrl::Sqlite(path) => write!(f, "sqlite://{}", path.display()),
            StoreUrl::Postgres(url) => f.write_str(&redact_password(url)),
        }
    }
}

impl std::fmt::Debug for StoreUrl {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        std::fmt::Display::fmt(self, f)
    }
}

/// `postgres://user:secret@host/db` as `postgres://user:***@host/db`.
fn redact_password(url: &str) -> String {
    let Some((scheme, rest)) = url.split_once("://") else {
        return url.to_owned();
    };
    let (authority, tail) = rest.split_at(rest.find('/').unwrap_or(rest.len()));
    match authority.rsplit_once('@') {
        Some((credentials, host)) if credentials.contains(':') => {
            let user = credentials.split(':').next().unwrap_or_default();
            format!("{scheme}://{user}:***@{host}{tail}")
        }
        _ => url.to_owned(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn database_urls_take_five_spellings() {
        assert_eq!(
            StoreUrl::parse("sqlite://data/a.db"),
            Ok(StoreUrl::Sqlite("data/a.db".into()))
        );
        assert_eq!(
            StoreUrl::parse("sqlite:a.db"),
            Ok(StoreUrl::Sqlite("a.db".into()))
        );
        assert_eq!(
            StoreUrl::parse("/tmp/a.db"),
            Ok(StoreUrl::Sqlite("/tmp/a.db".into()))
        );
        for url in ["postgres://u:p@h:5432/db", "postgresql://u@h/db"] {
            assert_eq!(StoreUrl::parse(url), Ok(StoreUrl::Postgres(url.into())));
        }
        assert!(matches!(
            StoreUrl::parse("mysql://h/db"),
            Err(StoreUrlError::Scheme(_))
        ));
        assert_eq!(StoreUrl::parse("sqlite://"), Err(StoreUrlError::EmptyPath));
        assert!(matches!(
            StoreUrl::parse("postgres://h:notaport/db"),
            Err(StoreUrlError::Postgres(_))
        ));
        let tls = "postgres://h/db?sslmode=verify-full&sslrootcert=/etc/ca.pem";
        assert_eq!(StoreUrl::parse(tls), Ok(StoreUrl::Postgres(tls.into())));
        assert!(matches!(
            StoreUrl::parse("postgres://h/db?sslmode=verify"),
            Err(StoreUrlError::Postgres(_))
        ));
    }

    #[test]
    fn a_password_never_reaches_the_logs() {
        let url = StoreUrl::parse("postgres://app:s3cret@db:5432/analytics").expect("valid");
        assert_eq!(url.to_string(), "postgres://app:***@db:5432/analytics");
        assert!(!format!("{url:?}").contains("s3cret"));
    }
}
