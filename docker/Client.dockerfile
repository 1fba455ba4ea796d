# syntax=docker/dockerfile:1.7
# fl-client image. Build from the repository root:
#   docker build -f docker/Client.dockerfile -t fl-client .
# Run: docker run fl-client --config /etc/fl/client.yaml --client-id client-001 \
#        --coordinator http://coordinator:50051   (and set FL_COORDINATOR to the same URL)
ARG RUST_VERSION=1.95
ARG DEBIAN_RELEASE=bookworm

# ---- build ----------------------------------------------------------------------
FROM rust:${RUST_VERSION}-${DEBIAN_RELEASE} AS builder
WORKDIR /src
COPY Cargo.toml Cargo.lock ./
COPY proto ./proto
COPY crates ./crates
RUN --mount=type=cache,target=/usr/local/cargo/registry,sharing=locked \
    --mount=type=cache,target=/usr/local/cargo/git,sharing=locked \
    --mount=type=cache,target=/src/target,id=fl-target,sharing=locked \
    cargo build --release --locked -p fl-client --bin fl-client \
    && install -D -m 0755 target/release/fl-client /out/fl-client

# ---- runtime --------------------------------------------------------------------
FROM debian:${DEBIAN_RELEASE}-slim AS runtime
RUN apt-get update \
    && apt-get install -y --no-install-recommends ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && groupadd --system --gid 10001 fl \
    && useradd --system --uid 10001 --gid fl --home-dir /var/lib/fl --shell /usr/sbin/nologin fl \
    && install -d -o fl -g fl -m 0750 /var/lib/fl
COPY --from=builder /out/fl-client /usr/local/bin/fl-client
COPY config/client.yaml /etc/fl/client.yaml

# The client's training data (MNIST IDX files) is mounted read-only at /data/mnist.
# FL_COORDINATOR is read only by the HEALTHCHECK below; pass the same URL to
# --coordinator.
ENV RUST_LOG=info \
    FL_DATA_DIR=/data/mnist \
    FL_COORDINATOR=http://coordinator:50051
WORKDIR /var/lib/fl
USER 10001:10001
# The client serves no port. Healthy means the coordinator's gRPC port accepts a
# TCP connection from this container (bash's /dev/tcp, so no extra package).
HEALTHCHECK --interval=30s --timeout=5s --start-period=30s --retries=3 \
    CMD ["bash", "-c", "hp=${FL_COORDINATOR#*://}; hp=${hp%%/*}; exec 3<>/dev/tcp/${hp%:*}/${hp##*:}"]
ENTRYPOINT ["fl-client"]
CMD ["--config", "/etc/fl/client.yaml"]
