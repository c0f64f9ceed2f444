// Go programs carry their own TLS (crypto/tls), not OpenSSL. A Go binary is
// known by its `.go.buildinfo` section; its `crypto/tls.(*Conn).Write` and
// `Read` are hooked at their entries and at each RET instruction, which
// objdump finds: Go moves goroutine stacks, so the return-address rewrite a
// uretprobe does would crash the program. Only Go >= 1.17 on x86-64 (the
// register ABI the kernel side reads) is hooked; others are said and skipped.

import { execFile } from 'node:child_process';
import { openSync, readSync, closeSync, fstatSync, readdirSync, readlinkSync, statSync } from 'node:fs';

export interface GoProbes {
  path: string;
  version: string;
  /** Offsets of the RET instructions from the function's first byte. */
  writeRets: number[];
  readRets: number[];
}

/** The Go version a binary was built with (from `.go.buildinfo`), or undefined when it is not a Go ELF binary. */
export function goVersion(path: string): string | undefined {
  let fd: number | undefined;
  try {
    fd = openSync(path, 'r');
    const size = fstatSync(fd).size;
    const read = (off: number, len: number) => {
      const b = Buffer.alloc(len);
      readSync(fd!, b, 0, len, off);
      return b;
    };
    const eh = read(0, 64);
    if (eh.readUInt32BE(0) !== 0x7f454c46 || eh[4] !== 2 || eh[5] !== 1) return undefined; // ELF64, little endian
    const shoff = Number(eh.readBigUInt64LE(0x28));
    const shentsize = eh.readUInt16LE(0x3a);
    const shnum = eh.readUInt16LE(0x3c);
    const shstrndx = eh.readUInt16LE(0x3e);
    if (shoff === 0 || shnum === 0 || shnum > 4096 || shoff + shnum * shentsize > size) return undefined;
    const sh = read(shoff, shnum * shentsize);
    const strOff = Number(sh.readBigUInt64LE(shstrndx * shentsize + 0x18));
    const strSize = Math.min(Number(sh.readBigUInt64LE(shstrndx * shentsize + 0x20)), 1 << 20);
    const names = read(strOff, strSize);
    for (let i = 0; i < shnum; i++) {
      const nameOff = sh.readUInt32LE(i * shentsize);
      const end = names.indexOf(0, nameOff);
      if (names.toString('latin1', nameOff, end) !== '.go.buildinfo') continue;
      const off = Number(sh.readBigUInt64LE(i * shentsize + 0x18));
      const len = Math.min(Number(sh.readBigUInt64LE(i * shentsize + 0x20)), 64 * 1024);
      const m = /go1\.\d+(\.\d+)?/.exec(read(off, len).toString('latin1'));
      return m ? m[0] : 'go (version unknown)';
    }
    return undefined;
  } catch {
    return undefined;
  } finally {
    if (fd !== undefined) closeSync(fd);
  }
}

/** True for the register ABI (Go 1.17 and later). */
export function registerAbi(version: string): boolean {
  const m = /^go1\.(\d+)/.exec(version);
  return !!m && Number(m[1]) >= 17;
}

/** RET offsets of one function, by disassembly; undefined when the binary does not have it. */
async function retOffsets(path: string, symbol: string): Promise<number[] | undefined> {
  const out = await new Promise<string>((resolve) =>
    execFile('objdump', ['-d', '--no-show-raw-insn', `--disassemble=${symbol}`, path], { maxBuffer: 16 << 20, timeout: 60_000 }, (err, stdout) =>
      resolve(err ? '' : stdout),
    ),
  );
  const start = new RegExp(`^([0-9a-f]+) <${symbol.replace(/[()*.]/g, '\\$&')}>:`, 'm').exec(out);
  if (!start) return undefined;
  const base = parseInt(start[1], 16);
  const rets: number[] = [];
  for (const m of out.matchAll(/^\s*([0-9a-f]+):\s+ret\b/gm)) rets.push(parseInt(m[1], 16) - base);
  return rets.length > 0 ? rets : undefined;
}

/**
 * What to hook in a Go binary, or a reason it cannot be hooked (not Go, Go
 * before 1.17, not x86-64, no crypto/tls in it, symbols stripped).
 */
export async function goProbes(path: string): Promise<GoProbes | { skip: string }> {
  const version = goVersion(path);
  if (!version) return { skip: 'not a Go binary' };
  if (process.arch !== 'x64') return { skip: `${version}: Go probes are built for x86-64 only` };
  if (!registerAbi(version)) return { skip: `${version}: before Go 1.17 (stack-based calling convention), not hooked` };
  const [writeRets, readRets] = await Promise.all([retOffsets(path, 'crypto/tls.(*Conn).Write'), retOffsets(path, 'crypto/tls.(*Conn).Read')]);
  if (!writeRets || !readRets) return { skip: `${version}: no crypto/tls.(*Conn).Write/Read symbols (no TLS in it, or stripped)` };
  return { path, version, writeRets, readRets };
}

/** The loader's `--go` argument / `go` command for these probes. */
export function goSpec(p: GoProbes): string {
  return `${p.path} ${p.writeRets.join(',')} ${p.readRets.join(',')}`;
}

/** Binaries held open at once for their hooks (see watchGoBinaries); past it the oldest is closed (long hooked by then). */
const MAX_HELD_BINARIES = 256;

/**
 * Watches running processes for Go binaries not hooked yet (every
 * `intervalMs`) and hands their probes to `hook`, with a label for humans
 * (the binary's path and the pid it was found in). Each binary is looked at
 * once (by device and inode); the set is bounded. `hooked`: binaries
 * already hooked (named with --tls-lib), not hooked again when found running.
 *
 * A binary is opened as soon as it is found, and looked at and hooked
 * through that open file (/proc/<shark's pid>/fd/N): a process that exits
 * while objdump reads its binary (a short-lived Go program, or the first
 * instance of a crash-looping one) would otherwise leave /proc/PID/exe gone
 * before the loader attached, and the binary, already seen, would never be
 * hooked for its later processes.
 */
export function watchGoBinaries(
  hook: (spec: string, p: GoProbes, label: string) => void,
  note: (line: string) => void,
  intervalMs = 2000,
  hooked: string[] = [],
): () => void {
  const seen = new Set<string>();
  for (const path of hooked) {
    try {
      const st = statSync(path);
      seen.add(`${st.dev}:${st.ino}`);
    } catch {
      // Gone since it was hooked: nothing running can be it.
    }
  }
  const held: number[] = [];
  let busy = false;
  let stopped = false;
  const scan = async () => {
    if (busy || stopped) return;
    busy = true;
    try {
      for (const pid of readdirSync('/proc')) {
        if (stopped) return;
        if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
        const exe = `/proc/${pid}/exe`;
        let id: string;
        try {
          const st = statSync(exe);
          id = `${st.dev}:${st.ino}`;
        } catch {
          continue;
        }
        if (seen.has(id)) continue;
        if (seen.size >= 65536) seen.clear();
        seen.add(id);
        if (!goVersion(exe)) continue;
        let fd: number;
        try {
          fd = openSync(exe, 'r');
        } catch {
          // Exited since: its binary is looked at again when a process runs it.
          seen.delete(id);
          continue;
        }
        const label = `${readlinkOr(exe)} (pid ${pid})`;
        const p = await goProbes(`/proc/${process.pid}/fd/${fd}`);
        if ('skip' in p || stopped) {
          closeSync(fd);
          if ('skip' in p) note(`${label}: ${p.skip}`);
          continue;
        }
        held.push(fd);
        if (held.length > MAX_HELD_BINARIES) closeSync(held.shift()!);
        hook(goSpec(p), p, label);
      }
    } finally {
      busy = false;
    }
  };
  void scan();
  const timer = setInterval(() => void scan(), intervalMs);
  return () => {
    stopped = true;
    clearInterval(timer);
    for (const fd of held.splice(0)) closeSync(fd);
  };
}

/** Where a /proc/PID/exe link points (the path in the process's own mount namespace), or the link itself. */
function readlinkOr(link: string): string {
  try {
    return readlinkSync(link);
  } catch {
    return link;
  }
}
