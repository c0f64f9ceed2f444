#!/usr/bin/env bash
# Builds the agent image from the repo's Dockerfile with podman, on bases made
# locally by base.sh (no image registry needed), and prints its name:
#   localhost/shark-agent:<hash>
# <hash> covers everything the image is made from (the bases, the Dockerfile,
# package files, src/, bin/), so an unchanged tree reuses the image at once and
# a changed one is rebuilt (podman's layer cache keeps `npm ci` when the
# package files did not change). Also tags it localhost/shark-agent:latest
# (latest-<arch> when built for another architecture, under qemu-user-static).
# Usage: scripts/image/build.sh [--arch amd64|arm64]
set -euo pipefail
cd "$(dirname "$0")/../.."
command -v podman >/dev/null || { echo "build.sh: podman is not installed (apt-get install podman buildah mmdebstrap runc)" >&2; exit 4; }

read -r RUNTIME BUILD < <(bash scripts/image/base.sh "$@" | tail -1)
ARCH=${RUNTIME##*-}
inputs=$( { echo "$RUNTIME $BUILD"; cat Dockerfile .dockerignore package.json package-lock.json tsconfig.json scripts/oclif-manifest.mjs;
  find src bin native -type f | LC_ALL=C sort | xargs sha256sum; } | sha256sum | cut -c1-12)
IMAGE=localhost/shark-agent:$inputs-$ARCH
if ! podman image exists "$IMAGE"; then
  start=$(date +%s)
  # --network host: `npm ci` inside the build reaches the npm registry. npm in
  # the build trusts what npm here trusts (a proxy's CA, if any): its cafile
  # is mounted for the build only, never copied into the image.
  ca=()
  cafile=$(npm config get cafile 2>/dev/null || true)
  if [ -z "$cafile" ] || [ "$cafile" = null ]; then cafile=${NODE_EXTRA_CA_CERTS:-}; fi
  if [ -n "$cafile" ] && [ "$cafile" != null ] && [ -f "$cafile" ]; then
    ca=(--volume "$cafile:/etc/ssl/build-ca.crt:ro" --build-arg NPM_CAFILE=/etc/ssl/build-ca.crt)
  fi
  podman build --quiet --runtime runc --network host --arch "$ARCH" "${ca[@]}" \
    --build-arg BASE="$RUNTIME" --build-arg BUILD_BASE="$BUILD" --build-arg TARGETARCH="$ARCH" \
    -t "$IMAGE" . >/dev/null
  echo "build.sh: built $IMAGE in $(( $(date +%s) - start )) s" >&2
fi
# `latest` is the local architecture's; another one's is latest-<arch> (a cross-build must not replace it).
if [ "$ARCH" = "$(dpkg --print-architecture)" ]; then podman tag "$IMAGE" localhost/shark-agent:latest; else podman tag "$IMAGE" "localhost/shark-agent:latest-$ARCH"; fi
echo "$IMAGE"
