//! The event model: what a shop sends, the rules it must pass, and the checked [`Event`] that
//! travels through Redis into the store.
//!
//! Parsing happens once, at the edge: [`Event::from_json`] turns a JSON value into an `Event`
//! or into the complete list of [`FieldError`]s, never only the first one.
//!
//! Most events are valid, and building a `Value` tree to collect errors that are not there is
//! most of the work of validating one. [`WireEvent`] is the fast path: a typed view borrowed from
//! the request body that checks the same rules (the functions below are shared by both paths)
//! and gives up on the first broken one, so that the caller asks `from_json` for the errors.
//!
//! | module | owns |
//! |---|---|
//! | `event_type` | [`EventType`]: the three things a shop reports |
//! | `model` | [`FieldError`], the checked [`Event`] and its [`Traffic`] |
//! | `rules` | every field rule and the configured [`EventRules`], shared by both paths |
//! | `full` | [`Event::from_json`]: every error listed |
//! | `fast` | [`WireEvent`] and [`Event::from_valid_json`]: the first error gives up |
//! | `json` | strict JSON parsing ([`parse_json`]) and the transport spelling of times |
//! | `properties` | property tests: the fast path accepts exactly what the full path accepts |

mod event_type;
mod fast;
mod full;
mod json;
mod model;
#[cfg(test)]
mod properties;
mod rules;

pub use event_type::EventType;
pub use fast::{WireEvent, from_json_object};
pub use json::{DUPLICATE_FIELD, ParsedJson, parse_json};
pub use model::{
    Event, FieldError, Shopper, Submitted, Traffic, TransportError, format_utc, new_event_id,
};
pub use rules::{
    DEFAULT_MAX_EVENT_AGE, DEFAULT_SHOP_ID, EventRules, KNOWN_FIELDS, MAX_FUTURE, is_format_char,
};
