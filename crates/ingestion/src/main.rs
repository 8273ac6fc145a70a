//! The `ingestion` binary: configuration, logging, then the service until SIGINT/SIGTERM.

use ingestion::Config;

// Ingestion's profile showed a seventh of its CPU time in glibc's malloc and free; mimalloc
// is faster for the many small allocations of request handling.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let config: Config = events_core::config::parse_or_exit();
    events_core::logging::init(&config.log);
    let shutdown = events_core::shutdown::on_signal();
    events_core::exit::or_exit(ingestion::run(config, shutdown).await);
}
