// The container and pod of each hooked process, found once per process at its
// first TLS event and kept (bounded) for the rest of its calls.
//
// Why two ways: /proc/PID/cgroup names the container, but a short-lived
// client (curl) may have exited by the time its first event is read from the
// ring (measured in the lab: see docs/tls-capture.md). So the kernel side
// also stamps each event with the caller's cgroup v2 id, and when /proc has
// nothing the id is looked up among the cgroup v2 directories (a cgroup's id
// is its directory's inode number); the container's cgroup outlives its
// short-lived processes. A node with cgroup v1 only has no v2 id: /proc alone.

import { existsSync, readFileSync, readdirSync, statSync } from 'node:fs';
import { identifyCgroupText, identifyPath, type CgroupIdentity } from './cgroup.js';

export interface ProcessIdentityOptions {
  /** /proc (tests point it elsewhere). */
  procRoot?: string;
  /** The cgroup v2 mount; default: found in /proc/self/mountinfo (none: ids are not looked up). */
  cgroupRoot?: string;
  /** Processes remembered; past it the oldest is forgotten (counted). */
  maxProcesses?: number;
  /** Cgroup directories indexed at most (a node has hundreds; counted when hit). */
  maxCgroups?: number;
  /**
   * Walks of the cgroup tree are at least this far apart (each costs a stat
   * per cgroup). A new id is looked for by the next walk, however soon it
   * comes: an id a walk did not find is not looked for again.
   */
  rescanMs?: number;
}

export interface ProcessIdentityCounters {
  /** Processes named from /proc/PID/cgroup. */
  fromProc: number;
  /** Processes gone from /proc before their first event was read, named by their cgroup id. */
  fromCgroupId: number;
  /** Processes whose cgroup names no container (the node's own, or not found). */
  noContainer: number;
  /** Walks of the cgroup tree to index ids. */
  rescans: number;
  /** The cgroup index was full (maxCgroups): some ids cannot be found. */
  indexFull: number;
  /** Processes forgotten (table full); a later event reads them again. */
  evicted: number;
}

interface Known {
  cgroupId: bigint;
  identity: CgroupIdentity;
}

export class ProcessIdentities {
  readonly counters: ProcessIdentityCounters = { fromProc: 0, fromCgroupId: 0, noContainer: 0, rescans: 0, indexFull: 0, evicted: 0 };
  private readonly byPid = new Map<number, Known>();
  /** Cgroup v2 id → directory path relative to the mount ("/kubepods.slice/…"). */
  private index = new Map<bigint, string>();
  private lastScan = -Infinity;
  /** Ids a walk did not find (a cgroup already gone, or not a container's): not walked for again. Bounded. */
  private readonly missed = new Set<bigint>();
  private readonly procRoot: string;
  private readonly cgroupRoot: string | undefined;
  private readonly maxProcesses: number;
  private readonly maxCgroups: number;
  private readonly rescanMs: number;

  constructor(opts: ProcessIdentityOptions = {}) {
    this.procRoot = opts.procRoot ?? '/proc';
    this.cgroupRoot = 'cgroupRoot' in opts ? opts.cgroupRoot : cgroup2Mount();
    this.maxProcesses = opts.maxProcesses ?? 8192;
    this.maxCgroups = opts.maxCgroups ?? 20000;
    this.rescanMs = opts.rescanMs ?? 100;
  }

  /** The container and pod uid of process `pid` (whose event carried `cgroupId`); `{}` when it is in none. */
  identify(pid: number, cgroupId: bigint): CgroupIdentity {
    const known = this.byPid.get(pid);
    // Same pid, other cgroup: the pid was reused (or the process moved): read again.
    if (known && known.cgroupId === cgroupId) return known.identity;
    let identity = this.fromProc(pid);
    if (identity) this.counters.fromProc++;
    else {
      const found = this.fromCgroupId(cgroupId);
      // Not walked for yet (walks too close together): unnamed for now, asked again at its next event.
      if (found === undefined) return {};
      identity = found;
      if (identity.container || identity.podUid) this.counters.fromCgroupId++;
    }
    if (!identity.container && !identity.podUid) this.counters.noContainer++;
    if (known) this.byPid.delete(pid);
    this.byPid.set(pid, { cgroupId, identity });
    if (this.byPid.size > this.maxProcesses) {
      this.byPid.delete(this.byPid.keys().next().value as number);
      this.counters.evicted++;
    }
    return identity;
  }

  private fromProc(pid: number): CgroupIdentity | undefined {
    let text: string;
    try {
      text = readFileSync(`${this.procRoot}/${pid}/cgroup`, 'utf8');
    } catch {
      return undefined; // exited (ENOENT/ESRCH): the cgroup id may still tell
    }
    return identifyCgroupText(text);
  }

  /** undefined: the id is new and no walk may run yet (ask again later). */
  private fromCgroupId(id: bigint): CgroupIdentity | undefined {
    if (id === 0n || !this.cgroupRoot) return {};
    let path = this.index.get(id);
    if (path === undefined && !this.missed.has(id)) {
      if (performance.now() - this.lastScan < this.rescanMs) return undefined;
      this.scan();
      path = this.index.get(id);
      if (path === undefined) {
        this.missed.add(id);
        if (this.missed.size > this.maxProcesses) this.missed.delete(this.missed.values().next().value as bigint);
      }
    }
    return path === undefined ? {} : identifyPath(path);
  }

  /** Index every cgroup v2 directory by its id (inode number), breadth first, bounded. */
  private scan(): void {
    this.lastScan = performance.now();
    this.counters.rescans++;
    const root = this.cgroupRoot!;
    const next = new Map<bigint, string>();
    const queue = [''];
    while (queue.length > 0) {
      const rel = queue.shift()!;
      let names: string[];
      try {
        names = readdirSync(root + rel, { withFileTypes: true })
          .filter((d) => d.isDirectory())
          .map((d) => d.name);
        next.set(statSync(root + rel, { bigint: true }).ino, rel || '/');
      } catch {
        continue; // removed while walking
      }
      for (const n of names) {
        if (next.size + queue.length >= this.maxCgroups) {
          this.counters.indexFull++;
          queue.length = 0;
          break;
        }
        queue.push(`${rel}/${n}`);
      }
    }
    this.index = next;
  }
}

/** The cgroup v2 tree at or under `root` (a host's /sys/fs/cgroup mounted elsewhere: v2 itself, or hybrid mode's unified/). */
export function cgroup2Under(root: string): string | undefined {
  for (const dir of [root, `${root}/unified`]) if (existsSync(`${dir}/cgroup.controllers`)) return dir;
  return undefined;
}

/** Where cgroup v2 is mounted ("/sys/fs/cgroup" on a v2 node, "/sys/fs/cgroup/unified" in hybrid mode), if it is. */
export function cgroup2Mount(mountinfo = '/proc/self/mountinfo'): string | undefined {
  let text: string;
  try {
    text = readFileSync(mountinfo, 'utf8');
  } catch {
    return undefined;
  }
  for (const line of text.split('\n')) {
    // "36 25 0:31 / /sys/fs/cgroup rw,… - cgroup2 cgroup2 rw,…"
    const [before, after] = line.split(' - ');
    if (!after?.startsWith('cgroup2 ')) continue;
    const fields = before.split(' ');
    if (fields[4]) return fields[4].replace(/\\040/g, ' ');
  }
  return undefined;
}
