//! The full validator: a JSON value into an [`Event`] or the complete list of
//! [`FieldError`]s, never only the first one.

use chrono::{DateTime, Utc};
use serde_json::{Map, Value};

use super::event_type::EventType;
use super::model::{Checked, Event, FieldError, Submitted};
use super::rules::{
    AMOUNT_REQUIRED, AMOUNT_RULE, Broken, EventRules, KNOWN_FIELDS, QUANTITY_RULE, check_amount,
    check_currency, check_id, check_quantity, check_shop_id, check_text, check_url,
    check_user_agent, check_utm, parse_event_type, parse_ip, parse_time, stored_time,
};
use crate::traffic::Utm;

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
        Submitted::from_json(value, received_at, rules, new_id).map(|submitted| submitted.event)
    }
}

impl Submitted {
    /// The full validator: [`Event::from_json_with`], keeping the shopper's user agent and IP
    /// for ingestion's derivations.
    pub fn from_json(
        value: Value,
        received_at: DateTime<Utc>,
        rules: &EventRules,
        new_id: impl FnOnce() -> String,
    ) -> Result<Submitted, Vec<FieldError>> {
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
        let url = fields.optional_checked("url", check_url);
        let mut utm = Utm::default();
        for (name, slot) in Utm::FIELDS.into_iter().zip(utm.slots()) {
            *slot = fields.optional_checked(name, check_utm);
        }
        let user_agent = fields.optional_checked("user_agent", check_user_agent);
        let ip = fields.string("ip").and_then(|text| {
            let ip = parse_ip(&text);
            fields.checked("ip", ip)
        });

        if event_type == Some(EventType::Purchase)
            && order_amount.is_none()
            && !fields.has_error("order_amount")
        {
            fields.error("order_amount", AMOUNT_REQUIRED);
        }

        let stored_time = timestamp.and_then(|timestamp| {
            stored_time(timestamp, sent_at, received_at, rules)
                .map_err(|message| fields.error("timestamp", message.as_ref()))
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
            url,
            utm,
            user_agent,
            ip,
        }
        .into_submitted(received_at, new_id))
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

    /// A text field that keeps `rule`.
    fn optional_checked(
        &mut self,
        name: &str,
        rule: impl FnOnce(&str) -> Result<(), Broken>,
    ) -> Option<String> {
        let text = self.string(name)?;
        let rule = rule(&text);
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::event::{KNOWN_FIELDS, format_utc, parse_json};
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
    fn the_attribution_fields_are_validated_with_every_error_listed() {
        let value = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z",
            "url": "/relative", "utm_source": "", "utm_medium": "x".repeat(257),
            "utm_campaign": 5, "utm_term": "a\nb", "utm_content": "", "user_agent": "u".repeat(1025),
            "ip": "999.0.0.1"});
        let mut fields = fields_in_error(value);
        fields.sort();
        assert_eq!(
            fields,
            [
                "ip",
                "url",
                "user_agent",
                "utm_campaign",
                "utm_content",
                "utm_medium",
                "utm_source",
                "utm_term"
            ]
        );
        let fine = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z",
            "url": "https://shop.example/", "utm_source": "s".repeat(256), "user_agent": "",
            "ip": "2001:db8::1"});
        assert!(parse(fine).is_ok());
    }

    #[test]
    fn the_url_fills_path_and_utm_and_is_not_kept() {
        let value = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z",
            "url": "https://shop.example/shoes?utm_source=google&utm_medium=cpc&utm_campaign=spring&email=a%40b.example#top",
            "referrer": "https://www.google.com/search?q=red+shoes", "user_agent": "Mozilla/5.0",
            "ip": "203.0.113.7", "utm_term": "red shoes"});
        let submitted =
            Submitted::from_json(value, received(), &EventRules::default(), || "id".into())
                .expect("valid");
        let event = &submitted.event;
        assert_eq!(event.path.as_deref(), Some("/shoes"));
        assert_eq!(
            event.referrer.as_deref(),
            Some("https://www.google.com/search")
        );
        assert_eq!(event.traffic.referrer_domain.as_deref(), Some("google.com"));
        assert_eq!(event.traffic.source.as_deref(), Some("Google"));
        assert_eq!(event.traffic.medium.as_deref(), Some("cpc"));
        assert_eq!(event.traffic.campaign.as_deref(), Some("spring"));
        assert_eq!(event.traffic.channel.as_deref(), Some("Paid Search"));
        assert_eq!(submitted.shopper.user_agent.as_deref(), Some("Mozilla/5.0"));
        assert_eq!(
            submitted.shopper.ip,
            Some("203.0.113.7".parse().expect("ip"))
        );
        let json = event.to_json();
        for private in [
            "a@b",
            "a%40b",
            "red",
            "Mozilla",
            "203.0.113.7",
            "utm_",
            "q=",
        ] {
            assert!(!json.contains(private), "{private} stored in {json}");
        }
    }

    #[test]
    fn a_given_path_wins_over_the_urls_and_loses_its_query() {
        let value = json!({"event_type": "page_view", "timestamp": "2025-10-02T10:30:00Z",
            "url": "https://shop.example/from-url", "path": "/given?token=secret#x"});
        assert_eq!(parse(value).expect("valid").path.as_deref(), Some("/given"));
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
        let error = Event::from_transport(&value.to_string(), &EventRules::default())
            .expect_err("invalid")
            .to_string();
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
