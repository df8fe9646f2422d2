#!/bin/sh
# Imports a Debian base image from debootstrap and tags it with the official image's name
# (`debian:bookworm-slim` by default), so that a Dockerfile's `FROM debian:bookworm-slim`
# builds on a machine without an image registry (as the Dockerfile of stress itself is tested
# here: tests/docker/build-stress-image.sh). Cached: nothing is done when the tag exists.
#   usage: tests/docker/import-debian-base.sh [SUITE]     (default bookworm)
set -eu
suite=${1:-bookworm}
image="debian:$suite-slim"
if docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image: present (cached)"
    exit 0
fi
mirror=${DEBIAN_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | sed -n -e 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p' -e 's/^deb  *\(http[^ ]*\/debian\)\/* .*/\1/p' \
    | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
rootfs=$(mktemp -d "${TMPDIR:-/tmp}/stress-debian-rootfs.XXXXXX")
trap 'rm -rf "$rootfs" "$rootfs.log"' EXIT INT TERM
start=$(date +%s)
echo "$image: debootstrap $suite (minbase) from $mirror"
debootstrap --variant=minbase "$suite" "$rootfs" "$mirror" > "$rootfs.log" 2>&1 \
    || { tail -n 20 "$rootfs.log" >&2; exit 1; }
rm -rf "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*_Packages
tar -C "$rootfs" -c . | docker import --change 'CMD ["bash"]' - "$image" >/dev/null
echo "$image: imported in $(( $(date +%s) - start )) s"
