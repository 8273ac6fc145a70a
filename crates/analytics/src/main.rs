//! The `analytics` binary: configuration, logging, then the service until SIGINT/SIGTERM, or
//! one command (`analytics keys …`, `analytics backup PATH`, `analytics forget …`,
//! `analytics openapi`).

use analytics::Config;
use anyhow::Context;

// Ingestion's profile showed a seventh of its CPU time in glibc's malloc and free; mimalloc
// is faster for the many small allocations of request handling.
#[global_allocator]
static ALLOCATOR: mimalloc::MiMalloc = mimalloc::MiMalloc;

#[tokio::main]
async fn main() {
    let config: Config = events_core::config::parse_or_exit();
    events_core::logging::init(&config.log);
    match &config.command {
        Some(analytics::keys_cli::Command::Keys(command)) => {
            let mut out = std::io::stdout().lock();
            let done = analytics::keys_cli::run(command, &config.redis, &mut out).await;
            events_core::exit::or_exit(done);
            return;
        }
        Some(analytics::keys_cli::Command::Backup { path }) => {
            let bytes = config
                .store
                .database_url
                .backup(path)
                .with_context(|| format!("cannot back up to {}", path.display()));
            println!(
                "{} {} bytes",
                path.display(),
                events_core::exit::or_exit(bytes)
            );
            return;
        }
        Some(analytics::keys_cli::Command::Forget { shop, visitor_id }) => {
            // On the blocking pool: PostgreSQL's synchronous client cannot run on the runtime.
            let (store, shop, visitor_id) = (
                config.store.database_url.clone(),
                shop.clone(),
                visitor_id.clone(),
            );
            let deleted =
                tokio::task::spawn_blocking(move || store.forget_visitor(&shop, &visitor_id))
                    .await
                    .context("the forget task")
                    .and_then(|forgotten| forgotten.context("DATABASE_URL"));
            println!("{}", events_core::exit::or_exit(deleted));
            return;
        }
        Some(analytics::keys_cli::Command::Openapi) => {
            println!(
                "{}",
                analytics::openapi::to_pretty_json(&analytics::routes::document())
            );
            return;
        }
        None => {}
    }
    let shutdown = events_core::shutdown::on_signal();
    events_core::exit::or_exit(analytics::run(config, shutdown).await);
}
