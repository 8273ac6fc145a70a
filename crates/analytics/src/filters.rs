//! The attribution filter parameters (docs/API.md, "Filters"): `channel`, `source`, `medium`, `campaign`,
//! `referrer`, `landing_page`, `device`, `browser`, `os`, `country` and `page`, one
//! `query_params!` group ([`Filters`]) flattened into the query of every report, read into
//! the store's selection ([`Filters::selection`]). Each takes one value; `(none)` matches
//! sessions without one.

use events_core::attribution::{self, Attribute, NONE_VALUE};
use serde_json::Value;
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};

use crate::error::ApiError;
use crate::query::Param;

/// The longest value a filter takes: the longest stored path or referrer.
const MAX_VALUE_CHARS: usize = 2048;

/// The value of an attribute filter: a value, or `(none)` (`None`: sessions without one).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FilterValue(pub Option<String>);

/// The value of `page`: a path (`(none)` is refused: every page view has one or none).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PagePath(pub String);

fn checked(name: &str, text: &str) -> Result<(), ApiError> {
    if text.chars().count() > MAX_VALUE_CHARS || text.chars().any(char::is_control) {
        return Err(ApiError::bad(
            name,
            format!("must be 1-{MAX_VALUE_CHARS} characters without control characters"),
        ));
    }
    Ok(())
}

fn text_schema() -> Schema {
    Schema::Object(
        ObjectBuilder::new()
            .schema_type(Type::String)
            .min_length(Some(1))
            .max_length(Some(MAX_VALUE_CHARS))
            .build(),
    )
}

impl Param for FilterValue {
    fn parse(name: &str, text: &str) -> Result<FilterValue, ApiError> {
        checked(name, text)?;
        Ok(FilterValue((text != NONE_VALUE).then(|| text.to_owned())))
    }

    fn schema() -> Schema {
        text_schema()
    }

    fn to_json(&self) -> Value {
        Value::from(self.0.as_deref().unwrap_or(NONE_VALUE))
    }
}

impl Param for PagePath {
    fn parse(name: &str, text: &str) -> Result<PagePath, ApiError> {
        checked(name, text)?;
        if text == NONE_VALUE {
            return Err(ApiError::bad(
                name,
                "names a path; `(none)` is not one (every page view has one or none)",
            ));
        }
        Ok(PagePath(text.to_owned()))
    }

    fn schema() -> Schema {
        text_schema()
    }

    fn to_json(&self) -> Value {
        Value::from(self.0.as_str())
    }
}

crate::query_params! {
    /// The attribution filters: each narrows the report to the sessions whose attribution (taken
    /// from their first event) has that value; several narrow together.
    pub struct Filters {
        /// Only sessions of this channel (`(none)`: sessions without one).
        pub channel: Option<FilterValue>,
        /// Only sessions of this `utm_source` (`(none)`: sessions without one).
        pub source: Option<FilterValue>,
        /// Only sessions of this `utm_medium` (`(none)`: sessions without one).
        pub medium: Option<FilterValue>,
        /// Only sessions of this `utm_campaign` (`(none)`: sessions without one).
        pub campaign: Option<FilterValue>,
        /// Only sessions referred by this domain (`(none)`: sessions without a referrer).
        pub referrer: Option<FilterValue>,
        /// Only sessions whose first page view has this path (`(none)`: sessions without one).
        pub landing_page: Option<FilterValue>,
        /// Only sessions of this device class (`(none)`: sessions without one).
        pub device: Option<FilterValue>,
        /// Only sessions of this browser (`(none)`: sessions without one).
        pub browser: Option<FilterValue>,
        /// Only sessions of this operating system (`(none)`: sessions without one).
        pub os: Option<FilterValue>,
        /// Only sessions of this country (ISO 3166-1 alpha-2; `(none)`: sessions without one).
        pub country: Option<FilterValue>,
        /// Only sessions with a page view of this path.
        pub page: Option<PagePath>,
    }
}

impl Filters {
    /// No filter: every event.
    pub fn none() -> Filters {
        Filters {
            channel: None,
            source: None,
            medium: None,
            campaign: None,
            referrer: None,
            landing_page: None,
            device: None,
            browser: None,
            os: None,
            country: None,
            page: None,
        }
    }

    fn value(&self, attribute: Attribute) -> Option<&FilterValue> {
        match attribute {
            Attribute::Channel => self.channel.as_ref(),
            Attribute::Source => self.source.as_ref(),
            Attribute::Medium => self.medium.as_ref(),
            Attribute::Campaign => self.campaign.as_ref(),
            Attribute::Referrer => self.referrer.as_ref(),
            Attribute::LandingPage => self.landing_page.as_ref(),
            Attribute::Device => self.device.as_ref(),
            Attribute::Browser => self.browser.as_ref(),
            Attribute::Os => self.os.as_ref(),
            Attribute::Country => self.country.as_ref(),
        }
    }

    /// The sessions these parameters select, as the store reads them.
    pub fn selection(&self) -> attribution::Filters {
        let mut filters = attribution::Filters::default();
        for attribute in Attribute::ALL {
            if let Some(FilterValue(value)) = self.value(attribute) {
                filters.set(attribute, value.clone());
            }
        }
        filters.page = self.page.as_ref().map(|page| page.0.clone());
        filters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::query::FromQuery;

    fn parse(raw: &str) -> Result<attribution::Filters, ApiError> {
        Filters::parse(Some(raw)).map(|filters| filters.selection())
    }

    #[test]
    fn the_group_takes_every_attribute_and_page() {
        let mut names: Vec<&str> = Attribute::ALL.iter().map(|a| a.name()).collect();
        names.push("page");
        assert_eq!(<Filters as FromQuery>::names(), names);
    }

    #[test]
    fn values_are_taken_as_given_and_none_means_null() {
        let filters = parse("channel=Paid%20Search&country=(none)&page=/a").expect("parses");
        assert_eq!(
            filters.attributes,
            [
                (Attribute::Channel, Some("Paid Search".to_owned())),
                (Attribute::Country, None)
            ]
        );
        assert_eq!(filters.page.as_deref(), Some("/a"));
        assert!(parse("").expect("parses").is_empty());
        assert_eq!(Filters::parse(None).expect("none"), Filters::none());
    }

    #[test]
    fn bad_values_name_their_parameter() {
        for raw in ["source=a%0Ab", "page=(none)", "referrer="] {
            match parse(raw).expect_err(raw) {
                ApiError::BadParameter { parameter, .. } => {
                    assert_eq!(parameter, raw.split('=').next().expect("name"));
                }
                other => panic!("unexpected {other:?}"),
            }
        }
    }
}
