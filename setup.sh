#!/usr/bin/env bash
# Set up shaobing on a fresh Debian/Ubuntu machine and run the demo.
#   bash setup.sh                 # install what is missing, then run the demo until Ctrl-C
#   bash setup.sh --for 60        # ... run the demo's scenario for 60 s and exit with a summary
# Installs the system packages it needs (Mosquitto, PostgreSQL for the tests, Python venv support, pcscd, Chromium for
# the pages' tests) when missing,
# creates .venv and installs the project into it. Safe to run again.
set -euo pipefail
cd "$(dirname "$0")"

need=()
command -v mosquitto >/dev/null 2>&1 || [ -x /usr/sbin/mosquitto ] || need+=(mosquitto)
command -v mosquitto_passwd >/dev/null 2>&1 || need+=(mosquitto)
# The tests run against a real PostgreSQL: a local server when one answers, else a private cluster they start.
if ! ls /usr/lib/postgresql/*/bin/initdb >/dev/null 2>&1 && ! (command -v pg_isready >/dev/null 2>&1 && pg_isready -q -h 127.0.0.1 -p 5432); then
  need+=(postgresql)
fi
python3 -c 'import venv, ensurepip' >/dev/null 2>&1 || need+=(python3-venv)
# PC/SC card readers: pcscd, the vpcd virtual reader the tests put virtual cards on, and what pyscard builds with.
command -v pcscd >/dev/null 2>&1 || [ -x /usr/sbin/pcscd ] || need+=(pcscd)
[ -e /usr/lib/pcsc/drivers/serial/libifdvpcd.so ] || need+=(vsmartcard-vpcd)
[ -e /usr/include/PCSC/winscard.h ] || need+=(libpcsclite-dev)
command -v swig >/dev/null 2>&1 || need+=(swig)
command -v cc >/dev/null 2>&1 || need+=(gcc)
# The pages' tests drive the system's Chromium (Playwright's own browser download is not used); CJK fonts for
# readable Chinese in its screenshots.
command -v chromium >/dev/null 2>&1 || need+=(chromium)
[ -d /usr/share/fonts/opentype/noto ] || need+=(fonts-noto-cjk)
python3 -c 'import os, sysconfig; raise SystemExit(not os.path.exists(sysconfig.get_paths()["include"] + "/Python.h"))' \
  || need+=(python3-dev)
if [ ${#need[@]} -gt 0 ]; then
  sudo=""; [ "$(id -u)" -eq 0 ] || sudo="sudo"
  echo "setup: installing system packages: ${need[*]}"
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${need[@]}" >/dev/null
fi

if [ ! -x .venv/bin/python ]; then
  python3 -m venv .venv
fi
.venv/bin/python -m pip install -q --upgrade pip >/dev/null 2>&1 || true
.venv/bin/python -m pip install -q -e '.[dev]' 2>&1 | grep -v '^WARNING: Location' || true
.venv/bin/shaobing --help >/dev/null

exec .venv/bin/shaobing demo "$@"
