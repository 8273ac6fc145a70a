//! Whose user agent and IP address an event carries (docs/API.md and docs/SECURITY.md). A server-side sender
//! forwards the shopper's in the `user_agent` and `ip` fields. A browser is the shopper: for a
//! request made with a public key the `User-Agent` header and the connection's address
//! (behind `TRUSTED_PROXIES`, as for rate limits) are used and the body's fields ignored, so
//! a page cannot claim another shopper's identity. With `AUTH=off` there are no public keys: a
//! request with an `Origin` header (which browsers send with every cross-site `POST`) is
//! taken as a browser's.

use std::net::IpAddr;

use axum::http::{HeaderMap, header};
use events_core::event::Shopper;
use events_core::keys::KeyKind;
use events_core::keys::access::Authenticated;
use events_core::keys::client::TrustedProxies;

/// The longest user agent kept from a header, as for the `user_agent` field.
const MAX_USER_AGENT: usize = 1024;

/// The shopper of a browser's request, or `None` for a server's (whose events name their
/// own shopper).
pub fn of_browser(
    key: Option<&Authenticated>,
    headers: &HeaderMap,
    peer: Option<IpAddr>,
    proxies: &TrustedProxies,
) -> Option<Shopper> {
    let browser = match key {
        Some(Authenticated(key)) => key.record.kind == KeyKind::Public,
        None => headers.contains_key(header::ORIGIN),
    };
    if !browser {
        return None;
    }
    let user_agent = headers
        .get(header::USER_AGENT)
        .and_then(|value| value.to_str().ok())
        .map(|text| text.chars().take(MAX_USER_AGENT).collect::<String>())
        .filter(|text| !text.is_empty());
    let ip = peer.map(|_| proxies.client_address(peer, headers));
    Some(Shopper { user_agent, ip })
}
