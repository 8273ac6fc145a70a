//! The three event types: what the rules, the model and the store all name, so it depends on
//! nothing else in the event model.

use serde::{Deserialize, Serialize};

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
