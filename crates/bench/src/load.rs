//! The HTTP load generator: `connections` keep-alive HTTP/1.1 connections, each sending one
//! request after another for a while (or at a paced rate), recording each latency.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use http_body_util::{BodyExt, Full};
use hyper::body::Bytes;
use hyper::{Request, StatusCode};
use hyper_util::rt::TokioIo;

/// What one load run saw.
#[derive(Debug, Default)]
pub struct LoadResult {
    /// Requests answered 202.
    pub accepted: u64,
    /// Requests answered otherwise, or failed.
    pub failed: u64,
    pub elapsed: Duration,
    latencies_us: Vec<u32>,
}

impl LoadResult {
    pub fn requests_per_second(&self) -> f64 {
        self.accepted as f64 / self.elapsed.as_secs_f64()
    }

    /// The latency below which `quantile` of the requests were answered.
    pub fn latency(&self, quantile: f64) -> Duration {
        if self.latencies_us.is_empty() {
            return Duration::ZERO;
        }
        let index = ((self.latencies_us.len() - 1) as f64 * quantile).round() as usize;
        Duration::from_micros(u64::from(self.latencies_us[index]))
    }
}

/// One kind of request to send.
#[derive(Clone)]
pub struct Target {
    pub addr: SocketAddr,
    pub path: &'static str,
    pub body: Bytes,
}

/// Sends requests on `connections` connections for `duration`; with `rate` (requests per
/// second over all connections) each connection paces itself.
pub async fn run(
    target: &Target,
    connections: usize,
    duration: Duration,
    rate: Option<f64>,
) -> LoadResult {
    let started = Instant::now();
    let deadline = started + duration;
    let interval = rate.map(|r| Duration::from_secs_f64(connections as f64 / r));
    let tasks: Vec<_> = (0..connections)
        .map(|n| {
            let target = target.clone();
            tokio::spawn(async move {
                // Spread the paced connections over one interval.
                if let Some(interval) = interval {
                    tokio::time::sleep(interval.mul_f64(n as f64 / connections as f64)).await;
                }
                connection(target, deadline, interval).await
            })
        })
        .collect();
    let mut total = LoadResult::default();
    for task in tasks {
        if let Ok(result) = task.await {
            total.accepted += result.accepted;
            total.failed += result.failed;
            total.latencies_us.extend(result.latencies_us);
        }
    }
    total.elapsed = started.elapsed();
    total.latencies_us.sort_unstable();
    total
}

async fn connection(target: Target, deadline: Instant, interval: Option<Duration>) -> LoadResult {
    let mut result = LoadResult::default();
    let Ok(stream) = tokio::net::TcpStream::connect(target.addr).await else {
        result.failed += 1;
        return result;
    };
    let _ = stream.set_nodelay(true);
    let Ok((mut sender, driver)) =
        hyper::client::conn::http1::handshake(TokioIo::new(stream)).await
    else {
        result.failed += 1;
        return result;
    };
    tokio::spawn(driver);
    let mut next_send = Instant::now();
    while Instant::now() < deadline {
        if let Some(interval) = interval {
            let now = Instant::now();
            if next_send > now {
                tokio::time::sleep(next_send - now).await;
            }
            next_send += interval;
        }
        let request = Request::post(target.path)
            .header("host", "bench")
            .header("content-type", "application/json")
            .body(Full::new(target.body.clone()));
        let Ok(request) = request else { break };
        let sent = Instant::now();
        match sender.send_request(request).await {
            Ok(response) => {
                let status = response.status();
                let _ = response.into_body().collect().await;
                let micros = sent.elapsed().as_micros().min(u128::from(u32::MAX)) as u32;
                if status == StatusCode::ACCEPTED {
                    result.accepted += 1;
                    result.latencies_us.push(micros);
                } else {
                    result.failed += 1;
                }
            }
            Err(_) => {
                result.failed += 1;
                break;
            }
        }
    }
    result
}
