//! The channel of an event: the first of the ordered rules of docs/API.md that matches. Sources and
//! media match case-insensitively.

use super::sources::{self, Kind};

/// The channels, in the order their rules are tried.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Channel {
    PaidSearch,
    PaidSocial,
    Email,
    Affiliates,
    Display,
    OrganicSearch,
    OrganicSocial,
    Referral,
    Direct,
    Other,
}

impl Channel {
    /// The name stored and shown.
    pub fn as_str(self) -> &'static str {
        match self {
            Channel::PaidSearch => "Paid Search",
            Channel::PaidSocial => "Paid Social",
            Channel::Email => "Email",
            Channel::Affiliates => "Affiliates",
            Channel::Display => "Display",
            Channel::OrganicSearch => "Organic Search",
            Channel::OrganicSocial => "Organic Social",
            Channel::Referral => "Referral",
            Channel::Direct => "Direct",
            Channel::Other => "Other",
        }
    }
}

/// What the rules look at.
#[derive(Debug, Clone, Copy, Default)]
pub struct Signals<'a> {
    /// The derived source (canonical when known).
    pub source: Option<&'a str>,
    /// `utm_medium` as sent.
    pub medium: Option<&'a str>,
    /// Whether there is a `referrer_domain` (another site's).
    pub has_referrer: bool,
    /// Whether any `utm_*` field was given.
    pub has_utm: bool,
}

/// The first rule that matches, in the order docs/API.md gives.
pub fn channel(signals: &Signals) -> Channel {
    let kind = signals.source.and_then(sources::kind_of);
    let medium = signals.medium.map(str::to_ascii_lowercase);
    let medium = medium.as_deref();
    let paid =
        medium.is_some_and(|m| matches!(m, "cpc" | "ppc" | "retargeting") || m.starts_with("paid"));
    let is_email = |text: Option<&str>| {
        text.is_some_and(|t| {
            ["email", "e-mail", "newsletter"]
                .iter()
                .any(|e| t.eq_ignore_ascii_case(e))
        })
    };
    if kind == Some(Kind::Search) && paid {
        Channel::PaidSearch
    } else if kind == Some(Kind::Social) && paid {
        Channel::PaidSocial
    } else if is_email(medium) || is_email(signals.source) {
        Channel::Email
    } else if medium == Some("affiliate") {
        Channel::Affiliates
    } else if matches!(medium, Some("display" | "banner" | "cpm")) {
        Channel::Display
    } else if kind == Some(Kind::Search) {
        Channel::OrganicSearch
    } else if kind == Some(Kind::Social) {
        Channel::OrganicSocial
    } else if signals.has_referrer {
        Channel::Referral
    } else if !signals.has_utm {
        Channel::Direct
    } else {
        Channel::Other
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn of(source: Option<&str>, medium: Option<&str>, has_referrer: bool) -> &'static str {
        let has_utm = source.is_some() || medium.is_some();
        channel(&Signals {
            source,
            medium,
            has_referrer,
            has_utm,
        })
        .as_str()
    }

    #[test]
    fn each_rule_in_order() {
        assert_eq!(of(Some("Google"), Some("cpc"), false), "Paid Search");
        assert_eq!(of(Some("Bing"), Some("ppc"), false), "Paid Search");
        assert_eq!(
            of(Some("Google"), Some("paid_search"), false),
            "Paid Search"
        );
        assert_eq!(
            of(Some("Google"), Some("retargeting"), false),
            "Paid Search"
        );
        assert_eq!(of(Some("Facebook"), Some("paid"), true), "Paid Social");
        assert_eq!(of(Some("TikTok"), Some("cpc"), false), "Paid Social");
        assert_eq!(of(Some("mailchimp"), Some("email"), false), "Email");
        assert_eq!(of(Some("newsletter"), None, false), "Email");
        assert_eq!(of(Some("crm"), Some("e-mail"), false), "Email");
        assert_eq!(of(Some("awin"), Some("affiliate"), true), "Affiliates");
        assert_eq!(of(Some("criteo"), Some("display"), false), "Display");
        assert_eq!(of(Some("criteo"), Some("banner"), false), "Display");
        assert_eq!(of(Some("criteo"), Some("cpm"), false), "Display");
        assert_eq!(of(Some("Google"), None, true), "Organic Search");
        assert_eq!(of(Some("Google"), Some("organic"), false), "Organic Search");
        assert_eq!(of(Some("Reddit"), None, true), "Organic Social");
        assert_eq!(of(Some("blog.example"), None, true), "Referral");
        assert_eq!(of(None, None, false), "Direct");
        assert_eq!(of(Some("partner"), Some("cpc"), false), "Other");
        assert_eq!(of(None, Some("print"), false), "Other");
    }

    #[test]
    fn earlier_rules_win() {
        // Paid beats Email; Email beats Organic Social; a paid medium on an unknown source
        // with a referrer is a Referral, not Paid Search.
        assert_eq!(of(Some("Google"), Some("cpc"), true), "Paid Search");
        assert_eq!(of(Some("Facebook"), Some("email"), true), "Email");
        assert_eq!(of(Some("partner"), Some("cpc"), true), "Referral");
    }

    #[test]
    fn sources_and_media_match_case_insensitively() {
        assert_eq!(of(Some("google"), Some("CPC"), false), "Paid Search");
        assert_eq!(
            of(Some("FACEBOOK"), Some("Paid-Social"), false),
            "Paid Social"
        );
        assert_eq!(of(Some("x"), Some("Email"), false), "Email");
        assert_eq!(of(Some("NewsLetter"), None, false), "Email");
        assert_eq!(of(Some("partner"), Some("Affiliate"), false), "Affiliates");
        assert_eq!(of(Some("partner"), Some("DISPLAY"), false), "Display");
    }
}
