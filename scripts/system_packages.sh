#!/usr/bin/env bash
# Debian packages the test suite needs beyond Python's: installs only the missing ones, so it
# costs nothing once they are there. `make test` runs it first (CI runs `make test` on a fresh
# machine). One package a line, with who needs it.
set -euo pipefail

PACKAGES=(
    espeak-ng         # tests/media_tools: speaks the sentences the transcription tests transcribe
    chromium          # tests/webapp: the browser the end-to-end tests drive (Playwright)
    chromium-driver   # tests/webapp: Chromium's driver, from the same release
    pgbouncer         # tests/cluster: PgBouncer in transaction mode before PostgreSQL (and haproxy
                      # below: make cluster and tests/cluster, before the three nodes)
    haproxy           # tests/chukchat/test_deploy_files.py: `haproxy -c` on deploy/haproxy/haproxy.cfg
    wrk               # bench/gateway.py: the compiled load generator (and tests/bench)
)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if ! command -v apt-get >/dev/null; then
    echo "system_packages.sh: no apt-get here; install these yourself: ${missing[*]}" >&2
    exit 1
fi
sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"
echo "system_packages.sh: installing ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$sudo apt-get update -qq >/dev/null
$sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
