//! The `analytics` binary: configuration, logging, then the service until SIGINT/SIGTERM, or
//! one command (`analytics keys …`).

use analytics::Config;

// Ingestion's profile showed a seventh of its CPU time in glibc's malloc and free; mimalloc
// is faster for the many small allocations of request handling.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let config: Config = events_core::config::parse_or_exit();
    events_core::telemetry::init(&config.log);
    if let Some(analytics::keys_cli::Command::Keys(command)) = &config.command {
        let mut out = std::io::stdout().lock();
        if let Err(error) = analytics::keys_cli::run(command, &config.redis, &mut out).await {
            eprintln!("error: {error}");
            std::process::exit(1);
        }
        return;
    }
    let shutdown = events_core::shutdown::on_signal();
    if let Err(error) = analytics::run(config, shutdown).await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
