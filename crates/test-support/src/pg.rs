//! A PostgreSQL cluster of the test's own: `initdb` into a temporary folder, `postgres` on a
//! free port of 127.0.0.1, stopped (immediately: nothing in it is worth a clean shutdown) when
//! dropped. Never a server the tests did not start.
//!
//! PostgreSQL refuses to run as root, so when the tests run as root (CI, containers) the
//! cluster is created and run as the `postgres` user that Debian's package creates.

use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

/// A private cluster, stopped when dropped; each [`database`](PostgresServer::database) is new.
pub struct PostgresServer {
    process: Option<Child>,
    /// Stops the cluster and removes its folder if this process ends without dropping it
    /// (a test binary's shared cluster lives in a `static`, which is never dropped).
    watchdog: Option<Child>,
    port: u16,
    bin: PathBuf,
    owner: Option<(u32, u32)>,
    dir: tempfile::TempDir,
    databases: AtomicU32,
    /// Whether it was started with `ssl=on` (see [`start_with_tls`](Self::start_with_tls)).
    ssl: bool,
}

impl PostgresServer {
    /// Creates and starts a cluster, durability off (a test's data is thrown away).
    pub fn start() -> PostgresServer {
        PostgresServer::start_inner(None)
    }

    /// The same, with `ssl=on` and this certificate chain and key (PEM): clients may connect
    /// with TLS or without (`pg_hba.conf`'s `host` lines take both).
    pub fn start_with_tls(cert_pem: &str, key_pem: &str) -> PostgresServer {
        PostgresServer::start_inner(Some((cert_pem, key_pem)))
    }

    fn start_inner(tls: Option<(&str, &str)>) -> PostgresServer {
        let bin = bin_dir();
        let dir = tempfile::Builder::new()
            .prefix("pg-test-")
            .tempdir()
            .expect("a temporary folder for PostgreSQL");
        let owner = run_as();
        if let Some((uid, gid)) = owner {
            std::os::unix::fs::chown(dir.path(), Some(uid), Some(gid))
                .expect("the postgres user owns the cluster's folder");
        }
        let data = dir.path().join("data");
        let status = command(&bin, "initdb", owner)
            .arg("-D")
            .arg(&data)
            .args([
                "-U",
                "postgres",
                "-A",
                "trust",
                "-E",
                "UTF8",
                "--locale=C",
                "--no-sync",
            ])
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .output()
            .expect("initdb runs (make postgresql installs it)");
        assert!(
            status.status.success(),
            "initdb failed: {}",
            String::from_utf8_lossy(&status.stderr)
        );
        if let Some((cert, key)) = tls {
            use std::os::unix::fs::PermissionsExt;
            for (name, pem) in [("server.crt", cert), ("server.key", key)] {
                let path = data.join(name);
                std::fs::write(&path, pem).expect("writes the server's certificate");
                // PostgreSQL refuses a key that others may read.
                std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o600))
                    .expect("chmod 600");
                if let Some((uid, gid)) = owner {
                    std::os::unix::fs::chown(&path, Some(uid), Some(gid))
                        .expect("the postgres user owns its certificate");
                }
            }
        }
        let mut server = PostgresServer {
            process: None,
            watchdog: None,
            port: 0,
            bin,
            owner,
            dir,
            databases: AtomicU32::new(0),
            ssl: tls.is_some(),
        };
        for _ in 0..20 {
            if server.launch(crate::free_port()) {
                return server;
            }
        }
        panic!(
            "could not start PostgreSQL on a free port; see {}",
            server.log().display()
        );
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The URL of the `postgres` database (for administration).
    pub fn admin_url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// Creates a new, empty database and returns its URL.
    pub fn database(&self) -> String {
        let n = self.databases.fetch_add(1, Ordering::Relaxed);
        let name = format!("test_{n}");
        let admin = self.admin_url();
        let create = format!("CREATE DATABASE {name}");
        off_runtime(move || {
            let mut client = postgres::Client::connect(&admin, postgres::NoTls)
                .expect("connects to the test PostgreSQL");
            client.batch_execute(&create).expect("creates a database");
        });
        format!("postgres://postgres@127.0.0.1:{}/{name}", self.port)
    }

    /// Kills the server at once (SIGKILL of the postmaster, then an immediate stop of what is
    /// left), as a crash of its host would.
    pub fn kill(&mut self) {
        // First the watchdog, so it never signals a process id that has been reused.
        if let Some(mut watchdog) = self.watchdog.take() {
            let _ = watchdog.kill();
            let _ = watchdog.wait();
        }
        if let Some(mut process) = self.process.take() {
            let _ = command(&self.bin, "pg_ctl", self.owner)
                .arg("-D")
                .arg(self.dir.path().join("data"))
                .args(["-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status();
            let _ = process.kill();
            let _ = process.wait();
        }
    }

    /// Starts the server again on the same port and data (after [`kill`](Self::kill)).
    pub fn restart(&mut self) {
        self.kill();
        let deadline = Instant::now() + Duration::from_secs(30);
        while !self.launch(self.port) {
            assert!(
                Instant::now() < deadline,
                "PostgreSQL did not restart on port {}",
                self.port
            );
            std::thread::sleep(Duration::from_millis(100));
        }
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("postgres.log")
    }

    /// Starts `postgres` on `port` and waits until it accepts connections; `false` if it
    /// exited (the port was taken meanwhile).
    fn launch(&mut self, port: u16) -> bool {
        let log = std::fs::File::create(self.log()).expect("a log file");
        if let Some((uid, gid)) = self.owner {
            let _ = std::os::unix::fs::chown(self.log(), Some(uid), Some(gid));
        }
        let mut process = command(&self.bin, "postgres", self.owner)
            .arg("-D")
            .arg(self.dir.path().join("data"))
            .args(["-p", &port.to_string(), "-c", "listen_addresses=127.0.0.1"])
            .arg("-c")
            .arg(format!(
                "unix_socket_directories={}",
                self.dir.path().display()
            ))
            .args(["-c", "fsync=off", "-c", "synchronous_commit=off"])
            .args(["-c", "full_page_writes=off", "-c", "max_connections=200"])
            .args(["-c", if self.ssl { "ssl=on" } else { "ssl=off" }])
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .expect("postgres runs");
        let deadline = Instant::now() + Duration::from_secs(30);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = process.try_wait() {
                return false;
            }
            let url = format!("postgres://postgres@127.0.0.1:{port}/postgres");
            if off_runtime(move || postgres::Client::connect(&url, postgres::NoTls).is_ok()) {
                self.port = port;
                self.watchdog = watchdog(process.id(), self.dir.path());
                self.process = Some(process);
                return true;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        let _ = process.kill();
        let _ = process.wait();
        false
    }
}

impl Drop for PostgresServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// A shell that waits for this process to end, then stops the postmaster `postgres`
/// (`SIGQUIT`: immediate shutdown) and removes the cluster's folder.
fn watchdog(postgres: u32, dir: &Path) -> Option<Child> {
    let script = format!(
        "while kill -0 {me} 2>/dev/null; do sleep 1; done; kill -QUIT {postgres} 2>/dev/null; \
         while kill -0 {postgres} 2>/dev/null; do sleep 0.2; done; rm -rf '{dir}'",
        me = std::process::id(),
        dir = dir.display()
    );
    Command::new("sh")
        .args(["-c", &script])
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .ok()
}

/// Runs `work` on a thread of its own: the synchronous client starts a runtime of its own,
/// which tokio refuses inside an async test.
fn off_runtime<T: Send>(work: impl FnOnce() -> T + Send) -> T {
    std::thread::scope(|scope| scope.spawn(work).join().expect("the thread finishes"))
}

/// `PG_BIN`, else the newest `/usr/lib/postgresql/*/bin` (Debian keeps the server's programs
/// off the PATH), else the PATH.
fn bin_dir() -> PathBuf {
    if let Some(dir) = std::env::var_os("PG_BIN") {
        return PathBuf::from(dir);
    }
    let newest = std::fs::read_dir("/usr/lib/postgresql")
        .into_iter()
        .flatten()
        .flatten()
        .filter_map(|entry| {
            let version: u32 = entry.file_name().to_str()?.parse().ok()?;
            let bin = entry.path().join("bin");
            bin.join("initdb").is_file().then_some((version, bin))
        })
        .max();
    newest.map(|(_, bin)| bin).unwrap_or_default()
}

/// The `postgres` user's ids when we are root (PostgreSQL refuses to run as root).
fn run_as() -> Option<(u32, u32)> {
    use std::os::unix::fs::MetadataExt;
    // Our own user: the owner of a file we create.
    let probe = tempfile::NamedTempFile::new().expect("a temporary file");
    if probe.as_file().metadata().expect("metadata").uid() != 0 {
        return None;
    }
    let passwd = std::fs::read_to_string("/etc/passwd").expect("/etc/passwd");
    let entry = passwd
        .lines()
        .find(|line| line.starts_with("postgres:"))
        .expect("a postgres user (apt-get install postgresql creates it) to run PostgreSQL as");
    let fields: Vec<&str> = entry.split(':').collect();
    let id = |i: usize| {
        fields
            .get(i)
            .and_then(|f| f.parse().ok())
            .expect("a numeric id")
    };
    Some((id(2), id(3)))
}

fn command(bin: &Path, program: &str, owner: Option<(u32, u32)>) -> Command {
    let path = if bin.as_os_str().is_empty() {
        PathBuf::from(program)
    } else {
        bin.join(program)
    };
    let mut command = Command::new(path);
    if let Some((uid, gid)) = owner {
        command.uid(uid).gid(gid);
        // A working folder the postgres user may enter.
        command.current_dir("/");
    }
    command
}
