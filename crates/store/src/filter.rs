//! Which events a question looks at: one shop or all, and a time range; never bots.

use rusqlite::types::Value;

/// One shop or all, and a time range (`from` inclusive, `to` exclusive, in microseconds since
/// 1970 UTC; `None` is open).
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct EventFilter {
    pub shop_id: Option<String>,
    pub from_micros: Option<i64>,
    pub to_micros: Option<i64>,
}

impl EventFilter {
    /// The same shop over another range.
    pub fn with_range(&self, from_micros: Option<i64>, to_micros: Option<i64>) -> EventFilter {
        EventFilter {
            shop_id: self.shop_id.clone(),
            from_micros,
            to_micros,
        }
    }

    /// The `WHERE` conditions over raw rows (joined with `AND`, starting with `AND`) and
    /// their parameters. Bots are never in a question (docs/API.md, "Where buyers come from"): they are stored, and only
    /// counted by [`ReadBackend::bot_events`](super::ReadBackend::bot_events).
    pub fn sql_conditions(&self) -> (String, Vec<Value>) {
        let mut sql = String::from(" AND is_bot = 0");
        let mut params = Vec::new();
        if let Some(shop_id) = &self.shop_id {
            sql.push_str(" AND shop_id = ?");
            params.push(Value::Text(shop_id.clone()));
        }
        if let Some(from) = self.from_micros {
            sql.push_str(" AND ts_micros >= ?");
            params.push(Value::Integer(from));
        }
        if let Some(to) = self.to_micros {
            sql.push_str(" AND ts_micros < ?");
            params.push(Value::Integer(to));
        }
        (sql, params)
    }
}
