//! Prometheus: the recorder behind every `metrics::counter!`/`histogram!` of the services, and
//! each service's `GET /metrics` listener, off the public port. Logging is [`crate::logging`].

use std::sync::OnceLock;
use std::time::Duration;

use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// The Prometheus recorder of this process, installed on first use (several services share
/// one process in tests, so installing twice must not fail).
pub fn handle() -> &'static PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE.get_or_init(|| {
        let recorder = PrometheusBuilder::new()
            .set_buckets(&LATENCY_BUCKETS)
            .and_then(|builder| {
                builder.set_buckets_for_metric(Matcher::Suffix("_events".into()), &SIZE_BUCKETS)
            })
            .map(PrometheusBuilder::build_recorder)
            .unwrap_or_else(|_| PrometheusBuilder::new().build_recorder());
        let handle = recorder.handle();
        // Fails only when another recorder is installed already; this handle then renders an
        // empty page rather than stopping the service.
        let _ = metrics::set_global_recorder(recorder);
        keep_histograms_drained(handle.clone());
        handle
    })
}

/// How often recorded histogram samples are folded into their buckets.
const UPKEEP_INTERVAL: Duration = Duration::from_secs(5);

/// A histogram keeps every sample it records until they are folded into its buckets, which
/// rendering `/metrics` does, or upkeep. A recorder built by hand (as here, so that several
/// services can share a test process) gets no upkeep of its own: without this thread, memory
/// grows with every request until something scrapes `/metrics` (about 9 bytes a sample, two
/// samples a request in ingestion).
fn keep_histograms_drained(handle: PrometheusHandle) {
    let spawned = std::thread::Builder::new()
        .name("metrics-upkeep".into())
        .spawn(move || {
            loop {
                std::thread::sleep(UPKEEP_INTERVAL);
                handle.run_upkeep();
            }
        });
    if let Err(error) = spawned {
        tracing::warn!(%error, "no metrics upkeep thread: histograms drain only when /metrics is read");
    }
}

/// Seconds, from 100 µs to 10 s.
const LATENCY_BUCKETS: [f64; 14] = [
    0.0001, 0.00025, 0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 10.0,
];
/// Counts of events, for batch sizes.
const SIZE_BUCKETS: [f64; 10] = [
    1.0, 5.0, 10.0, 50.0, 100.0, 500.0, 1000.0, 5000.0, 10000.0, 100000.0,
];

/// `GET /metrics`: everything recorded, in Prometheus's text format.
pub async fn metrics_endpoint() -> impl axum::response::IntoResponse {
    (
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4",
        )],
        handle().render(),
    )
}

/// Serves `GET /metrics` on its own listener (`INGESTION_METRICS_ADDR`,
/// `ANALYTICS_METRICS_ADDR`): off the public port, so only those who can reach the internal
/// address can read it. Runs until `stop` is cancelled.
pub async fn serve_metrics(
    listener: tokio::net::TcpListener,
    stop: tokio_util::sync::CancellationToken,
) {
    if let Ok(address) = listener.local_addr() {
        tracing::info!(%address, "metrics listener");
    }
    let router = axum::Router::new().route("/metrics", axum::routing::get(metrics_endpoint));
    let served = axum::serve(listener, router)
        .with_graceful_shutdown(stop.cancelled_owned())
        .await;
    if let Err(error) = served {
        tracing::error!(%error, "metrics listener failed");
    }
}
