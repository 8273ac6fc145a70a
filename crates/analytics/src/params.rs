//! The values of the analytics endpoints' query strings: the shared group [`Scope`] (`shop_id`,
//! `from`, `to`, `tz`) and the one-value types ([`ShopId`], [`RangeEnd`], [`Number`],
//! [`ProductId`], [`Compare`]). Every refusal names its parameter. How a struct of them is read
//! is [`crate::query`].

use chrono::{DateTime, Days, NaiveDate, NaiveTime, SecondsFormat, TimeDelta, TimeZone, Utc};
use chrono_tz::Tz;
use events_core::store::EventFilter;
use serde_json::Value;
use utoipa::openapi::KnownFormat;
use utoipa::openapi::path::Parameter;
use utoipa::openapi::schema::{ObjectBuilder, OneOfBuilder, Schema, SchemaFormat, Type};

use crate::error::ApiError;
pub use crate::query::QueryParams;
use crate::query::{Choice, Param, QueryField, choose, parameter};

/// The time range and zone of a request.
#[derive(Debug, Clone, PartialEq)]
pub struct TimeRange {
    pub from: Option<Bound>,
    pub to: Option<Bound>,
    pub tz: Tz,
}

/// One end of a range: the instant, and whether the client gave a date (local midnight).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Bound {
    pub instant: DateTime<Utc>,
    pub date: Option<NaiveDate>,
}

impl TimeRange {
    /// Reads `tz` (default UTC), then `from` and `to`; `from` must come before `to`.
    pub fn parse(params: &QueryParams) -> Result<TimeRange, ApiError> {
        let tz = Option::<Tz>::read("tz", params)?.unwrap_or(Tz::UTC);
        let from = Option::<RangeEnd>::read("from", params)?.map(|end| end.resolve(tz));
        let to = Option::<RangeEnd>::read("to", params)?.map(|end| end.resolve(tz));
        if let (Some(from), Some(to)) = (from, to)
            && from.instant >= to.instant
        {
            return Err(ApiError::bad("from", "must be before `to`"));
        }
        Ok(TimeRange { from, to, tz })
    }
}

/// An RFC 3339 instant, or a `YYYY-MM-DD` date read as local midnight in `tz`.
pub fn parse_bound(name: &str, text: &str, tz: Tz) -> Result<Bound, ApiError> {
    RangeEnd::parse(name, text).map(|end| end.resolve(tz))
}

/// `from` or `to` as written: an instant, or a date whose midnight depends on `tz`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum RangeEnd {
    Instant(DateTime<Utc>),
    Date(NaiveDate),
}

impl RangeEnd {
    pub fn resolve(self, tz: Tz) -> Bound {
        match self {
            RangeEnd::Instant(instant) => Bound {
                instant,
                date: None,
            },
            RangeEnd::Date(date) => Bound {
                instant: start_of_day(date, tz),
                date: Some(date),
            },
        }
    }
}

impl Param for RangeEnd {
    fn parse(name: &str, text: &str) -> Result<RangeEnd, ApiError> {
        if let Ok(instant) = DateTime::parse_from_rfc3339(text) {
            return Ok(RangeEnd::Instant(instant.with_timezone(&Utc)));
        }
        match NaiveDate::parse_from_str(text, "%Y-%m-%d") {
            Ok(date) if text.len() == 10 => Ok(RangeEnd::Date(date)),
            _ => Err(ApiError::bad(
                name,
                format!("`{text}` is neither an RFC 3339 time nor a YYYY-MM-DD date"),
            )),
        }
    }

    /// Either form: the document says both, so a client generator offers both.
    fn schema() -> Schema {
        let format = |format| {
            ObjectBuilder::new()
                .schema_type(Type::String)
                .format(Some(SchemaFormat::KnownFormat(format)))
        };
        Schema::OneOf(
            OneOfBuilder::new()
                .item(format(KnownFormat::DateTime))
                .item(format(KnownFormat::Date))
                .build(),
        )
    }

    fn to_json(&self) -> Value {
        match self {
            RangeEnd::Instant(instant) => Value::from(instant.to_rfc3339()),
            RangeEnd::Date(date) => Value::from(date.to_string()),
        }
    }
}

impl Param for Tz {
    fn parse(name: &str, text: &str) -> Result<Tz, ApiError> {
        text.parse::<Tz>().map_err(|_| {
            ApiError::bad(
                name,
                format!("`{text}` is not an IANA time zone such as Europe/Berlin"),
            )
        })
    }

    fn schema() -> Schema {
        // Not the ~600 names as an enum: repeated in every endpoint, they would be most of the
        // document.
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .examples(["Europe/Berlin", "Asia/Kolkata", "UTC"])
                .build(),
        )
    }

    fn to_json(&self) -> Value {
        Value::from(self.name())
    }
}

/// When `date` begins in `tz`: local midnight, the earlier one when midnight happens twice,
/// and the first instant of the date when a DST jump skips midnight.
pub fn start_of_day(date: NaiveDate, tz: Tz) -> DateTime<Utc> {
    let midnight = date.and_time(NaiveTime::MIN);
    for minutes in 0..=24 * 60 {
        let local = midnight + TimeDelta::minutes(minutes);
        if let Some(instant) = tz.from_local_datetime(&local).earliest() {
            return instant.with_timezone(&Utc);
        }
    }
    // No zone skips a whole day at midnight in this direction; fall back to UTC midnight.
    Utc.from_utc_datetime(&midnight)
}

/// A `shop_id` filter, checked with the same rule as events use.
pub fn parse_shop_id(params: &QueryParams) -> Result<Option<String>, ApiError> {
    Ok(Option::<ShopId>::read("shop_id", params)?.map(|shop| shop.0))
}

/// A shop id: 1-64 characters of `A-Z a-z 0-9 . _ -`, as events have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ShopId(pub String);

impl Param for ShopId {
    fn parse(name: &str, text: &str) -> Result<ShopId, ApiError> {
        let allowed = |c: char| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-');
        if text.chars().count() > 64 || !text.chars().all(allowed) {
            return Err(ApiError::bad(
                name,
                "must be 1-64 characters of A-Z, a-z, 0-9, '.', '_' or '-'",
            ));
        }
        Ok(ShopId(text.to_owned()))
    }

    fn schema() -> Schema {
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some("^[A-Za-z0-9._-]{1,64}$"))
                .build(),
        )
    }

    fn to_json(&self) -> Value {
        Value::from(self.0.as_str())
    }
}

/// The store filter for a shop and a range.
pub fn event_filter(shop_id: Option<String>, range: &TimeRange) -> EventFilter {
    EventFilter {
        shop_id,
        from_micros: range.from.map(|b| b.instant.timestamp_micros()),
        to_micros: range.to.map(|b| b.instant.timestamp_micros()),
    }
}

/// The parameters every `/api/v1` endpoint shares (docs/API.md, "Shared parameters"), in the
/// order [`Scope`] takes them.
pub const SCOPE_PARAMS: [&str; 4] = ["shop_id", "from", "to", "tz"];

/// Which events a request is about: a shop (or all) and a range in a zone (the sessions its
/// filters select are the request's [`Filters`](crate::filters::Filters) group).
#[derive(Debug, Clone, PartialEq)]
pub struct Scope {
    pub shop_id: Option<String>,
    pub range: TimeRange,
}

impl Scope {
    pub fn parse(params: &QueryParams) -> Result<Scope, ApiError> {
        Ok(Scope {
            shop_id: parse_shop_id(params)?,
            range: TimeRange::parse(params)?,
        })
    }

    pub fn filter(&self) -> EventFilter {
        event_filter(self.shop_id.clone(), &self.range)
    }

    /// No shop, all time, UTC.
    pub fn everything() -> Scope {
        Scope {
            shop_id: None,
            range: TimeRange {
                from: None,
                to: None,
                tz: Tz::UTC,
            },
        }
    }

    /// The period just before this one, for `compare=previous`: as many local days when both
    /// ends are dates (a week in spring is 7 days even if one of them had 23 hours), else the
    /// same duration. `None` unless both ends are given.
    pub fn previous(&self) -> Option<Scope> {
        let (from, to) = (self.range.from?, self.range.to?);
        let previous_from = match (from.date, to.date) {
            (Some(first), Some(end)) => {
                let days = u64::try_from((end - first).num_days()).ok()?;
                let date = first.checked_sub_days(Days::new(days))?;
                Bound {
                    instant: start_of_day(date, self.range.tz),
                    date: Some(date),
                }
            }
            _ => Bound {
                instant: from.instant.checked_sub_signed(to.instant - from.instant)?,
                date: None,
            },
        };
        Some(Scope {
            shop_id: self.shop_id.clone(),
            range: TimeRange {
                from: Some(previous_from),
                to: Some(Bound {
                    instant: from.instant,
                    date: from.date,
                }),
                tz: self.range.tz,
            },
        })
    }
}

/// The shared group, flattened into the endpoints' query structs as `scope: Scope`.
impl QueryField for Scope {
    fn names(_: &'static str, names: &mut Vec<&'static str>) {
        names.extend(SCOPE_PARAMS);
    }

    fn read(_: &'static str, query: &QueryParams) -> Result<Scope, ApiError> {
        Scope::parse(query)
    }

    fn document(_: &'static str, _: &str, parameters: &mut Vec<Parameter>) {
        parameters.push(parameter::<ShopId>(
            "shop_id",
            "One shop (with a shop-scoped key: its shop; another is 403). Default: all shops.",
            None,
        ));
        parameters.push(parameter::<RangeEnd>(
            "from",
            "Start, inclusive: an RFC 3339 instant, or a YYYY-MM-DD date read as local \
             midnight in `tz`. Default: all time.",
            None,
        ));
        parameters.push(parameter::<RangeEnd>(
            "to",
            "End, exclusive, in the same forms; `from` must come before it. Default: all time.",
            None,
        ));
        parameters.push(parameter::<Tz>(
            "tz",
            "The IANA zone of dates, buckets and the times answered.",
            Some(&Tz::UTC),
        ));
    }
}

/// `name` must be one of `choices` (by name); the default when absent.
pub fn parse_choice<T: Copy>(
    params: &QueryParams,
    name: &str,
    choices: &[(&str, T)],
    default: T,
) -> Result<T, ApiError> {
    params
        .get(name)
        .map_or(Ok(default), |text| choose(name, text, choices))
}

/// A whole number in `min..=max`; the default when absent.
pub fn parse_number(
    params: &QueryParams,
    name: &str,
    min: u64,
    max: u64,
    default: u64,
) -> Result<u64, ApiError> {
    params
        .get(name)
        .map_or(Ok(default), |text| whole_number(name, text, min, max))
}

fn whole_number(name: &str, text: &str, min: u64, max: u64) -> Result<u64, ApiError> {
    match text.parse::<u64>() {
        Ok(n) if (min..=max).contains(&n) => Ok(n),
        _ => Err(ApiError::bad(
            name,
            format!("`{text}` is not a whole number from {min} to {max}"),
        )),
    }
}

/// A whole number in decimal from `MIN` to `MAX`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Number<const MIN: u64, const MAX: u64>(pub u64);

impl<const MIN: u64, const MAX: u64> Number<MIN, MAX> {
    pub fn get(self) -> usize {
        usize::try_from(self.0).unwrap_or(usize::MAX)
    }
}

impl<const MIN: u64, const MAX: u64> Param for Number<MIN, MAX> {
    fn parse(name: &str, text: &str) -> Result<Self, ApiError> {
        whole_number(name, text, MIN, MAX).map(Number)
    }

    fn schema() -> Schema {
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::Integer)
                .minimum(Some(MIN as f64))
                .maximum(Some(MAX as f64))
                .build(),
        )
    }

    fn to_json(&self) -> Value {
        Value::from(self.0)
    }
}

/// `compare=previous`, the only comparison there is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Compare {
    Previous,
}

impl Choice for Compare {
    const CHOICES: &'static [(&'static str, Compare)] = &[("previous", Compare::Previous)];
}

/// A `product_id` filter: 1-128 characters without control characters, as events have.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProductId(pub String);

impl Param for ProductId {
    fn parse(name: &str, text: &str) -> Result<ProductId, ApiError> {
        if text.chars().count() > 128 || text.chars().any(char::is_control) {
            return Err(ApiError::bad(
                name,
                "must be 1-128 characters without control characters",
            ));
        }
        Ok(ProductId(text.to_owned()))
    }

    fn schema() -> Schema {
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .pattern(Some(r"^[^\u0000-\u001F\u007F-\u009F]{1,128}$"))
                .build(),
        )
    }

    fn to_json(&self) -> Value {
        Value::from(self.0.as_str())
    }
}

crate::query_params! {
    /// The query of the endpoints that take only the shared parameters.
    pub struct ScopeQuery {
        pub scope: Scope,
    }
}

crate::query_params! {
    /// The query of the endpoints whose window is "now" (realtime, live): only a shop.
    pub struct ShopQuery {
        /// One shop (with a shop-scoped key: its shop; another is 403). Default: all shops.
        pub shop_id: Option<ShopId>,
    }
}

impl ShopQuery {
    pub fn shop_id(self) -> Option<String> {
        self.shop_id.map(|shop| shop.0)
    }
}

/// An instant as RFC 3339 in `tz`, with its offset (`2025-10-26T00:00:00+02:00`).
pub fn format_local(instant: DateTime<Utc>, tz: Tz) -> String {
    instant
        .with_timezone(&tz)
        .to_rfc3339_opts(SecondsFormat::AutoSi, false)
}

/// Microseconds since 1970 as RFC 3339 in `tz`.
pub fn format_micros(micros: i64, tz: Tz) -> String {
    DateTime::from_timestamp_micros(micros)
        .map(|instant| format_local(instant, tz))
        .unwrap_or_default()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn params(raw: &str) -> Result<QueryParams, ApiError> {
        QueryParams::parse(Some(raw), &["shop_id", "from", "to", "tz"])
    }

    fn parameter_of(error: ApiError) -> String {
        match error {
            ApiError::BadParameter { parameter, .. } => parameter,
            other => panic!("unexpected {other:?}"),
        }
    }

    fn utc(text: &str) -> DateTime<Utc> {
        text.parse().expect("a UTC time")
    }

    #[test]
    fn unknown_repeated_and_empty_parameters_are_refused_by_name() {
        assert_eq!(parameter_of(params("shop=1").expect_err("unknown")), "shop");
        assert_eq!(
            parameter_of(params("tz=UTC&tz=UTC").expect_err("repeated")),
            "tz"
        );
        assert_eq!(
            parameter_of(params("shop_id=").expect_err("empty")),
            "shop_id"
        );
        assert!(params("").is_ok());
    }

    #[test]
    fn dates_are_local_midnight_in_the_zone() {
        let berlin: Tz = "Europe/Berlin".parse().expect("zone");
        let bound = parse_bound("from", "2025-10-26", berlin).expect("date");
        assert_eq!(bound.instant, utc("2025-10-25T22:00:00Z"));
        let kolkata: Tz = "Asia/Kolkata".parse().expect("zone");
        assert_eq!(
            parse_bound("from", "2025-10-26", kolkata)
                .expect("date")
                .instant,
            utc("2025-10-25T18:30:00Z")
        );
        assert_eq!(
            parse_bound("to", "2025-10-26", Tz::UTC)
                .expect("date")
                .instant,
            utc("2025-10-26T00:00:00Z")
        );
    }

    #[test]
    fn a_day_whose_midnight_is_skipped_starts_at_its_first_instant() {
        // Chile moved clocks from 00:00 to 01:00 on 2025-09-07.
        let santiago: Tz = "America/Santiago".parse().expect("zone");
        let start = start_of_day(NaiveDate::from_ymd_opt(2025, 9, 7).expect("date"), santiago);
        assert_eq!(start, utc("2025-09-07T04:00:00Z"));
    }

    fn scope(raw: &str) -> Scope {
        let params = QueryParams::parse(Some(raw), &SCOPE_PARAMS).expect("params");
        Scope::parse(&params).expect("scope")
    }

    #[test]
    fn the_previous_period_of_dates_has_as_many_local_days() {
        // 23 October to 30 October in Berlin holds the 25-hour day of the autumn change.
        let week = scope("from=2025-10-23&to=2025-10-30&tz=Europe/Berlin");
        let previous = week.previous().expect("previous");
        let from = previous.range.from.expect("from");
        assert_eq!(from.date, NaiveDate::from_ymd_opt(2025, 10, 16));
        assert_eq!(from.instant, utc("2025-10-15T22:00:00Z"));
        assert_eq!(
            previous.range.to.expect("to").instant,
            utc("2025-10-22T22:00:00Z")
        );
    }

    #[test]
    fn the_previous_period_of_instants_has_the_same_duration() {
        let hours = scope("from=2025-10-02T10:00:00Z&to=2025-10-02T12:30:00Z");
        let previous = hours.previous().expect("previous");
        assert_eq!(
            previous.range.from.expect("from").instant,
            utc("2025-10-02T07:30:00Z")
        );
        assert!(scope("from=2025-10-02").previous().is_none());
    }

    #[test]
    fn choices_and_numbers_name_their_parameter() {
        let params =
            QueryParams::parse(Some("limit=0&sort=price"), &["limit", "sort"]).expect("ok");
        assert_eq!(
            parameter_of(parse_number(&params, "limit", 1, 1000, 10).expect_err("zero")),
            "limit"
        );
        assert_eq!(
            parameter_of(parse_choice(&params, "sort", &[("revenue", 1)], 0).expect_err("price")),
            "sort"
        );
        assert_eq!(
            parse_number(&params, "offset", 0, 10, 3).expect("default"),
            3
        );
    }

    #[test]
    fn local_times_carry_their_offset() {
        let kathmandu: Tz = "Asia/Kathmandu".parse().expect("zone");
        assert_eq!(
            format_local(utc("2025-10-01T18:15:00Z"), kathmandu),
            "2025-10-02T00:00:00+05:45"
        );
        assert_eq!(
            format_local(utc("2025-10-01T18:15:00Z"), Tz::UTC),
            "2025-10-01T18:15:00+00:00"
        );
    }

    #[test]
    fn instants_keep_their_offset() {
        let bound = parse_bound("from", "2025-10-02T10:30:00+02:00", Tz::UTC).expect("instant");
        assert_eq!(bound.instant, utc("2025-10-02T08:30:00Z"));
        assert_eq!(bound.date, None);
    }

    #[test]
    fn bad_values_name_their_parameter() {
        assert_eq!(
            parameter_of(TimeRange::parse(&params("tz=Mars/Base").expect("ok")).expect_err("zone")),
            "tz"
        );
        assert_eq!(
            parameter_of(
                TimeRange::parse(&params("from=yesterday").expect("ok")).expect_err("from")
            ),
            "from"
        );
        assert_eq!(
            parameter_of(TimeRange::parse(&params("to=2025-13-01").expect("ok")).expect_err("to")),
            "to"
        );
        let backwards = params("from=2025-10-02&to=2025-10-01").expect("ok");
        assert_eq!(
            parameter_of(TimeRange::parse(&backwards).expect_err("order")),
            "from"
        );
        let bad_shop = params("shop_id=a%20b").expect("ok");
        assert_eq!(
            parameter_of(parse_shop_id(&bad_shop).expect_err("shop")),
            "shop_id"
        );
    }
}
