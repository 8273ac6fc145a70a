//! What ingestion derives about the shopper from the user agent and the IP address (docs/API.md, "Where buyers come from"):
//! `device`, `browser`, `os`, `is_bot` and `country`. The where-from fields (source, channel,
//! …) are pure rules of the domain, applied by the validators; these need data from outside
//! (a user-agent pattern set, a GeoIP database), so they live here.
//!
//! | module | owns |
//! |---|---|
//! | [`agent`] | device, browser, os and bots from a user agent (`woothee`) |
//! | [`geo`] | the country of an IP address from `GEOIP_DB` (`maxminddb`) |
//! | [`shopper`] | whose user agent and IP an event carries: the body's, or a browser's own |

pub mod agent;
pub mod geo;
pub mod shopper;

use events_core::event::{Shopper, Traffic};

use geo::Geo;

/// Fills the shopper's part of `traffic` from the user agent and IP address.
pub fn fill(traffic: &mut Traffic, shopper: &Shopper, geo: Option<&Geo>) {
    if let Some(user_agent) = &shopper.user_agent {
        let agent = agent::parse(user_agent);
        traffic.device = agent.device.map(str::to_owned);
        traffic.browser = agent.browser;
        traffic.os = agent.os;
        traffic.is_bot = agent.is_bot;
    }
    if let (Some(ip), Some(geo)) = (shopper.ip, geo) {
        traffic.country = geo.country(ip);
    }
}
