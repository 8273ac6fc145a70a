//! The `consumer` binary: configuration, logging, then the worker until SIGINT/SIGTERM.

use consumer::Config;

#[tokio::main]
async fn main() {
    let config: Config = events_core::config::parse_or_exit();
    events_core::logging::init(&config.log);
    let shutdown = events_core::shutdown::on_signal();
    events_core::exit::or_exit(consumer::run(config, shutdown).await);
}
