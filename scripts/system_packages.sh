#!/usr/bin/env bash
# Installs the Debian packages the test suite needs, only those missing, quietly. `make test`
# runs it so a fresh clone (CI) has them; add a package by adding its name to PACKAGES.
set -euo pipefail

PACKAGES=(
    espeak-ng  # speaks the sentences the transcription tests transcribe
)

missing=()
for package in "${PACKAGES[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "install ok installed"; then
        missing+=("$package")
    fi
done
[ ${#missing[@]} -eq 0 ] && exit 0

if [ "$(id -u)" -ne 0 ]; then
    SUDO=sudo
else
    SUDO=
fi
echo "installing Debian packages: ${missing[*]}" >&2
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq >/dev/null
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
