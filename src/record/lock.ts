// One `shark record --name N` at a time per output folder, so overlapping cron
// runs never write the same recording set. The lock file holds the owner's pid
// and its start time (/proc/PID/stat): a lock whose pid no longer runs, or now
// belongs to a process started at another time (the pid was reused after a
// killed run), is stale and taken over.

import { closeSync, openSync, readFileSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, UserError, errnoText } from '../cli/errors.js';

export interface RecordLock {
  path: string;
  /** The pid of a dead run whose lock was taken over, if any. */
  staleFrom?: number;
  release(): void;
}

export function lockPath(dir: string, name: string): string {
  return join(dir, `.shark-record-${name}.lock`);
}

/** True when a process with this pid exists (EPERM: it exists, owned by someone else). */
export function pidAlive(pid: number): boolean {
  if (!Number.isInteger(pid) || pid <= 0) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/** When the process `pid` started (clock ticks since boot, /proc/PID/stat field 22); undefined without /proc. */
export function processStart(pid: number): number | undefined {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
    // Field 2 (the command) may hold spaces and parentheses: count fields after its last ')'.
    const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
    const start = Number(fields[22 - 3]);
    return Number.isFinite(start) ? start : undefined;
  } catch {
    return undefined;
  }
}

interface Owner {
  pid: number;
  /** Absent in a lock written without /proc (or by an older shark): the pid alone decides. */
  start?: number;
}

function readOwner(path: string): Owner | undefined {
  try {
    const [pidText, startText] = readFileSync(path, 'utf8').trim().split(/\s+/);
    const pid = Number.parseInt(pidText, 10);
    if (!Number.isFinite(pid)) return undefined;
    const start = startText === undefined ? undefined : Number(startText);
    return { pid, start: Number.isFinite(start) ? start : undefined };
  } catch {
    return undefined;
  }
}

/** The owner still runs: its pid is alive and, when the lock says, started when the lock says. */
function ownerAlive(owner: Owner): boolean {
  if (!pidAlive(owner.pid)) return false;
  if (owner.start === undefined) return true;
  const now = processStart(owner.pid);
  return now === undefined || now === owner.start;
}

/** Take the lock or throw UserError(exit 5) naming the run that holds it. */
export function acquireLock(dir: string, name: string, pid = process.pid): RecordLock {
  const path = lockPath(dir, name);
  let staleFrom: number | undefined;
  for (let attempt = 0; attempt < 3; attempt++) {
    let fd: number;
    try {
      fd = openSync(path, 'wx', 0o644);
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code !== 'EEXIST') throw new UserError(`${path}: cannot create the lock file (${errnoText(code)})`, ExitCode.OUTPUT);
      const owner = readOwner(path);
      if (owner !== undefined && owner.pid !== pid && ownerAlive(owner)) {
        throw new UserError(
          `${path}: another run (pid ${owner.pid}) is recording '${name}'; not starting a second one`,
          ExitCode.LOCKED,
        );
      }
      // A half-written lock (owner undefined), a dead owner or a reused pid: take it over.
      staleFrom = owner?.pid;
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first; retry the exclusive create
      }
      continue;
    }
    try {
      const start = processStart(pid);
      writeSync(fd, start === undefined ? `${pid}\n` : `${pid} ${start}\n`);
      fsyncSync(fd);
    } finally {
      closeSync(fd);
    }
    let released = false;
    return {
      path,
      staleFrom,
      release() {
        if (released) return;
        released = true;
        if (readOwner(path)?.pid === pid) {
          try {
            unlinkSync(path);
          } catch {
            // already gone
          }
        }
      },
    };
  }
  throw new UserError(`${path}: could not take the lock (it keeps changing hands)`, ExitCode.LOCKED);
}
