#!/usr/bin/env bash
# `make fuzz`: build every target, then run each, one at a time (one libFuzzer process:
# the machine is shared), for FUZZ_SECONDS (default 60) with -rss_limit_mb=256 and a
# per-input -timeout (FUZZ_TIMEOUT, default 10 s). Prints per target: execs/s, cov and
# ft (libFuzzer's final status line), corpus size, peak RSS and the result; a crash,
# timeout or OOM leaves its input in fuzz/artifacts/TARGET/ and makes this exit 1.
# FUZZ_TARGETS="a b" runs only those; FUZZ_SANITIZER (default none) is cargo fuzz's -s.
set -uo pipefail
here=$(cd "$(dirname "$0")" && pwd)
cd "$here"
secs=${FUZZ_SECONDS:-60}
tmo=${FUZZ_TIMEOUT:-10}
san=${FUZZ_SANITIZER:-none}
targets=${FUZZ_TARGETS:-$(cargo +nightly fuzz list)}
[ -d corpus ] || bash seed.sh >/dev/null
cargo +nightly fuzz build -s "$san" || exit 2
mkdir -p logs
printf '%-15s %9s %7s %7s %7s %7s %6s  %s\n' target execs/s cov ft corpus rss_mb secs result
fail=0
for t in $targets; do
  mkdir -p "corpus/$t" "artifacts/$t"
  log=logs/$t.log
  start=$(date +%s)
  cargo +nightly fuzz run -s "$san" "$t" "corpus/$t" -- \
    -max_total_time="$secs" -rss_limit_mb=256 -malloc_limit_mb=256 -timeout="$tmo" \
    -print_final_stats=1 -close_fd_mask=1 >"$log" 2>&1
  rc=$?
  took=$(($(date +%s) - start))
  last=$(grep -E '^#[0-9]+' "$log" | tail -1)
  cov=$(sed -n 's/.* cov: \([0-9]*\).*/\1/p' <<<"$last")
  ft=$(sed -n 's/.* ft: \([0-9]*\).*/\1/p' <<<"$last")
  eps=$(sed -n 's/^stat::average_exec_per_sec: *//p' "$log")
  rss=$(sed -n 's/^stat::peak_rss_mb: *//p' "$log")
  n=$(ls "corpus/$t" | wc -l)
  if [ $rc -eq 0 ]; then
    result=ok
  else
    fail=1
    result=$(grep -oE 'ERROR: libFuzzer: [a-z-]+|deadly signal|panicked at [^ ]+' "$log" | head -1)
    result="${result:-exit $rc} ($(grep -oE 'artifacts/[^ ]+' "$log" | tail -1))"
  fi
  printf '%-15s %9s %7s %7s %7s %7s %6s  %s\n' "$t" "${eps:-?}" "${cov:-?}" "${ft:-?}" "$n" "${rss:-?}" "$took" "$result"
done
exit $fail
