//! Where an event came from, derived at ingestion (docs/API.md) from the page's URL, the
//! referrer and the `utm_*` fields: `referrer_domain`, `source`, `medium`, `campaign` and
//! `channel`. Pure rules over text; the parts that need data from outside this crate (the
//! user agent's device, browser and os, the country of an IP address) are ingestion's.
//!
//! | module | owns |
//! |---|---|
//! | [`url`] | the pieces of a URL the rules read: host, path, `utm_*` parameters |
//! | [`sources`] | the known search engines and social networks (`sources.txt`) |
//! | [`channel`] | the ordered channel rules |

pub mod channel;
pub mod sources;
pub mod url;

use crate::event::Traffic;

/// The five `utm_*` fields of an event, as sent or as read from its URL.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Utm {
    pub source: Option<String>,
    pub medium: Option<String>,
    pub campaign: Option<String>,
    pub term: Option<String>,
    pub content: Option<String>,
}

impl Utm {
    /// The names of the fields, in the order of [`Utm::slots`].
    pub const FIELDS: [&'static str; 5] = [
        "utm_source",
        "utm_medium",
        "utm_campaign",
        "utm_term",
        "utm_content",
    ];

    /// Whether any of the five is given.
    pub fn any(&self) -> bool {
        self.slots_ref().iter().any(|slot| slot.is_some())
    }

    /// The fields in the order of [`Utm::FIELDS`].
    pub fn slots(&mut self) -> [&mut Option<String>; 5] {
        [
            &mut self.source,
            &mut self.medium,
            &mut self.campaign,
            &mut self.term,
            &mut self.content,
        ]
    }

    fn slots_ref(&self) -> [&Option<String>; 5] {
        [
            &self.source,
            &self.medium,
            &self.campaign,
            &self.term,
            &self.content,
        ]
    }

    /// Fills the fields the event lacks from the `utm_*` parameters of its URL.
    pub fn fill_from_url(&mut self, page_url: &str) {
        let Some(query) = url::query(page_url) else {
            return;
        };
        let mut found = url::utm_params(query);
        for (slot, from_url) in self.slots().into_iter().zip(found.slots()) {
            if slot.is_none() {
                *slot = from_url.take();
            }
        }
    }
}

/// The where-from fields of [`Traffic`] for an event with this page URL, referrer and `utm_*`
/// (the rest of `Traffic` is left empty).
pub fn where_from(page_url: Option<&str>, referrer: Option<&str>, utm: &Utm) -> Traffic {
    let referrer_host = referrer.and_then(url::host);
    let same_site = match (&referrer_host, page_url.and_then(url::host)) {
        (Some(referrer), Some(page)) => *referrer == page,
        _ => false,
    };
    let referrer_domain = referrer_host.filter(|_| !same_site);
    let source = match &utm.source {
        Some(given) => Some(sources::canonical(given).map_or_else(|| given.clone(), str::to_owned)),
        None => referrer_domain.as_deref().map(|domain| {
            sources::by_domain(domain)
                .map_or_else(|| domain.to_owned(), |known| known.name.to_owned())
        }),
    };
    let channel = channel::channel(&channel::Signals {
        source: source.as_deref(),
        medium: utm.medium.as_deref(),
        has_referrer: referrer_domain.is_some(),
        has_utm: utm.any(),
    });
    Traffic {
        referrer_domain,
        source,
        medium: utm.medium.clone(),
        campaign: utm.campaign.clone(),
        channel: Some(channel.as_str().to_owned()),
        ..Traffic::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn utm(source: Option<&str>, medium: Option<&str>) -> Utm {
        Utm {
            source: source.map(str::to_owned),
            medium: medium.map(str::to_owned),
            ..Utm::default()
        }
    }

    #[test]
    fn a_same_site_referrer_is_no_referrer() {
        let traffic = where_from(
            Some("https://www.shop.example/p/2"),
            Some("https://shop.example/p/1?x=1"),
            &Utm::default(),
        );
        assert_eq!(traffic.referrer_domain, None);
        assert_eq!(traffic.source, None);
        assert_eq!(traffic.channel.as_deref(), Some("Direct"));
    }

    #[test]
    fn a_known_referrer_gets_its_canonical_name() {
        let traffic = where_from(
            Some("https://shop.example/"),
            Some("https://www.google.co.uk/"),
            &Utm::default(),
        );
        assert_eq!(traffic.referrer_domain.as_deref(), Some("google.co.uk"));
        assert_eq!(traffic.source.as_deref(), Some("Google"));
        assert_eq!(traffic.channel.as_deref(), Some("Organic Search"));
    }

    #[test]
    fn an_unknown_referrer_is_its_domain() {
        let traffic = where_from(
            None,
            Some("https://WWW.Blog.Example:8443/a#b"),
            &Utm::default(),
        );
        assert_eq!(traffic.referrer_domain.as_deref(), Some("blog.example"));
        assert_eq!(traffic.source.as_deref(), Some("blog.example"));
        assert_eq!(traffic.channel.as_deref(), Some("Referral"));
    }

    #[test]
    fn utm_source_wins_over_the_referrer_and_is_canonical_when_known() {
        let traffic = where_from(
            None,
            Some("https://t.co/abc"),
            &utm(Some("GOOGLE"), Some("CPC")),
        );
        assert_eq!(traffic.source.as_deref(), Some("Google"));
        assert_eq!(
            traffic.medium.as_deref(),
            Some("CPC"),
            "media are stored as sent"
        );
        assert_eq!(traffic.referrer_domain.as_deref(), Some("t.co"));
        assert_eq!(traffic.channel.as_deref(), Some("Paid Search"));
        let unknown = where_from(None, None, &utm(Some("spring-mailer"), None));
        assert_eq!(unknown.source.as_deref(), Some("spring-mailer"));
        assert_eq!(unknown.channel.as_deref(), Some("Other"));
    }

    #[test]
    fn direct_traffic_has_no_source() {
        let traffic = where_from(Some("https://shop.example/"), None, &Utm::default());
        assert_eq!(traffic.source, None);
        assert_eq!(traffic.channel.as_deref(), Some("Direct"));
        let campaign_only = Utm {
            campaign: Some("spring".into()),
            ..Utm::default()
        };
        let tagged = where_from(None, None, &campaign_only);
        assert_eq!(tagged.campaign.as_deref(), Some("spring"));
        assert_eq!(
            tagged.channel.as_deref(),
            Some("Other"),
            "a utm_* is not Direct"
        );
    }

    #[test]
    fn the_url_fills_only_missing_utm_fields() {
        let mut given = utm(Some("newsletter"), None);
        given.fill_from_url(
            "https://shop.example/p?utm_source=google&utm_medium=email&utm_campaign=a%20b&utm_term=x#f",
        );
        assert_eq!(given.source.as_deref(), Some("newsletter"));
        assert_eq!(given.medium.as_deref(), Some("email"));
        assert_eq!(given.campaign.as_deref(), Some("a b"));
        assert_eq!(given.term.as_deref(), Some("x"));
        assert_eq!(given.content, None);
    }
}
