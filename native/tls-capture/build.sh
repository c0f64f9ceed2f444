#!/usr/bin/env bash
# Builds the eBPF side of `shark tap --tls` into OUT (default build/tls-capture):
# the BPF object compiled against this kernel's BTF (CO-RE), its libbpf
# skeleton, and the loader. Needs clang, llvm, libbpf-dev, bpftool, libelf-dev
# (.ci/packages.txt). Prints the loader's path.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
out=${1:-$here/../../build/tls-capture}
mkdir -p "$out"
out=$(cd "$out" && pwd)
btf=${BTF:-/sys/kernel/btf/vmlinux}
bpftool=$(command -v bpftool || ls /usr/sbin/bpftool 2>/dev/null || true)
[ -n "$bpftool" ] || { echo "build.sh: bpftool not found (apt-get install bpftool)" >&2; exit 1; }
[ -r "$btf" ] || { echo "build.sh: $btf not readable: the kernel has no BTF" >&2; exit 1; }
arch=$(uname -m | sed -e 's/x86_64/x86/' -e 's/aarch64/arm64/')
"$bpftool" btf dump file "$btf" format c > "$out/vmlinux.h"
# Cross-building for arm64 (qemu) on an x86-64 kernel: its BTF has no arm64
# register layout, which libbpf's PT_REGS_* macros read. user_pt_regs is the
# arm64 ptrace ABI (arch/arm64/include/uapi/asm/ptrace.h), stable by contract.
if [ "$arch" = arm64 ] && ! grep -q '^struct user_pt_regs {' "$out/vmlinux.h"; then
  sed -i '/^#endif \/\* __VMLINUX_H__ \*\//i struct user_pt_regs { __u64 regs[31]; __u64 sp; __u64 pc; __u64 pstate; };' "$out/vmlinux.h"
fi
clang -O2 -g -target bpf -D__TARGET_ARCH_${arch} -I"$out" -I"$here" \
  -c "$here/tls_capture.bpf.c" -o "$out/tls_capture.bpf.o"
llvm-strip -g "$out/tls_capture.bpf.o" 2>/dev/null || true
"$bpftool" gen skeleton "$out/tls_capture.bpf.o" > "$out/tls_capture.skel.h"
# Static: the agent image (and any host) runs it without libbpf/libelf installed.
cc -O2 -g -Wall -I"$out" -I"$here" "$here/loader.c" -o "$out/shark-tls-capture" ${LDSTATIC--static} -lbpf -lelf -lz
echo "$out/shark-tls-capture"
