//! The fast path: a typed view of one event borrowed from the request body, checking the
//! rules of the full validator and giving up on the first broken one.

use std::fmt;
use std::marker::PhantomData;

use chrono::{DateTime, Utc};
use serde::de::value::MapAccessDeserializer;
use serde::de::{MapAccess, Visitor};
use serde::{Deserialize, Deserializer};

use super::event_type::EventType;
use super::model::{Checked, Event, Submitted};
use super::rules::{
    EventRules, check_amount, check_currency, check_id, check_quantity, check_shop_id, check_text,
    check_url, check_user_agent, check_utm, parse_event_type, parse_ip, parse_time, stored_time,
};
use crate::traffic::Utm;

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
    #[serde(borrow)]
    url: Option<&'a str>,
    #[serde(borrow)]
    utm_source: Option<&'a str>,
    #[serde(borrow)]
    utm_medium: Option<&'a str>,
    #[serde(borrow)]
    utm_campaign: Option<&'a str>,
    #[serde(borrow)]
    utm_term: Option<&'a str>,
    #[serde(borrow)]
    utm_content: Option<&'a str>,
    #[serde(borrow)]
    user_agent: Option<&'a str>,
    #[serde(borrow)]
    ip: Option<&'a str>,
}

impl WireEvent<'_> {
    /// The validated event, or `None` as soon as one rule is broken (ask [`Event::from_json`]
    /// which ones).
    pub fn validate(
        &self,
        received_at: DateTime<Utc>,
        rules: &EventRules,
        new_id: impl FnOnce() -> String,
    ) -> Option<Submitted> {
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
        let url = keep(fields.url, check_url)?;
        let utm = Utm {
            source: keep(fields.utm_source, check_utm)?,
            medium: keep(fields.utm_medium, check_utm)?,
            campaign: keep(fields.utm_campaign, check_utm)?,
            term: keep(fields.utm_term, check_utm)?,
            content: keep(fields.utm_content, check_utm)?,
        };
        let user_agent = keep(fields.user_agent, check_user_agent)?;
        let ip = fields.ip.map(parse_ip).transpose().ok()?;
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
                url,
                utm,
                user_agent,
                ip,
            }
            .into_submitted(received_at, new_id),
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
        Submitted::from_valid_json(json, received_at, rules, new_id).map(|s| s.event)
    }
}

impl Submitted {
    /// [`Event::from_valid_json`], keeping the shopper's user agent and IP.
    pub fn from_valid_json(
        json: &[u8],
        received_at: DateTime<Utc>,
        rules: &EventRules,
        new_id: impl FnOnce() -> String,
    ) -> Option<Submitted> {
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
