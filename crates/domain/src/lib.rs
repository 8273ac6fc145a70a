//! The domain of the pipeline: what a shop sends and the rules it must pass, exact money, what
//! is summed and by which dimensions, the rules of visitors and sessions, and every metric
//! rule. Pure code: no store, HTTP, CLI or Redis crate.
//!
//! | module | owns |
//! |---|---|
//! | [`attribution`] | where a session came from: its attributes, the filters (segments) and breakdown dimensions |
//! | [`event`] | the event model: wire validation into a checked [`event::Event`], field errors |
//! | [`traffic`] | where an event came from: referrer domain, source, medium, campaign, channel |
//! | [`money`] | exact amounts (integer micro-units) and the half-away-from-zero rounding |
//! | [`sums`] | what is summed: the one definition of the measures of a stretch of events |
//! | [`dimension`] | the breakdowns of sums (product, currency, …): a name and an extractor each |
//! | [`distinct`] | counting distinct visitors: exact when few, a HyperLogLog sketch when many |
//! | [`people`] | visitors, sessions and session funnels as pure rules over events in time order |
//! | [`sessions`] | bounce, session conversion, pages and duration per session, new and returning people |
//! | [`formulas`] | every metric rule: sums and people into the numbers the API answers |

pub mod attribution;
pub mod dimension;
pub mod distinct;
pub mod event;
pub mod formulas;
pub mod money;
pub mod people;
pub mod sessions;
pub mod sums;
pub mod traffic;
