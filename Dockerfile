# syntax=docker/dockerfile:1
# Keysmith's identity service (`keysmith serve`) as a container image:
#   docker build -t keysmith .
#   docker run -d -p 8080:8080 -v keysmith-data:/var/lib/keysmith keysmith
# Configuration comes from the environment (KEYSMITH_LISTEN, KEYSMITH_RP_ID,
# KEYSMITH_DATABASE_URL, KEYSMITH_KEK or KEYSMITH_KEK_FILE, KEYSMITH_CONFIG);
# data (SQLite and the key-encryption key) lives in the volume. See
# README.md, "Running the service".

FROM rust:1.89-bookworm AS build
WORKDIR /src
COPY . .
# The service needs no USB: build without the `usb` feature (no hidapi,
# no libudev at run time).
RUN cargo build --release --locked -p keysmith --no-default-features \
 && install -m 0755 target/release/keysmith /keysmith

FROM debian:bookworm-slim
# curl answers the HEALTHCHECK; ca-certificates for an MDS blob or
# PostgreSQL over TLS.
RUN apt-get update \
 && apt-get install -y --no-install-recommends ca-certificates=* curl=* \
 && rm -rf /var/lib/apt/lists/* \
 && groupadd --system --gid 10001 keysmith \
 && useradd --system --uid 10001 --gid keysmith --home-dir /var/lib/keysmith --shell /usr/sbin/nologin keysmith \
 && install -d -o keysmith -g keysmith -m 0700 /var/lib/keysmith
COPY --from=build /keysmith /usr/local/bin/keysmith
USER 10001:10001
ENV KEYSMITH_LISTEN=0.0.0.0:8080 \
    KEYSMITH_DATA_DIR=/var/lib/keysmith
VOLUME ["/var/lib/keysmith"]
EXPOSE 8080
HEALTHCHECK --interval=30s --timeout=3s --start-period=10s --retries=3 \
  CMD ["curl", "-fsS", "-o", "/dev/null", "http://127.0.0.1:8080/healthz"]
ENTRYPOINT ["/usr/local/bin/keysmith"]
CMD ["serve"]
