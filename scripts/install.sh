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
echo "shark installed: try  node bin/run.js dissect examples/bookinfo-mix.pcap | head"
