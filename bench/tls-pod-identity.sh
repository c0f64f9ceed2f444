#!/usr/bin/env bash
# How often a hooked process is already gone from /proc when the agent reads
# its first TLS event, i.e. how often the kernel-stamped cgroup id is what
# names its container (src/tls-capture/process-identity.ts). A standalone
# `shark agent --tls --pods-only` is told one pod; N short-lived curls run in
# that pod's cgroup (the kubelet + containerd naming, under a slice of this
# script's own) against a local openssl s_server. Prints the agent's summary
# ("processes named: A from /proc, B by cgroup id (already exited), …").
# Needs root, BTF, cgroup v2; run after `npm run build` and build.sh.
# Usage: bash bench/tls-pod-identity.sh [N=20]
set -euo pipefail
n=${1:-20}
here=$(cd "$(dirname "$0")/.." && pwd)
work=$(mktemp -d /tmp/shark-tls-identity.XXXX)
cg=$work/cgroup2
mkdir "$cg"
mount -t cgroup2 none "$cg"
uid=0b1c2d3e-4f50-4617-8293-a4b5c6d7e8f9
cid=$(head -c 32 /dev/urandom | od -An -tx1 | tr -d ' \n')
scope=$cg/shark-bench-$$.slice/kubepods.slice/kubepods-besteffort.slice/kubepods-besteffort-pod${uid//-/_}.slice/cri-containerd-$cid.scope
mkdir -p "$scope"
port=$((20000 + $$ % 20000))
cleanup() {
  [ -n "${server:-}" ] && kill "$server" 2>/dev/null || true
  [ -n "${agent:-}" ] && kill "$agent" 2>/dev/null || true
  exec 3>&- 2>/dev/null || true
  sleep 0.5
  d=$scope
  while [ "$d" != "$cg" ]; do rmdir "$d" 2>/dev/null || true; d=$(dirname "$d"); done
  umount "$cg" 2>/dev/null || true
  rm -rf "$work"
}
trap cleanup EXIT
openssl req -x509 -newkey ec -pkeyopt ec_paramgen_curve:prime256v1 -nodes -days 1 -subj /CN=bench \
  -keyout "$work/k.pem" -out "$work/c.pem" 2>/dev/null
openssl s_server -quiet -www -accept "$port" -cert "$work/c.pem" -key "$work/k.pem" >/dev/null 2>&1 &
server=$!
mkfifo "$work/ctl"
SHARK_CGROUP_ROOT=$cg node "$here/bin/run.js" agent --tls --pods-only --node bench <"$work/ctl" >"$work/out" 2>"$work/err" &
agent=$!
exec 3>"$work/ctl"
echo "{\"pods\":[{\"name\":\"bench\",\"namespace\":\"bench\",\"ips\":[\"198.19.210.250\"],\"uid\":\"$uid\"}]}" >&3
for _ in $(seq 1 120); do grep -qs 'pod(s) tapped' "$work/err" && break; sleep 0.5; done
for i in $(seq 1 "$n"); do
  sh -c "echo \$\$ > $scope/cgroup.procs && exec curl -sk -o /dev/null https://127.0.0.1:$port/call-$i"
done
sleep 2
echo '{"stop":true}' >&3
wait "$agent" || true
agent=
echo "curls: $n, entries: $(grep -c '"tls":true' "$work/out" || true)"
grep -o 'processes named: [^,]*, [^,]*, [^,]*' "$work/err"
grep -o '[0-9]* events of processes outside the tapped pods dropped' "$work/err" || true
