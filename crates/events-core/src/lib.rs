//! The library every service of the pipeline shares. The domain (crate `domain`: the event, money,
//! sums, dimensions, people and metric rules) and the store (crate `store`) are crates of their
//! own, so that the domain cannot depend on a store, HTTP, CLI or Redis crate; they are
//! re-exported here under the names the services use.
//!
//! | module | owns |
//! |---|---|
//! | [`event`] | the event model: wire validation into a checked [`event::Event`], field errors |
//! | [`money`] | exact amounts (integer micro-units) and the half-away-from-zero rounding |
//! | [`sums`] | what is summed: the one definition of the measures of a stretch of events |
//! | [`dimension`] | the breakdowns of sums (product, currency, …): a name and an extractor each |
//! | [`people`] | visitors, sessions and session funnels as pure rules over events in time order |
//! | [`formulas`] | every metric rule: sums and people into the numbers the API answers |
//! | [`transport`] | Redis: publishing to the stream and channel, reading through a consumer group |
//! | [`store`] | SQLite: migrations, the idempotent batch insert, the rollups, the planner and readers |
//! | [`config`] | configuration shared by the binaries (Redis, store, logging, CORS, durations) |
//! | [`logging`] | the tracing subscriber (`RUST_LOG`, `LOG_FORMAT`) |
//! | [`prometheus`] | the Prometheus recorder and each service's `GET /metrics` listener |
//! | [`shutdown`] | SIGINT/SIGTERM as a `CancellationToken` |
//! | [`exit`] | a binary's error as one line on stderr, exit status 1 |
//! | [`keys`] | API keys (docs/SECURITY.md): the model, their home in Redis, each service's cache, rate limits |
//! | [`http`] | what both HTTP services share: JSON error bodies, health, CORS, binding |
//! | [`server`] | serving a router on a public port: timeouts and the connection cap |

pub use domain::{attribution, dimension, event, formulas, money, people, sessions, sums};
pub use store;

pub mod config;
pub mod exit;
pub mod http;
pub mod keys;
pub mod logging;
pub mod prometheus;
pub mod server;
pub mod shutdown;
pub mod transport;
