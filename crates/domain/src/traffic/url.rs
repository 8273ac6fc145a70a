//! The pieces of a URL that attribution reads, parsed by hand: only the host, the path and the query
//! are needed, and a referrer that is not a URL at all (`android-app://…`, a bare host) must
//! still give what it can, where a full URL parser would refuse it.

use super::Utm;
use crate::event::is_format_char;

/// The longest `utm_*` value kept from a URL (the rule of the `utm_*` fields).
const UTM_MAX: usize = 256;

/// `text` without its query string and fragment: what is stored of `path` and `referrer`
/// (query strings carry personal data).
pub fn without_query(text: &str) -> &str {
    let end = text.find(['?', '#']).unwrap_or(text.len());
    &text[..end]
}

/// The query string of a URL (after `?`, before `#`), when it has one.
pub fn query(text: &str) -> Option<&str> {
    let start = text.find('?')?;
    if text.find('#').is_some_and(|hash| hash < start) {
        return None;
    }
    let rest = &text[start + 1..];
    Some(&rest[..rest.find('#').unwrap_or(rest.len())])
}

/// Whether `text` is an absolute `http` or `https` URL with a host: what `url` must be.
pub fn is_web_url(text: &str) -> bool {
    let Some((scheme, rest)) = text.split_once("://") else {
        return false;
    };
    (scheme.eq_ignore_ascii_case("http") || scheme.eq_ignore_ascii_case("https"))
        && !authority(rest).is_empty()
}

/// The path of an absolute URL, without query or fragment; `/` when it has none.
pub fn path(text: &str) -> &str {
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let after_authority = &rest[authority(rest).len()..];
    let path = without_query(after_authority);
    if path.is_empty() { "/" } else { path }
}

/// The host of a URL (or of a bare `host/path`), lower case, without a port, a trailing dot
/// or a leading `www.`; `None` when there is none.
pub fn host(text: &str) -> Option<String> {
    let rest = text.split_once("://").map_or(text, |(_, rest)| rest);
    let authority = authority(rest);
    let host_port = authority.rsplit_once('@').map_or(authority, |(_, h)| h);
    let host = if let Some(bracketed) = host_port.strip_prefix('[') {
        bracketed.split(']').next().unwrap_or_default()
    } else {
        host_port.split(':').next().unwrap_or_default()
    };
    let host = host.trim_end_matches('.').to_ascii_lowercase();
    let host = host.strip_prefix("www.").map(str::to_owned).unwrap_or(host);
    let plausible = !host.is_empty()
        && !host
            .chars()
            .any(|c| c.is_whitespace() || c.is_control() || is_format_char(c));
    plausible.then_some(host)
}

/// The authority of what follows `scheme://`: up to the first `/`, `?` or `#`.
fn authority(rest: &str) -> &str {
    &rest[..rest.find(['/', '?', '#']).unwrap_or(rest.len())]
}

/// The `utm_*` parameters of a query string, decoded; the first of each wins, and a value
/// that would break the fields' rule (1–256 characters, no control characters) is skipped
/// rather than refusing the page view that carries it.
pub fn utm_params(query: &str) -> Utm {
    let mut utm = Utm::default();
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        let Some(index) = Utm::FIELDS.iter().position(|field| *field == name) else {
            continue;
        };
        let length = value.chars().count();
        let keeps_rule = (1..=UTM_MAX).contains(&length) && !value.chars().any(char::is_control);
        let slot = utm.slots().into_iter().nth(index);
        if let Some(slot) = slot
            && slot.is_none()
            && keeps_rule
        {
            *slot = Some(value.into_owned());
        }
    }
    utm
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn query_strings_and_fragments_are_cut() {
        assert_eq!(without_query("/p?email=a@b.c#top"), "/p");
        assert_eq!(without_query("/p#x?y"), "/p");
        assert_eq!(
            without_query("https://r.example/a?q=1"),
            "https://r.example/a"
        );
        assert_eq!(query("https://s.example/p?a=1#f"), Some("a=1"));
        assert_eq!(query("https://s.example/p#f?a=1"), None);
    }

    #[test]
    fn a_url_gives_its_path() {
        assert_eq!(
            path("https://shop.example/products/1?utm_source=x"),
            "/products/1"
        );
        assert_eq!(path("https://shop.example"), "/");
        assert_eq!(path("https://shop.example?x=1"), "/");
        assert_eq!(path("HTTP://shop.example:8080/a#b"), "/a");
    }

    #[test]
    fn only_web_urls_are_urls() {
        assert!(is_web_url("https://shop.example/"));
        assert!(is_web_url("HTTP://shop.example"));
        for bad in [
            "/p",
            "shop.example/p",
            "ftp://x/",
            "https:///p",
            "javascript:alert(1)",
        ] {
            assert!(!is_web_url(bad), "{bad}");
        }
    }

    #[test]
    fn hosts_are_lower_case_without_www_port_or_credentials() {
        assert_eq!(
            host("https://WWW.Google.COM/search?q=x").as_deref(),
            Some("google.com")
        );
        assert_eq!(
            host("http://user:pw@blog.example:8080/").as_deref(),
            Some("blog.example")
        );
        assert_eq!(
            host("https://[2001:db8::1]:443/").as_deref(),
            Some("2001:db8::1")
        );
        assert_eq!(
            host("android-app://com.google.android.gm/").as_deref(),
            Some("com.google.android.gm")
        );
        assert_eq!(host("news.example/a").as_deref(), Some("news.example"));
        assert_eq!(
            host("https://example.com./").as_deref(),
            Some("example.com")
        );
        assert_eq!(host(""), None);
        assert_eq!(host("https:///x"), None);
    }

    #[test]
    fn utm_parameters_are_decoded_and_bounded() {
        let utm =
            utm_params("utm_source=a+b&utm_source=second&utm_medium=&utm_campaign=%E2%82%AC&x=1");
        assert_eq!(utm.source.as_deref(), Some("a b"));
        assert_eq!(utm.medium, None, "empty breaks the 1-256 rule");
        assert_eq!(utm.campaign.as_deref(), Some("€"));
        let long = format!("utm_term={}", "t".repeat(257));
        assert_eq!(utm_params(&long).term, None);
        assert_eq!(utm_params("utm_content=a%0Ab").content, None);
    }
}
