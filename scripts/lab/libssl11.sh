#!/usr/bin/env bash
# OpenSSL 1.1 for the eBPF test of `libssl.so.1.1` (test/tls-capture/libssl11.test.ts):
# Debian 12 ships only OpenSSL 3, so the library comes from Debian 11's package
# (deb.debian.org, checked against its SHA-256), unpacked into build/libssl1.1/.
# Nothing is installed system-wide. Prints the library's path.
set -euo pipefail
cd "$(dirname "$0")/../.."
out=build/libssl1.1
deb=libssl1.1_1.1.1w-0+deb11u1_amd64.deb
sha=aadf8b4b197335645b230c2839b4517aa444fd2e8f434e5438c48a18857988f7
lib=$out/usr/lib/x86_64-linux-gnu/libssl.so.1.1
[ "$(dpkg --print-architecture)" = amd64 ] || { echo "libssl11.sh: amd64 only" >&2; exit 2; }
if [ ! -e "$lib" ]; then
  mkdir -p "$out"
  curl -sSf --retry 3 -o "$out/$deb" "http://deb.debian.org/debian/pool/main/o/openssl/$deb"
  echo "$sha  $out/$deb" | sha256sum -c --quiet
  dpkg-deb -x "$out/$deb" "$out"
  rm -f "$out/$deb"
fi
echo "$lib"
