#!/usr/bin/env bash
# Run shaobing's checks: lint, types, then the whole test suite (real Mosquitto, SQLite and PostgreSQL).
# Needs `bash setup.sh` once before. Extra arguments go to pytest, e.g. `bash test.sh -k dc09`.
set -euo pipefail
cd "$(dirname "$0")"

.venv/bin/ruff check .
.venv/bin/mypy
# PostgreSQL: the local server when it answers, else a private throw-away cluster (see tests/pg_private.sh).
if [ -z "${SHAOBING_TEST_PG:-}" ]; then
  if command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432 \
     && psql -h 127.0.0.1 -U postgres -d test -Atc 'select 1' >/dev/null 2>&1; then
    export SHAOBING_TEST_PG="postgresql://postgres@127.0.0.1:5432/test"
  else
    SHAOBING_TEST_PG="$(bash tests/pg_private.sh start)"
    export SHAOBING_TEST_PG
    trap 'bash tests/pg_private.sh stop' EXIT
  fi
fi
# Two workers: the suite mostly waits on brokers, sockets and processes, and every test makes its own (broker, ports,
# files, database, private pcscd). SHAOBING_TEST_WORKERS=0 runs serially.
.venv/bin/pytest -n "${SHAOBING_TEST_WORKERS:-2}" --dist loadgroup "$@"
