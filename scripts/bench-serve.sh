#!/bin/sh
# Loopback load on `imgscan serve --names-only` (cached verdicts): 200 connections, with
# wrk, POSTing one AdmissionReview to /validate?timeout=10s. Prints wrk's requests/s,
# latency percentiles and errors (non-2xx, socket errors). Override the binary with
# IMG=..., the run length with DURATION=20s.
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
"$IMG" serve --names-only --listen "127.0.0.1:$P" --health-listen "127.0.0.1:$H" \
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
echo "imgscan serve --names-only, 200 connections, ${DURATION:-20s}, POST /validate?timeout=10s:"
wrk -t2 -c200 -d"${DURATION:-20s}" --latency -s "$T/post.lua" "https://127.0.0.1:$P/validate?timeout=10s"
echo "server metrics:"
curl -s "http://127.0.0.1:$H/metrics" | grep -E '^imgscan_admission_(requests_total|verdict_cache|deadline)'
