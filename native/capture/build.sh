#!/usr/bin/env bash
# Builds shark's capture helper (shark-capture.c) into OUT (default
# build/capture): libpcap only. Needs gcc and libpcap-dev (.ci/packages.txt).
# Prints the helper's path. Found there by src/capture/helper.ts.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build/capture}
mkdir -p "$out"
out=$(cd "$out" && pwd)
cc -O2 -g -Wall -Wextra -Werror -pthread "$here/shark-capture.c" -o "$out/shark-capture" -lpcap
echo "$out/shark-capture"
