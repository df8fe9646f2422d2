#!/bin/sh
# Builds the local PostgreSQL image `stress-test-postgres:MAJOR` from Debian's own packages, for
# the docker tests and scenarios/postgres-versions.toml, on machines where no image registry is
# reachable: debootstrap (minbase + postgresql-MAJOR) from the Debian mirror this machine's apt
# uses, then `docker import` with tests/docker/entrypoint.sh, which behaves like the official
# image for what stress uses. Cached: nothing is done when the image exists (FORCE=1 rebuilds).
#   usage: tests/docker/build-image.sh MAJOR      (13: bullseye, 15: bookworm, 17: trixie)
# Needs root, debootstrap and a running Docker engine. About 70-120 s per image here.
set -eu
major=${1:?usage: build-image.sh MAJOR (13, 15 or 17)}
image="stress-test-postgres:$major"
case "$major" in
    13) suite=bullseye ;;
    15) suite=bookworm ;;
    17) suite=trixie ;;
    *) echo "build-image.sh: no Debian suite known to ship postgresql-$major (13, 15, 17)" >&2; exit 2 ;;
esac
if [ "${FORCE:-0}" != 1 ] && docker image inspect "$image" >/dev/null 2>&1; then
    echo "$image: present (cached)"
    exit 0
fi
# The mirror: the first http(s) Debian URI in apt's sources (deb822 or one-line format).
mirror=${DEBIAN_MIRROR:-$(cat /etc/apt/sources.list.d/*.sources /etc/apt/sources.list 2>/dev/null \
    | sed -n -e 's/^URIs: *\(http[^ ]*\/debian\)\/*$/\1/p' -e 's/^deb  *\(http[^ ]*\/debian\)\/* .*/\1/p' \
    | head -n 1)}
mirror=${mirror:-http://deb.debian.org/debian}
here=$(cd "$(dirname "$0")" && pwd)
rootfs=$(mktemp -d "${TMPDIR:-/tmp}/stress-pg-rootfs.XXXXXX")
trap 'rm -rf "$rootfs"' EXIT INT TERM
start=$(date +%s)
echo "$image: debootstrap $suite (postgresql-$major) from $mirror"
debootstrap --variant=minbase --include="postgresql-$major" "$suite" "$rootfs" "$mirror" \
    > "$rootfs.log" 2>&1 || { tail -n 20 "$rootfs.log" >&2; rm -f "$rootfs.log"; exit 1; }
rm -f "$rootfs.log"
# The Debian cluster made by the package is not used: the entrypoint runs initdb into PGDATA.
rm -rf "$rootfs/var/lib/postgresql/$major" "$rootfs/etc/postgresql/$major" \
    "$rootfs/var/cache/apt/archives/"*.deb "$rootfs/var/lib/apt/lists/"*_Packages
install -m 0755 "$here/entrypoint.sh" "$rootfs/usr/local/bin/docker-entrypoint.sh"
tar -C "$rootfs" -c . | docker import \
    --change 'ENTRYPOINT ["/usr/local/bin/docker-entrypoint.sh"]' \
    --change 'CMD ["postgres"]' \
    --change 'ENV PGDATA=/var/lib/postgresql/data' \
    --change "ENV PG_MAJOR=$major" \
    --change 'EXPOSE 5432' \
    - "$image-rootfs" >/dev/null
# `docker import` cannot set STOPSIGNAL: a one-line build on the imported image (no registry
# needed) does. SIGINT, as in the official image: `docker stop` is a fast shutdown.
printf 'FROM %s\nSTOPSIGNAL SIGINT\n' "$image-rootfs" | docker build -q -t "$image" - >/dev/null
docker rmi "$image-rootfs" >/dev/null
echo "$image: built in $(( $(date +%s) - start )) s"
