//! The system under test: a private redis-server as `make run` starts it (append-only file,
//! `everysec`) and the release binaries, each its own process; their peak memory from /proc.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use anyhow::Context;
use test_support::RedisServer;

/// Redis as `make run` and docker compose start it.
pub fn start_redis() -> RedisServer {
    RedisServer::start_with(&[
        "--appendonly",
        "yes",
        "--appendfsync",
        "everysec",
        "--save",
        "",
    ])
}

/// One service process, stopped (SIGTERM) when dropped.
pub struct Service {
    child: Child,
    pub addr: SocketAddr,
    /// Where its `/metrics` answers: `addr` for the consumer, an internal address of its own
    /// for ingestion and analytics.
    metrics_addr: SocketAddr,
}

impl Service {
    /// Starts a release binary next to this one with the given environment; `addr` is where
    /// its HTTP listener answers `health_path`.
    pub async fn start(
        name: &str,
        env: &[(&str, String)],
        addr: SocketAddr,
        health_path: &str,
    ) -> anyhow::Result<Service> {
        let binary = sibling_binary(name)?;
        let child = Command::new(&binary)
            .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
            .env("RUST_LOG", "warn")
            // A rate limit must not be what a benchmark measures.
            .env("AUTH", "off")
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .with_context(|| format!("cannot start {}", binary.display()))?;
        let service = Service {
            child,
            addr,
            metrics_addr: addr,
        };
        let url = format!("http://{addr}{health_path}");
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if reqwest::get(&url)
                .await
                .is_ok_and(|r| r.status().is_success())
            {
                return Ok(service);
            }
            if Instant::now() > deadline {
                return Err(anyhow::anyhow!("{name} did not answer {url}"));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// Sends the process a signal (`STOP` pauses it, `CONT` resumes it).
    pub fn signal(&self, name: &str) {
        let _ = Command::new("kill")
            .args([&format!("-{name}"), &self.child.id().to_string()])
            .status();
    }

    /// The most resident memory the process has had, in MiB (`VmHWM`).
    pub fn peak_rss_mib(&self) -> f64 {
        let status = std::fs::read_to_string(format!("/proc/{}/status", self.child.id()))
            .unwrap_or_default();
        status
            .lines()
            .find_map(|line| line.strip_prefix("VmHWM:"))
            .and_then(|rest| rest.split_whitespace().next()?.parse::<f64>().ok())
            .map_or(0.0, |kib| kib / 1024.0)
    }

    /// Says where the service serves `/metrics` (its `*_METRICS_ADDR`).
    pub fn with_metrics_addr(mut self, metrics_addr: SocketAddr) -> Service {
        self.metrics_addr = metrics_addr;
        self
    }

    /// A counter or gauge from the service's `/metrics`.
    pub async fn metric(&self, path: &str, name: &str) -> Option<f64> {
        let text = reqwest::get(format!("http://{}{path}", self.metrics_addr))
            .await
            .ok()?
            .text()
            .await
            .ok()?;
        text.lines()
            .find(|line| line.split_whitespace().next() == Some(name))
            .and_then(|line| line.split_whitespace().nth(1)?.parse().ok())
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        // A paused process would not hear the TERM.
        self.signal("CONT");
        let _ = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status();
        let deadline = Instant::now() + Duration::from_secs(10);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                return;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A free loopback address.
pub fn free_addr() -> SocketAddr {
    SocketAddr::from(([127, 0, 0, 1], test_support::free_port()))
}

/// The service binaries are built next to this one (`cargo build --release`).
fn sibling_binary(name: &str) -> anyhow::Result<PathBuf> {
    let exe = std::env::current_exe()?;
    let path = exe.parent().unwrap_or(Path::new(".")).join(name);
    if path.is_file() {
        Ok(path)
    } else {
        Err(anyhow::anyhow!(
            "{} is missing: run `cargo build --release --bins` first (make bench does)",
            path.display()
        ))
    }
}
