//! Logging: the tracing subscriber (`RUST_LOG` filters, `LOG_FORMAT` picks text or JSON
//! lines, to stderr). Prometheus is [`crate::prometheus`].

use tracing_subscriber::EnvFilter;

use crate::config::{LogArgs, LogFormat};

/// Installs the global subscriber. Logs go to stderr so stdout stays free for commands that
/// print results (such as the consumer's dead-letter listing).
pub fn init(args: &LogArgs) {
    let filter = EnvFilter::try_new(&args.rust_log).unwrap_or_else(|e| {
        eprintln!(
            "RUST_LOG: `{}` is not a valid filter ({e}); using `info`",
            args.rust_log
        );
        EnvFilter::new("info")
    });
    // axum logs each connection's peer address at trace level; addresses are never logged
    // (docs/SECURITY.md), whatever RUST_LOG asks.
    let filter = match "axum::serve=debug".parse() {
        Ok(directive) => filter.add_directive(directive),
        Err(_) => filter,
    };
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    // A second init (tests starting several services in one process) keeps the first.
    let _ = match args.log_format {
        LogFormat::Text => builder.try_init(),
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
    };
}
