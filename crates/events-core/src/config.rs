//! Configuration shared by the binaries: each value is an environment variable and a flag of
//! the same name (`REDIS_URL` / `--redis-url`), parsed once at start-up so that a bad value
//! stops the binary with one line naming it.

use std::time::Duration;

use clap::{Args, Parser, ValueEnum};
use store::{StoreUrl, StoreUrlError};

/// Where Redis is and how long one command may take.
#[derive(Debug, Clone, Args)]
pub struct RedisArgs {
    /// Redis connection URL (`redis://host:port[/db]`, `rediss://` for TLS).
    #[arg(long, env = "REDIS_URL", default_value = "redis://127.0.0.1:6379", value_parser = parse_redis_url)]
    pub redis_url: String,

    /// The longest one Redis command may take before it counts as failed (`250ms`, `1s`).
    #[arg(long, env = "REDIS_TIMEOUT", default_value = "1s", value_parser = parse_duration)]
    pub redis_timeout: Duration,
}

/// Logging.
#[derive(Debug, Clone, Args)]
pub struct LogArgs {
    /// Log filter in `tracing` syntax (`info`, `debug`, `consumer=debug,info`).
    #[arg(long, env = "RUST_LOG", default_value = "info")]
    pub rust_log: String,

    /// `text` for people, `json` for one JSON object a line.
    #[arg(long, env = "LOG_FORMAT", default_value = "text", value_enum)]
    pub log_format: LogFormat,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum LogFormat {
    Text,
    Json,
}

/// The store: a SQLite file, or a PostgreSQL database (docs/OPERATIONS.md, "PostgreSQL").
#[derive(Debug, Clone, Args)]
pub struct StoreArgs {
    /// The store: `sqlite://PATH`, `sqlite:PATH` or a bare path (relative to the working
    /// directory; the folder is created if missing), or `postgres://USER[:PASSWORD]@HOST[:PORT]/DB`
    /// (also `postgresql://…`).
    #[arg(long, env = "DATABASE_URL", default_value = "sqlite://data/analytics.db", value_parser = parse_database_url)]
    pub database_url: StoreUrl,
}

/// Which browser origins may call an HTTP service.
#[derive(Debug, Clone, Args)]
pub struct CorsArgs {
    /// Allowed origins, comma-separated (`https://shop.example,https://admin.example`), or `*`
    /// (only with `AUTH=off`). Ingestion also allows the origins of its public keys. Empty:
    /// analytics sends no CORS header (the dashboard is same-origin); ingestion with
    /// `AUTH=off` allows any origin.
    #[arg(long, env = "CORS_ORIGINS", default_value = "")]
    pub cors_origins: String,
}

/// How many connections a public HTTP service holds (`MAX_CONNECTIONS`), and how long a
/// client may take (fixed by the spec; settable only by tests).
#[derive(Debug, Clone, Args)]
pub struct ConnectionArgs {
    /// The most open connections; more are closed at once, never crashing the process.
    #[arg(long, env = "MAX_CONNECTIONS", default_value_t = crate::server::DEFAULT_MAX_CONNECTIONS, value_parser = parse_positive_usize)]
    pub max_connections: usize,

    /// The header, body and idle timeouts (docs/SECURITY.md: 10 s, 30 s, 60 s).
    #[arg(skip)]
    pub timeouts: Option<crate::server::ConnectionLimits>,
}

impl ConnectionArgs {
    pub fn limits(&self) -> crate::server::ConnectionLimits {
        crate::server::ConnectionLimits {
            max_connections: self.max_connections,
            ..self.timeouts.unwrap_or_default()
        }
    }
}

/// Why a configuration value was refused. clap prints it after the variable's name, on one
/// line (see [`parse_or_exit`]), so each message carries its reason in its text.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ConfigError {
    #[error("`{0}` must be a whole number of at least 1")]
    NotPositive(String),
    #[error("`{text}` is not a duration such as 250ms, 5s or 1m ({reason})")]
    NotADuration { text: String, reason: String },
    #[error("`{0}` must be longer than zero")]
    ZeroDuration(String),
    #[error("`{text}` is not a Redis URL: {reason}")]
    NotARedisUrl { text: String, reason: String },
}

/// A whole number of at least 1.
pub fn parse_positive_usize(text: &str) -> Result<usize, ConfigError> {
    match text.trim().parse::<usize>() {
        Ok(0) | Err(_) => Err(ConfigError::NotPositive(text.to_owned())),
        Ok(n) => Ok(n),
    }
}

/// The rules an event must keep that depend on configuration (ingestion, and the consumer,
/// which validates every entry again).
#[derive(Debug, Clone, Args)]
pub struct EventRulesArgs {
    /// Refuse an event whose stored (skew-corrected) time lies more than this before its
    /// arrival (`3650d`: ten years, so a day-by-day series of all time fits in 5000 buckets).
    #[arg(long, env = "MAX_EVENT_AGE", default_value = "3650d", value_parser = parse_duration)]
    pub max_event_age: Duration,
}

impl EventRulesArgs {
    pub fn rules(&self) -> crate::event::EventRules {
        crate::event::EventRules::with_max_age(self.max_event_age)
    }
}

/// Parses the command line and environment, or exits: `--help` and `--version` print and exit
/// 0; a bad value prints one line naming the variable (clap's value names are the variable
/// names, such as `<BATCH_TIMEOUT>`) and exits 2.
pub fn parse_or_exit<T: Parser>() -> T {
    match T::try_parse() {
        Ok(config) => config,
        Err(error) if !error.use_stderr() => error.exit(),
        Err(error) => {
            let rendered = error.to_string();
            let line = rendered
                .lines()
                .next()
                .unwrap_or("error: bad configuration");
            eprintln!("{line}");
            std::process::exit(2);
        }
    }
}

/// Parses a duration such as `250ms`, `5s`, `1m` or `1h 30m`.
pub fn parse_duration(text: &str) -> Result<Duration, ConfigError> {
    let duration =
        humantime::parse_duration(text.trim()).map_err(|e| ConfigError::NotADuration {
            text: text.to_owned(),
            reason: e.to_string(),
        })?;
    if duration.is_zero() {
        return Err(ConfigError::ZeroDuration(text.to_owned()));
    }
    Ok(duration)
}

/// Accepts `sqlite://PATH`, `sqlite:PATH`, a bare path, `postgres://…` and `postgresql://…`;
/// refuses other schemes.
pub fn parse_database_url(text: &str) -> Result<StoreUrl, StoreUrlError> {
    StoreUrl::parse(text)
}

/// `DATABASE_READ_URL`: a store URL, or nothing when empty, so that a Compose file can pass
/// the variable through unset (`${DATABASE_READ_URL:-}`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ReadUrl(pub Option<StoreUrl>);

pub fn parse_read_url(text: &str) -> Result<ReadUrl, StoreUrlError> {
    if text.trim().is_empty() {
        Ok(ReadUrl(None))
    } else {
        StoreUrl::parse(text).map(|url| ReadUrl(Some(url)))
    }
}

/// Checks a Redis URL at start-up rather than on the first request.
pub fn parse_redis_url(text: &str) -> Result<String, ConfigError> {
    redis::Client::open(text).map_err(|e| ConfigError::NotARedisUrl {
        text: text.to_owned(),
        reason: e.to_string(),
    })?;
    Ok(text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_take_the_usual_units() {
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert_eq!(parse_duration("5s"), Ok(Duration::from_secs(5)));
        assert_eq!(parse_duration("1m"), Ok(Duration::from_secs(60)));
        assert!(parse_duration("5").is_err());
        assert!(parse_duration("soon").is_err());
        assert!(parse_duration("0s").is_err());
    }

    #[test]
    fn database_urls_take_five_spellings() {
        let sqlite = |path: &str| Ok(StoreUrl::Sqlite(std::path::PathBuf::from(path)));
        assert_eq!(
            parse_database_url("sqlite://data/analytics.db"),
            sqlite("data/analytics.db")
        );
        assert_eq!(
            parse_database_url("sqlite:///var/lib/a.db"),
            sqlite("/var/lib/a.db")
        );
        assert_eq!(parse_database_url("sqlite:a.db"), sqlite("a.db"));
        assert_eq!(parse_database_url("/tmp/a.db"), sqlite("/tmp/a.db"));
        assert_eq!(
            parse_database_url("postgres://localhost/db"),
            Ok(StoreUrl::Postgres("postgres://localhost/db".into()))
        );
        assert!(parse_database_url("postgresql://u@localhost/db").is_ok());
        assert!(parse_database_url("mysql://localhost/db").is_err());
        assert!(parse_database_url("sqlite://").is_err());
    }

    #[test]
    fn an_empty_read_url_is_none() {
        assert_eq!(parse_read_url(""), Ok(ReadUrl(None)));
        assert_eq!(
            parse_read_url("postgres://replica/db"),
            Ok(ReadUrl(Some(StoreUrl::Postgres(
                "postgres://replica/db".into()
            ))))
        );
        assert!(parse_read_url("mysql://replica/db").is_err());
    }

    #[test]
    fn redis_urls_are_checked() {
        assert!(parse_redis_url("redis://127.0.0.1:6379").is_ok());
        assert!(parse_redis_url("http://127.0.0.1").is_err());
    }
}
