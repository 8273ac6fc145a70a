//! The known search engines and social networks, read once from `sources.txt` (its header
//! says where the names came from): the canonical name of a `utm_source` spelling or of a
//! referrer's domain, and whether it is a search engine or a social network.

use std::collections::HashMap;
use std::sync::LazyLock;

/// What a known source is, for the channel rules.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    Search,
    Social,
}

/// One known service.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Known {
    /// The canonical name stored as `source` (`Google`).
    pub name: &'static str,
    pub kind: Kind,
}

/// The list, indexed.
struct Sources {
    /// Lower-case utm_source spellings and canonical names.
    by_spelling: HashMap<String, Known>,
    /// Exact domains (matching their subdomains too).
    by_domain: HashMap<&'static str, Known>,
    /// `brand.*` patterns: the brand label.
    by_brand: HashMap<&'static str, Known>,
}

const LIST: &str = include_str!("sources.txt");

static SOURCES: LazyLock<Sources> = LazyLock::new(|| parse(LIST));

fn parse(list: &'static str) -> Sources {
    let mut sources = Sources {
        by_spelling: HashMap::new(),
        by_domain: HashMap::new(),
        by_brand: HashMap::new(),
    };
    let lines = list
        .lines()
        .map(str::trim)
        .filter(|line| !line.is_empty() && !line.starts_with('#'));
    for line in lines {
        let fields: Vec<&str> = line.split('|').map(str::trim).collect();
        let [name, kind, spellings, domains] = fields[..] else {
            continue;
        };
        let kind = if kind == "search" {
            Kind::Search
        } else {
            Kind::Social
        };
        let known = Known { name, kind };
        sources.by_spelling.insert(name.to_ascii_lowercase(), known);
        for spelling in spellings.split(',').map(str::trim) {
            sources.by_spelling.insert(spelling.to_owned(), known);
        }
        for domain in domains.split(',').map(str::trim) {
            match domain.strip_suffix(".*") {
                Some(brand) => sources.by_brand.insert(brand, known),
                None => sources.by_domain.insert(domain, known),
            };
        }
    }
    sources
}

/// The service a `utm_source` names, by spelling (`google`, `fb`) or by domain
/// (`l.facebook.com`), case-insensitively.
pub fn known(source: &str) -> Option<Known> {
    let lower = source.trim().to_ascii_lowercase();
    SOURCES
        .by_spelling
        .get(&lower)
        .copied()
        .or_else(|| by_domain(&lower))
}

/// The canonical name of a known `utm_source`.
pub fn canonical(source: &str) -> Option<&'static str> {
    known(source).map(|k| k.name)
}

/// Whether a (derived) source is a search engine or a social network.
pub fn kind_of(source: &str) -> Option<Kind> {
    known(source).map(|k| k.kind)
}

/// The service a referrer domain (lower case, without `www.`) belongs to.
pub fn by_domain(domain: &str) -> Option<Known> {
    let sources = &*SOURCES;
    let mut rest = domain;
    loop {
        if let Some(known) = sources.by_domain.get(rest) {
            return Some(*known);
        }
        match rest.split_once('.') {
            Some((_, parent)) => rest = parent,
            None => break,
        }
    }
    // `google.*`: the brand label followed by a country ending of one to three short labels
    // (`de`, `co.uk`, `com.br`), so that `google.evil.example` is not Google.
    let labels: Vec<&str> = domain.split('.').collect();
    labels.iter().enumerate().find_map(|(i, label)| {
        let ending = &labels[i + 1..];
        let country_ending =
            (1..=2).contains(&ending.len()) && ending.iter().all(|l| (2..=3).contains(&l.len()));
        if country_ending {
            sources.by_brand.get(label).copied()
        } else {
            None
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_required_service_is_known() {
        let search = [
            "Google",
            "Bing",
            "DuckDuckGo",
            "Yahoo",
            "Yandex",
            "Baidu",
            "Ecosia",
            "Brave",
            "Qwant",
        ];
        for name in search {
            assert_eq!(
                known(name).map(|k| (k.name, k.kind)),
                Some((name, Kind::Search))
            );
        }
        let social = [
            "Facebook",
            "Instagram",
            "X",
            "LinkedIn",
            "Pinterest",
            "Reddit",
            "TikTok",
            "YouTube",
        ];
        for name in social {
            assert_eq!(
                known(name).map(|k| (k.name, k.kind)),
                Some((name, Kind::Social))
            );
        }
    }

    #[test]
    fn spellings_map_to_canonical_names() {
        assert_eq!(canonical("google"), Some("Google"));
        assert_eq!(canonical("GOOGLE"), Some("Google"));
        assert_eq!(canonical("fb"), Some("Facebook"));
        assert_eq!(canonical("twitter"), Some("X"));
        assert_eq!(canonical("l.instagram.com"), Some("Instagram"));
        assert_eq!(canonical("newsletter"), None);
    }

    #[test]
    fn domains_match_with_subdomains_and_country_endings() {
        let name = |d: &str| by_domain(d).map(|k| k.name);
        assert_eq!(name("google.com"), Some("Google"));
        assert_eq!(name("google.co.uk"), Some("Google"));
        assert_eq!(name("google.com.br"), Some("Google"));
        assert_eq!(name("news.google.de"), Some("Google"));
        assert_eq!(name("t.co"), Some("X"));
        assert_eq!(name("l.facebook.com"), Some("Facebook"));
        assert_eq!(name("m.youtube.com"), Some("YouTube"));
        assert_eq!(name("search.brave.com"), Some("Brave"));
        assert_eq!(
            name("brave.com"),
            None,
            "the browser's site is not the search engine"
        );
        assert_eq!(name("google.evil.example"), None);
        assert_eq!(name("notgoogle.com"), None);
        assert_eq!(name("blog.example"), None);
    }
}
