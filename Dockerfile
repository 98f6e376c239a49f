# syntax=docker/dockerfile:1
# Build: docker build -t jit-sso .
# Run:   docker run -p 8080:8080 -e JIT_SSO__DATABASE__URL=postgres://... \
#          -e JIT_SSO__SECRETS__SESSION_KEY=... -e JIT_SSO__SECRETS__DATA_KEY=... \
#          -e JIT_SSO__HTTP__PUBLIC_URL=https://sso.example.com jit-sso

FROM rust:1.95-bookworm AS build
WORKDIR /app
RUN apt-get update && apt-get install -y --no-install-recommends libpq-dev libssl-dev pkg-config && rm -rf /var/lib/apt/lists/*
# Dependencies first, in their own cached layer.
COPY Cargo.toml Cargo.lock ./
RUN mkdir src && echo 'fn main() {}' > src/main.rs && touch src/lib.rs \
    && cargo build --release --locked && rm -rf src
COPY src ./src
COPY migrations ./migrations
COPY config ./config
RUN touch src/main.rs src/lib.rs && cargo build --release --locked

FROM debian:bookworm-slim
RUN apt-get update && apt-get install -y --no-install-recommends libpq5 ca-certificates \
    && rm -rf /var/lib/apt/lists/* \
    && useradd --system --uid 10001 --no-create-home jitsso
WORKDIR /app
COPY --from=build /app/target/release/jit-sso /usr/local/bin/jit-sso
COPY config ./config
USER 10001
ENV JIT_SSO_ENV=production
EXPOSE 8080
# The service drains on SIGTERM (readiness 503, in-flight requests finish).
STOPSIGNAL SIGTERM
ENTRYPOINT ["/usr/local/bin/jit-sso"]
CMD ["serve"]
