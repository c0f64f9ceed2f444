#!/usr/bin/env bash
# Builds the two base images the agent image's Dockerfile needs, without an
# image registry: a Debian bookworm root made by mmdebstrap from Debian's
# packages, plus Node (the `node-linux-<arch>` npm package: the official
# binary and its headers) and npm (the `npm` package).
#   localhost/shark-base:<hash>        runtime: libpcap0.8, ca-certificates, node
#   localhost/shark-build-base:<hash>  + python3 make g++ libpcap-dev, npm (for cap's native build)
# <hash> is the content hash of this script and its inputs (Node version,
# architecture), so a second run finds the images and does nothing.
# Usage: scripts/image/base.sh [--arch amd64|arm64]   prints the two image names.
set -euo pipefail
cd "$(dirname "$0")/../.."

NODE_VERSION=${SHARK_NODE_VERSION:-20.20.2}
NPM_VERSION=${SHARK_NPM_VERSION:-10.8.2}
ARCH=$(dpkg --print-architecture)
[ "${1:-}" = "--arch" ] && ARCH=$2
case "$ARCH" in
  amd64) NODE_ARCH=x64 ;;
  arm64) NODE_ARCH=arm64 ;;
  *) echo "base.sh: unsupported architecture $ARCH (amd64, arm64)" >&2; exit 2 ;;
esac

hash=$( (cat "$0"; echo "$NODE_VERSION $NPM_VERSION $ARCH") | sha256sum | cut -c1-12)
RUNTIME=localhost/shark-base:$hash-$ARCH
BUILD=localhost/shark-build-base:$hash-$ARCH
if podman image exists "$RUNTIME" && podman image exists "$BUILD"; then
  echo "$RUNTIME $BUILD"
  exit 0
fi

work=$(mktemp -d /tmp/shark-base.XXXXXX)
trap 'rm -rf "$work"' EXIT
# Node and npm from the npm registry (no other registry is reachable here).
(cd "$work" && npm pack --silent "node-linux-$NODE_ARCH@$NODE_VERSION" "npm@$NPM_VERSION" >/dev/null)
mkdir -p "$work/node" "$work/npm"
tar -xzf "$work/node-linux-$NODE_ARCH-$NODE_VERSION.tgz" -C "$work/node" --strip-components=1
tar -xzf "$work/npm-$NPM_VERSION.tgz" -C "$work/npm" --strip-components=1

# Node into the root, laid out as the official node images do (/usr/local).
# The headers go into the build root only: node-gyp then builds `cap` offline
# (npm_config_nodedir=/usr/local) instead of downloading them.
add_node_runtime='mkdir -p "$1/usr/local/bin" && cp '"$work"'/node/bin/node "$1/usr/local/bin/node"'
add_node_build='mkdir -p "$1/usr/local/include" "$1/usr/local/lib/node_modules" && cp -a '"$work"'/node/include/node "$1/usr/local/include/" && cp -a '"$work"'/npm "$1/usr/local/lib/node_modules/npm" && ln -sf ../lib/node_modules/npm/bin/npm-cli.js "$1/usr/local/bin/npm" && ln -sf ../lib/node_modules/npm/bin/npx-cli.js "$1/usr/local/bin/npx"'
# Smaller image: no docs, man pages or apt lists.
slim='rm -rf "$1"/usr/share/doc/* "$1"/usr/share/man/* "$1"/var/lib/apt/lists/* "$1"/var/cache/apt/*'

mmdebstrap --quiet --variant=minbase --architectures="$ARCH" \
  --include=libpcap0.8,ca-certificates \
  --customize-hook="$add_node_runtime" --customize-hook="$slim" \
  bookworm "$work/runtime.tar" http://deb.debian.org/debian
mmdebstrap --quiet --variant=minbase --architectures="$ARCH" \
  --include=libpcap0.8,ca-certificates,libpcap-dev,python3,make,g++ \
  --customize-hook="$add_node_runtime" --customize-hook="$add_node_build" --customize-hook="$slim" \
  bookworm "$work/build.tar" http://deb.debian.org/debian

for pair in "runtime.tar $RUNTIME" "build.tar $BUILD"; do
  set -- $pair
  podman import --quiet --arch "$ARCH" \
    --change 'ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin' \
    --change 'CMD ["node"]' "$work/$1" "$2" >/dev/null
done
echo "$RUNTIME $BUILD"
