// TLS compiled into a program, which `--tls` cannot see: Java's JSSE (inside
// the JVM), BoringSSL built into Envoy or Chrome, rustls in a Rust binary.
// Their calls carry no symbol the uprobes know, so their traffic would be
// missing without a word. (Shared TLS libraries the loader does not hook,
// GnuTLS, NSS, wolfSSL, Mbed TLS, it names itself from the maps it scans; a
// binary that exports OpenSSL's or BoringSSL's SSL_write is hooked by it.)
// Each such process with a socket open is named once, with the library, and
// counted in the summary, as a dropped packet would be. Found by the JVM in
// its memory map, and by the marks the libraries leave in an executable:
// BoringSSL's version string ("BoringSSL"), rustls's source paths in its panic
// messages ("/rustls-0."), each executable read once (by device and inode),
// in chunks, up to a bound, off the event loop's way.

import { readdirSync, readFileSync, readlinkSync, statSync } from 'node:fs';
import { open } from 'node:fs/promises';
import { identifyCgroupText, type CgroupIdentity } from './cgroup.js';

/** Processes remembered as already looked at; past it the set starts again. */
const MAX_REMEMBERED = 65536;
/** A map larger than this is read only this far (a JVM's runs to a few MB). */
const MAX_MAPS_BYTES = 8 << 20;
/** Descriptors looked at per process for a socket. */
const MAX_FDS = 4096;
/** Bytes of an executable searched for the libraries' marks (Envoy is ~150 MB; Chrome ~250 MB). */
export const MAX_EXE_BYTES = 512 << 20;
const CHUNK = 4 << 20;

/** Marks of a TLS library compiled into an executable; SSL_write in its symbol names means the loader hooks it. */
const MARKS: Array<[Buffer, string]> = [
  [Buffer.from('BoringSSL\0'), 'BoringSSL (compiled in)'],
  [Buffer.from('/rustls-0.'), 'rustls (compiled in)'],
];
const HOOKABLE = Buffer.from('\0SSL_write\0');
const OVERLAP = Math.max(HOOKABLE.length, ...MARKS.map(([m]) => m.length));

export interface UnhookedProcess {
  pid: number;
  comm: string;
  /** The TLS stack, e.g. "Java (JSSE, inside the JVM)", "BoringSSL (compiled in)". */
  library: string;
  /** Its executable (the path in its own mount namespace). */
  exe?: string;
  /** Its container and pod, from /proc/PID/cgroup. */
  identity: CgroupIdentity;
}

/** The compiled-in TLS library an executable carries (undefined: none, or one the loader hooks by its SSL_write). */
export async function compiledInTls(path: string, maxBytes = MAX_EXE_BYTES): Promise<string | undefined> {
  let file;
  try {
    file = await open(path, 'r');
  } catch {
    return undefined;
  }
  try {
    const buf = Buffer.alloc(CHUNK + OVERLAP);
    let kept = 0;
    let found: string | undefined;
    for (let pos = 0; pos < maxBytes; pos += CHUNK) {
      const { bytesRead } = await file.read(buf, kept, CHUNK, pos);
      if (bytesRead === 0) break;
      const view = buf.subarray(0, kept + bytesRead);
      if (view.includes(HOOKABLE)) return undefined;
      found ??= MARKS.find(([m]) => view.includes(m))?.[1];
      // The chunk's tail goes first in the next, so a mark cut in two is still found.
      kept = Math.min(OVERLAP, view.length);
      view.copy(buf, 0, view.length - kept);
    }
    return found;
  } catch {
    return undefined;
  } finally {
    await file.close();
  }
}

/** A socket among the process's open files: it talks to the network (or could), so its TLS matters. */
function hasSocket(fdDir: string): boolean {
  let fds: string[];
  try {
    fds = readdirSync(fdDir);
  } catch {
    return false;
  }
  for (const fd of fds.slice(0, MAX_FDS)) {
    try {
      if (readlinkSync(`${fdDir}/${fd}`).startsWith('socket:')) return true;
    } catch {
      // Closed since: the next one.
    }
  }
  return false;
}

function jvmMapped(maps: string): boolean {
  return /\/libjvm\.so$/m.test(maps);
}

/**
 * Scans running processes every `intervalMs` and tells `found` once per
 * process (by pid and start time: a pid used again is another process) of
 * those whose TLS --tls cannot see, once they have a socket open (one that
 * has none yet is looked at again). Shark's own process is skipped. `proc`:
 * /proc, or a test's own tree; `wanted`: the processes that concern the
 * user (the agent: those of the tapped pods), the others not read further.
 */
export function watchUnhookedTls(
  found: (p: UnhookedProcess) => void,
  opts: { intervalMs?: number; proc?: string; wanted?: (identity: CgroupIdentity) => boolean } = {},
): { stop: () => void; scan: () => Promise<void> } {
  const { intervalMs = 2000, proc = '/proc', wanted = () => true } = opts;
  const seen = new Set<string>();
  /** Executables already read (device:inode → what they carry). */
  const exes = new Map<string, string | undefined>();
  let stopped = false;
  let running: Promise<void> | undefined;
  const scanOnce = async (): Promise<void> => {
    let pids: string[];
    try {
      pids = readdirSync(proc);
    } catch {
      return;
    }
    for (const pid of pids) {
      if (stopped) return;
      if (!/^\d+$/.test(pid) || Number(pid) === process.pid) continue;
      const dir = `${proc}/${pid}`;
      const id = `${pid}:${startTime(`${dir}/stat`)}`;
      if (seen.has(id)) continue;
      // No socket yet: looked at again at the next scan (it may open one). Checked first: it is the cheapest.
      if (!hasSocket(`${dir}/fd`)) continue;
      if (seen.size >= MAX_REMEMBERED) seen.clear();
      seen.add(id);
      let comm: string;
      let maps: string;
      let identity: CgroupIdentity | undefined;
      try {
        comm = readFileSync(`${dir}/comm`, 'latin1').trim();
        maps = readFileSync(`${dir}/maps`, 'latin1').slice(0, MAX_MAPS_BYTES);
        identity = identifyCgroupText(readFileSync(`${dir}/cgroup`, 'utf8'));
      } catch {
        continue;
      }
      if (!wanted(identity)) continue;
      let library: string | undefined;
      if (jvmMapped(maps)) library = 'Java (JSSE, inside the JVM)';
      else {
        let key: string;
        try {
          const st = statSync(`${dir}/exe`);
          key = `${st.dev}:${st.ino}`;
        } catch {
          continue;
        }
        if (!exes.has(key)) {
          if (exes.size >= MAX_REMEMBERED) exes.clear();
          exes.set(key, await compiledInTls(`${dir}/exe`));
        }
        library = exes.get(key);
      }
      if (!library) continue;
      let exe: string | undefined;
      try {
        exe = readlinkSync(`${dir}/exe`);
      } catch {
        exe = undefined;
      }
      found({ pid: Number(pid), comm, library, ...(exe ? { exe } : {}), identity });
    }
  };
  // One scan at a time: a slow one (a large executable read) is not overlapped by the next tick's.
  const scan = (): Promise<void> => (running ??= scanOnce().finally(() => (running = undefined)));
  void scan();
  const timer = setInterval(() => void scan(), intervalMs);
  timer.unref?.();
  return {
    scan,
    stop: () => {
      stopped = true;
      clearInterval(timer);
    },
  };
}

/** Field 22 of /proc/PID/stat, the start time (after the parenthesised comm, which may hold spaces). */
function startTime(stat: string): string {
  try {
    const text = readFileSync(stat, 'latin1');
    return text.slice(text.lastIndexOf(')') + 2).split(' ')[19] ?? '';
  } catch {
    return '';
  }
}
