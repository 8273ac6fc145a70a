//! `analytics backup PATH`: a copy of the store that a fresh analytics answers from exactly as
//! the original does.

use analytics::routes::summary;
use chrono::Utc;
use events_core::event::{Event, new_event_id};
use events_core::store::{Plan, Writer};
use rusqlite::Connection;
use serde_json::json;

fn backup(database: &std::path::Path, path: &std::path::Path) -> (bool, String, String) {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_analytics"))
        .args(["backup"])
        .arg(path)
        .env("DATABASE_URL", database)
        .output()
        .expect("analytics runs");
    (
        output.status.success(),
        String::from_utf8_lossy(&output.stdout).into_owned(),
        String::from_utf8_lossy(&output.stderr).into_owned(),
    )
}

#[test]
fn a_backup_answers_what_the_store_answered() {
    let dir = tempfile::tempdir().expect("temp dir");
    let database = dir.path().join("analytics.db");
    let mut writer = Writer::open(&database).expect("opens");
    let events: Vec<Event> = (0..50)
        .map(|n| {
            let event_type = ["page_view", "add_to_cart", "purchase"][n % 3];
            let value = json!({"event_type": event_type,
                "timestamp": "2025-10-02T10:30:00Z", "order_amount": 10.5,
                "session_id": format!("s{}", n % 4), "visitor_id": format!("v{}", n % 5),
                "product_id": format!("p{}", n % 3), "currency": "EUR"});
            Event::from_json(value, Utc::now(), new_event_id).expect("valid")
        })
        .collect();
    writer.insert_batch(&events).expect("stores");
    let copy = dir.path().join("copy.db");
    let (ok, out, err) = backup(&database, &copy);
    assert!(ok, "{err}");
    let last = out.lines().last().unwrap_or_default();
    assert!(last.starts_with(&copy.display().to_string()), "{out}");
    assert!(last.ends_with(" bytes"), "{out}");
    let request =
        summary::SummaryRequest::parse(Some("from=2025-10-01&to=2025-10-03")).expect("valid");
    let answer = |path: &std::path::Path| {
        let connection = Connection::open(path).expect("opens");
        serde_json::to_value(
            summary::compute(&connection, &request, Plan::Rollup).expect("answers"),
        )
        .expect("json")
    };
    assert_eq!(answer(&copy), answer(&database));
    assert_eq!(answer(&copy)["metrics"]["purchases"], 16);
    // An existing file is never overwritten.
    let (ok, _, err) = backup(&database, &copy);
    assert!(!ok);
    assert!(err.contains("exists"), "{err}");
}
