//! The built dashboard at `/`, with history fallback to `index.html`, served only from inside
//! `DASHBOARD_DIR` (docs/SECURITY.md).
//!
//! `ServeDir` alone follows symlinks wherever they point, serves dotfiles (`.env`, `.git/`),
//! and answers a directory asked without its slash with a redirect to the same path plus `/`
//! — so `//assets` was redirected to `//assets/`, which a browser reads as another host. In
//! front of it, a path is refused (`404`, never the fallback page) when it holds an empty
//! segment, a segment starting with `.`, or a backslash, or when the file it names resolves
//! outside the folder.

use std::convert::Infallible;
use std::path::{Path, PathBuf};

use axum::extract::Request;
use axum::response::{IntoResponse, Response};
use tower::ServiceExt;
use tower::util::BoxCloneSyncService;
use tower_http::services::{ServeDir, ServeFile};

/// The dashboard service for `dir`.
pub fn service(dir: &Path) -> BoxCloneSyncService<Request, Response, Infallible> {
    let index = ServeFile::new(dir.join("index.html"));
    let files = ServeDir::new(dir).fallback(index);
    // Canonical once: every check compares against the real folder.
    let root = std::fs::canonicalize(dir).unwrap_or_else(|_| dir.to_owned());
    BoxCloneSyncService::new(tower::service_fn(move |request: Request| {
        let files = files.clone();
        let root = root.clone();
        async move {
            if !is_confined(&root, request.uri().path()) {
                return Ok::<_, Infallible>(events_core::http::not_found().await);
            }
            Ok(match files.oneshot(request).await {
                Ok(response) => response.into_response(),
                Err(never) => match never {},
            })
        }
    }))
}

/// Whether `path` (as requested, percent-encoded) may be served from `root`.
fn is_confined(root: &Path, path: &str) -> bool {
    let Some(relative) = path.strip_prefix('/') else {
        return false;
    };
    let decoded = percent_decode(relative);
    if decoded.is_empty() {
        return true;
    }
    let segments: Vec<&str> = decoded.split('/').collect();
    let last = segments.len() - 1;
    for (i, segment) in segments.iter().enumerate() {
        // An empty segment is `//`; a trailing slash (the last one empty) is a directory.
        if (segment.is_empty() && i != last) || segment.starts_with('.') || segment.contains('\\') {
            return false;
        }
    }
    let target: PathBuf = root.join(&decoded);
    match std::fs::canonicalize(&target) {
        Ok(real) => real.starts_with(root),
        // Missing: the history fallback answers with index.html.
        Err(_) => true,
    }
}

/// `%XX` escapes decoded; invalid escapes and non-UTF-8 results are kept as they are (the
/// file server refuses those itself).
fn percent_decode(text: &str) -> String {
    let bytes = text.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        let hex = |b: u8| char::from(b).to_digit(16);
        if bytes[i] == b'%'
            && i + 2 < bytes.len()
            && let (Some(high), Some(low)) = (hex(bytes[i + 1]), hex(bytes[i + 2]))
        {
            out.push((high * 16 + low) as u8);
            i += 3;
            continue;
        }
        out.push(bytes[i]);
        i += 1;
    }
    String::from_utf8(out).unwrap_or_else(|_| text.to_owned())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percent_escapes_are_decoded() {
        assert_eq!(percent_decode("%2eenv"), ".env");
        assert_eq!(percent_decode("a%2Fb"), "a/b");
        assert_eq!(percent_decode("100%"), "100%");
        assert_eq!(percent_decode("%zz"), "%zz");
    }

    #[test]
    fn dotfiles_empty_segments_and_backslashes_are_refused() {
        let root = Path::new("/nonexistent-root");
        for bad in [
            "/.env",
            "/%2eenv",
            "/assets/.git/config",
            "//assets",
            "/a//b",
            "/a\\b",
        ] {
            assert!(!is_confined(root, bad), "{bad}");
        }
        for good in [
            "/",
            "/index.html",
            "/assets/",
            "/assets/app.js",
            "/products",
        ] {
            assert!(is_confined(root, good), "{good}");
        }
    }
}
