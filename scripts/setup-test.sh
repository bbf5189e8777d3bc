#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when missing.
set -euo pipefail
pkgs=(docker-registry skopeo umoci apache2-utils zstd libdeflate-tools mmdebstrap bc time openssl rpm redis-server docker.io podman chromium wrk)
missing=()
for p in "${pkgs[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  echo "setup: installing ${missing[*]}"
  SUDO=""; [ "$(id -u)" -eq 0 ] || SUDO=sudo
  $SUDO apt-get update -qq
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y -qq "${missing[@]}" >/dev/null
fi
