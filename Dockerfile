# The image of stress itself: the binary on Debian slim with the PostgreSQL server binaries (so
# that the embedded default works inside it) and pgbouncer. For the Kubernetes Indexed Job
# and CI examples (examples/), which name it.
#
#   docker build -t ghcr.io/your-org/stress:0.1.0 .          # build stage + runtime
#   docker push ghcr.io/your-org/stress:0.1.0
#   docker run --rm ghcr.io/your-org/stress:0.1.0 check /usr/share/stress/scenarios/ci-gate.toml
#
# `--target prebuilt` skips the Rust build and takes the binary from the build context (a
# directory holding `stress` and `scenarios/`): how tests/docker/build-stress-image.sh tests this
# file on a machine without a registry, from the binary built there, on a Debian base imported
# by debootstrap and tagged debian:bookworm-slim. The binary must be built for the base's glibc
# (Debian bookworm's, or older).
#
# The runtime runs as root, as the embedded server expects of a container: stress then starts
# the server as the `postgres` user the package creates. No database is in the image; give
# DATABASE_URL (or --database-url) to run against yours.

ARG DEBIAN=bookworm

# The runtime's packages, shared by both targets. The package's own cluster is not used:
# stress starts throwaway servers of its own.
FROM debian:${DEBIAN}-slim AS base
RUN apt-get update -qq \
    && DEBIAN_FRONTEND=noninteractive apt-get install -y -qq --no-install-recommends \
        postgresql pgbouncer ca-certificates >/dev/null \
    && rm -rf /var/lib/apt/lists/* /var/lib/postgresql/*/main /etc/postgresql/*/main
WORKDIR /work
ENTRYPOINT ["stress"]
CMD ["--help"]

# A binary built elsewhere (before the build stage: the legacy builder stops at --target).
FROM base AS prebuilt
COPY stress /usr/local/bin/stress
COPY scenarios/ /usr/share/stress/scenarios/

# The build: the release binary, against the same Debian as the runtime.
FROM rust:1-slim-${DEBIAN} AS build
WORKDIR /src
COPY . .
RUN cargo build --release --locked && cp target/release/stress /stress

# The default target.
FROM base AS runtime
COPY --from=build /stress /usr/local/bin/stress
COPY scenarios/ /usr/share/stress/scenarios/
