#!/usr/bin/env bash
# Installs what Trove needs on Debian/Ubuntu and is missing: Debian packages for the
# build (webkit, gtk, openssl), for the tests (Xvfb, WebKitWebDriver, gnome-keyring,
# age) and tauri-driver. Idempotent: re-running installs nothing that is present.
#
#   scripts/install-deps.sh build   # what `make app` needs
#   scripts/install-deps.sh test    # build + what `make test` needs
set -euo pipefail

want=${1:-test}

build_pkgs=(libwebkit2gtk-4.1-dev libgtk-3-dev librsvg2-dev libayatana-appindicator3-dev
  libxdo-dev libssl-dev pkg-config build-essential file)
test_pkgs=(webkit2gtk-driver xvfb xauth imagemagick gnome-keyring libsecret-tools
  dbus-x11 dbus-user-session xdotool age)

pkgs=("${build_pkgs[@]}")
[ "$want" = test ] && pkgs+=("${test_pkgs[@]}")

missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done

sudo=""
[ "$(id -u)" -ne 0 ] && sudo="sudo"

if [ ${#missing[@]} -gt 0 ]; then
  echo "install-deps: installing Debian packages: ${missing[*]}" >&2
  $sudo apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq --no-install-recommends "${missing[@]}" >/dev/null
fi

if [ "$want" = test ] && ! command -v tauri-driver >/dev/null 2>&1; then
  echo "install-deps: installing tauri-driver (cargo install, ~90 s)" >&2
  cargo install tauri-driver --locked --version "^2" --quiet
fi
