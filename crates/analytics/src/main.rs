//! The `analytics` binary: configuration, logging, then the service until SIGINT/SIGTERM, or
//! one command (`analytics keys …`, `analytics backup PATH`, `analytics forget …`).

use analytics::Config;

// Ingestion's profile showed a seventh of its CPU time in glibc's malloc and free; mimalloc
// is faster for the many small allocations of request handling.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let config: Config = events_core::config::parse_or_exit();
    events_core::telemetry::init(&config.log);
    match &config.command {
        Some(analytics::keys_cli::Command::Keys(command)) => {
            let mut out = std::io::stdout().lock();
            if let Err(error) = analytics::keys_cli::run(command, &config.redis, &mut out).await {
                eprintln!("error: {error}");
                std::process::exit(1);
            }
            return;
        }
        Some(analytics::keys_cli::Command::Backup { path }) => {
            match config.store.database_url.backup(path) {
                Ok(bytes) => println!("{} {bytes} bytes", path.display()),
                Err(error) => {
                    eprintln!("error: {error}");
                    std::process::exit(1);
                }
            }
            return;
        }
        Some(analytics::keys_cli::Command::Forget { shop, visitor_id }) => {
            // On the blocking pool: PostgreSQL's synchronous client cannot run on the runtime.
            let (store, shop, visitor_id) = (
                config.store.database_url.clone(),
                shop.clone(),
                visitor_id.clone(),
            );
            let forgotten =
                tokio::task::spawn_blocking(move || store.forget_visitor(&shop, &visitor_id))
                    .await
                    .unwrap_or_else(|e| Err(events_core::store::StoreError::Task(e.to_string())));
            match forgotten {
                Ok(deleted) => println!("{deleted}"),
                Err(error) => {
                    eprintln!("error: {error}");
                    std::process::exit(1);
                }
            }
            return;
        }
        None => {}
    }
    let shutdown = events_core::shutdown::on_signal();
    if let Err(error) = analytics::run(config, shutdown).await {
        eprintln!("error: {error}");
        std::process::exit(1);
    }
}
