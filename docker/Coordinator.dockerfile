# syntax=docker/dockerfile:1.7
# fl-coordinator image. Build from the repository root:
#   docker build -f docker/Coordinator.dockerfile -t fl-coordinator .
# docker/Coordinator.dockerfile.dockerignore limits the build context (BuildKit).
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build ----------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY proto ./proto
COPY crates ./crates
# Cache mounts keep the registry and target/ between builds; target/ is not in the
# layer, so the binary is copied out in the same step.
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,id=fl-target,sharing=locked \
    cargo build --release --locked -p fl-coordinator --bin fl-coordinator \
    && install -D -m 0755 target/release/fl-coordinator /out/fl-coordinator

# ---- runtime --------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
# curl serves the HEALTHCHECK; ca-certificates lets the coordinator reach TLS
# endpoints (managed PostgreSQL/Redis).
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates curl \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fl \
    && useradd --system --uid 10001 --gid fl --home-dir /var/lib/fl --shell /usr/sbin/nologin fl \
    && install -d -o fl -g fl -m 0750 /var/lib/fl
COPY --from=builder /out/fl-coordinator /usr/local/bin/fl-coordinator
COPY config/coordinator.yaml /etc/fl/coordinator.yaml

# /var/lib/fl holds the SQLite database and checkpoints: mount a volume there.
# FL_DATABASE_URL, FL_REDIS_URL and FL_ADMIN_API_KEY come from the deployment.
ENV RUST_LOG=info \
    FL_DATA_DIR=/data/mnist
WORKDIR /var/lib/fl
VOLUME ["/var/lib/fl"]
USER 10001:10001
EXPOSE 50051 8080
HEALTHCHECK --interval=15s --timeout=3s --start-period=30s --retries=3 \
    CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/api/v1/health"]
ENTRYPOINT ["fl-coordinator"]
CMD ["--config", "/etc/fl/coordinator.yaml", "--grpc-addr", "0.0.0.0:50051", "--http-addr", "0.0.0.0:8080"]
