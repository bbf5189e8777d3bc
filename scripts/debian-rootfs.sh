#!/usr/bin/env bash
# Builds (once) a Debian rootfs as an uncompressed tar with mmdebstrap from Debian's
# package mirror, cached outside the repo keyed by the recipe, and prints its path.
# Used by the false-positive test and the benchmarks.
#
# Usage: bash scripts/debian-rootfs.sh [VARIANT]     (default: minbase)
#   minbase  bookworm minbase (what the benchmarks use)
#   full     bookworm minbase plus python3, perl, git, curl, openssh (server + client),
#            gnupg, cron, systemd and nginx: the services a real image carries
#   trixie   trixie minbase (a second suite; Alpine's packages are not reachable here)
#   all      builds every variant above and prints their paths, one a line
# Each build's mmdebstrap log is kept beside the tar as mmdebstrap-VARIANT.log.
set -euo pipefail
variant=${1:-minbase}
if [ "$variant" = all ]; then
  for v in minbase full trixie; do bash "$0" "$v"; done
  exit 0
fi
# The full image's package set. Daemons are not started during the build: mmdebstrap
# (root mode) puts a policy-rc.d and a start-stop-daemon stub in place while installing.
full_pkgs=python3,perl,git,curl,ca-certificates,openssh-server,openssh-client,gnupg,cron,systemd,systemd-sysv,nginx
case "$variant" in
  # The minbase recipe is spelled exactly as before so its cache key does not change.
  minbase) recipe="mmdebstrap --variant=minbase --mode=root --format=tar bookworm"; name=debian-bookworm-minbase ;;
  full) recipe="mmdebstrap --variant=minbase --mode=root --format=tar --include=$full_pkgs bookworm"; name=debian-bookworm-full ;;
  trixie) recipe="mmdebstrap --variant=minbase --mode=root --format=tar trixie"; name=debian-trixie-minbase ;;
  *) echo "debian-rootfs: unknown variant '$variant' (minbase, full, trixie, all)" >&2; exit 2 ;;
esac
key=$(printf '%s\n' "$recipe" "v1" | sha256sum | cut -c1-16)
cache=${IMGSCAN_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/imgscan}
out="$cache/$name-$key.tar"
log="$cache/mmdebstrap-$variant.log"
if [ ! -s "$out" ]; then
  mkdir -p "$cache"
  command -v mmdebstrap >/dev/null || bash "$(dirname "$0")/setup-test.sh"
  tmp="$out.tmp.$$"
  trap 'rm -f "$tmp"' EXIT
  echo "debian-rootfs: building $out (once; cached; log in $log)" >&2
  start=$(date +%s)
  $recipe "$tmp" >"$log" 2>&1 || { tail -20 "$log" >&2; exit 1; }
  mv "$tmp" "$out"
  echo "debian-rootfs: $variant built in $(( $(date +%s) - start )) s" | tee -a "$log" >&2
fi
echo "$out"
