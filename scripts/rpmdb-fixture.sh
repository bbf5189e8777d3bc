#!/usr/bin/env bash
# Builds a tiny real rpm database once, for tests/pkgdb.rs: a package `imgscan-hello`
# with one file /usr/bin/imgscan-hello, built with rpmbuild and installed with
# `rpm -i --root` into a fresh rpmdb.sqlite. Cached outside the repo; prints the root.
# Needs Debian's `rpm` package (scripts/setup-test.sh installs it).
set -euo pipefail
out="${IMGSCAN_CACHE:-$HOME/.cache/imgscan}/rpm-hello-v1"
if [ -f "$out/done" ]; then
  echo "$out/root"
  exit 0
fi
command -v rpmbuild >/dev/null || { echo "rpmbuild not found: apt-get install rpm" >&2; exit 1; }
tmp="$(mktemp -d)"
trap 'rm -rf "$tmp"' EXIT
mkdir -p "$tmp/top"/{SPECS,SOURCES,BUILD,RPMS,SRPMS}
cat > "$tmp/top/SPECS/hello.spec" <<'SPEC'
Name: imgscan-hello
Version: 1.0
Release: 1
Summary: imgscan test package
License: MIT
BuildArch: noarch
%description
One script, to test imgscan's rpm database reader.
%install
mkdir -p %{buildroot}/usr/bin
printf '#!/bin/sh\necho hello from rpm\n' > %{buildroot}/usr/bin/imgscan-hello
chmod 755 %{buildroot}/usr/bin/imgscan-hello
%files
/usr/bin/imgscan-hello
SPEC
rpmbuild --quiet --define "_topdir $tmp/top" -bb "$tmp/top/SPECS/hello.spec" >&2
root="$tmp/out/root"
mkdir -p "$root"
rpm --define "_db_backend sqlite" --root "$root" --dbpath /var/lib/rpm --initdb
rpm --define "_db_backend sqlite" --root "$root" --dbpath /var/lib/rpm -i --nodeps --noscripts \
  --ignorearch --ignoreos "$tmp"/top/RPMS/noarch/*.rpm >&2
test -f "$root/var/lib/rpm/rpmdb.sqlite"
test -f "$root/usr/bin/imgscan-hello"
# A snapshot as an image would hold it: no WAL or shm side files.
rm -f "$root/var/lib/rpm/rpmdb.sqlite-wal" "$root/var/lib/rpm/rpmdb.sqlite-shm"
mkdir -p "$(dirname "$out")"
rm -rf "$out"
mv "$tmp/out" "$out"
touch "$out/done"
echo "$out/root"
