#!/usr/bin/env bash
# Installs the Debian packages the tests and benchmarks use, when missing.
set -euo pipefail
pkgs=(docker-registry skopeo umoci apache2-utils zstd libdeflate-tools mmdebstrap bc time openssl rpm redis-server docker.io podman chromium wrk containerd protobuf-compiler libxml2-utils)
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

# The JUnit schema Jenkins' xUnit plugin publishes (junit-10.xsd, MIT licence, by Gregory
# Boissinot), as pytest ships it in its sdist to validate its own JUnit reports;
# tests/ci_formats.rs validates imgscan's with xmllint against it. Pinned by the sdist's
# sha256, cached outside the repository.
xsd=${XDG_CACHE_HOME:-$HOME/.cache}/imgscan/junit-10.xsd
if [ ! -s "$xsd" ]; then
  mkdir -p "$(dirname "$xsd")"
  d=$(mktemp -d)
  python3 -m pip download -q --no-deps --no-binary :all: pytest==8.3.4 -d "$d" >/dev/null
  echo "965370d062bce11e73868e0335abac31b4d3de0e82f4007408d242b4f8610761  $d/pytest-8.3.4.tar.gz" \
    | sha256sum -c --quiet -
  tar -xzf "$d/pytest-8.3.4.tar.gz" -O pytest-8.3.4/testing/example_scripts/junit-10.xsd >"$xsd.tmp"
  mv "$xsd.tmp" "$xsd"
  rm -rf "$d"
  echo "setup: JUnit schema cached at $xsd"
fi
