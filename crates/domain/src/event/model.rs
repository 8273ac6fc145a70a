//! The model: a field error, the checked [`Event`] with its derived
//! [`Traffic`], and what an `Event` does once built (its transport JSON, the rules checked
//! again on the way out of Redis).

use std::net::IpAddr;

use chrono::{DateTime, SecondsFormat, Utc};
use serde::{Deserialize, Serialize};

use super::event_type::EventType;
use super::json::{utc_micros, utc_micros_opt};
use super::rules::{
    AMOUNT_REQUIRED, Broken, DEFAULT_SHOP_ID, EventRules, check_amount, check_currency, check_id,
    check_quantity, check_shop_id, check_text, check_window,
};
use crate::money;
use crate::traffic::{self, Utm, url};

/// Why a stream entry's event cannot be stored.
#[derive(Debug, thiserror::Error)]
pub enum TransportError {
    #[error("undecodable event: {0}")]
    Undecodable(#[source] serde_json::Error),
    #[error("invalid event: {}", listed(.0))]
    Invalid(Vec<FieldError>),
}

fn listed(errors: &[FieldError]) -> String {
    let listed: Vec<String> = errors
        .iter()
        .map(|e| format!("{}: {}", e.field, e.message))
        .collect();
    listed.join("; ")
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
    /// The event as the JSON carried by the stream entry and the channel message.
    pub fn to_json(&self) -> String {
        // Serializing plain strings, numbers and enums cannot fail.
        serde_json::to_string(self).unwrap_or_default()
    }

    /// Reads an event back from its transport JSON and validates it again exactly as ingestion
    /// did (the consumer must not store what ingestion would refuse, whoever wrote the entry).
    /// The error names every broken rule.
    pub fn from_transport(json: &str, rules: &EventRules) -> Result<Event, TransportError> {
        let event: Event = serde_json::from_str(json).map_err(TransportError::Undecodable)?;
        let errors = event.broken_rules(rules);
        if errors.is_empty() {
            Ok(event)
        } else {
            Err(TransportError::Invalid(errors))
        }
    }

    /// The rules of [`Event::from_json`] applied to an event already built, with the same
    /// messages: the stored time against its arrival, and every field.
    pub fn broken_rules(&self, rules: &EventRules) -> Vec<FieldError> {
        let mut errors = Vec::new();
        let mut check = |field: &str, result: Result<(), Broken>| {
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
pub(super) struct Checked {
    pub(super) event_type: EventType,
    /// Already corrected for the client's clock.
    pub(super) timestamp: DateTime<Utc>,
    pub(super) sent_at: Option<DateTime<Utc>>,
    pub(super) event_id: Option<String>,
    pub(super) shop_id: Option<String>,
    pub(super) product_id: Option<String>,
    pub(super) order_amount: Option<f64>,
    pub(super) session_id: Option<String>,
    pub(super) visitor_id: Option<String>,
    pub(super) path: Option<String>,
    pub(super) referrer: Option<String>,
    pub(super) currency: Option<String>,
    pub(super) quantity: Option<u32>,
    pub(super) order_id: Option<String>,
    pub(super) url: Option<String>,
    pub(super) utm: Utm,
    pub(super) user_agent: Option<String>,
    pub(super) ip: Option<IpAddr>,
}

impl Checked {
    /// The event as stored: the server's id and the default shop where the client sent none,
    /// times cut to the microseconds the store keeps, where it came from derived from
    /// its URL, referrer and `utm_*`; and the shopper's user agent and IP, which are not
    /// stored.
    ///
    /// `url` fills the `utm_*` fields the event lacks and its `path` when absent; `path` and
    /// `referrer` are kept without query string or fragment. `url` itself, `utm_term` and
    /// `utm_content` are dropped here: they are not dimensions.
    pub(super) fn into_submitted(
        mut self,
        received_at: DateTime<Utc>,
        new_id: impl FnOnce() -> String,
    ) -> Submitted {
        if let Some(page_url) = &self.url {
            self.utm.fill_from_url(page_url);
        }
        let traffic = traffic::where_from(self.url.as_deref(), self.referrer.as_deref(), &self.utm);
        let path = match (self.path, &self.url) {
            (Some(path), _) => Some(url::without_query(&path).to_owned()),
            (None, Some(page_url)) => Some(url::path(page_url).to_owned()),
            (None, None) => None,
        };
        let referrer = self
            .referrer
            .map(|referrer| url::without_query(&referrer).to_owned());
        let event = Event {
            event_id: self.event_id.unwrap_or_else(new_id),
            event_type: self.event_type,
            timestamp: truncate_to_micros(self.timestamp),
            shop_id: self.shop_id.unwrap_or_else(|| DEFAULT_SHOP_ID.to_owned()),
            product_id: self.product_id,
            order_amount: self.order_amount,
            session_id: self.session_id,
            visitor_id: self.visitor_id,
            path,
            referrer,
            currency: self.currency,
            quantity: self.quantity,
            order_id: self.order_id,
            sent_at: self.sent_at.map(truncate_to_micros),
            received_at: truncate_to_micros(received_at),
            traffic,
        };
        Submitted {
            event,
            shopper: Shopper {
                user_agent: self.user_agent.filter(|ua| !ua.is_empty()),
                ip: self.ip,
            },
        }
    }
}

/// What a sender said about the shopper's browser: used to derive device, browser, os,
/// bots, the country and the cookieless visitor id, and never stored.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Shopper {
    /// `user_agent`, or for a browser's request the `User-Agent` header.
    pub user_agent: Option<String>,
    /// `ip`, or for a browser's request the connection's address.
    pub ip: Option<IpAddr>,
}

/// A valid event as a client sent it: the event to store, and the shopper's details that
/// ingestion derives from and then drops.
#[derive(Debug, Clone, PartialEq)]
pub struct Submitted {
    pub event: Event,
    pub shopper: Shopper,
}
