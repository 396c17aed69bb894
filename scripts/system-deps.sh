#!/usr/bin/env bash
# Install the Debian packages the PC/SC path needs (pcscd, the vsmartcard vpcd driver, the
# third-party clients the tests drive, and what pyscard compiles against), and Chromium (the
# report.html test drives it headless through Playwright; no browser is downloaded), when missing.
# Prints what it does; without root or apt it says how to install them and exits 0, so that the
# rest of the project still sets up (the PC/SC tests then skip loudly, and CI refuses to skip).
set -euo pipefail
pkgs=(pcscd vsmartcard-vpcd pcsc-tools opensc swig libpcsclite-dev pkg-config chromium)
missing=()
for pkg in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$pkg" 2>/dev/null | grep -q "install ok installed" || missing+=("$pkg")
done
[ "${#missing[@]}" -eq 0 ] && exit 0
if ! command -v apt-get >/dev/null 2>&1; then
  echo "system-deps: no apt-get here; install ${missing[*]} yourself for the PC/SC tests" >&2
  exit 0
fi
SUDO=""
if [ "$(id -u)" -ne 0 ]; then
  if command -v sudo >/dev/null 2>&1 && sudo -n true 2>/dev/null; then SUDO="sudo -n"; else
    echo "system-deps: not root; run: sudo apt-get install ${missing[*]}" >&2
    exit 0
  fi
fi
echo "system-deps: installing ${missing[*]}"
export DEBIAN_FRONTEND=noninteractive
$SUDO apt-get update -qq
$SUDO apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
