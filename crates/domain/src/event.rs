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

use chrono::{DateTime, SecondsFormat, TimeDelta, Utc};
use std::fmt;
use std::marker::PhantomData;

use std::cell::RefCell;

use serde::de::value::MapAccessDeserializer;
use serde::de::{DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use serde_json::{Map, Value};

use crate::money;

/// The three things a shop reports.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventType {
    PageView,
    AddToCart,
    Purchase,
}

impl EventType {
    pub const ALL: [EventType; 3] = [
        EventType::PageView,
        EventType::AddToCart,
        EventType::Purchase,
    ];

    /// The name on the wire and in the store.
    pub fn as_str(self) -> &'static str {
        match self {
            EventType::PageView => "page_view",
            EventType::AddToCart => "add_to_cart",
            EventType::Purchase => "purchase",
        }
    }

    pub fn parse(name: &str) -> Option<EventType> {
        EventType::ALL.into_iter().find(|t| t.as_str() == name)
    }
}

/// One rule broken by one field.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub struct FieldError {
    /// The field or parameter (`events[2].timestamp` in a batch).
    pub field: String,
    pub message: String,
}

impl FieldError {
    pub fn new(field: impl Into<String>, message: impl Into<String>) -> Self {
        FieldError {
            field: field.into(),
            message: message.into(),
        }
    }
}

/// The shop an event belongs to when the client names none.
pub const DEFAULT_SHOP_ID: &str = "default";

/// The latest an event may claim to have happened, relative to when it arrived.
pub const MAX_FUTURE: TimeDelta = TimeDelta::hours(24);

/// The default of `MAX_EVENT_AGE`: ten years, so that a day-by-day series of all time stays
/// within the 5000 buckets a time series may have.
pub const DEFAULT_MAX_EVENT_AGE: TimeDelta = TimeDelta::days(3650);

/// The rules that depend on configuration, shared by ingestion and the consumer (which
/// validates every stream entry again with them).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventRules {
    /// `MAX_EVENT_AGE`: how long before its arrival a stored time may lie.
    pub max_age: TimeDelta,
}

impl Default for EventRules {
    fn default() -> Self {
        EventRules {
            max_age: DEFAULT_MAX_EVENT_AGE,
        }
    }
}

impl EventRules {
    /// The rules with `MAX_EVENT_AGE` as configured (a `Duration` beyond chrono's range means
    /// no lower bound in practice, so it is clamped).
    pub fn with_max_age(max_age: std::time::Duration) -> EventRules {
        EventRules {
            max_age: TimeDelta::from_std(max_age).unwrap_or(TimeDelta::MAX),
        }
    }
}

const AMOUNT_MAX: f64 = 1e9;
const QUANTITY_MAX: u64 = 100_000;

/// The fields a client may send; anything else is refused so that a typo cannot pass.
pub const KNOWN_FIELDS: [&str; 14] = [
    "event_type",
    "timestamp",
    "product_id",
    "order_amount",
    "event_id",
    "shop_id",
    "session_id",
    "visitor_id",
    "path",
    "referrer",
    "currency",
    "quantity",
    "order_id",
    "sent_at",
];

/// A validated event, as it is published to Redis and stored.
///
/// Times are UTC with microsecond precision; `timestamp` is already corrected for the client's
/// clock skew when the client sent `sent_at`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub event_id: String,
    pub event_type: EventType,
    #[serde(with = "utc_micros")]
    pub timestamp: DateTime<Utc>,
    pub shop_id: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub product_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_amount: Option<f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub session_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub visitor_id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub currency: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub quantity: Option<u32>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub order_id: Option<String>,
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "utc_micros_opt"
    )]
    pub sent_at: Option<DateTime<Utc>>,
    #[serde(with = "utc_micros")]
    pub received_at: DateTime<Utc>,
    /// What ingestion derived about where the event came from and what sent it.
    #[serde(default, skip_serializing_if = "Traffic::is_empty")]
    pub traffic: Traffic,
}

/// Where an event came from and what sent it, derived at ingestion from the URL, the
/// referrer, the `utm_*` fields, the user agent and the IP address (docs/API.md, "Where buyers
/// come from"). Only these derived values are kept: never the user agent, the IP address or
/// the URL's query string.
///
/// Events stored before these fields existed have them all empty.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Traffic {
    /// The referrer's host, lower case, without a leading `www.`; `None` when there is no
    /// referrer or it is the same site as the page.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub referrer_domain: Option<String>,
    /// `utm_source`, or the canonical name of a known referrer (`Google`), or the referrer's
    /// domain; `None` for direct traffic.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub medium: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub campaign: Option<String>,
    /// One of the channel names (`Organic Search`, `Direct`, ...).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub channel: Option<String>,
    /// `desktop`, `mobile` or `tablet`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub device: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub browser: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
    /// ISO 3166-1 alpha-2.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub country: Option<String>,
    /// A crawler, preview fetcher or headless browser: stored, left out of every metric.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub is_bot: bool,
}

impl Traffic {
    /// Nothing was derived (an event without URL, referrer, user agent or IP, or one stored
    /// before these fields existed).
    pub fn is_empty(&self) -> bool {
        *self == Traffic::default()
    }
}

impl Event {
    /// Validates one event as a client sent it, received at `received_at`, with the default
    /// [`EventRules`].
    ///
    /// `new_id` is called for an event without an `event_id` (the server assigns UUIDv7s).
    pub fn from_json(
        value: Value,
        received_at: DateTime<Utc>,
        new_id: impl FnOnce() -> String,
    ) -> Result<Event, Vec<FieldError>> {
        Event::from_json_with(value, received_at, &EventRules::default(), new_id)
    }

    /// [`Event::from_json`] with the configured rules.
    ///
    /// A `Value` cannot tell a field given twice: parse the text with [`parse_json`], which
    /// reports those.
    pub fn from_json_with(
        value: Value,
        received_at: DateTime<Utc>,
        rules: &EventRules,
        new_id: impl FnOnce() -> String,
    ) -> Result<Event, Vec<FieldError>> {
        let Value::Object(object) = value else {
            return Err(vec![FieldError::new("body", "must be a JSON object")]);
        };
        let mut fields = Fields {
            object,
            errors: Vec::new(),
        };
        fields.refuse_unknown();

        let event_type = fields.required_string("event_type").and_then(|name| {
            parse_event_type(&name)
                .map_err(|message| fields.error("event_type", message))
                .ok()
        });
        let timestamp = fields.required_time("timestamp");
        let sent_at = fields.optional_time("sent_at");
        let product_id = fields.optional_id("product_id", 128);
        let order_amount = fields.optional_amount("order_amount");
        let event_id = fields.optional_id("event_id", 64);
        let shop_id = fields.optional_shop_id("shop_id");
        let session_id = fields.optional_id("session_id", 128);
        let visitor_id = fields.optional_id("visitor_id", 128);
        let path = fields.optional_text("path", 0, 2048);
        let referrer = fields.optional_text("referrer", 0, 2048);
        let currency = fields.optional_currency("currency");
        let quantity = fields.optional_quantity("quantity");
        let order_id = fields.optional_id("order_id", 128);

        if event_type == Some(EventType::Purchase)
            && order_amount.is_none()
            && !fields.has_error("order_amount")
        {
            fields.error("order_amount", AMOUNT_REQUIRED);
        }

        let stored_time = timestamp.and_then(|timestamp| {
            stored_time(timestamp, sent_at, received_at, rules)
                .map_err(|message| fields.error("timestamp", &message))
                .ok()
        });

        if !fields.errors.is_empty() {
            return Err(fields.errors);
        }
        let (Some(event_type), Some(timestamp)) = (event_type, stored_time) else {
            // Both are required, so their absence was reported above.
            return Err(vec![FieldError::new("event_type", "is required")]);
        };
        Ok(Checked {
            event_type,
            timestamp,
            sent_at,
            event_id,
            shop_id,
            product_id,
            order_amount,
            session_id,
            visitor_id,
            path,
            referrer,
            currency,
            quantity,
            order_id,
        }
        .into_event(received_at, new_id))
    }

    /// The event as the JSON carried by the stream entry and the channel message.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and enums cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an event back from its transport JSON and validates it again exactly as ingestion
    /// did (the consumer must not store what ingestion would refuse, whoever wrote the entry).
    /// The error names every broken rule.
    pub fn from_transport(json: &str, rules: &EventRules) -> Result<Event, String> {
        let event: Event =
            serde_json::from_str(json).map_err(|e| format!("undecodable event: {e}"))?;
        let errors = event.broken_rules(rules);
        if errors.is_empty() {
            Ok(event)
        } else {
            let listed: Vec<String> = errors
                .iter()
                .map(|e| format!("{}: {}", e.field, e.message))
                .collect();
            Err(format!("invalid event: {}", listed.join("; ")))
        }
    }

    /// The rules of [`Event::from_json`] applied to an event already built, with the same
    /// messages: the stored time against its arrival, and every field.
    pub fn broken_rules(&self, rules: &EventRules) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut check = |field: &str, result: Result<(), String>| {
            if let Err(message) = result {
                errors.push(FieldError::new(field, message));
            }
        };
        check(
            "timestamp",
            check_window(self.timestamp, self.received_at, rules).map(drop),
        );
        check("event_id", check_id(&self.event_id, 64));
        check("shop_id", check_shop_id(&self.shop_id).map_err(Into::into));
        let optional_ids = [
            ("product_id", &self.product_id, 128),
            ("session_id", &self.session_id, 128),
            ("visitor_id", &self.visitor_id, 128),
            ("order_id", &self.order_id, 128),
        ];
        for (field, value, max) in optional_ids {
            if let Some(value) = value {
                check(field, check_id(value, max));
            }
        }
        for (field, value) in [("path", &self.path), ("referrer", &self.referrer)] {
            if let Some(value) = value {
                check(field, check_text(value, 0, 2048));
            }
        }
        if let Some(currency) = &self.currency {
            check("currency", check_currency(currency).map_err(Into::into));
        }
        if let Some(quantity) = self.quantity {
            check(
                "quantity",
                check_quantity(u64::from(quantity))
                    .map(drop)
                    .map_err(Into::into),
            );
        }
        match self.order_amount {
            Some(amount) => check(
                "order_amount",
                check_amount(amount).map(drop).map_err(Into::into),
            ),
            None if self.event_type == EventType::Purchase => {
                check("order_amount", Err(AMOUNT_REQUIRED.into()));
            }
            None => {}
        }
        errors
    }

    /// The amount in exact micro-units.
    pub fn amount_micros(&self) -> Option<i64> {
        self.order_amount.and_then(money::amount_to_micros)
    }
}

/// A fresh server-assigned id: UUIDv7, so ids sort by time and index cheaply.
pub fn new_event_id() -> String {
    uuid::Uuid::now_v7().to_string()
}

/// Formats a time the way the store and the transport spell it: UTC, six decimals, `Z`.
/// Fixed width, so text order is time order.
pub fn format_utc(time: &DateTime<Utc>) -> String {
    time.to_rfc3339_opts(SecondsFormat::Micros, true)
}

fn truncate_to_micros(time: DateTime<Utc>) -> DateTime<Utc> {
    DateTime::from_timestamp_micros(time.timestamp_micros()).unwrap_or(time)
}

/// The fields of an event that keeps every rule, as both validators leave them.
struct Checked {
    event_type: EventType,
    /// Already corrected for the client's clock.
    timestamp: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    event_id: Option<String>,
    shop_id: Option<String>,
    product_id: Option<String>,
    order_amount: Option<f64>,
    session_id: Option<String>,
    visitor_id: Option<String>,
    path: Option<String>,
    referrer: Option<String>,
    currency: Option<String>,
    quantity: Option<u32>,
    order_id: Option<String>,
}

impl Checked {
    /// The event as stored: the server's id and the default shop where the client sent none,
    /// times cut to the microseconds the store keeps.
    fn into_event(self, received_at: DateTime<Utc>, new_id: impl FnOnce() -> String) -> Event {
        Event {
            event_id: self.event_id.unwrap_or_else(new_id),
            event_type: self.event_type,
            timestamp: truncate_to_micros(self.timestamp),
            shop_id: self.shop_id.unwrap_or_else(|| DEFAULT_SHOP_ID.to_owned()),
            product_id: self.product_id,
            order_amount: self.order_amount,
            session_id: self.session_id,
            visitor_id: self.visitor_id,
            path: self.path,
            referrer: self.referrer,
            currency: self.currency,
            quantity: self.quantity,
            order_id: self.order_id,
            sent_at: self.sent_at.map(truncate_to_micros),
            received_at: truncate_to_micros(received_at),
            traffic: Traffic::default(),
        }
    }
}

/// An event as a client sent it, borrowed from the request body: the fast path for valid
/// events.
///
/// Only plain events deserialize into it: a JSON object of known fields, each at most once,
/// with the JSON types of docs/API.md, and strings without escapes (they borrow from the body).
/// Anything else fails to deserialize, [`WireEvent::validate`] gives up on the first broken
/// rule, and in both cases the caller falls back to [`Event::from_json`], which lists every
/// error. So the fast path only ever accepts what `from_json` accepts, as the same event
/// (property tests check it).
#[derive(Debug)]
pub struct WireEvent<'a>(WireFields<'a>);

impl<'de: 'a, 'a> Deserialize<'de> for WireEvent<'a> {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        deserialize_object(deserializer).map(WireEvent)
    }
}

/// Like `serde_json::from_slice`, but only a JSON object deserializes: serde's derived structs
/// also take an array of their fields' values, which no client may send.
pub fn from_json_object<'a, T: Deserialize<'a>>(json: &'a [u8]) -> serde_json::Result<T> {
    let mut deserializer = serde_json::Deserializer::from_slice(json);
    let value = deserialize_object(&mut deserializer)?;
    deserializer.end()?;
    Ok(value)
}

fn deserialize_object<'de, D: Deserializer<'de>, T: Deserialize<'de>>(
    deserializer: D,
) -> Result<T, D::Error> {
    struct ObjectOnly<T>(PhantomData<T>);

    impl<'de, T: Deserialize<'de>> Visitor<'de> for ObjectOnly<T> {
        type Value = T;

        fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
            formatter.write_str("a JSON object")
        }

        fn visit_map<A: MapAccess<'de>>(self, map: A) -> Result<T, A::Error> {
            T::deserialize(MapAccessDeserializer::new(map))
        }
    }

    deserializer.deserialize_map(ObjectOnly(PhantomData))
}

/// The fields of a [`WireEvent`].
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct WireFields<'a> {
    #[serde(borrow)]
    event_type: Option<&'a str>,
    #[serde(borrow)]
    timestamp: Option<&'a str>,
    #[serde(borrow)]
    product_id: Option<&'a str>,
    order_amount: Option<f64>,
    #[serde(borrow)]
    event_id: Option<&'a str>,
    #[serde(borrow)]
    shop_id: Option<&'a str>,
    #[serde(borrow)]
    session_id: Option<&'a str>,
    #[serde(borrow)]
    visitor_id: Option<&'a str>,
    #[serde(borrow)]
    path: Option<&'a str>,
    #[serde(borrow)]
    referrer: Option<&'a str>,
    #[serde(borrow)]
    currency: Option<&'a str>,
    quantity: Option<u64>,
    #[serde(borrow)]
    order_id: Option<&'a str>,
    #[serde(borrow)]
    sent_at: Option<&'a str>,
}

impl WireEvent<'_> {
    /// The validated event, or `None` as soon as one rule is broken (ask [`Event::from_json`]
    /// which ones).
    pub fn validate(
        &self,
        received_at: DateTime<Utc>,
        rules: &EventRules,
        new_id: impl FnOnce() -> String,
    ) -> Option<Event> {
        let WireEvent(fields) = self;
        let event_type = parse_event_type(fields.event_type?).ok()?;
        let timestamp = parse_time(fields.timestamp?).ok()?;
        let sent_at = fields.sent_at.map(parse_time).transpose().ok()?;
        let order_amount = fields.order_amount.map(check_amount).transpose().ok()?;
        if event_type == EventType::Purchase && order_amount.is_none() {
            return None;
        }
        let timestamp = stored_time(timestamp, sent_at, received_at, rules).ok()?;
        let event_id = keep(fields.event_id, |t| check_id(t, 64))?;
        let shop_id = keep(fields.shop_id, check_shop_id)?;
        let product_id = keep(fields.product_id, |t| check_id(t, 128))?;
        let session_id = keep(fields.session_id, |t| check_id(t, 128))?;
        let visitor_id = keep(fields.visitor_id, |t| check_id(t, 128))?;
        let path = keep(fields.path, |t| check_text(t, 0, 2048))?;
        let referrer = keep(fields.referrer, |t| check_text(t, 0, 2048))?;
        let currency = keep(fields.currency, check_currency)?;
        let quantity = fields.quantity.map(check_quantity).transpose().ok()?;
        let order_id = keep(fields.order_id, |t| check_id(t, 128))?;
        Some(
            Checked {
                event_type,
                timestamp,
                sent_at,
                event_id,
                shop_id,
                product_id,
                order_amount,
                session_id,
                visitor_id,
                path,
                referrer,
                currency,
                quantity,
                order_id,
            }
            .into_event(received_at, new_id),
        )
    }
}

impl Event {
    /// The fast path of [`Event::from_json`] for the JSON text of one event: `Some` only for an
    /// event that `from_json` accepts, and then the same event. `None` says nothing about why:
    /// parse the text into a `Value` and ask `from_json`.
    pub fn from_valid_json(
        json: &[u8],
        received_at: DateTime<Utc>,
        rules: &EventRules,
        new_id: impl FnOnce() -> String,
    ) -> Option<Event> {
        serde_json::from_slice::<WireEvent>(json)
            .ok()?
            .validate(received_at, rules, new_id)
    }
}

/// `Some(None)` for an absent field, `Some(Some(text))` for one that keeps `rule`, `None` for
/// one that breaks it.
fn keep<E>(
    value: Option<&str>,
    rule: impl FnOnce(&str) -> Result<(), E>,
) -> Option<Option<String>> {
    match value {
        None => Some(None),
        Some(text) => rule(text).ok().map(|()| Some(text.to_owned())),
    }
}

// The rules, shared by `from_json` and the fast path; each error is the message a client reads.

const AMOUNT_REQUIRED: &str = "is required for a purchase";

fn parse_event_type(name: &str) -> Result<EventType, &'static str> {
    EventType::parse(name).ok_or("must be one of page_view, add_to_cart, purchase")
}

fn parse_time(text: &str) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 time with an offset, such as 2025-10-02T10:30:00Z")
}

/// The time stored: `timestamp` corrected for the client's clock, `timestamp + (received −
/// sent)`, within the window of [`check_window`].
fn stored_time(
    timestamp: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    rules: &EventRules,
) -> Result<DateTime<Utc>, String> {
    let corrected = match sent_at {
        Some(sent_at) => timestamp.checked_add_signed(received_at.signed_duration_since(sent_at)),
        None => Some(timestamp),
    };
    match corrected {
        Some(time) => check_window(time, received_at, rules),
        None => Err("is out of range after correcting for sent_at".into()),
    }
}

/// A stored time may lie at most [`MAX_FUTURE`] after its arrival and at most
/// `MAX_EVENT_AGE` before it: a year-1 or year −7973 time (a `sent_at` far in the future)
/// would otherwise be stored and break every all-time series.
fn check_window(
    time: DateTime<Utc>,
    received_at: DateTime<Utc>,
    rules: &EventRules,
) -> Result<DateTime<Utc>, String> {
    if time > received_at + MAX_FUTURE {
        return Err("is more than 24 hours in the future (after correcting for sent_at)".into());
    }
    let oldest = received_at.checked_sub_signed(rules.max_age);
    if oldest.is_some_and(|oldest| time < oldest) {
        return Err(format!(
            "is more than {} days in the past (MAX_EVENT_AGE, after correcting for sent_at)",
            rules.max_age.num_days()
        ));
    }
    Ok(time)
}

/// An id: 1 to `max` code points, no control or format characters (category Cf: U+202E
/// turns text around on screen, U+200B hides itself, so two ids that look alike would be
/// different shops' products in a report).
fn check_id(text: &str, max: usize) -> Result<(), String> {
    check_text(text, 1, max)?;
    if text.chars().any(is_format_char) {
        return Err(
            "must not contain invisible formatting characters (Unicode category Cf)".into(),
        );
    }
    Ok(())
}

/// Unicode's general category Cf ("format"), as of Unicode 15.1. Written out rather than
/// taken from a crate: it is short, and it changes rarely.
pub fn is_format_char(c: char) -> bool {
    matches!(
        c,
        '\u{00AD}'
            | '\u{0600}'..='\u{0605}'
            | '\u{061C}'
            | '\u{06DD}'
            | '\u{070F}'
            | '\u{0890}'..='\u{0891}'
            | '\u{08E2}'
            | '\u{180E}'
            | '\u{200B}'..='\u{200F}'
            | '\u{202A}'..='\u{202E}'
            | '\u{2060}'..='\u{2064}'
            | '\u{2066}'..='\u{206F}'
            | '\u{FEFF}'
            | '\u{FFF9}'..='\u{FFFB}'
            | '\u{110BD}'
            | '\u{110CD}'
            | '\u{13430}'..='\u{1343F}'
            | '\u{1BCA0}'..='\u{1BCA3}'
            | '\u{1D173}'..='\u{1D17A}'
            | '\u{E0001}'
            | '\u{E0020}'..='\u{E007F}'
    )
}

/// Between `min` and `max` code points (`min` 0: at most `max`), no control characters.
fn check_text(text: &str, min: usize, max: usize) -> Result<(), String> {
    let length = text.chars().count();
    if length < min || length > max {
        let rule = if min == 0 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min}-{max} characters")
        };
        return Err(format!("{rule}, got {length}"));
    }
    if text.chars().any(char::is_control) {
        return Err("must not contain control characters".to_owned());
    }
    Ok(())
}

fn check_shop_id(text: &str) -> Result<(), &'static str> {
    let length = text.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=64).contains(&length) && text.chars().all(allowed) {
        Ok(())
    } else {
        Err("must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")
    }
}

fn check_currency(text: &str) -> Result<(), &'static str> {
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err("must be an ISO 4217 code of 3 upper-case letters, such as EUR")
    }
}

const AMOUNT_RULE: &str = "must be a finite number from 0 to 1000000000";

fn check_amount(amount: f64) -> Result<f64, &'static str> {
    if amount.is_finite() && (0.0..=AMOUNT_MAX).contains(&amount) {
        Ok(amount)
    } else {
        Err(AMOUNT_RULE)
    }
}

const QUANTITY_RULE: &str = "must be a whole number from 1 to 100000";

fn check_quantity(quantity: u64) -> Result<u32, &'static str> {
    if (1..=QUANTITY_MAX).contains(&quantity) {
        u32::try_from(quantity).map_err(|_| QUANTITY_RULE)
    } else {
        Err(QUANTITY_RULE)
    }
}

/// The fields of one object being validated, and the errors found so far.
struct Fields {
    object: Map<String, Value>,
    errors: Vec<FieldError>,
}

impl Fields {
    fn error(&mut self, field: &str, message: &str) {
        self.errors.push(FieldError::new(field, message));
    }

    fn has_error(&self, field: &str) -> bool {
        self.errors.iter().any(|e| e.field == field)
    }

    fn refuse_unknown(&mut self) {
        let mut unknown: Vec<String> = self
            .object
            .keys()
            .filter(|k| !KNOWN_FIELDS.contains(&k.as_str()))
            .cloned()
            .collect();
        unknown.sort();
        for name in unknown {
            self.errors
                .push(FieldError::new(name, "is not a known field"));
        }
    }

    /// The value of a field; `null` counts as absent.
    fn take(&mut self, name: &str) -> Option<Value> {
        self.object.remove(name).filter(|v| !v.is_null())
    }

    fn string(&mut self, name: &str) -> Option<String> {
        match self.take(name)? {
            Value::String(s) => Some(s),
            other => {
                self.error(
                    name,
                    &format!("must be a string, not {}", json_type(&other)),
                );
                None
            }
        }
    }

    fn required_string(&mut self, name: &str) -> Option<String> {
        let present = self.object.get(name).is_some_and(|v| !v.is_null());
        if !present {
            self.error(name, "is required");
            return None;
        }
        self.string(name)
    }

    /// `value` if it keeps `rule`; otherwise the rule's message is recorded for `name`.
    fn checked<T, E: AsRef<str>>(&mut self, name: &str, value: Result<T, E>) -> Option<T> {
        value
            .map_err(|message| self.error(name, message.as_ref()))
            .ok()
    }

    fn optional_text(&mut self, name: &str, min: usize, max: usize) -> Option<String> {
        let text = self.string(name)?;
        let rule = check_text(&text, min, max);
        self.checked(name, rule.map(|()| text))
    }

    fn optional_id(&mut self, name: &str, max: usize) -> Option<String> {
        let text = self.string(name)?;
        let rule = check_id(&text, max);
        self.checked(name, rule.map(|()| text))
    }

    fn optional_shop_id(&mut self, name: &str) -> Option<String> {
        let text = self.string(name)?;
        let rule = check_shop_id(&text);
        self.checked(name, rule.map(|()| text))
    }

    fn optional_currency(&mut self, name: &str) -> Option<String> {
        let text = self.string(name)?;
        let rule = check_currency(&text);
        self.checked(name, rule.map(|()| text))
    }

    fn required_time(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let text = self.required_string(name)?;
        self.checked(name, parse_time(&text))
    }

    fn optional_time(&mut self, name: &str) -> Option<DateTime<Utc>> {
        let text = self.string(name)?;
        self.checked(name, parse_time(&text))
    }

    fn number(&mut self, name: &str) -> Option<serde_json::Number> {
        match self.take(name)? {
            Value::Number(n) => Some(n),
            other => {
                self.error(
                    name,
                    &format!("must be a number, not {}", json_type(&other)),
                );
                None
            }
        }
    }

    fn optional_amount(&mut self, name: &str) -> Option<f64> {
        let number = self.number(name)?;
        let amount = number.as_f64().ok_or(AMOUNT_RULE).and_then(check_amount);
        self.checked(name, amount)
    }

    fn optional_quantity(&mut self, name: &str) -> Option<u32> {
        let number = self.number(name)?;
        let quantity = number
            .as_u64()
            .ok_or(QUANTITY_RULE)
            .and_then(check_quantity);
        self.checked(name, quantity)
    }
}

/// A JSON text parsed into a `Value`, with the path of every key given twice in one object
/// (`shop_id`, `events[3].shop_id`).
#[derive(Debug)]
pub struct ParsedJson {
    pub value: Value,
    pub duplicates: Vec<String>,
}

/// The message for a field given twice.
pub const DUPLICATE_FIELD: &str = "is given more than once";

/// Parses JSON as `serde_json::from_slice::<Value>` does (the same nesting limit, the same
/// errors), but notices keys given twice in one object, which a `Value` silently collapses
/// to the last one: `{"shop_id":"a","shop_id":"victim"}` must be refused, not read as
/// "victim" here and as "a" by another parser.
pub fn parse_json(bytes: &[u8]) -> serde_json::Result<ParsedJson> {
    let duplicates = RefCell::new(Vec::new());
    let mut deserializer = serde_json::Deserializer::from_slice(bytes);
    let value = StrictValue {
        path: String::new(),
        duplicates: &duplicates,
    }
    .deserialize(&mut deserializer)?;
    deserializer.end()?;
    Ok(ParsedJson {
        value,
        duplicates: duplicates.into_inner(),
    })
}

/// Builds a `Value` at `path`, recording duplicate keys.
struct StrictValue<'d> {
    path: String,
    duplicates: &'d RefCell<Vec<String>>,
}

impl<'de> DeserializeSeed<'de> for StrictValue<'_> {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Value, D::Error> {
        deserializer.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for StrictValue<'_> {
    type Value = Value;

    fn expecting(&self, formatter: &mut fmt::Formatter) -> fmt::Result {
        formatter.write_str("any valid JSON value")
    }

    fn visit_bool<E>(self, value: bool) -> Result<Value, E> {
        Ok(Value::Bool(value))
    }

    fn visit_i64<E>(self, value: i64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_u64<E>(self, value: u64) -> Result<Value, E> {
        Ok(Value::from(value))
    }

    fn visit_f64<E>(self, value: f64) -> Result<Value, E> {
        Ok(serde_json::Number::from_f64(value).map_or(Value::Null, Value::Number))
    }

    fn visit_str<E>(self, value: &str) -> Result<Value, E> {
        Ok(Value::String(value.to_owned()))
    }

    fn visit_string<E>(self, value: String) -> Result<Value, E> {
        Ok(Value::String(value))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        loop {
            let item = StrictValue {
                path: format!("{}[{}]", self.path, items.len()),
                duplicates: self.duplicates,
            };
            match seq.next_element_seed(item)? {
                Some(value) => items.push(value),
                None => return Ok(Value::Array(items)),
            }
        }
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut object = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let path = if self.path.is_empty() {
                key.clone()
            } else {
                format!("{}.{key}", self.path)
            };
            let value = map.next_value_seed(StrictValue {
                path: path.clone(),
                duplicates: self.duplicates,
            })?;
            if object.insert(key, value).is_some() {
                self.duplicates.borrow_mut().push(path);
            }
        }
        Ok(Value::Object(object))
    }
}

fn json_type(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// Serde for required UTC times in the transport format.
mod utc_micros {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &DateTime<Utc>, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&super::format_utc(time))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<DateTime<Utc>, D::Error> {
        let text = String::deserialize(d)?;
        DateTime::parse_from_rfc3339(&text)
            .map(|t| t.with_timezone(&Utc))
            .map_err(serde::de::Error::custom)
    }
}

/// Serde for optional UTC times in the transport format.
mod utc_micros_opt {
    use chrono::{DateTime, Utc};
    use serde::{Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(time: &Option<DateTime<Utc>>, s: S) -> Result<S::Ok, S::Error> {
        match time {
            Some(time) => super::utc_micros::serialize(time, s),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<DateTime<Utc>>, D::Error> {
        let text = Option::<String>::deserialize(d)?;
        text.map(|text| {
            DateTime::parse_from_rfc3339(&text)
                .map(|t| t.with_timezone(&Utc))
                .map_err(serde::de::Error::custom)
        })
        .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn received() -> DateTime<Utc> {
        "2025-10-02T12:00:00Z".parse().expect("valid time")
    }

    fn parse(value: Value) -> Result<Event, Vec<FieldError>> {
        Event::from_json(value, received(), || "server-id".to_owned())
    }

    fn errors_for(value: Value) -> Vec<(String, String)> {
        parse(value)
            .expect_err("should be refused")
            .into_iter()
            .map(|e| (e.field, e.message))
            .collect()
    }

    fn fields_in_error(value: Value) -> Vec<String> {
        errors_for(value)
            .into_iter()
            .map(|(field, _)| field)
            .collect()
    }

    fn page_view() -> Value {
        json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z", "product_id": "prod-123"})
    }

    fn with(mut base: Value, field: &str, value: Value) -> Value {
        base[field] = value;
        base
    }

    #[test]
    fn the_original_requests_are_accepted() {
        let event = parse(page_view()).expect("valid");
        assert_eq!(event.event_type, EventType::PageView);
        assert_eq!(event.product_id.as_deref(), Some("prod-123"));
        assert_eq!(event.shop_id, "default");
        assert_eq!(event.event_id, "server-id");
        let purchase = json!({"event_type": "purchase", "timestamp": "2025-10-02T10:40:00Z",
            "product_id": "prod-123", "order_amount": 99.99});
        assert_eq!(parse(purchase).expect("valid").order_amount, Some(99.99));
    }

    #[test]
    fn every_extension_field_is_kept() {
        let value = json!({"event_type": "purchase", "timestamp": "2025-10-02T10:40:00+02:00",
            "order_amount": 10, "event_id": "e-1", "shop_id": "shop.one_2-x", "session_id": "s",
            "visitor_id": "v", "path": "/p", "referrer": "https://x", "currency": "EUR",
            "quantity": 3, "order_id": "o-1"});
        let event = parse(value).expect("valid");
        assert_eq!(event.event_id, "e-1");
        assert_eq!(event.shop_id, "shop.one_2-x");
        assert_eq!(
            event.timestamp,
            "2025-10-02T08:40:00Z"
                .parse::<DateTime<Utc>>()
                .expect("time")
        );
        assert_eq!(event.currency.as_deref(), Some("EUR"));
        assert_eq!(event.quantity, Some(3));
        assert_eq!(event.order_id.as_deref(), Some("o-1"));
    }

    #[test]
    fn every_error_is_listed_not_only_the_first() {
        let value = json!({"event_type": "purchase", "timestamp": "yesterday", "quantity": 0,
            "currency": "eur", "order_ammount": 5});
        let fields = fields_in_error(value);
        for field in [
            "order_ammount",
            "timestamp",
            "currency",
            "quantity",
            "order_amount",
        ] {
            assert!(
                fields.contains(&field.to_owned()),
                "{field} missing from {fields:?}"
            );
        }
    }

    #[test]
    fn the_body_must_be_an_object() {
        assert_eq!(fields_in_error(json!([1, 2])), ["body"]);
        assert_eq!(fields_in_error(json!("page_view")), ["body"]);
    }

    #[test]
    fn event_type_is_required_and_known() {
        assert_eq!(
            errors_for(json!({"timestamp": "2025-10-02T10:30:00Z"}))[0],
            ("event_type".into(), "is required".into())
        );
        assert_eq!(
            fields_in_error(with(page_view(), "event_type", json!("click"))),
            ["event_type"]
        );
        assert_eq!(
            fields_in_error(with(page_view(), "event_type", json!(1))),
            ["event_type"]
        );
        assert_eq!(
            fields_in_error(with(page_view(), "event_type", Value::Null)),
            ["event_type"]
        );
    }

    #[test]
    fn timestamp_needs_an_offset_and_not_the_far_future() {
        assert_eq!(
            fields_in_error(with(page_view(), "timestamp", json!("2025-10-02T10:30:00"))),
            ["timestamp"]
        );
        assert_eq!(
            fields_in_error(with(page_view(), "timestamp", json!("2025-10-02"))),
            ["timestamp"]
        );
        assert_eq!(
            fields_in_error(with(
                page_view(),
                "timestamp",
                json!("2025-10-03T12:00:01Z")
            )),
            ["timestamp"]
        );
        assert!(
            parse(with(
                page_view(),
                "timestamp",
                json!("2025-10-03T12:00:00Z")
            ))
            .is_ok()
        );
        let fractional = parse(with(
            page_view(),
            "timestamp",
            json!("2025-10-02T10:30:00.123456789-05:30"),
        ))
        .expect("valid");
        assert_eq!(
            format_utc(&fractional.timestamp),
            "2025-10-02T16:00:00.123456Z"
        );
    }

    #[test]
    fn sent_at_corrects_the_clients_clock_skew() {
        // The client's clock is 1 h behind: it says it sent at 11:00 what arrived at 12:00.
        let value = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:59:00Z", "sent_at": "2025-10-02T11:00:00Z"});
        let event = parse(value).expect("valid");
        assert_eq!(format_utc(&event.timestamp), "2025-10-02T11:59:00.000000Z");
        // The future limit applies to the corrected time.
        let ahead = json!({"event_type": "page_view", "timestamp": "2025-10-03T11:00:00Z", "sent_at": "2025-10-02T10:00:00Z"});
        assert_eq!(fields_in_error(ahead), ["timestamp"]);
        assert_eq!(
            fields_in_error(with(page_view(), "sent_at", json!("soon"))),
            ["sent_at"]
        );
    }

    #[test]
    fn product_id_is_one_to_128_characters_without_control_characters() {
        assert_eq!(
            fields_in_error(with(page_view(), "product_id", json!(""))),
            ["product_id"]
        );
        assert_eq!(
            fields_in_error(with(page_view(), "product_id", json!("x".repeat(129)))),
            ["product_id"]
        );
        assert!(
            parse(with(page_view(), "product_id", json!("é".repeat(128)))).is_ok(),
            "code points, not bytes"
        );
        assert_eq!(
            fields_in_error(with(page_view(), "product_id", json!("a\nb"))),
            ["product_id"]
        );
        assert_eq!(
            fields_in_error(with(page_view(), "product_id", json!(123))),
            ["product_id"]
        );
        assert!(
            parse(with(page_view(), "product_id", Value::Null))
                .expect("null is absent")
                .product_id
                .is_none()
        );
    }

    #[test]
    fn order_amount_is_required_for_purchases_and_bounded() {
        let purchase = json!({"event_type": "purchase", "timestamp": "2025-10-02T10:40:00Z"});
        assert_eq!(
            errors_for(purchase.clone()),
            [("order_amount".into(), "is required for a purchase".into())]
        );
        assert_eq!(
            fields_in_error(with(purchase.clone(), "order_amount", Value::Null)),
            ["order_amount"]
        );
        assert_eq!(
            fields_in_error(with(purchase.clone(), "order_amount", json!(-0.01))),
            ["order_amount"]
        );
        assert_eq!(
            fields_in_error(with(purchase.clone(), "order_amount", json!(1e9 + 1.0))),
            ["order_amount"]
        );
        assert_eq!(
            fields_in_error(with(purchase.clone(), "order_amount", json!("9.99"))),
            ["order_amount"]
        );
        assert!(parse(with(purchase.clone(), "order_amount", json!(0))).is_ok());
        assert!(parse(with(purchase, "order_amount", json!(1e9))).is_ok());
        assert!(
            parse(with(page_view(), "order_amount", json!(5))).is_ok(),
            "optional elsewhere"
        );
    }

    #[test]
    fn event_id_is_one_to_64_characters() {
        assert_eq!(
            fields_in_error(with(page_view(), "event_id", json!(""))),
            ["event_id"]
        );
        assert_eq!(
            fields_in_error(with(page_view(), "event_id", json!("x".repeat(65)))),
            ["event_id"]
        );
        assert_eq!(
            parse(with(page_view(), "event_id", json!("x".repeat(64))))
                .expect("valid")
                .event_id
                .len(),
            64
        );
    }

    #[test]
    fn shop_id_allows_a_restricted_alphabet() {
        for bad in ["", "shop one", "shop/1", "ü", &"s".repeat(65)] {
            assert_eq!(
                fields_in_error(with(page_view(), "shop_id", json!(bad))),
                ["shop_id"],
                "{bad:?}"
            );
        }
        assert!(parse(with(page_view(), "shop_id", json!("A-z_0.9"))).is_ok());
    }

    #[test]
    fn session_and_visitor_ids_are_one_to_128_characters() {
        for field in ["session_id", "visitor_id"] {
            assert_eq!(
                fields_in_error(with(page_view(), field, json!(""))),
                [field]
            );
            assert_eq!(
                fields_in_error(with(page_view(), field, json!("v".repeat(129)))),
                [field]
            );
            assert!(parse(with(page_view(), field, json!("v".repeat(128)))).is_ok());
        }
    }

    #[test]
    fn path_and_referrer_are_at_most_2048_characters() {
        for field in ["path", "referrer"] {
            assert_eq!(
                fields_in_error(with(page_view(), field, json!("p".repeat(2049)))),
                [field]
            );
            assert!(parse(with(page_view(), field, json!("p".repeat(2048)))).is_ok());
        }
    }

    #[test]
    fn currency_is_three_upper_case_letters() {
        for bad in ["eur", "EURO", "E1R", "€UR"] {
            assert_eq!(
                fields_in_error(with(page_view(), "currency", json!(bad))),
                ["currency"],
                "{bad:?}"
            );
        }
    }

    #[test]
    fn quantity_is_a_whole_number_from_1_to_100000() {
        for bad in [json!(0), json!(100_001), json!(1.5), json!(-1), json!("2")] {
            assert_eq!(
                fields_in_error(with(page_view(), "quantity", bad.clone())),
                ["quantity"],
                "{bad}"
            );
        }
        assert_eq!(
            parse(with(page_view(), "quantity", json!(100_000)))
                .expect("valid")
                .quantity,
            Some(100_000)
        );
    }

    #[test]
    fn order_id_is_one_to_128_characters() {
        assert_eq!(
            fields_in_error(with(page_view(), "order_id", json!(""))),
            ["order_id"]
        );
        assert_eq!(
            fields_in_error(with(page_view(), "order_id", json!("o".repeat(129)))),
            ["order_id"]
        );
    }

    #[test]
    fn unknown_fields_are_refused_by_name() {
        assert_eq!(
            errors_for(with(page_view(), "order_ammount", json!(1))),
            [("order_ammount".into(), "is not a known field".into())]
        );
    }

    #[test]
    fn the_fast_path_takes_objects_only() {
        let text = br#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z"}"#;
        let rules = EventRules::default();
        assert!(Event::from_valid_json(text, received(), &rules, || "id".to_owned()).is_some());
        // serde's derived structs would take the fields' values in order, as an array.
        let mut values = vec![json!(null); KNOWN_FIELDS.len()];
        values[0] = json!("page_view");
        values[1] = json!("2025-10-02T10:30:00Z");
        let array = Value::Array(values).to_string();
        assert!(
            Event::from_valid_json(array.as_bytes(), received(), &rules, || "id".to_owned())
                .is_none()
        );
        assert_eq!(
            fields_in_error(serde_json::from_str(&array).expect("JSON")),
            ["body"]
        );
    }

    #[test]
    fn the_transport_json_round_trips() {
        let value = json!({"event_type": "purchase", "timestamp": "2025-10-02T10:40:00Z", "order_amount": 99.99,
            "currency": "EUR", "sent_at": "2025-10-02T10:40:00Z"});
        let event = parse(value).expect("valid");
        let json = event.to_json();
        assert!(
            json.contains("\"received_at\":\"2025-10-02T12:00:00.000000Z\""),
            "{json}"
        );
        let decoded = Event::from_transport(&json, &EventRules::default()).expect("decodes");
        assert_eq!(decoded, event);
    }

    #[test]
    fn a_stored_time_older_than_max_event_age_is_refused() {
        // Year 1 would make every all-time series longer than 5000 buckets.
        assert_eq!(
            fields_in_error(with(
                page_view(),
                "timestamp",
                json!("0001-01-01T00:00:00Z")
            )),
            ["timestamp"]
        );
        // A far-future sent_at moves the corrected time to year −7973.
        let skewed = with(page_view(), "sent_at", json!("9999-12-31T23:59:59Z"));
        assert_eq!(fields_in_error(skewed), ["timestamp"]);
        assert!(
            parse(with(
                page_view(),
                "timestamp",
                json!("2016-01-01T00:00:00Z")
            ))
            .is_ok()
        );
        let strict = EventRules::with_max_age(std::time::Duration::from_secs(86_400));
        let two_days_old = with(page_view(), "timestamp", json!("2025-09-30T12:00:00Z"));
        let refused = Event::from_json_with(two_days_old, received(), &strict, || "id".into());
        assert_eq!(refused.expect_err("too old")[0].field, "timestamp");
    }

    #[test]
    fn ids_refuse_unicode_format_characters() {
        for field in [
            "event_id",
            "product_id",
            "session_id",
            "visitor_id",
            "order_id",
        ] {
            for bad in [
                "evil\u{202E}gnp.exe",
                "\u{200B}id",
                "\u{FEFF}",
                "a\u{2066}b",
            ] {
                assert_eq!(
                    fields_in_error(with(page_view(), field, json!(bad))),
                    [field],
                    "{field} {bad:?}"
                );
            }
        }
        assert!(parse(with(page_view(), "product_id", json!("Crème brûlée"))).is_ok());
    }

    #[test]
    fn a_field_given_twice_is_found_with_its_path() {
        let parsed = parse_json(br#"{"shop_id":"a","shop_id":"victim"}"#).expect("JSON");
        assert_eq!(parsed.duplicates, ["shop_id"]);
        let batch = br#"{"events":[{"a":1},{"b":{"c":1,"c":2},"b":3}]}"#;
        assert_eq!(
            parse_json(batch).expect("JSON").duplicates,
            ["events[1].b.c", "events[1].b"]
        );
        assert!(parse_json(b"{} x").is_err());
        let text = br#"{"event_type":"page_view","timestamp":"2025-10-02T10:30:00Z","shop_id":"a","shop_id":"b"}"#;
        assert!(
            Event::from_valid_json(text, received(), &EventRules::default(), || "id".into())
                .is_none()
        );
    }

    #[test]
    fn the_transport_decoder_checks_every_rule_again() {
        let event = parse(json!({"event_type": "purchase", "timestamp": "2025-10-02T10:40:00Z", "order_amount": 5})).expect("valid");
        let mut value: Value = serde_json::from_str(&event.to_json()).expect("JSON");
        value["order_amount"] = json!(-1_000_000);
        value["product_id"] = json!("p\u{202E}");
        let error =
            Event::from_transport(&value.to_string(), &EventRules::default()).expect_err("invalid");
        assert!(error.contains("order_amount"), "{error}");
        assert!(error.contains("product_id"), "{error}");
        let mut old = serde_json::from_str::<Value>(&event.to_json()).expect("JSON");
        old["timestamp"] = json!("0001-01-01T00:00:00Z");
        assert!(Event::from_transport(&old.to_string(), &EventRules::default()).is_err());
    }

    #[test]
    fn broken_transport_json_is_reported() {
        let rules = EventRules::default();
        assert!(Event::from_transport("not json", &rules).is_err());
        assert!(Event::from_transport(r#"{"event_type":"page_view"}"#, &rules).is_err());
        let purchase_without_amount = r#"{"event_id":"e","event_type":"purchase","timestamp":"2025-10-02T10:40:00Z","shop_id":"s","received_at":"2025-10-02T10:40:00Z"}"#;
        assert!(Event::from_transport(purchase_without_amount, &rules).is_err());
    }
}
