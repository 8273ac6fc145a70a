//! Where each phase's store lives: a new SQLite file in the phase's temporary folder, or, with
//! `DATABASE_URL=postgres://…`, a new database on that server (the user needs `CREATEDB`), so
//! phases never share rows. Databases it creates are named `bench_<phase>_<pid>` and dropped
//! when the phase ends.

use std::path::Path;

use anyhow::Context;

/// A phase's store: its `DATABASE_URL`, and what to drop at the end.
pub struct PhaseStore {
    pub url: String,
    postgres: Option<(String, String)>,
}

/// The server given by `DATABASE_URL`, when it is PostgreSQL.
fn postgres_server() -> Option<String> {
    std::env::var("DATABASE_URL")
        .ok()
        .filter(|url| url.starts_with("postgres://") || url.starts_with("postgresql://"))
}

/// `url` with its database name replaced by `name`.
fn with_database(url: &str, name: &str) -> String {
    let (scheme, rest) = url.split_once("://").unwrap_or(("postgres", url));
    let authority_end = rest.find('/').unwrap_or(rest.len());
    let query = rest[authority_end..]
        .find('?')
        .map(|i| &rest[authority_end + i..])
        .unwrap_or("");
    format!("{scheme}://{}/{name}{query}", &rest[..authority_end])
}

impl PhaseStore {
    /// A new, empty store for the phase `name`.
    pub fn new(dir: &Path, name: &str) -> anyhow::Result<PhaseStore> {
        let Some(server) = postgres_server() else {
            return Ok(PhaseStore {
                url: dir.join(format!("{name}.db")).display().to_string(),
                postgres: None,
            });
        };
        let database = format!("bench_{name}_{}", std::process::id());
        let admin = server.clone();
        let create = database.clone();
        // The synchronous client on a thread of its own (never on the async runtime).
        std::thread::spawn(move || create_database(&admin, &create))
            .join()
            .map_err(|_| anyhow::anyhow!("the database creation panicked"))??;
        Ok(PhaseStore {
            url: with_database(&server, &database),
            postgres: Some((server, database)),
        })
    }
}

/// Creates the database `name` on `server`, dropping one left by an earlier run. Two
/// statements: PostgreSQL runs the statements of one simple query in a single transaction,
/// and neither `DROP DATABASE` nor `CREATE DATABASE` may run inside one.
fn create_database(server: &str, name: &str) -> anyhow::Result<()> {
    let mut client = events_core::store::pg::connect(server)?;
    client
        .batch_execute(&format!("DROP DATABASE IF EXISTS {name}"))
        .with_context(|| format!("dropping an earlier {name}"))?;
    client
        .batch_execute(&format!("CREATE DATABASE {name}"))
        .with_context(|| format!("creating {name} (needs CREATEDB)"))
}

impl Drop for PhaseStore {
    fn drop(&mut self) {
        if let Some((server, database)) = self.postgres.take() {
            let _ = std::thread::spawn(move || {
                if let Ok(mut client) = events_core::store::pg::connect(&server) {
                    let _ = client
                        .batch_execute(&format!("DROP DATABASE IF EXISTS {database} WITH (FORCE)"));
                }
            })
            .join();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::{create_database, with_database};

    #[test]
    fn a_phase_database_is_created_on_a_real_server_twice_over() {
        let server = test_support::PostgresServer::start();
        // The second time, an earlier run's database of that name is dropped first.
        for _ in 0..2 {
            create_database(&server.admin_url(), "bench_phase_test").expect("created");
            let mut client = events_core::store::pg::connect(&with_database(
                &server.admin_url(),
                "bench_phase_test",
            ))
            .expect("the new database answers");
            let one: i32 = client.query_one("SELECT 1", &[]).expect("a query").get(0);
            assert_eq!(one, 1);
        }
    }

    #[test]
    fn the_database_name_is_replaced() {
        assert_eq!(
            with_database("postgres://u:p@h:5432/app?sslmode=disable", "bench_x"),
            "postgres://u:p@h:5432/bench_x?sslmode=disable"
        );
        assert_eq!(with_database("postgresql://h", "b"), "postgresql://h/b");
    }
}
