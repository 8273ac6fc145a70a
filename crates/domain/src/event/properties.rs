//! Property tests of the two validators. Whatever a client sends, validation answers with an event or with field errors; it never
//! panics. And the fast path for valid events (`Event::from_valid_json`) accepts only what the
//! full validator accepts, as the same event, so a client cannot tell which of the two ran.

use super::{
    DUPLICATE_FIELD, Event, EventRules, FieldError, KNOWN_FIELDS, Submitted, new_event_id,
    parse_json,
};
use chrono::{DateTime, Utc};
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

/// For each known field, values that keep its rules and values that break them (or that the
/// fast path leaves to the full validator), spelt as JSON text: escapes, `null`, numbers in
/// every form JSON allows, raw control characters.
fn field_value(name: &'static str) -> impl Strategy<Value = String> {
    let (good, bad): (&[&str], &[&str]) = match name {
        "event_type" => (
            &[r#""page_view""#, r#""add_to_cart""#, r#""purchase""#],
            &[r#""click""#, r#""page\u005fview""#, "null", "1"],
        ),
        "sent_at" => (
            &[
                r#""2025-10-02T10:30:00Z""#,
                r#""2025-10-03T12:00:00.5+01:00""#,
                "null",
            ],
            &[
                r#""0000-01-01T00:00:00Z""#,
                r#""9999-12-31T23:59:59Z""#,
                r#""2025-10-02 10:30""#,
                "7",
            ],
        ),
        "timestamp" => (
            &[
                r#""2025-10-02T10:30:00Z""#,
                r#""2025-10-02T10:30:00.123456789-05:30""#,
                r#""2025-10-04T11:59:59+00:00""#,
                r#""2016-01-01T00:00:00Z""#,
            ],
            &[
                r#""0000-01-01T00:00:00-23:59""#,
                r#""0001-01-01T00:00:00Z""#,
                r#""2015-01-01T00:00:00Z""#,
                r#""2025-10-04T12:00:01Z""#,
                r#""9999-12-31T23:59:59+14:00""#,
                r#""2025-10-02T10:30:00""#,
                r#""2025-10-02""#,
                r#""2025-10-02T10:30:00\u005a""#,
                "null",
                "0",
            ],
        ),
        "order_amount" => (
            &["0", "-0", "0.0", "99.99", "1e9", "1E9", "1e-7", "2", "null"],
            &[
                "1000000000.0000001",
                "-0.01",
                "12345678901234567890",
                r#""9.99""#,
                "true",
            ],
        ),
        "quantity" => (
            &["1", "100000", "null"],
            &[
                "100001",
                "0",
                "-1",
                "2.0",
                "1e2",
                "18446744073709551616",
                r#""2""#,
            ],
        ),
        "currency" => (
            &[r#""EUR""#, "null"],
            &[r#""eur""#, r#""EURO""#, r#""E\u0055R""#, r#""€UR""#, "[]"],
        ),
        "shop_id" => (
            &[r#""shop.one_2-x""#, "null"],
            &[r#""""#, r#""shop one""#, r#""ü""#, r#""a\/b""#, "{}"],
        ),
        "url" => (
            &[
                r#""https://shop.example/p?utm_source=google&utm_medium=cpc#top""#,
                r#""http://s.example""#,
                r#""HTTPS://s.example:8443/a?b""#,
                "null",
            ],
            &[
                r#""/p""#,
                r#""""#,
                r#""ftp://s.example/""#,
                r#""https:///p""#,
                "\"https://s.example/\u{7f}\"",
                "1",
            ],
        ),
        "utm_source" | "utm_medium" | "utm_campaign" | "utm_term" | "utm_content" => (
            &[r#""google""#, r#""CPC""#, r#""é""#, "null"],
            &[r#""""#, r#""a\nb""#, "\"a\u{85}\"", "3", "{}"],
        ),
        "user_agent" => (
            &[
                r#""Mozilla/5.0 (iPhone; CPU iPhone OS 17_0 like Mac OS X)""#,
                r#""""#,
                "null",
            ],
            &[r#""a\tb""#, "\"\u{7f}\"", "[]"],
        ),
        "ip" => (
            &[r#""203.0.113.7""#, r#""2001:db8::1""#, "null"],
            &[
                r#""999.1.1.1""#,
                r#""""#,
                r#""localhost""#,
                r#"" 1.2.3.4""#,
                "7",
            ],
        ),
        "path" | "referrer" => (
            &[
                r#""/p""#,
                r#""""#,
                r#""é""#,
                r#""/p?email=a@b.example#f""#,
                "null",
            ],
            &[
                r#""\/escaped""#,
                "\"\u{7f}\"",
                "\"\u{85}\"",
                r#""a\nb""#,
                "false",
            ],
        ),
        _ => (
            &[r#""id-1""#, r#""é""#, "null"],
            &[
                r#""""#,
                "\"\u{7f}\"",
                r#""a\tb""#,
                r#""\"quoted\"""#,
                "5.5",
                "\"evil\u{202E}gnp.exe\"",
                "\"\u{200B}id\"",
                "\"\u{FEFF}\"",
                r#""id\u200b""#,
            ],
        ),
    };
    let long = match name {
        "event_id" | "shop_id" => 64,
        "path" | "referrer" | "url" => 2048,
        "utm_source" | "utm_medium" | "utm_campaign" | "utm_term" | "utm_content" => 256,
        "user_agent" => 1024,
        _ => 128,
    };
    prop_oneof![
        40 => prop::sample::select(good.to_vec()).prop_map(str::to_owned),
        4 => prop::sample::select(bad.to_vec()).prop_map(str::to_owned),
        1 => Just(format!("\"{}\"", "x".repeat(long))),
        1 => Just(format!("\"{}\"", "x".repeat(long + 1))),
        1 => any_json().prop_map(|v| v.to_string()),
    ]
}

/// The JSON text of an object whose fields may repeat (which a `Value` cannot show) or be
/// unknown, in any order, sometimes followed by something that is not whitespace; and whether
/// a field repeats.
fn event_text() -> impl Strategy<Value = (String, bool)> {
    let mut names = KNOWN_FIELDS.to_vec();
    names.extend(["order_ammount", "events"]);
    let field = prop::sample::select(names)
        .prop_flat_map(|name| field_value(name).prop_map(move |value| (name, value)));
    (
        field_value("event_type"),
        field_value("timestamp"),
        prop::collection::vec(field, 0..6),
        prop::sample::select(vec!["", " ", "\n", " x", "}"]),
    )
        .prop_map(|(event_type, timestamp, extras, tail)| {
            let mut fields = vec![
                format!(r#""event_type":{event_type}"#),
                format!(r#""timestamp":{timestamp}"#),
            ];
            fields.extend(
                extras
                    .iter()
                    .map(|(name, value)| format!(r#""{name}":{value}"#)),
            );
            let mut names: Vec<&str> = extras.iter().map(|(name, _)| *name).collect();
            names.extend(["event_type", "timestamp"]);
            names.sort_unstable();
            let repeats = names.windows(2).any(|pair| pair[0] == pair[1]);
            fields.rotate_left(extras.len() % 3);
            (format!("{{{}}}{tail}", fields.join(",")), repeats)
        })
}

/// What the full validator answers for a body, as ingestion asks it (a field given twice is
/// refused); `None` when it is not JSON.
fn full_path(text: &str) -> Option<Result<Submitted, Vec<FieldError>>> {
    let parsed = parse_json(text.as_bytes()).ok()?;
    let judged = Submitted::from_json(parsed.value, received_at(), &rules(), server_id);
    if parsed.duplicates.is_empty() {
        return Some(judged);
    }
    let mut errors: Vec<FieldError> = parsed
        .duplicates
        .into_iter()
        .map(|field| FieldError::new(field, DUPLICATE_FIELD))
        .collect();
    errors.extend(judged.err().unwrap_or_default());
    Some(Err(errors))
}

fn fast_path(text: &str) -> Option<Submitted> {
    Submitted::from_valid_json(text.as_bytes(), received_at(), &rules(), server_id)
}

fn rules() -> EventRules {
    EventRules::default()
}

fn received_at() -> DateTime<Utc> {
    "2025-10-03T12:00:00Z".parse().expect("a time")
}

fn server_id() -> String {
    "server-id".to_owned()
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
            prop_assert_eq!(Event::from_transport(&event.to_json(), &rules()).ok(), Some(event));
        }
    }

    #[test]
    fn the_transport_decoder_never_panics(text in ".{0,200}") {
        let _ = Event::from_transport(&text, &rules());
    }

    #[test]
    fn the_fast_path_accepts_only_what_the_full_validator_accepts(text in prop_oneof![
        4 => event_text().prop_map(|(text, _)| text),
        1 => any_json().prop_map(|v| v.to_string()),
        1 => nearly_valid_event().prop_map(|v| v.to_string()),
    ]) {
        if let Some(event) = fast_path(&text) {
            prop_assert_eq!(full_path(&text), Some(Ok(event)), "{}", text);
        }
    }

    #[test]
    fn the_fast_path_takes_every_valid_event_without_escapes((text, repeats) in prop_oneof![
        4 => event_text(),
        1 => nearly_valid_event().prop_map(|v| (v.to_string(), false)),
    ]) {
        let full = full_path(&text);
        if repeats {
            prop_assert!(!matches!(full, Some(Ok(_))), "a repeated field passed: {}", text);
        }
        if let Some(Ok(event)) = full
            && !text.contains('\\')
        {
            prop_assert_eq!(fast_path(&text), Some(event), "{}", text);
        }
    }

    #[test]
    fn parsing_strictly_reads_what_serde_json_reads(value in any_json()) {
        let text = value.to_string();
        let parsed = parse_json(text.as_bytes()).expect("valid JSON");
        prop_assert_eq!(parsed.value, value);
        prop_assert!(parsed.duplicates.is_empty());
    }
}
