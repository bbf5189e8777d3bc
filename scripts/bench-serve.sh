#!/bin/sh
# Loopback load on `imgscan serve --names-only` (cached verdicts): 200 connections, with
# wrk, POSTing one AdmissionReview to /validate?timeout=10s. Prints wrk's requests/s,
# latency percentiles and errors (non-2xx, socket errors), then what the server spent:
# requests per CPU-second of the server process (user + system, from /proc; does not
# depend on what else runs on the machine the way latency does) and, with PERF=1 and
# `perf` usable, user-space instructions per request.
# Knobs: IMG=... (the binary), DURATION=20s, CONNS=200 (the issue's figure),
# THREADS=2 (wrk's), PIN=CPUS (run the server under `taskset -c CPUS` and wrk on the
# others, e.g. PIN=0 on two cores), RATE=N (an offered load of about N requests/s in all:
# each connection waits CONNS/N s before its next request, through wrk's delay(); without
# it wrk sends back to back, and latency is CONNS / throughput by Little's law, whatever
# the server's own cost). Then the first requests for images nobody has scanned, against a
# registry that never answers: each answered within its deadline (FIRST=N images; 0 skips).
set -eu
command -v wrk >/dev/null || { echo "bench-serve: wrk is missing (apt-get install wrk)" >&2; exit 1; }
if [ -z "${IMG:-}" ]; then
  cargo build --quiet --profile bench --bin imgscan
  # Cargo writes the bench profile to target/release.
  IMG="${CARGO_TARGET_DIR:-target}/release/imgscan"
fi
T=$(mktemp -d)
PID=
cleanup() { [ -n "$PID" ] && kill "$PID" 2>/dev/null; wait 2>/dev/null; rm -rf "$T"; }
trap cleanup EXIT
# A CA and a leaf signed by it (rustls refuses nothing here: wrk does not verify).
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -days 1 \
  -subj /CN=bench-ca -keyout "$T/ca.key" -out "$T/ca.pem" 2>/dev/null
openssl req -newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes -subj /CN=localhost \
  -keyout "$T/key.pem" -out "$T/leaf.csr" 2>/dev/null
printf 'subjectAltName=DNS:localhost,IP:127.0.0.1\n' > "$T/ext"
openssl x509 -req -in "$T/leaf.csr" -CA "$T/ca.pem" -CAkey "$T/ca.key" -CAcreateserial \
  -days 1 -extfile "$T/ext" -out "$T/cert.pem" 2>/dev/null
port() { python3 -c 'import socket; s=socket.socket(); s.bind(("127.0.0.1",0)); print(s.getsockname()[1])'; }
P=$(port); H=$(port)
CONNS="${CONNS:-200}"
SERVER_TASKSET= WRK_TASKSET=
if [ -n "${PIN:-}" ]; then
  SERVER_TASKSET="taskset -c $PIN"
  REST=$(python3 -c "import os,sys; p={int(c) for c in sys.argv[1].split(',')}; r=sorted(set(os.sched_getaffinity(0))-p); print(','.join(map(str,r)))" "$PIN")
  [ -n "$REST" ] && WRK_TASKSET="taskset -c $REST"
fi
$SERVER_TASKSET "$IMG" serve --names-only --listen "127.0.0.1:$P" --health-listen "127.0.0.1:$H" \
  --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" 2>"$T/serve.log" &
PID=$!
i=0
until curl -sf "http://127.0.0.1:$H/readyz" >/dev/null; do
  i=$((i + 1)); [ $i -lt 100 ] || { cat "$T/serve.log" >&2; exit 1; }; sleep 0.1
done
cat > "$T/post.lua" <<'LUA'
wrk.method = "POST"
wrk.headers["Content-Type"] = "application/json"
wrk.body = [[{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"bench","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","userInfo":{},"namespace":"shop","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}}}}]]
LUA
if [ -n "${RATE:-}" ]; then
  printf 'function delay() return %s end\n' "$((CONNS * 1000 / RATE))" >> "$T/post.lua"
fi
# Requests answered so far, and CPU ticks of the server so far.
answered() { curl -s "http://127.0.0.1:$H/metrics" | awk '/^imgscan_admission_requests_total/ {n += $2} END {print n + 0}'; }
ticks() { awk '{print $14 + $15}' "/proc/$PID/stat"; }
# Warm up: the first request fills the verdict cache, the connections do their handshakes.
curl -sk -o /dev/null -H 'Content-Type: application/json' --data-binary @- \
  "https://127.0.0.1:$P/validate?timeout=10s" <<'JSON'
{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"warm","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","userInfo":{},"namespace":"shop","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"nginx:1.27"}]}}}}
JSON
N0=$(answered); C0=$(ticks)
PERF_PID=
if [ "${PERF:-0}" = 1 ] && command -v perf >/dev/null; then
  perf stat -x, -e instructions:u -p "$PID" -o "$T/perf.csv" 2>/dev/null &
  PERF_PID=$!
fi
echo "imgscan serve --names-only, $CONNS connections, ${DURATION:-20s}, ${RATE:+about $RATE requests/s offered, }POST /validate?timeout=10s:"
$WRK_TASKSET wrk -t"${THREADS:-2}" -c"$CONNS" -d"${DURATION:-20s}" --latency -s "$T/post.lua" \
  "https://127.0.0.1:$P/validate?timeout=10s"
N1=$(answered); C1=$(ticks)
HZ=$(getconf CLK_TCK)
echo "server: $((N1 - N0)) requests in $(((C1 - C0) * 1000 / HZ)) ms of CPU:" \
  "$(((N1 - N0) * HZ / ((C1 - C0) > 0 ? (C1 - C0) : 1))) requests per CPU-second"
if [ -n "$PERF_PID" ]; then
  kill -INT "$PERF_PID" 2>/dev/null; wait "$PERF_PID" 2>/dev/null || true
  INS=$(awk -F, '/instructions/ {print $1}' "$T/perf.csv")
  case "$INS" in
    ''|*[!0-9]*) echo "perf: no instruction count (perf_event_paranoid?)" ;;
    *) echo "server: $((INS / (N1 - N0 > 0 ? N1 - N0 : 1))) user-space instructions per request" ;;
  esac
fi
echo "server metrics:"
curl -s "http://127.0.0.1:$H/metrics" | grep -E '^imgscan_admission_(requests_total|verdict_cache|deadline)'

# The first request for an image not yet scanned, answered within its deadline: a second
# server that judges content, and a registry that accepts connections and never answers
# (nothing to judge by, the worst case for the deadline). FIRST=20 distinct images at
# once, each the first request for its image, with ?timeout=2s; each answer's time is
# measured by curl from the connection to the last byte. FIRST=0 skips this part.
FIRST="${FIRST:-20}"
[ "$FIRST" -gt 0 ] || exit 0
STALL=$(port); P2=$(port); H2=$(port)
python3 - "$STALL" <<'PY' &
import socket, sys, time
s = socket.socket(); s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
s.bind(("127.0.0.1", int(sys.argv[1]))); s.listen(512)
held = []
while True:
    c, _ = s.accept(); held.append(c)
PY
STALL_PID=$!
i=0
until python3 -c 'import socket,sys; socket.create_connection(("127.0.0.1", int(sys.argv[1])), 1)' "$STALL" 2>/dev/null; do
  i=$((i + 1)); [ $i -lt 100 ] || { echo "bench-serve: the stalled registry did not start" >&2; exit 1; }; sleep 0.1
done
"$IMG" serve --insecure --listen "127.0.0.1:$P2" --health-listen "127.0.0.1:$H2" \
  --max-queued-scans "$((FIRST + 1))" --tls-cert "$T/cert.pem" --tls-key "$T/key.pem" 2>"$T/serve2.log" &
PID2=$!
i=0
until curl -sf "http://127.0.0.1:$H2/readyz" >/dev/null; do
  i=$((i + 1)); [ $i -lt 100 ] || { cat "$T/serve2.log" >&2; kill $STALL_PID $PID2; exit 1; }; sleep 0.1
done
n=1
CURLS=
while [ "$n" -le "$FIRST" ]; do
  printf '{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"first-%s","kind":{"group":"","version":"v1","kind":"Pod"},"resource":{"group":"","version":"v1","resource":"pods"},"operation":"CREATE","userInfo":{},"namespace":"shop","object":{"apiVersion":"v1","kind":"Pod","metadata":{"name":"p"},"spec":{"containers":[{"name":"c","image":"127.0.0.1:%s/acme/app-%s:1"}]}}}}' \
    "$n" "$STALL" "$n" > "$T/first-$n.json"
  curl -sk -o "$T/first-$n.out" -w '%{http_code} %{time_total}\n' -H 'Content-Type: application/json' \
    --data-binary "@$T/first-$n.json" --max-time 10 "https://127.0.0.1:$P2/validate?timeout=2s" \
    > "$T/first-$n.time" &
  CURLS="$CURLS $!"
  n=$((n + 1))
done
# shellcheck disable=SC2086
wait $CURLS || true
cat "$T"/first-*.time | awk -v n="$FIRST" -v dl=2 '
  $1 == 200 && $2 < dl { ok++ } $2 > max { max = $2 }
  END { printf "first requests for %d unscanned images (registry never answers), ?timeout=2s: %d of %d answered within the deadline, slowest %.3f s\n", n, ok, n, max }'
grep -ho '"allowed":[a-z]*' "$T"/first-*.out | sort | uniq -c | sed 's/^/  /'
grep -ho '"message":"[^"]*"' "$T/first-1.out" | head -1 | cut -c1-400 | sed 's/^/  e.g. /'
kill $STALL_PID $PID2 2>/dev/null || true
