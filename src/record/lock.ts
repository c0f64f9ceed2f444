// One `shark record --name N` at a time per output folder, so overlapping cron
// runs never write the same recording set. The lock file holds the owner's pid;
// a lock whose pid no longer runs (a killed run) is stale and taken over.

import { closeSync, openSync, readFileSync, unlinkSync, writeSync, fsyncSync } from 'node:fs';
import { join } from 'node:path';
import { ExitCode, UserError } from '../cli/errors.js';

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

function readOwner(path: string): number | undefined {
  try {
    const pid = Number.parseInt(readFileSync(path, 'utf8').trim().split(/\s+/)[0], 10);
    return Number.isFinite(pid) ? pid : undefined;
  } catch {
    return undefined;
  }
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
      if ((err as NodeJS.ErrnoException).code !== 'EEXIST') throw err;
      const owner = readOwner(path);
      if (owner !== undefined && owner !== pid && pidAlive(owner)) {
        throw new UserError(
          `${path}: another run (pid ${owner}) is recording '${name}'; not starting a second one`,
          ExitCode.LOCKED,
        );
      }
      // A half-written lock (owner undefined) or a dead owner: take it over.
      staleFrom = owner;
      try {
        unlinkSync(path);
      } catch {
        // someone else removed it first; retry the exclusive create
      }
      continue;
    }
    try {
      writeSync(fd, `${pid}\n`);
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
        if (readOwner(path) === pid) {
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
