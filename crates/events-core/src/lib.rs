//! The library every service of the pipeline shares.
//!
//! | module | owns |
//! |---|---|
//! | [`event`] | the event model: wire validation into a checked [`event::Event`], field errors |
//! | [`money`] | exact amounts (integer micro-units) and the half-away-from-zero rounding |
//! | [`metrics`] | the metric definitions, pure functions over aggregates |
//! | [`transport`] | Redis: publishing to the stream and channel, reading through a consumer group |
//! | [`store`] | SQLite: migrations, the idempotent batch insert, the metric queries |
//! | [`config`] | configuration shared by the binaries (Redis, store, logging, CORS, durations) |
//! | [`telemetry`] | the tracing subscriber (`RUST_LOG`, `LOG_FORMAT`) |
//! | [`shutdown`] | SIGINT/SIGTERM as a `CancellationToken` |
//! | [`http`] | what both HTTP services share: JSON error bodies, health, CORS, binding |
//! | [`server`] | serving a router on a public port: timeouts and the connection cap |

pub mod config;
pub mod event;
pub mod http;
pub mod metrics;
pub mod money;
pub mod server;
pub mod shutdown;
pub mod store;
pub mod telemetry;
pub mod transport;
