//! The rules, shared by the full validator and the fast path; each error is the message a
//! client reads. The limits that depend on configuration are [`EventRules`].

use chrono::{DateTime, TimeDelta, Utc};

use super::event_type::EventType;

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

pub(crate) const AMOUNT_MAX: f64 = 1e9;
pub(crate) const QUANTITY_MAX: u64 = 100_000;

/// The fields a client may send; anything else is refused so that a typo cannot pass.
pub const KNOWN_FIELDS: [&str; 22] = [
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
    "url",
    "utm_source",
    "utm_medium",
    "utm_campaign",
    "utm_term",
    "utm_content",
    "user_agent",
    "ip",
];

pub(crate) const AMOUNT_REQUIRED: &str = "is required for a purchase";

pub(crate) fn parse_event_type(name: &str) -> Result<EventType, &'static str> {
    EventType::parse(name).ok_or("must be one of page_view, add_to_cart, purchase")
}

pub(crate) fn parse_time(text: &str) -> Result<DateTime<Utc>, &'static str> {
    DateTime::parse_from_rfc3339(text)
        .map(|time| time.with_timezone(&Utc))
        .map_err(|_| "must be an RFC 3339 time with an offset, such as 2025-10-02T10:30:00Z")
}

/// The time stored: `timestamp` corrected for the client's clock, `timestamp + (received −
/// sent)`, within the window of [`check_window`].
pub(crate) fn stored_time(
    timestamp: DateTime<Utc>,
    sent_at: Option<DateTime<Utc>>,
    received_at: DateTime<Utc>,
    rules: &EventRules,
) -> Result<DateTime<Utc>, Broken> {
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
pub(crate) fn check_window(
    time: DateTime<Utc>,
    received_at: DateTime<Utc>,
    rules: &EventRules,
) -> Result<DateTime<Utc>, Broken> {
    if time > received_at + MAX_FUTURE {
        return Err("is more than 24 hours in the future (after correcting for sent_at)".into());
    }
    let oldest = received_at.checked_sub_signed(rules.max_age);
    if oldest.is_some_and(|oldest| time < oldest) {
        return Err(Broken::from(format!(
            "is more than {} days in the past (MAX_EVENT_AGE, after correcting for sent_at)",
            rules.max_age.num_days()
        )));
    }
    Ok(time)
}

/// The message of a broken rule, as a field error carries it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Broken(String);

impl From<String> for Broken {
    fn from(message: String) -> Broken {
        Broken(message)
    }
}

impl From<&str> for Broken {
    fn from(message: &str) -> Broken {
        Broken(message.to_owned())
    }
}

impl From<Broken> for String {
    fn from(broken: Broken) -> String {
        broken.0
    }
}

impl AsRef<str> for Broken {
    fn as_ref(&self) -> &str {
        &self.0
    }
}

/// An id: 1 to `max` code points, no control or format characters (category Cf: U+202E
/// turns text around on screen, U+200B hides itself, so two ids that look alike would be
/// different shops' products in a report).
pub(crate) fn check_id(text: &str, max: usize) -> Result<(), Broken> {
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
pub(crate) fn check_text(text: &str, min: usize, max: usize) -> Result<(), Broken> {
    let length = text.chars().count();
    if length < min || length > max {
        let rule = if min == 0 {
            format!("must be at most {max} characters")
        } else {
            format!("must be {min}-{max} characters")
        };
        return Err(Broken::from(format!("{rule}, got {length}")));
    }
    if text.chars().any(char::is_control) {
        return Err(Broken::from("must not contain control characters"));
    }
    Ok(())
}

pub(crate) fn check_shop_id(text: &str) -> Result<(), &'static str> {
    let length = text.chars().count();
    let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
    if (1..=64).contains(&length) && text.chars().all(allowed) {
        Ok(())
    } else {
        Err("must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'")
    }
}

pub(crate) fn check_currency(text: &str) -> Result<(), &'static str> {
    if text.len() == 3 && text.bytes().all(|b| b.is_ascii_uppercase()) {
        Ok(())
    } else {
        Err("must be an ISO 4217 code of 3 upper-case letters, such as EUR")
    }
}

pub(crate) const AMOUNT_RULE: &str = "must be a finite number from 0 to 1000000000";

pub(crate) fn check_amount(amount: f64) -> Result<f64, &'static str> {
    if amount.is_finite() && (0.0..=AMOUNT_MAX).contains(&amount) {
        Ok(amount)
    } else {
        Err(AMOUNT_RULE)
    }
}

pub(crate) const QUANTITY_RULE: &str = "must be a whole number from 1 to 100000";

pub(crate) fn check_quantity(quantity: u64) -> Result<u32, &'static str> {
    if (1..=QUANTITY_MAX).contains(&quantity) {
        u32::try_from(quantity).map_err(|_| QUANTITY_RULE)
    } else {
        Err(QUANTITY_RULE)
    }
}

/// `url`: the page's full URL, at most 2048 characters, absolute `http` or `https`.
pub(crate) fn check_url(text: &str) -> Result<(), Broken> {
    check_text(text, 1, 2048)?;
    if crate::traffic::url::is_web_url(text) {
        Ok(())
    } else {
        Err("must be an absolute http or https URL, such as https://shop.example/p".into())
    }
}

/// A `utm_*` field: 1 to 256 characters, no control characters.
pub(crate) fn check_utm(text: &str) -> Result<(), Broken> {
    check_text(text, 1, 256)
}

/// `user_agent`: at most 1024 characters, no control characters.
pub(crate) fn check_user_agent(text: &str) -> Result<(), Broken> {
    check_text(text, 0, 1024)
}

/// `ip`: an IPv4 or IPv6 address.
pub(crate) fn parse_ip(text: &str) -> Result<std::net::IpAddr, &'static str> {
    text.parse()
        .map_err(|_| "must be an IPv4 or IPv6 address, such as 203.0.113.7 or 2001:db8::1")
}
