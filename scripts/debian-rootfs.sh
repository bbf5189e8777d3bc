#!/usr/bin/env bash
# Builds (once) a Debian bookworm minbase rootfs as an uncompressed tar with mmdebstrap
# from Debian's package mirror, cached outside the repo keyed by the recipe, and prints
# its path. Used by the false-positive test and the benchmarks.
set -euo pipefail
recipe="mmdebstrap --variant=minbase --mode=root --format=tar bookworm"
key=$(printf '%s\n' "$recipe" "v1" | sha256sum | cut -c1-16)
cache=${IMGSCAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imgscan}
out="$cache/debian-bookworm-minbase-$key.tar"
if [ ! -s "$out" ]; then
  mkdir -p "$cache"
  command -v mmdebstrap >/dev/null || bash "$(dirname "$0")/setup-test.sh"
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  echo "debian-rootfs: building $out (once; cached)" >&2
  $recipe "$tmp" >&2 2>"$cache/mmdebstrap.log" || { tail -20 "$cache/mmdebstrap.log" >&2; exit 1; }
  mv "$tmp" "$out"
fi
echo "$out"
