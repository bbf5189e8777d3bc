#!/bin/sh
# Cold scan vs warm rescan from the fs cache, on the one-layer Debian OCI layout that
# scripts/bench-image.sh builds (run `make bench` or that script once first). Prints times
# (medians of $RUNS runs, default 5) and whether the warm report is identical. Override the
# binary with IMG=...
set -eu
L=${LAYOUT:-$(ls -d "${XDG_CACHE_HOME:-$HOME/.cache}"/imgscan/bench-*/oci 2>/dev/null | head -1)}
[ -n "$L" ] && [ -s "$L/index.json" ] || { echo "bench-cache: run scripts/bench-image.sh first" >&2; exit 1; }
if [ -z "${IMG:-}" ]; then
  cargo build --quiet --profile bench --bin imgscan
  IMG="${CARGO_TARGET_DIR:-target}/release/imgscan"; [ -x "$IMG" ] || IMG="${CARGO_TARGET_DIR:-target}/bench/imgscan"
fi
T=$(mktemp -d); trap 'rm -rf "$T"' EXIT
RUNS=${RUNS:-5}
run() { s=$(date +%s.%N); "$IMG" scan -q --format json --fail-on none "$@" "oci-dir:$L" > "$T/out.json"; e=$(date +%s.%N); echo "$e - $s" | bc; }
# Median of $RUNS runs of `run ARGS...`.
median() { i=0; while [ $i -lt "$RUNS" ]; do run "$@"; i=$((i+1)); done | sort -g | sed -n "$(( (RUNS + 1) / 2 ))p"; }
cold=$(median --no-cache); cp "$T/out.json" "$T/cold.json"
store=$(run --cache-dir "$T/c")
warm=$(median --cache-dir "$T/c"); warm2=$(run --cache-dir "$T/c")
cmp -s "$T/cold.json" "$T/out.json" && same=identical || same=DIFFERENT
printf '%-32s %s s\n' "cold scan (no cache, median)" "$cold" "cold scan + store (fs)" "$store" \
  "warm rescan (fs, median)" "$warm" "warm rescan (fs), once more" "$warm2"
printf '%-32s %s bytes\n' "cache entry" "$(du -cb "$T"/c/*.entry | tail -1 | cut -f1)"
echo "warm report vs cold: $same (target: warm <= 5% of cold)"
# The same from a local redis-server (skipped when it is not installed).
if command -v redis-server >/dev/null 2>&1; then
  P=$(( 20000 + $$ % 20000 ))
  redis-server --bind 127.0.0.1 --port "$P" --save '' --appendonly no --dir "$T" >/dev/null 2>&1 &
  RP=$!; trap 'kill "$RP" 2>/dev/null; rm -rf "$T"' EXIT
  i=0; until redis-cli -p "$P" ping >/dev/null 2>&1 || [ $i -ge 100 ]; do sleep 0.05; i=$((i+1)); done
  R="redis://127.0.0.1:$P/0"
  rstore=$(run --cache-backend "$R"); rwarm=$(median --cache-backend "$R")
  cmp -s "$T/cold.json" "$T/out.json" && rsame=identical || rsame=DIFFERENT
  printf '%-32s %s s\n' "cold scan + store (redis)" "$rstore" "warm rescan (redis, median)" "$rwarm"
  echo "warm redis report vs cold: $rsame"
  kill "$RP" 2>/dev/null || true
fi
