#!/bin/sh
# Entrypoint of stress-test-postgres:MAJOR (built by build-image.sh): behaves like the official
# `postgres` image for what stress uses. POSTGRES_PASSWORD (required unless
# POSTGRES_HOST_AUTH_METHOD=trust), POSTGRES_USER (default postgres), POSTGRES_DB (default the
# user); initdb on first start into PGDATA; listens on all addresses of its network namespace;
# arguments starting with '-' (e.g. `-c port=5433`) are passed to postgres, which runs as PID 1
# so that `docker stop` (SIGTERM) is a smart shutdown and `docker kill -s` reaches it.
set -eu
BIN=$(echo /usr/lib/postgresql/*/bin)
PGDATA=${PGDATA:-/var/lib/postgresql/data}
export PGDATA
if [ "${1:-postgres}" = "postgres" ] || [ "${1#-}" != "$1" ]; then
    [ "${1:-}" = "postgres" ] && shift
    user=${POSTGRES_USER:-postgres}
    db=${POSTGRES_DB:-$user}
    auth=${POSTGRES_HOST_AUTH_METHOD:-scram-sha-256}
    mkdir -p "$PGDATA" /var/run/postgresql
    chown postgres:postgres "$PGDATA" /var/run/postgresql
    chmod 700 "$PGDATA"
    if [ ! -s "$PGDATA/PG_VERSION" ]; then
        if [ -z "${POSTGRES_PASSWORD:-}" ] && [ "$auth" != "trust" ]; then
            echo "Error: POSTGRES_PASSWORD is not set (or set POSTGRES_HOST_AUTH_METHOD=trust)" >&2
            exit 1
        fi
        pwfile=$(mktemp)
        printf '%s\n' "${POSTGRES_PASSWORD:-}" > "$pwfile"
        chown postgres "$pwfile"
        setpriv --reuid=postgres --regid=postgres --init-groups \
            "$BIN/initdb" -D "$PGDATA" -U "$user" --pwfile="$pwfile" \
            --auth-local=trust --auth-host="$auth" >/dev/null
        rm -f "$pwfile"
        echo "host all all all $auth" >> "$PGDATA/pg_hba.conf"
        echo "listen_addresses = '*'" >> "$PGDATA/postgresql.conf"
        if [ "$db" != "postgres" ]; then
            setpriv --reuid=postgres --regid=postgres --init-groups \
                "$BIN/postgres" --single -D "$PGDATA" postgres >/dev/null <<SQL
CREATE DATABASE "$db" OWNER "$user";
SQL
        fi
        echo "PostgreSQL init process complete; ready for start up."
    fi
    exec setpriv --reuid=postgres --regid=postgres --init-groups "$BIN/postgres" -D "$PGDATA" "$@"
fi
exec "$@"
