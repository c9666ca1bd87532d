# The blog's container images: one build stage from source, one runtime target per service.
#
#   docker build --target posts-service  -t blog/posts-service  .
#   docker build --target render-service -t blog/render-service .
#
# (docker compose builds both; see docker-compose.yml.) The runtime images are `scratch`
# with one statically linked binary, run as an unprivileged numeric user, and need no
# writable file system. glibc is linked statically (`+crt-static`); its built-in `files`
# and `dns` name lookups work without /etc/nsswitch.conf, and the container runtime
# provides /etc/hosts and /etc/resolv.conf.
#
# Dependencies build in their own layer (cargo-chef): a change to the services' code
# rebuilds only the workspace's own crates. The stages use plain layers (no BuildKit
# cache mounts), so the legacy builder (docker-compose v1) gets the same caching.
#
# Without a registry, `deploy/build-images.sh` provides the build stage's base image
# (the host's toolchain, repackaged under the public image's tag).

ARG RUST_VERSION=1.95
# What the images' OCI labels say: the release (the workspace's version, held equal by
# tests/repo/check.py), and the commit and repository they were built from, which the
# builder passes (docker compose passes REVISION and SOURCE_URL from the environment).
ARG VERSION=0.2.0
ARG REVISION=unknown
ARG SOURCE_URL=unknown

# ---------------------------------------------------------------- build --

FROM rust:${RUST_VERSION}-slim-bookworm AS chef
ARG CARGO_CHEF_VERSION=0.1.78
RUN cargo install cargo-chef --locked --version "${CARGO_CHEF_VERSION}" \
    && rm -rf "$CARGO_HOME/registry" "$CARGO_HOME/git"
WORKDIR /src

# The recipe: every manifest of the workspace, and nothing of the code.
FROM chef AS planner
COPY . .
RUN cargo chef prepare --recipe-path recipe.json

FROM chef AS build
# How hard the release build optimises. Shipped images keep the defaults (Cargo.toml's
# release profile); the test suites build with RELEASE_OPT_LEVEL=1 and RELEASE_LTO=off,
# which shortens a cold build and changes no behaviour they check.
ARG RELEASE_OPT_LEVEL=3
ARG RELEASE_LTO=thin
ENV CARGO_PROFILE_RELEASE_OPT_LEVEL=${RELEASE_OPT_LEVEL} \
    CARGO_PROFILE_RELEASE_LTO=${RELEASE_LTO}
# Static glibc binaries. The target is named explicitly so that build scripts and
# proc-macros (which must stay dynamic) are not built with crt-static; libz-sys builds
# its bundled zlib rather than looking for a system one.
ENV CARGO_BUILD_TARGET=x86_64-unknown-linux-gnu \
    RUSTFLAGS="-C target-feature=+crt-static" \
    LIBZ_SYS_STATIC=1
COPY --from=planner /src/recipe.json recipe.json
RUN cargo chef cook --release --locked --recipe-path recipe.json \
        --package posts-service --package render-service --bins
COPY . .
# build_info's revision label (option_env!("REVISION") in the services); declared after
# the dependencies' layer so that a new commit rebuilds only the workspace's crates.
ARG REVISION
RUN set -eux; \
    REVISION="${REVISION}" cargo build --release --locked --package posts-service --package render-service --bins; \
    mkdir /out; \
    for bin in posts-service render-service; do \
        cp "target/$CARGO_BUILD_TARGET/release/$bin" /out/; \
        if readelf -d "/out/$bin" | grep -q NEEDED; then echo "$bin is not static" >&2; exit 1; fi; \
    done

# -------------------------------------------------------------- runtime --

FROM scratch AS posts-service
ARG VERSION
ARG REVISION
ARG SOURCE_URL
COPY --from=build /out/posts-service /posts-service
# the CA certificates TLS clients verify servers with (the trace exporter, and any
# https or MariaDB TLS peer signed by a public CA)
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8081
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/posts-service", "healthcheck"]
ENTRYPOINT ["/posts-service"]
CMD ["serve"]
LABEL org.opencontainers.image.title="posts-service" \
      org.opencontainers.image.description="The blog's data service: a JSON CRUD API for posts over MariaDB (serve | migrate | healthcheck)" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT"

FROM scratch AS render-service
ARG VERSION
ARG REVISION
ARG SOURCE_URL
COPY --from=build /out/render-service /render-service
# the CA certificates TLS clients verify servers with (the trace exporter, and any
# https or MariaDB TLS peer signed by a public CA)
COPY --from=build /etc/ssl/certs/ca-certificates.crt /etc/ssl/certs/ca-certificates.crt
USER 65532:65532
EXPOSE 8080
STOPSIGNAL SIGTERM
HEALTHCHECK --interval=10s --timeout=5s --start-period=30s --retries=3 \
    CMD ["/render-service", "healthcheck"]
ENTRYPOINT ["/render-service"]
LABEL org.opencontainers.image.title="render-service" \
      org.opencontainers.image.description="The blog's HTML pages over posts-service" \
      org.opencontainers.image.version="${VERSION}" \
      org.opencontainers.image.revision="${REVISION}" \
      org.opencontainers.image.source="${SOURCE_URL}" \
      org.opencontainers.image.licenses="MIT"
