//! The filter parameters of spec §10 ("Filters"): `channel`, `source`, `medium`, `campaign`,
//! `referrer`, `landing_page`, `device`, `browser`, `os`, `country` and `page`, read into one
//! [`Filters`]. Each takes one value; `(none)` matches sessions without one.

use events_core::attribution::{Attribute, Filters, NONE_VALUE};

use crate::error::ApiError;

/// Every filter parameter, for the endpoints that take them.
pub const FILTER_PARAMS: [&str; 11] = [
    "channel",
    "source",
    "medium",
    "campaign",
    "referrer",
    "landing_page",
    "device",
    "browser",
    "os",
    "country",
    "page",
];

/// The longest value a filter takes: the longest stored path or referrer.
const MAX_VALUE_CHARS: usize = 2048;

/// Reads the filter parameters present, each looked up with `get` (the query string's value
/// of a name; an endpoint that takes no filter never lets them through its parsing).
pub fn parse_filters<'a>(get: impl Fn(&str) -> Option<&'a str>) -> Result<Filters, ApiError> {
    let mut filters = Filters::default();
    let value_of = |name: &str| -> Result<Option<Option<String>>, ApiError> {
        let Some(text) = get(name) else {
            return Ok(None);
        };
        if text.chars().count() > MAX_VALUE_CHARS || text.chars().any(char::is_control) {
            return Err(ApiError::bad(
                name,
                format!("must be 1-{MAX_VALUE_CHARS} characters without control characters"),
            ));
        }
        Ok(Some((text != NONE_VALUE).then(|| text.to_owned())))
    };
    for attribute in Attribute::ALL {
        if let Some(value) = value_of(attribute.name())? {
            filters.set(attribute, value);
        }
    }
    if let Some(page) = value_of("page")? {
        filters.page = Some(page.ok_or_else(|| {
            ApiError::bad(
                "page",
                "names a path; `(none)` is not one (every page view has one or none)",
            )
        })?);
    }
    Ok(filters)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(raw: &str) -> Result<Filters, ApiError> {
        let pairs: Vec<(String, String)> = form_urlencoded::parse(raw.as_bytes())
            .map(|(name, value)| (name.into_owned(), value.into_owned()))
            .collect();
        if let Some((name, _)) = pairs.iter().find(|(_, value)| value.is_empty()) {
            return Err(ApiError::bad(name, "must not be empty"));
        }
        parse_filters(|name| {
            pairs
                .iter()
                .find(|(n, _)| n == name)
                .map(|(_, v)| v.as_str())
        })
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
