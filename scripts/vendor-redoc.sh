#!/usr/bin/env bash
# Refreshes the API reference page's script (/api/docs) from npm at the pinned version, into
# crates/analytics/assets/redoc/, where `include_bytes!` embeds it into the analytics binary
# (no CDN at run time). Change REDOC_VERSION and run it; commit what it writes.
set -euo pipefail
REDOC_VERSION=2.5.1
cd "$(dirname "$0")/.."
out=crates/analytics/assets/redoc
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
(cd "$tmp" && npm pack --silent "redoc@$REDOC_VERSION" >/dev/null && tar xzf "redoc-$REDOC_VERSION.tgz")
mkdir -p "$out"
# The source map is not shipped, so its comment goes too. The bundle's one outside URL, the
# footer's Redocly logo from cdn.redoc.ly, becomes an empty image (Redoc then hides it), so the
# page asks nothing of another host (its CSP would refuse it anyway, with a console error).
logo='src:"https://cdn.redoc.ly/redoc/logo-mini.svg"'
grep -qF "$logo" "$tmp/package/bundles/redoc.standalone.js" || { echo "error: the logo URL moved; check the bundle" >&2; exit 1; }
grep -v '^//# sourceMappingURL=' "$tmp/package/bundles/redoc.standalone.js" \
	| sed 's#src:"https://cdn.redoc.ly/redoc/logo-mini.svg"#src:"data:,"#' >"$out/redoc.standalone.js"
cp "$tmp/package/bundles/redoc.standalone.js.LICENSE.txt" "$out/"
cp "$tmp/package/LICENSE" "$out/LICENSE"
echo "$REDOC_VERSION" >"$out/VERSION"
echo "vendored redoc $REDOC_VERSION into $out"
