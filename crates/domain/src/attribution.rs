//! Where a session came from (docs/API.md, "Attribution"): the attributes a session takes from
//! its first stored event, the filters (segments) that select sessions by them, and the
//! dimensions a breakdown can group by.
//!
//! A session's attributes are those of its first stored event (by timestamp, then arrival),
//! except `landing_page`, the path of its first page view. An event without a session carries
//! its own: its traffic fields, and its own path as landing page when it is a page view.

/// One attribute of a session's attribution. The order is the order of
/// [`Attributed::values`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum Attribute {
    Channel,
    Source,
    Medium,
    Campaign,
    /// The referrer's domain (`referrer_domain`).
    Referrer,
    LandingPage,
    Device,
    Browser,
    Os,
    Country,
}

impl Attribute {
    pub const ALL: [Attribute; 10] = [
        Attribute::Channel,
        Attribute::Source,
        Attribute::Medium,
        Attribute::Campaign,
        Attribute::Referrer,
        Attribute::LandingPage,
        Attribute::Device,
        Attribute::Browser,
        Attribute::Os,
        Attribute::Country,
    ];

    /// The query parameter and breakdown dimension it is asked by.
    pub fn name(self) -> &'static str {
        match self {
            Attribute::Channel => "channel",
            Attribute::Source => "source",
            Attribute::Medium => "medium",
            Attribute::Campaign => "campaign",
            Attribute::Referrer => "referrer",
            Attribute::LandingPage => "landing_page",
            Attribute::Device => "device",
            Attribute::Browser => "browser",
            Attribute::Os => "os",
            Attribute::Country => "country",
        }
    }

    /// The stored column (of the events and of the sessions' attribution).
    pub fn column(self) -> &'static str {
        match self {
            Attribute::Referrer => "referrer_domain",
            other => other.name(),
        }
    }

    pub fn parse(name: &str) -> Option<Attribute> {
        Attribute::ALL.into_iter().find(|a| a.name() == name)
    }

    /// Its place in [`Attributed::values`].
    pub fn index(self) -> usize {
        self as usize
    }
}

/// The value of a filter parameter that matches events without a value.
pub const NONE_VALUE: &str = "(none)";

/// The filters of a request (docs/API.md, "Filters"): each names one value of an attribute
/// (`None` matches sessions without one), and `page` the sessions with a page view of that
/// path. They combine with AND; no filter at all selects every event.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Filters {
    /// At most one per attribute, in [`Attribute`] order.
    pub attributes: Vec<(Attribute, Option<String>)>,
    pub page: Option<String>,
}

impl Filters {
    pub fn is_empty(&self) -> bool {
        self.attributes.is_empty() && self.page.is_none()
    }

    /// Adds (or replaces) the filter of one attribute.
    pub fn set(&mut self, attribute: Attribute, value: Option<String>) {
        self.attributes.retain(|(a, _)| *a != attribute);
        self.attributes.push((attribute, value));
        self.attributes.sort_by_key(|(a, _)| *a);
    }

    /// Whether an event with these attributes passes the attribute filters (the `page` filter
    /// depends on the session's other events; see [`Filters::page`]).
    pub fn matches(&self, attributed: &Attributed<'_>) -> bool {
        self.attributes
            .iter()
            .all(|(attribute, value)| attributed.get(*attribute) == value.as_deref())
    }
}

/// The attribute values an event is credited to, in [`Attribute`] order.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Attributed<'a> {
    pub values: [Option<&'a str>; 10],
}

impl<'a> Attributed<'a> {
    pub fn get(&self, attribute: Attribute) -> Option<&'a str> {
        self.values[attribute.index()]
    }
}

/// What a breakdown groups events by (docs/API.md, `GET /api/v1/breakdown`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BreakdownDimension {
    /// The session's attribution.
    Attribute(Attribute),
    /// Each page view's own path; other events are in no row.
    Page,
}

impl BreakdownDimension {
    pub fn name(self) -> &'static str {
        match self {
            BreakdownDimension::Attribute(attribute) => attribute.name(),
            BreakdownDimension::Page => "page",
        }
    }

    pub fn parse(name: &str) -> Option<BreakdownDimension> {
        match name {
            "page" => Some(BreakdownDimension::Page),
            other => Attribute::parse(other).map(BreakdownDimension::Attribute),
        }
    }

    /// Every dimension's name, for error messages.
    pub fn names() -> Vec<&'static str> {
        let mut names: Vec<&str> = Attribute::ALL.iter().map(|a| a.name()).collect();
        names.push("page");
        names
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_parse_back_and_columns_are_the_stored_ones() {
        for attribute in Attribute::ALL {
            assert_eq!(Attribute::parse(attribute.name()), Some(attribute));
            assert_eq!(Attribute::ALL[attribute.index()], attribute);
        }
        assert_eq!(Attribute::Referrer.column(), "referrer_domain");
        assert_eq!(
            BreakdownDimension::parse("page"),
            Some(BreakdownDimension::Page)
        );
        assert_eq!(BreakdownDimension::parse("referrer_domain"), None);
    }

    #[test]
    fn filters_combine_with_and_and_none_matches_null() {
        let mut values = [None; 10];
        values[Attribute::Channel.index()] = Some("Direct");
        let event = Attributed { values };
        let mut filters = Filters::default();
        assert!(filters.matches(&event));
        filters.set(Attribute::Channel, Some("Direct".into()));
        assert!(filters.matches(&event));
        filters.set(Attribute::Country, None);
        assert!(filters.matches(&event));
        filters.set(Attribute::Country, Some("DE".into()));
        assert!(!filters.matches(&event));
        assert_eq!(filters.attributes.len(), 2);
    }
}
