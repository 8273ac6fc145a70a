//! Typed query strings: each endpoint's parameters are one struct, read by one extractor
//! ([`Query`]) and described in the OpenAPI document by the same declaration.
//!
//! [`query_params!`](crate::query_params) declares a struct whose fields are either
//! - one parameter, `Option<T>` (absent is `None`) or `T = default`, where `T:` [`Param`]
//!   reads and describes one value; or
//! - a group of parameters flattened into the struct ([`QueryField`] implemented by hand or by
//!   the macro), such as [`Scope`](crate::params::Scope) (`shop_id`, `from`, `to`, `tz`), so
//!   that endpoints sharing a group declare it once.
//!
//! A new shared group (the filters of several endpoints, say) is declared with the macro too,
//! then added as a field (`pub filters: Filters,`) to each endpoint's struct; its parameters
//! then appear in those endpoints' names, refusals and documents in field order.
//!
//! The refusals are those of [`QueryParams::parse`] (the raw pairs): an unknown parameter (listing the known
//! ones, in field order), one given twice, an empty value, then each value in field order, every
//! one a `400` naming its parameter.

use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use serde_json::Value;
use utoipa::openapi::path::{Parameter, ParameterBuilder, ParameterIn};
use utoipa::openapi::schema::{ObjectBuilder, Schema, Type};
use utoipa::openapi::{RefOr, Required};

use crate::error::ApiError;

/// The query string's parameters, checked against the names an endpoint takes.
#[derive(Debug, Default)]
pub struct QueryParams {
    pairs: Vec<(String, String)>,
}

impl QueryParams {
    pub fn parse(raw: Option<&str>, allowed: &[&str]) -> Result<QueryParams, ApiError> {
        let mut pairs: Vec<(String, String)> = Vec::new();
        for (name, value) in form_urlencoded::parse(raw.unwrap_or_default().as_bytes()) {
            if !allowed.contains(&name.as_ref()) {
                return Err(ApiError::bad(
                    &name,
                    format!("is not a parameter here (known: {})", allowed.join(", ")),
                ));
            }
            if pairs.iter().any(|(n, _)| *n == name) {
                return Err(ApiError::bad(&name, "is given more than once"));
            }
            if value.trim().is_empty() {
                return Err(ApiError::bad(&name, "must not be empty"));
            }
            pairs.push((name.into_owned(), value.into_owned()));
        }
        Ok(QueryParams { pairs })
    }

    pub fn get(&self, name: &str) -> Option<&str> {
        self.pairs
            .iter()
            .find(|(n, _)| n == name)
            .map(|(_, v)| v.as_str())
    }
}

/// The value `text` names among `choices`.
pub fn choose<T: Copy>(name: &str, text: &str, choices: &[(&str, T)]) -> Result<T, ApiError> {
    choices
        .iter()
        .find(|(choice, _)| *choice == text)
        .map(|(_, value)| *value)
        .ok_or_else(|| {
            let names: Vec<&str> = choices.iter().map(|(n, _)| *n).collect();
            ApiError::bad(name, format!("`{text}` is not one of {}", names.join(", ")))
        })
}

/// One parameter's value: how it is read from its text and how the document describes it.
pub trait Param: Sized {
    /// `name` is only for the refusal, which names the parameter.
    fn parse(name: &str, text: &str) -> Result<Self, ApiError>;
    /// The value's schema (type, pattern, range, choices).
    fn schema() -> Schema;
    /// How the value is written in the query (for the document's `default`).
    fn to_json(&self) -> Value;
}

/// A parameter that takes one of a few names.
pub trait Choice: Copy + PartialEq + 'static {
    const CHOICES: &'static [(&'static str, Self)];
}

impl<T: Choice> Param for T {
    fn parse(name: &str, text: &str) -> Result<T, ApiError> {
        choose(name, text, T::CHOICES)
    }

    fn schema() -> Schema {
        Schema::Object(
            ObjectBuilder::new()
                .schema_type(Type::String)
                .enum_values(Some(T::CHOICES.iter().map(|(n, _)| *n)))
                .build(),
        )
    }

    fn to_json(&self) -> Value {
        T::CHOICES
            .iter()
            .find(|(_, value)| value == self)
            .map_or(Value::Null, |(name, _)| Value::from(*name))
    }
}

/// A field of a query struct: one parameter or a flattened group of them.
pub trait QueryField: Sized {
    /// Adds the names this field takes (`field` is the struct field's name).
    fn names(field: &'static str, names: &mut Vec<&'static str>);
    fn read(field: &'static str, query: &QueryParams) -> Result<Self, ApiError>;
    /// Adds the document's parameters of this field; `description` is the field's doc comment.
    fn document(field: &'static str, description: &str, parameters: &mut Vec<Parameter>);
}

impl<T: Param> QueryField for Option<T> {
    fn names(field: &'static str, names: &mut Vec<&'static str>) {
        names.push(field);
    }

    fn read(field: &'static str, query: &QueryParams) -> Result<Self, ApiError> {
        query
            .get(field)
            .map(|text| T::parse(field, text))
            .transpose()
    }

    fn document(field: &'static str, description: &str, parameters: &mut Vec<Parameter>) {
        parameters.push(parameter::<T>(field, description, None));
    }
}

/// The document's entry for one optional query parameter.
pub fn parameter<T: Param>(name: &str, description: &str, default: Option<&T>) -> Parameter {
    let mut schema = T::schema();
    if let (Schema::Object(object), Some(default)) = (&mut schema, default) {
        object.default = Some(default.to_json());
    }
    let description = description
        .lines()
        .map(str::trim)
        .collect::<Vec<_>>()
        .join(" ");
    ParameterBuilder::new()
        .name(name)
        .parameter_in(ParameterIn::Query)
        .required(Required::False)
        .description(Some(description.trim().to_owned()).filter(|d| !d.is_empty()))
        .schema(Some(RefOr::T(schema)))
        .build()
}

/// A whole query struct: its parameters' names and how it is read from a query string.
pub trait FromQuery: Sized {
    /// Every name the struct takes, in field order (the order a refusal lists them in).
    fn names() -> Vec<&'static str>;
    fn read(query: &QueryParams) -> Result<Self, ApiError>;

    /// The raw query string (`None` without `?`) as this struct.
    fn from_raw(raw: Option<&str>) -> Result<Self, ApiError> {
        let query = QueryParams::parse(raw, &Self::names())?;
        Self::read(&query)
    }
}

/// The extractor: `Query(request): Query<SummaryRequest>`; a refusal is a `400` naming the
/// parameter.
#[derive(Debug, Clone)]
pub struct Query<T>(pub T);

impl<T: FromQuery, S: Send + Sync> FromRequestParts<S> for Query<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, _: &S) -> Result<Self, ApiError> {
        T::from_raw(parts.uri.query()).map(Query)
    }
}

/// Declares a query struct (see the module's documentation): the struct, [`FromQuery`] (with
/// an inherent `parse(raw)`), [`QueryField`] (so it can be flattened into another) and
/// `utoipa::IntoParams`. Fields carry doc comments only; they become the parameters'
/// descriptions. `@check = path;` runs `fn(Self) -> Result<Self, ApiError>` once every field is
/// read, for rules across fields.
#[macro_export]
macro_rules! query_params {
    (
        $(#[$meta:meta])*
        $(@check = $check:path;)?
        $vis:vis struct $name:ident {
            $(
                $(#[doc = $doc:literal])*
                $fvis:vis $field:ident : $ty:ty $(= $default:expr)?
            ),* $(,)?
        }
    ) => {
        $(#[$meta])*
        #[derive(Debug, Clone, PartialEq)]
        $vis struct $name {
            $( $(#[doc = $doc])* $fvis $field: $ty, )*
        }

        impl $name {
            /// The raw query string (`None` without `?`) as this struct.
            pub fn parse(raw: Option<&str>) -> Result<Self, $crate::error::ApiError> {
                <Self as $crate::query::FromQuery>::from_raw(raw)
            }
        }

        impl $crate::query::FromQuery for $name {
            fn names() -> Vec<&'static str> {
                let mut names = Vec::new();
                <Self as $crate::query::QueryField>::names("", &mut names);
                names
            }

            fn read(
                query: &$crate::query::QueryParams,
            ) -> Result<Self, $crate::error::ApiError> {
                <Self as $crate::query::QueryField>::read("", query)
            }
        }

        impl $crate::query::QueryField for $name {
            fn names(_: &'static str, names: &mut Vec<&'static str>) {
                $( $crate::query_params!(@names names, $field, $ty $(, $default)?); )*
            }

            fn read(
                _: &'static str,
                query: &$crate::query::QueryParams,
            ) -> Result<Self, $crate::error::ApiError> {
                let value = $name {
                    $( $field: $crate::query_params!(@read query, $field, $ty $(, $default)?), )*
                };
                $( let value = $check(value)?; )?
                Ok(value)
            }

            fn document(
                _: &'static str,
                _: &str,
                parameters: &mut Vec<utoipa::openapi::path::Parameter>,
            ) {
                $(
                    let description = concat!($($doc, "\n",)* "");
                    $crate::query_params!(@document parameters, description, $field, $ty $(, $default)?);
                )*
            }
        }

        impl utoipa::IntoParams for $name {
            fn into_params(
                _: impl Fn() -> Option<utoipa::openapi::path::ParameterIn>,
            ) -> Vec<utoipa::openapi::path::Parameter> {
                let mut parameters = Vec::new();
                <Self as $crate::query::QueryField>::document("", "", &mut parameters);
                parameters
            }
        }
    };
    (@names $names:ident, $field:ident, $ty:ty) => {
        <$ty as $crate::query::QueryField>::names(stringify!($field), $names)
    };
    (@names $names:ident, $field:ident, $ty:ty, $default:expr) => {
        $names.push(stringify!($field))
    };
    (@read $query:ident, $field:ident, $ty:ty) => {
        <$ty as $crate::query::QueryField>::read(stringify!($field), $query)?
    };
    (@read $query:ident, $field:ident, $ty:ty, $default:expr) => {
        match $query.get(stringify!($field)) {
            Some(text) => <$ty as $crate::query::Param>::parse(stringify!($field), text)?,
            None => $default,
        }
    };
    (@document $parameters:ident, $description:ident, $field:ident, $ty:ty) => {
        <$ty as $crate::query::QueryField>::document(stringify!($field), $description, $parameters)
    };
    (@document $parameters:ident, $description:ident, $field:ident, $ty:ty, $default:expr) => {
        $parameters.push($crate::query::parameter::<$ty>(
            stringify!($field),
            $description,
            Some(&$default),
        ))
    };
}

#[cfg(test)]
mod tests {
    use utoipa::IntoParams;

    use super::*;
    use crate::params::{Number, ProductId, Scope, ShopId};

    crate::query_params! {
        /// A group shared by several endpoints, as `Scope` is.
        pub struct Narrowing {
            /// One product.
            pub product_id: Option<ProductId>,
            pub page: Number<1, 9> = Number(1),
        }
    }

    crate::query_params! {
        /// An endpoint's query with two groups flattened into it.
        pub struct Example {
            pub scope: Scope,
            pub narrowing: Narrowing,
            /// Another shop, to compare with.
            pub other: Option<ShopId>,
        }
    }

    fn parameter_of(error: ApiError) -> String {
        match error {
            ApiError::BadParameter { parameter, .. } => parameter,
            other => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn groups_flatten_into_one_list_of_names_in_field_order() {
        assert_eq!(
            <Example as FromQuery>::names(),
            ["shop_id", "from", "to", "tz", "product_id", "page", "other"]
        );
        let documented: Vec<String> = Example::into_params(|| None)
            .into_iter()
            .map(|parameter| parameter.name)
            .collect();
        assert_eq!(documented, <Example as FromQuery>::names());
    }

    #[test]
    fn a_struct_reads_every_group_and_applies_defaults() {
        let example = Example::parse(Some("other=b&product_id=p-1&shop_id=a")).expect("valid");
        assert_eq!(example.scope.shop_id.as_deref(), Some("a"));
        assert_eq!(example.narrowing.product_id, Some(ProductId("p-1".into())));
        assert_eq!(example.narrowing.page, Number(1));
        assert_eq!(example.other, Some(ShopId("b".into())));
        assert_eq!(
            Example::parse(None).expect("empty").scope,
            Scope::everything()
        );
        // A group is a query struct of its own too.
        let alone = Narrowing::parse(Some("page=2")).expect("valid");
        assert_eq!((alone.product_id, alone.page), (None, Number(2)));
    }

    #[test]
    fn refusals_name_the_parameter_wherever_its_group_is() {
        let unknown = Example::parse(Some("pages=2")).expect_err("unknown");
        assert!(
            unknown
                .to_string()
                .contains("known: shop_id, from, to, tz, product_id, page, other"),
            "{unknown}"
        );
        for (query, parameter) in [
            ("page=1&page=2", "page"),
            ("product_id=", "product_id"),
            ("page=10", "page"),
            ("other=a%20b", "other"),
            ("tz=Mars", "tz"),
        ] {
            let error = Example::parse(Some(query)).expect_err(query);
            assert_eq!(parameter_of(error), parameter, "{query}");
        }
    }

    #[test]
    fn the_extractor_reads_the_request_uri() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .expect("runtime");
        let request = axum::http::Request::get("/x?page=3")
            .body(())
            .expect("request");
        let (mut parts, ()) = request.into_parts();
        let Query(example) = runtime
            .block_on(Query::<Example>::from_request_parts(&mut parts, &()))
            .expect("valid");
        assert_eq!(example.narrowing.page, Number(3));
    }
}
