#!/usr/bin/env bash
# Benchmark the layer walker against the reference decompressors on a real rootfs.
#
# Takes the Debian bookworm minbase rootfs from scripts/debian-rootfs.sh (mmdebstrap,
# cached outside the repo), makes a gzip
# and a zstd layer of it, then prints the walker's time (decompress + tar + digest check,
# no analysis) beside `gzip -dc`, `libdeflate-gunzip -c` and `zstd -dc` on the same bytes,
# as ratios, plus the walker's peak RSS. Commands run interleaved, $RUNS rounds; best and
# median are printed, and for each pair compared the median of the per-round ratios (the
# figure to quote: each round's two runs saw the same load on this shared machine).
# Then the full scan as a whole process, `imgscan scan` of a one-layer OCI layout of the
# same gzip layer, against `libdeflate-gunzip -c LAYER > /dev/null` and against the walk
# alone (`imgscan inspect`), with its peak RSS. No pass/fail: figures.
#
# Usage: bash scripts/bench-image.sh        (RUNS=15 to change the round count; >= 9)
set -euo pipefail

cd "$(dirname "$0")/.."
RUNS=${RUNS:-9}
# The rootfs itself comes from scripts/debian-rootfs.sh (one cached copy for tests and
# benchmarks); the compressed layers made from it are cached here, keyed by that path.
ROOTFS=$(bash scripts/debian-rootfs.sh)
KEY=$(printf '%s gzip -6; zstd -3; v2' "$ROOTFS" | sha256sum | cut -c1-16)
CACHE="${XDG_CACHE_HOME:-$HOME/.cache}/imgscan/bench-$KEY"
mkdir -p "$CACHE"

need() { command -v "$1" >/dev/null || { echo "bench-walk: $1 is missing (apt-get install -y $2)" >&2; exit 2; }; }
need libdeflate-gunzip libdeflate-tools
need zstd zstd
need gzip gzip
need bc bc

[ -s "$CACHE/layer.tar.gz" ] || gzip -6 -c "$ROOTFS" > "$CACHE/layer.tar.gz"
[ -s "$CACHE/layer.tar.zst" ] || zstd -q -3 -c "$ROOTFS" > "$CACHE/layer.tar.zst"

cargo build --quiet --profile bench --example bench_walk
BIN="${CARGO_TARGET_DIR:-target}/release/examples/bench_walk"
[ -x "$BIN" ] || BIN="${CARGO_TARGET_DIR:-target}/bench/examples/bench_walk"

# Per-round times of the last interleave, one file per name, one line per round.
TIMES=$(mktemp -d)
trap 'rm -rf "$TIMES"' EXIT

# Time commands interleaved (one run of each per round, $RUNS rounds), so a slow spell
# of this shared machine hits all of them alike. Usage: interleave NAME1 "CMD1" NAME2 "CMD2"...
# Sets T_best_NAME and T_med_NAME (seconds); keeps the rounds' times for pair_median.
interleave() {
  local names=() cmds=() i r
  while [ $# -gt 0 ]; do names+=("$1"); cmds+=("$2"); shift 2; done
  local dir="$TIMES"
  for i in "${!names[@]}"; do rm -f "$dir/${names[$i]}"; done
  for r in $(seq "$RUNS"); do
    for i in "${!names[@]}"; do
      local s e
      s=$(date +%s.%N); eval "${cmds[$i]}" > /dev/null 2>&1; e=$(date +%s.%N)
      echo "$e - $s" | bc -l >> "$dir/${names[$i]}"
    done
  done
  for i in "${!names[@]}"; do
    local sorted; sorted=$(sort -g "$dir/${names[$i]}")
    printf -v "T_best_${names[$i]}" '%.3f' "$(echo "$sorted" | head -1)"
    printf -v "T_med_${names[$i]}" '%.3f' "$(echo "$sorted" | sed -n "$(( (RUNS + 1) / 2 ))p")"
  done
}

# Median over the last interleave's rounds of the ratio time(A) / time(B), each round's
# two runs taken side by side. Usage: pair_median A B; prints the ratio (two decimals).
pair_median() {
  paste "$TIMES/$1" "$TIMES/$2" | awk '{ printf "%.6f\n", $1 / $2 }' | sort -g |
    awk '{ r[NR] = $1 } END { m = (NR % 2) ? r[(NR + 1) / 2] : (r[NR / 2] + r[NR / 2 + 1]) / 2; printf "%.2f", m }'
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
echo "rootfs: $((UNC / 1048576)) MiB uncompressed; gzip layer $((GZ / 1048576)) MiB; zstd layer $((ZS / 1048576)) MiB"

t_gzip=$( { /usr/bin/time -f %e gzip -dc "$CACHE/layer.tar.gz" > /dev/null; } 2>&1 )
interleave libdeflate "libdeflate-gunzip -c '$CACHE/layer.tar.gz'" walkgz "'$BIN' '$CACHE/layer.tar.gz'" \
  zstd "zstd -q -dc '$CACHE/layer.tar.zst'" walkzst "'$BIN' '$CACHE/layer.tar.zst'"
rss_gz=$(peak_rss_kib "$BIN" "$CACHE/layer.tar.gz")
rss_zst=$(peak_rss_kib "$BIN" "$CACHE/layer.tar.zst")
pr_walkgz=$(pair_median walkgz libdeflate)
pr_walkzst=$(pair_median walkzst zstd)

ratio() { printf '%.2f' "$(echo "$1 / $2" | bc -l)"; }
echo "times: best / median of $RUNS interleaved rounds; ratios: best/best (median/median) [median of $RUNS per-round ratios]"
printf '%-28s %8s s (one run)\n' "gzip -dc" "$t_gzip"
printf '%-28s %s / %s s\n' "libdeflate-gunzip -c" "$T_best_libdeflate" "$T_med_libdeflate"
printf '%-28s %s / %s s   %sx (%sx) [%sx] libdeflate (target <= 1.0)   peak RSS %s KiB\n' \
  "imgscan walk (gzip layer)" "$T_best_walkgz" "$T_med_walkgz" "$(ratio "$T_best_walkgz" "$T_best_libdeflate")" \
  "$(ratio "$T_med_walkgz" "$T_med_libdeflate")" "$pr_walkgz" "$rss_gz"
printf '%-28s %s / %s s\n' "zstd -dc" "$T_best_zstd" "$T_med_zstd"
printf '%-28s %s / %s s   %sx (%sx) [%sx] zstd (target <= 1.2)   peak RSS %s KiB\n' \
  "imgscan walk (zstd layer)" "$T_best_walkzst" "$T_med_walkzst" "$(ratio "$T_best_walkzst" "$T_best_zstd")" \
  "$(ratio "$T_med_walkzst" "$T_med_zstd")" "$pr_walkzst" "$rss_zst"
echo "RSS target: <= 65536 KiB"

# Full scan (every analyzer, the YARA-L rules, one read of the bytes) against the walk
# alone, through the CLI on a one-layer OCI layout holding the same gzip layer.
LAYOUT="$CACHE/oci"
if [ ! -s "$LAYOUT/index.json" ]; then
  rm -rf "$LAYOUT"; mkdir -p "$LAYOUT/blobs/sha256"
  gz_d=$(sha256sum "$CACHE/layer.tar.gz" | cut -d' ' -f1)
  diff_d=$(sha256sum "$ROOTFS" | cut -d' ' -f1)
  cp "$CACHE/layer.tar.gz" "$LAYOUT/blobs/sha256/$gz_d"
  printf '{"architecture":"amd64","os":"linux","config":{"Cmd":["bash"]},"rootfs":{"type":"layers","diff_ids":["sha256:%s"]},"history":[{"created_by":"/bin/sh -c #(nop) ADD file:rootfs in /"}]}' "$diff_d" > "$CACHE/config.json"
  cfg_d=$(sha256sum "$CACHE/config.json" | cut -d' ' -f1)
  cp "$CACHE/config.json" "$LAYOUT/blobs/sha256/$cfg_d"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:%s","size":%s},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:%s","size":%s}]}' \
    "$cfg_d" "$(stat -c %s "$CACHE/config.json")" "$gz_d" "$GZ" > "$CACHE/manifest.json"
  m_d=$(sha256sum "$CACHE/manifest.json" | cut -d' ' -f1)
  cp "$CACHE/manifest.json" "$LAYOUT/blobs/sha256/$m_d"
  printf '{"schemaVersion":2,"manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:%s","size":%s,"annotations":{"org.opencontainers.image.ref.name":"bookworm"}}]}' \
    "$m_d" "$(stat -c %s "$CACHE/manifest.json")" > "$LAYOUT/index.json"
  echo '{"imageLayoutVersion":"1.0.0"}' > "$LAYOUT/oci-layout"
fi
cargo build --quiet --profile bench --bin imgscan
IMG="${CARGO_TARGET_DIR:-target}/release/imgscan"
[ -x "$IMG" ] || IMG="${CARGO_TARGET_DIR:-target}/bench/imgscan"
interleave inspect "'$IMG' inspect -q 'oci-dir:$LAYOUT'" \
  scan "'$IMG' scan -q --no-cache --format json --fail-on none 'oci-dir:$LAYOUT'" \
  libdeflate "libdeflate-gunzip -c '$CACHE/layer.tar.gz'"
rss_scan=$(peak_rss_kib "$IMG" scan -q --no-cache --format json --fail-on none "oci-dir:$LAYOUT")
rss_inspect=$(peak_rss_kib "$IMG" inspect -q "oci-dir:$LAYOUT")
pr_scan_lib=$(pair_median scan libdeflate)
pr_inspect_lib=$(pair_median inspect libdeflate)
pr_scan_inspect=$(pair_median scan inspect)
echo "whole processes, $RUNS interleaved rounds (inspect, scan, libdeflate); [median of per-round ratios]"
printf '%-28s %s / %s s\n' "libdeflate-gunzip -c" "$T_best_libdeflate" "$T_med_libdeflate"
printf '%-28s %s / %s s   [%sx] libdeflate   peak RSS %s KiB\n' "imgscan inspect (walk)" \
  "$T_best_inspect" "$T_med_inspect" "$pr_inspect_lib" "$rss_inspect"
printf '%-28s %s / %s s   %sx (%sx) [%sx] walk   %sx (%sx) [%sx] libdeflate (target <= 1.3)   peak RSS %s KiB (target <= 65536)\n' \
  "imgscan scan (full)" "$T_best_scan" "$T_med_scan" "$(ratio "$T_best_scan" "$T_best_inspect")" \
  "$(ratio "$T_med_scan" "$T_med_inspect")" "$pr_scan_inspect" "$(ratio "$T_best_scan" "$T_best_libdeflate")" \
  "$(ratio "$T_med_scan" "$T_med_libdeflate")" "$pr_scan_lib" "$rss_scan"
echo "quote: full scan / libdeflate-gunzip = ${pr_scan_lib}x (median of $RUNS per-round ratios)"

# --yara: the same full scan with 100 generated rules (strings and hex patterns), and with
# the public malcontent rule set (Apache-2.0, ~2,300 rules) when ../shared/ has it; beside
# YARA-X's own CLI (`yr scan`, if installed: cargo install yara-x-cli) over the same
# rootfs extracted to disk (absolute symlinks removed, so nothing outside is read).
if "$IMG" scan --help | grep -q -- '--yara '; then
  YARA_DIR="$CACHE/yara"
  mkdir -p "$YARA_DIR/gen"
  if [ ! -s "$YARA_DIR/gen/rules.yar" ]; then
    for i in $(seq 100); do
      h=$(printf 'imgscan-bench-%d' "$i" | sha256sum | cut -c1-24)
      printf 'rule gen_%d {\n  strings:\n    $s = "imgscan-bench-%s"\n    $h = { %s [1-8] %s }\n  condition:\n    any of them\n}\n' \
        "$i" "$h" "$(echo "${h:0:8}" | sed 's/../& /g')" "$(echo "${h:8:8}" | sed 's/../& /g')"
    done > "$YARA_DIR/gen/rules.yar"
  fi
  MALCONTENT=../shared/yara-corpus/malcontent/rules
  args_gen="--yara '$YARA_DIR/gen/rules.yar'"
  runs=(scan "'$IMG' scan -q --no-cache --format json --fail-on none 'oci-dir:$LAYOUT'"
        yara100 "'$IMG' scan -q --no-cache --format json --fail-on none $args_gen 'oci-dir:$LAYOUT'")
  if [ -d "$MALCONTENT" ]; then
    runs+=(yaramc "'$IMG' scan -q --no-cache --format json --fail-on none --allow-incomplete --yara '$MALCONTENT' 'oci-dir:$LAYOUT'")
  fi
  if command -v yr > /dev/null; then
    TREE="$CACHE/rootfs-tree"
    if [ ! -d "$TREE/usr" ]; then
      rm -rf "$TREE"; mkdir -p "$TREE"
      tar -xf "$ROOTFS" -C "$TREE" --no-same-owner --exclude='./dev/*' --exclude='dev/*' 2>/dev/null || true
      find "$TREE" -type l -lname '/*' -delete
    fi
    runs+=(yr100 "yr scan -r '$YARA_DIR/gen/rules.yar' '$TREE'")
    [ -d "$MALCONTENT" ] && runs+=(yrmc "yr scan -r '$MALCONTENT' '$TREE'")
  fi
  interleave "${runs[@]}"
  echo "--yara: whole processes, $RUNS interleaved rounds; [median of per-round ratios]"
  printf '%-28s %s / %s s\n' "imgscan scan (no --yara)" "$T_best_scan" "$T_med_scan"
  rss=$(eval peak_rss_kib "'$IMG'" scan -q --no-cache --format json --fail-on none "$args_gen" "'oci-dir:$LAYOUT'")
  printf '%-28s %s / %s s   [%sx] scan (target <= 1.5)   peak RSS %s KiB\n' "imgscan scan, 100 rules" \
    "$T_best_yara100" "$T_med_yara100" "$(pair_median yara100 scan)" "$rss"
  if [ -d "$MALCONTENT" ]; then
    rss=$(peak_rss_kib "$IMG" scan -q --no-cache --format json --fail-on none --allow-incomplete --yara "$MALCONTENT" "oci-dir:$LAYOUT")
    printf '%-28s %s / %s s   [%sx] scan   peak RSS %s KiB (target <= 131072)\n' "imgscan scan, malcontent" \
      "$T_best_yaramc" "$T_med_yaramc" "$(pair_median yaramc scan)" "$rss"
  else
    echo "malcontent rules: not in ../shared/yara-corpus; row skipped"
  fi
  if command -v yr > /dev/null; then
    printf '%-28s %s / %s s   imgscan 100 rules / yr = [%sx]\n' "yr scan, 100 rules (tree)" \
      "$T_best_yr100" "$T_med_yr100" "$(pair_median yara100 yr100)"
    [ -d "$MALCONTENT" ] && printf '%-28s %s / %s s   imgscan malcontent / yr = [%sx]\n' \
      "yr scan, malcontent (tree)" "$T_best_yrmc" "$T_med_yrmc" "$(pair_median yaramc yrmc)"
  else
    echo "yr: not installed (cargo install yara-x-cli); its rows skipped"
  fi
fi
