# syntax=docker/dockerfile:1
# One image with every binary of the workspace: crypto-market-mcp (MCP server / gateway),
# crypto-market-worker (Redis worker pool), crypto-market-sim (exchange simulator) and
# crypto-market (the command line for people; it finds crypto-market-mcp beside it).
#   docker build -t crypto-market-mcp:local .
# compose.yaml builds and runs it; deploy/ runs it on Kubernetes.

ARG RUST_IMAGE=rust:1.95-slim-bookworm
# The runtime must have the builder's glibc (or newer): same Debian release.
ARG RUNTIME_IMAGE=debian:bookworm-slim

FROM ${RUST_IMAGE} AS builder
WORKDIR /src
COPY . .
# The registry and target/ are BuildKit caches (kept between builds, not in the image), so the
# binaries are copied out of target/ in the same step. ccxt makes a clean release build long
# (~6 minutes on 2 cores); an incremental one after a source change is much shorter.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    cargo build --release --locked --workspace --bins \
    && mkdir -p /out \
    && cp target/release/crypto-market-mcp \
          target/release/crypto-market \
          target/release/crypto-market-worker \
          target/release/crypto-market-sim /out/

FROM ${RUNTIME_IMAGE} AS runtime
# No CA bundle or OpenSSL needed: every TLS client (exchanges, rediss://) is rustls with
# Mozilla's roots compiled in. No curl/wget either: http-probe (bash's /dev/tcp) is the
# container health check; Kubernetes probes need nothing in the image.
COPY --chmod=0755 deploy/http-probe /usr/local/bin/http-probe
COPY --from=builder /out/crypto-market-mcp /out/crypto-market /out/crypto-market-worker /out/crypto-market-sim /usr/local/bin/
# A numeric non-root user, so Kubernetes' runAsNonRoot can verify it. The binaries write no
# files: the root file system may be read-only.
USER 10001:10001
# 8080: MCP over HTTP (--http), 9100: METRICS_ADDR (/metrics, /healthz), 9000: the simulator.
EXPOSE 8080 9100 9000
CMD ["crypto-market-mcp", "--help"]
