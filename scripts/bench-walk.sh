#!/usr/bin/env bash
# Benchmark the layer walker against the reference decompressors on a real rootfs.
#
# Builds a Debian bookworm minbase rootfs with mmdebstrap (needs Debian's mirror; cached
# in ${XDG_CACHE_HOME:-$HOME/.cache}/imgscan/ keyed by a hash of the recipe), makes a gzip
# and a zstd layer of it, then prints the walker's time (decompress + tar + digest check,
# no analysis) beside `gzip -dc`, `libdeflate-gunzip -c` and `zstd -dc` on the same bytes,
# as ratios, plus the walker's peak RSS. Best of $RUNS runs each. No pass/fail: figures.
#
# Usage: bash scripts/bench-walk.sh        (RUNS=5 to change the repeat count)
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-3}
RECIPE="mmdebstrap --variant=minbase --mode=auto bookworm; gzip -6; zstd -3; v1"
KEY=$(printf '%s' "$RECIPE" | sha256sum | cut -c1-16)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/imgscan/bench-$KEY"
mkdir -p "$CACHE"

need() { command -v "$1" >/dev/null || { echo "bench-walk: $1 is missing (apt-get install -y $2)" >&2; exit 2; }; }
need mmdebstrap mmdebstrap
need libdeflate-gunzip libdeflate-tools
need zstd zstd
need gzip gzip

ROOTFS="$CACHE/rootfs.tar"
if [ ! -s "$ROOTFS" ]; then
  echo "bench-walk: building the bookworm minbase rootfs (cached in $CACHE)" >&2
  # The output name must end in .tar for mmdebstrap to write a tarball.
  rm -rf "$CACHE/partial.tar"
  mmdebstrap --quiet --variant=minbase --mode=auto bookworm "$CACHE/partial.tar"
  mv "$CACHE/partial.tar" "$ROOTFS"
fi
[ -s "$CACHE/layer.tar.gz" ] || gzip -6 -c "$ROOTFS" > "$CACHE/layer.tar.gz"
[ -s "$CACHE/layer.tar.zst" ] || zstd -q -3 -c "$ROOTFS" > "$CACHE/layer.tar.zst"

cargo build --quiet --profile bench --example bench_walk
BIN="${CARGO_TARGET_DIR:-target}/release/examples/bench_walk"
[ -x "$BIN" ] || BIN="${CARGO_TARGET_DIR:-target}/bench/examples/bench_walk"

# best TIME_SECONDS of $RUNS runs of "$@" (stdout discarded)
best() {
  local best=""
  for _ in $(seq "$RUNS"); do
    local s e t
    s=$(date +%s.%N); "$@" > /dev/null; e=$(date +%s.%N)
    t=$(echo "$e - $s" | bc -l)
    if [ -z "$best" ] || (( $(echo "$t < $best" | bc -l) )); then best=$t; fi
  done
  printf '%.3f' "$best"
}

peak_rss_kib() {
  if [ -x /usr/bin/time ]; then
    /usr/bin/time -v "$@" 2>&1 >/dev/null | awk -F: '/Maximum resident set size/ {gsub(/ /,"",$2); print $2}'
  else
    "$@" --print-hwm 2>/dev/null | awk '/^hwm_kib/ {print $2}'
  fi
}

UNC=$(stat -c %s "$ROOTFS")
GZ=$(stat -c %s "$CACHE/layer.tar.gz")
ZS=$(stat -c %s "$CACHE/layer.tar.zst")
echo "rootfs: $((UNC / 1048576)) MiB uncompressed; gzip layer $((GZ / 1048576)) MiB; zstd layer $((ZS / 1048576)) MiB; best of $RUNS"

t_gzip=$(best gzip -dc "$CACHE/layer.tar.gz")
t_libdeflate=$(best libdeflate-gunzip -c "$CACHE/layer.tar.gz")
t_walk_gz=$(best "$BIN" "$CACHE/layer.tar.gz")
t_zstd=$(best zstd -q -dc "$CACHE/layer.tar.zst")
t_walk_zst=$(best "$BIN" "$CACHE/layer.tar.zst")
rss_gz=$(peak_rss_kib "$BIN" "$CACHE/layer.tar.gz")
rss_zst=$(peak_rss_kib "$BIN" "$CACHE/layer.tar.zst")

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
printf '%-28s %8s s\n' "gzip -dc" "$t_gzip"
printf '%-28s %8s s\n' "libdeflate-gunzip -c" "$t_libdeflate"
printf '%-28s %8s s   %sx libdeflate (target <= 1.0)   %sx gzip   peak RSS %s KiB\n' \
  "imgscan walk (gzip layer)" "$t_walk_gz" "$(ratio "$t_walk_gz" "$t_libdeflate")" "$(ratio "$t_walk_gz" "$t_gzip")" "$rss_gz"
printf '%-28s %8s s\n' "zstd -dc" "$t_zstd"
printf '%-28s %8s s   %sx zstd (target <= 1.2)   peak RSS %s KiB\n' \
  "imgscan walk (zstd layer)" "$t_walk_zst" "$(ratio "$t_walk_zst" "$t_zstd")" "$rss_zst"
echo "RSS target: <= 65536 KiB"
