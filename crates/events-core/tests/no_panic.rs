//! Whatever a client sends, validation answers with an event or with field errors; it never
//! panics.

use chrono::Utc;
use events_core::event::{Event, KNOWN_FIELDS, new_event_id};
use proptest::prelude::*;
use serde_json::{Map, Value, json};

/// Every known field, a misspelt one and an empty name.
fn field_names() -> Vec<&'static str> {
    let mut names = KNOWN_FIELDS.to_vec();
    names.extend(["order_ammount", ""]);
    names
}

fn any_json() -> impl Strategy<Value = Value> {
    let leaf = prop_oneof![
        Just(Value::Null),
        any::<bool>().prop_map(Value::Bool),
        any::<i64>().prop_map(|n| json!(n)),
        any::<u64>().prop_map(|n| json!(n)),
        any::<f64>()
            .prop_filter("JSON has no NaN or infinity", |f| f.is_finite())
            .prop_map(|f| json!(f)),
        ".{0,40}".prop_map(Value::String),
        prop_oneof![
            Just("page_view"),
            Just("purchase"),
            Just("add_to_cart"),
            Just("2025-10-02T10:30:00Z"),
            Just("9999-12-31T23:59:59+14:00"),
            Just("0000-01-01T00:00:00-23:59"),
            Just("EUR"),
            Just("1970-01-01T00:00:00.999999999Z"),
        ]
        .prop_map(|s| Value::String(s.to_owned())),
    ];
    leaf.prop_recursive(3, 32, 8, |inner| {
        prop_oneof![
            prop::collection::vec(inner.clone(), 0..4).prop_map(Value::Array),
            prop::collection::vec((prop::sample::select(field_names()), inner), 0..10).prop_map(
                |pairs| {
                    Value::Object(
                        pairs
                            .into_iter()
                            .map(|(k, v)| (k.to_owned(), v))
                            .collect::<Map<_, _>>(),
                    )
                }
            ),
        ]
    })
}

/// Mostly valid events: the required fields right, the rest random.
fn nearly_valid_event() -> impl Strategy<Value = Value> {
    (
        prop::sample::select(vec!["page_view", "add_to_cart", "purchase"]),
        prop::collection::vec(
            (prop::sample::select(KNOWN_FIELDS[2..].to_vec()), any_json()),
            0..6,
        ),
        prop::option::of(0.0..1e9f64),
    )
        .prop_map(|(event_type, extras, amount)| {
            let mut object = Map::new();
            for (name, value) in extras {
                object.insert(name.to_owned(), value);
            }
            object.insert("event_type".into(), json!(event_type));
            object.insert("timestamp".into(), json!("2025-10-02T10:30:00.5+05:45"));
            if let Some(amount) = amount {
                object.insert("order_amount".into(), json!(amount));
            }
            Value::Object(object)
        })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(2000))]

    #[test]
    fn validation_never_panics(value in any_json()) {
        let _ = Event::from_json(value, Utc::now(), new_event_id);
    }

    #[test]
    fn a_valid_event_survives_the_transport(value in prop_oneof![any_json(), nearly_valid_event()]) {
        if let Ok(event) = Event::from_json(value, Utc::now(), new_event_id) {
            prop_assert_eq!(Event::from_transport(&event.to_json()), Ok(event));
        }
    }

    #[test]
    fn the_transport_decoder_never_panics(text in ".{0,200}") {
        let _ = Event::from_transport(&text);
    }
}
