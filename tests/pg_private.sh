#!/usr/bin/env bash
# Start (or stop) a private PostgreSQL cluster for the tests when no server answers on 127.0.0.1:5432.
# `start` prints the URL of its `test` database. The cluster lives in /tmp/shaobing-pg and runs as user postgres.
set -euo pipefail
dir=/tmp/shaobing-pg
port=55432
bin=$(ls -d /usr/lib/postgresql/*/bin | sort -V | tail -n 1)
as_pg() { if [ "$(id -u)" -eq 0 ]; then runuser -u postgres -- "$@"; else "$@"; fi; }
case "${1:-start}" in
  start)
    if [ ! -f "$dir/PG_VERSION" ]; then
      mkdir -p "$dir"; [ "$(id -u)" -ne 0 ] || chown postgres "$dir"
      as_pg "$bin/initdb" -D "$dir" -U postgres --auth=trust -E UTF8 >/dev/null
    fi
    as_pg "$bin/pg_ctl" -D "$dir" -o "-p $port -k /tmp -c listen_addresses=127.0.0.1" -l "$dir/log" -w start >/dev/null
    as_pg "$bin/psql" -h 127.0.0.1 -p $port -U postgres -Atc "select 1 from pg_database where datname='test'" postgres \
      | grep -q 1 || as_pg "$bin/createdb" -h 127.0.0.1 -p $port -U postgres test
    echo "postgresql://postgres@127.0.0.1:$port/test"
    ;;
  stop)
    as_pg "$bin/pg_ctl" -D "$dir" -m fast -w stop >/dev/null 2>&1 || true
    ;;
esac
