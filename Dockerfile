# downpour: one binary (`edge`, `consumer`, `migrate`, `dev`, `keys create`).
#
#   docker build -t downpour .
#   docker run --rm downpour --help
#
# Only the files the build needs are copied, so a local `target/` never enters
# the image. If the crate gains a build.rs, benches/ or examples/ that Cargo.toml
# names explicitly, add a COPY line for them here.

FROM rust:1-bookworm AS builder
WORKDIR /src
# rdkafka's bundled librdkafka builds with make + gcc (+ zlib headers), and
# TLS (rdkafka's `ssl`, clickhouse's `native-tls`) links the system OpenSSL
# (libssl-dev, pkg-config): the rust:bookworm image has all of them; no cmake,
# no python. The runtime image gets libssl3 with ca-certificates.
COPY Cargo.toml Cargo.lock ./
COPY src ./src
# Both are embedded with include_str! and also shipped in the runtime image.
COPY pipelines ./pipelines
COPY sql ./sql
RUN cargo build --release --locked --no-default-features \
 && cp target/release/downpour /usr/local/bin/downpour

FROM debian:bookworm-slim
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates \
 && rm -rf /var/lib/apt/lists/* \
 && useradd --system --no-create-home --shell /usr/sbin/nologin downpour
WORKDIR /app
COPY --from=builder /usr/local/bin/downpour /app/downpour
COPY --from=builder /src/pipelines /app/pipelines
COPY --from=builder /src/sql /app/sql
ENV PATH="/app:${PATH}"
USER downpour
EXPOSE 8080
ENTRYPOINT ["downpour"]
