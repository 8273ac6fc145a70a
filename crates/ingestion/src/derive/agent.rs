//! Device, browser, os and bots from a user agent, with `woothee`'s maintained pattern set
//! (about 3 µs a call and well under 1 MB: docs/PERFORMANCE.md), mapped to docs/API.md's family
//! names. A few bot signs woothee does not know (headless browsers, link-preview fetchers)
//! are checked on top.

use std::sync::LazyLock;

use woothee::parser::Parser;

static PARSER: LazyLock<Parser> = LazyLock::new(Parser::new);

/// What a user agent says.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Agent {
    /// `desktop`, `mobile` or `tablet`.
    pub device: Option<&'static str>,
    pub browser: Option<String>,
    pub os: Option<String>,
    pub is_bot: bool,
}

/// Signs of a crawler, preview fetcher or headless browser, in a lower-case user agent.
const BOT_SIGNS: [&str; 20] = [
    "bot/",
    "bot;",
    "bot)",
    "bot-",
    "crawler",
    "spider",
    "slurp",
    "headless",
    "facebookexternalhit",
    "facebookcatalog",
    "whatsapp",
    "telegrambot",
    "preview",
    "lighthouse",
    "phantomjs",
    "python-requests",
    "curl/",
    "wget/",
    "go-http-client",
    "scrapy",
];

/// Parses one user agent.
pub fn parse(user_agent: &str) -> Agent {
    let lower = user_agent.to_ascii_lowercase();
    let signs_of_bot = BOT_SIGNS.iter().any(|sign| lower.contains(sign));
    let Some(result) = PARSER.parse(user_agent) else {
        return Agent {
            is_bot: signs_of_bot,
            ..Agent::default()
        };
    };
    let is_bot = signs_of_bot || result.category == "crawler";
    let device = match result.category {
        _ if is_bot => None,
        "pc" => Some("desktop"),
        "smartphone" if result.os == "iPad" => Some("tablet"),
        // Android tablets leave `Mobile` out of their user agent (Google's own advice).
        "smartphone" if result.os == "Android" && !user_agent.contains("Mobile") => Some("tablet"),
        "smartphone" | "mobilephone" => Some("mobile"),
        _ => None,
    };
    Agent {
        device,
        browser: known(result.name).map(browser_family),
        os: known(result.os).map(os_family),
        is_bot,
    }
}

fn known(name: &str) -> Option<&str> {
    (!name.is_empty() && name != "UNKNOWN").then_some(name)
}

fn browser_family(name: &str) -> String {
    match name {
        "SamsungBrowser" => "Samsung Internet",
        other => other,
    }
    .to_owned()
}

fn os_family(name: &str) -> String {
    match name {
        n if n.starts_with("Windows") && n != "Windows Phone OS" => "Windows",
        "Mac OSX" | "Mac OS Classic" => "macOS",
        "iPhone" | "iPad" | "iPod" | "iOS" => "iOS",
        other => other,
    }
    .to_owned()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn summary(ua: &str) -> (Option<&'static str>, Option<String>, Option<String>, bool) {
        let agent = parse(ua);
        (agent.device, agent.browser, agent.os, agent.is_bot)
    }

    fn some(text: &str) -> Option<String> {
        Some(text.to_owned())
    }

    #[test]
    fn common_browsers_get_family_names() {
        let chrome_windows = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        assert_eq!(
            summary(chrome_windows),
            (Some("desktop"), some("Chrome"), some("Windows"), false)
        );
        let safari_iphone = "Mozilla/5.0 (iPhone; CPU iPhone OS 17_4 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/17.4 Mobile/15E148 Safari/604.1";
        assert_eq!(
            summary(safari_iphone),
            (Some("mobile"), some("Safari"), some("iOS"), false)
        );
        let safari_ipad = "Mozilla/5.0 (iPad; CPU OS 16_6 like Mac OS X) AppleWebKit/605.1.15 (KHTML, like Gecko) Version/16.6 Mobile/15E148 Safari/604.1";
        assert_eq!(
            summary(safari_ipad),
            (Some("tablet"), some("Safari"), some("iOS"), false)
        );
        let firefox_mac =
            "Mozilla/5.0 (Macintosh; Intel Mac OS X 14.4; rv:125.0) Gecko/20100101 Firefox/125.0";
        assert_eq!(
            summary(firefox_mac),
            (Some("desktop"), some("Firefox"), some("macOS"), false)
        );
        let chrome_android = "Mozilla/5.0 (Linux; Android 14; Pixel 8) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Mobile Safari/537.36";
        assert_eq!(
            summary(chrome_android),
            (Some("mobile"), some("Chrome"), some("Android"), false)
        );
        let android_tablet = "Mozilla/5.0 (Linux; Android 13; SM-X700) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36";
        assert_eq!(parse(android_tablet).device, Some("tablet"));
        let edge = "Mozilla/5.0 (Windows NT 10.0; Win64; x64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/124.0.0.0 Safari/537.36 Edg/124.0.2478.80";
        assert_eq!(parse(edge).browser, some("Edge"));
        let firefox_linux =
            "Mozilla/5.0 (X11; Linux x86_64; rv:125.0) Gecko/20100101 Firefox/125.0";
        assert_eq!(parse(firefox_linux).os, some("Linux"));
    }

    #[test]
    fn crawlers_previews_and_headless_browsers_are_bots() {
        for ua in [
            "Mozilla/5.0 (compatible; Googlebot/2.1; +http://www.google.com/bot.html)",
            "Mozilla/5.0 (compatible; bingbot/2.0; +http://www.bing.com/bingbot.htm)",
            "facebookexternalhit/1.1 (+http://www.facebook.com/externalhit_uatext.php)",
            "Slackbot-LinkExpanding 1.0 (+https://api.slack.com/robots)",
            "Twitterbot/1.0",
            "WhatsApp/2.23.20.0",
            "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) HeadlessChrome/124.0.0.0 Safari/537.36",
            "curl/8.5.0",
            "python-requests/2.31.0",
        ] {
            let agent = parse(ua);
            assert!(agent.is_bot, "{ua}");
            assert_eq!(agent.device, None, "{ua}");
        }
    }

    #[test]
    fn nonsense_gives_nothing() {
        assert_eq!(parse("just some text"), Agent::default());
        assert_eq!(parse(""), Agent::default());
    }
}
