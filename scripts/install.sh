#!/usr/bin/env bash
# One command to set shark up on a fresh Debian/Ubuntu machine: the system
# packages the tools and the test suite use (.ci/packages.txt), the npm
# dependencies (exactly as locked), and the build. Run as root (or with sudo).
set -euo pipefail
cd "$(dirname "$0")/.."

packages=$(grep -vE '^\s*(#|$)' .ci/packages.txt | tr '\n' ' ')
missing=()
for p in $packages; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ ${#missing[@]} -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -qq
  apt-get install -y -qq --no-install-recommends "${missing[@]}"
fi

npm ci --no-audit --no-fund
npm run build
# Live capture (tap -i, agent, record -i): the capture helper, libpcap only,
# into build/capture/ (found there by src/capture/helper.ts; without it shark
# falls back to capturing in-process with `cap`).
bash native/capture/build.sh >/dev/null && echo "capture helper built: build/capture/shark-capture"
# `shark tap --tls`: the BPF program and its loader, built against this
# kernel's BTF into build/tls-capture/ (found there by src/tls-capture/loader.ts).
if [ -r /sys/kernel/btf/vmlinux ]; then
  bash native/tls-capture/build.sh >/dev/null && echo "tls capture loader built: build/tls-capture/shark-tls-capture"
else
  echo "no /sys/kernel/btf/vmlinux: shark tap --tls will not be available on this machine"
fi
# OpenSSL 1.1 from Debian 11's package, unpacked into build/ (never installed):
# the eBPF test of libssl.so.1.1 loads it (test/tls-capture/libssl11.test.ts).
if [ "$(dpkg --print-architecture)" = amd64 ]; then
  bash scripts/lab/libssl11.sh >/dev/null && echo "libssl.so.1.1 (Debian 11) unpacked for the eBPF test"
fi
# The node-agent image the cluster tests run (test/k8s/agent-image.test.ts):
# built here, not in the test, because a fresh build takes minutes. Reused
# while nothing it is made from changes.
if command -v podman >/dev/null; then
  start=$(date +%s)
  image=$(bash scripts/image/build.sh)
  echo "agent image $image ready in $(( $(date +%s) - start )) s"
fi
echo "shark installed: try  node bin/run.js dissect examples/bookinfo-mix.pcap | head"
