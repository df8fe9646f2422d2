#!/bin/sh
# Tests the Dockerfile of stress itself without a registry: imports a Debian base with
# debootstrap, tagged debian:bookworm-slim (tests/docker/import-debian-base.sh; cached), builds
# the Dockerfile's `prebuilt` target from the binary built on this machine (debug info
# stripped), then runs `stress check` and a short run on the embedded server inside it
# (tests/docker/smoke.toml); exits non-zero if any step fails. Run by .ci/run when a Docker
# engine answers. The image is `stress:local-test`, rebuilt each time (its packages layer is
# cached by the engine).
#   usage: tests/docker/build-stress-image.sh [BINARY]    (default target/debug/stress)
set -eu
cd "$(dirname "$0")/../.."
bin=${1:-target/debug/stress}
image=stress:local-test
[ -x "$bin" ] || { echo "build-stress-image.sh: no binary at $bin (cargo build first)" >&2; exit 2; }
tests/docker/import-debian-base.sh bookworm
context=$(mktemp -d "${TMPDIR:-/tmp}/stress-image-context.XXXXXX")
trap 'rm -rf "$context"' EXIT INT TERM
if command -v objcopy >/dev/null 2>&1; then
    objcopy --strip-debug "$bin" "$context/stress"
else
    cp "$bin" "$context/stress"
fi
cp -r scenarios "$context/scenarios"
start=$(date +%s)
docker build -q -f Dockerfile --target prebuilt -t "$image" "$context" >/dev/null
echo "$image: built in $(( $(date +%s) - start )) s"
docker run --rm "$image" check /usr/share/stress/scenarios/ci-gate.toml
start=$(date +%s)
docker run --rm -v "$PWD/tests/docker/smoke.toml:/work/smoke.toml:ro" "$image" \
    run --quiet smoke.toml
echo "$image: stress check and an embedded run inside it passed (run: $(( $(date +%s) - start )) s)"
