# The three services' images, from the repository root; pick one with --target:
#   docker build --target ingestion -t shop-analytics-ingestion .
#   docker build --target consumer  -t shop-analytics-consumer  .
#   docker build --target analytics -t shop-analytics-analytics .   (serves the dashboard at /)
# docker-compose.yml builds all three. One build stage compiles the three binaries, so the three
# targets share it (built once, then cached).
#
# The base images are build arguments (--build-arg RUST_IMAGE=…), defaulting to the public ones.
# A machine without registry access tags local stand-ins with these names:
# scripts/base-images.sh (docs/OPERATIONS.md, "Docker Compose").
#
# Plain Dockerfile syntax only (no `# syntax=` line, no RUN --mount): it builds with BuildKit
# (Compose v2) and with the classic builder (Compose v1), and fetches no frontend image.
#
# Offline builds: when .vendor/ exists in the build context (`make vendor` fills it: the crates of
# Cargo.lock and an npm cache of frontend/package-lock.json), the build uses it and needs no
# network; without it, crates come from crates.io and packages from the npm registry.
ARG RUST_IMAGE=rust:1.95-slim-bookworm
ARG NODE_IMAGE=node:20-bookworm-slim
ARG DEBIAN_IMAGE=debian:bookworm-slim

# The dashboard: static files, built here and served by analytics (DASHBOARD_DIR).
FROM ${NODE_IMAGE} AS dashboard
WORKDIR /frontend
# The lock file alone first (and the npm cache, if vendored: `.vendor/np[m]` matches nothing
# when it is absent), so a code change does not reinstall every package.
COPY frontend/package.json frontend/package-lock.json .vendor/np[m] ./
# The lock file was written by npm 11 (as on the development machines); npm 10, which the public
# image ships, is the version known to fail to install Vite 8 here.
RUN if [ -d npm-cache ]; then export npm_config_cache=/frontend/npm-cache npm_config_offline=true; fi \
    && if [ "$(npm --version | cut -d. -f1)" -lt 11 ]; then npm install -g npm@11 --no-audit --no-fund; fi \
    && npm ci --no-audit --no-fund \
    && rm -rf npm-cache
COPY frontend/ ./
RUN npm run build

# The three binaries. With .vendor/cargo present, its .cargo/config.toml points cargo at the
# vendored crates beside it (`.vendor/carg[o]` matches nothing when it is absent).
FROM ${RUST_IMAGE} AS build
WORKDIR /src
COPY Cargo.toml Cargo.lock .vendor/carg[o] ./
COPY crates ./crates
RUN cargo build --release --locked --bin ingestion --bin consumer --bin analytics \
    && install -D -t /out target/release/ingestion target/release/consumer target/release/analytics \
    && rm -rf target

# What the three images share: curl for the health checks (nothing else is needed at run time;
# SQLite is built in), an unprivileged user, /data for the SQLite store.
FROM ${DEBIAN_IMAGE} AS runtime
RUN if ! command -v curl >/dev/null; then \
        apt-get update \
        && apt-get install -y --no-install-recommends curl ca-certificates \
        && rm -rf /var/lib/apt/lists/*; \
    fi \
    && useradd --system --uid 10001 --home-dir /app --create-home app \
    && mkdir -p /data && chown app /data
WORKDIR /app
USER app

# The health checks follow the address variables, so moving a port does not fail them.
FROM runtime AS ingestion
COPY --from=build /out/ingestion /usr/local/bin/ingestion
ENV INGESTION_ADDR=0.0.0.0:8080
EXPOSE 8080
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${INGESTION_ADDR##*:}/v1/health" || exit 1
ENTRYPOINT ["ingestion"]

FROM runtime AS consumer
COPY --from=build /out/consumer /usr/local/bin/consumer
ENV DATABASE_URL=sqlite:///data/analytics.db CONSUMER_METRICS_ADDR=127.0.0.1:9102
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${CONSUMER_METRICS_ADDR##*:}/health" || exit 1
ENTRYPOINT ["consumer"]

FROM runtime AS analytics
COPY --from=build /out/analytics /usr/local/bin/analytics
COPY --from=dashboard /frontend/dist /app/dashboard
ENV ANALYTICS_ADDR=0.0.0.0:8000 DATABASE_URL=sqlite:///data/analytics.db DASHBOARD_DIR=/app/dashboard
EXPOSE 8000
HEALTHCHECK --interval=10s --timeout=3s --start-period=10s --retries=3 \
    CMD curl -fsS "http://127.0.0.1:${ANALYTICS_ADDR##*:}/api/ready" || exit 1
ENTRYPOINT ["analytics"]
