// How many cores this process may use: the machine's (CPU affinity and
// cpusets included), bounded by a cgroup CPU quota (a pod's CPU limit), which
// os.availableParallelism() ignores. Both cgroup versions: v2's `cpu.max`,
// and v1's `cpu.cfs_quota_us` / `cpu.cfs_period_us` (nodes still on v1 would
// otherwise give a 1-CPU agent pod one worker per node core).

import os from 'node:os';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';

/**
 * `--workers auto`: the cores this process may use (cgroup CPU quota
 * honoured) less one for the dispatcher; but 2 when there are 2 or 3 cores,
 * and 1 (one thread, no workers) on one core. The dispatcher is light (about
 * a fifth of the CPU of a 2-worker run), and one worker beside it would only
 * move one thread's work to another thread: on 2 cores, 2 workers dissect
 * 1.3× as fast as one thread (docs/performance.md).
 */
export function autoWorkers(cores = availableCores()): number {
  return cores <= 1 ? 1 : Math.max(2, cores - 1);
}

/**
 * The whole cores this process may use: the machine's, bounded by the
 * tightest CPU quota found (at least 1). `root` is where cgroups are mounted
 * and `self` this process's cgroup list (parameters for tests).
 */
export function availableCores(root = '/sys/fs/cgroup', self = '/proc/self/cgroup'): number {
  let cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  for (const quota of cgroupCpuLimits(root, self)) cores = Math.min(cores, Math.max(1, Math.floor(quota)));
  return cores;
}

/**
 * Every CPU quota that applies, in CPUs: the cgroup mounted at the root (a
 * container's own, with a cgroup namespace or v1's bind mount) and the one
 * /proc/self/cgroup names under it (a process in a cgroup of the host's tree).
 */
function cgroupCpuLimits(root: string, self: string): number[] {
  const v2Paths = ['/'];
  const v1Paths = ['/'];
  for (const line of (readText(self) ?? '').split('\n')) {
    const [id, controllers, path] = line.split(':');
    if (path === undefined || path === '/') continue;
    if (id === '0' && controllers === '') v2Paths.push(path);
    else if (controllers.split(',').includes('cpu')) v1Paths.push(path);
  }
  const limits: number[] = [];
  for (const p of v2Paths) {
    const q = cpuMax(readText(join(root, p, 'cpu.max')));
    if (q !== undefined) limits.push(q);
  }
  for (const dir of ['cpu', 'cpu,cpuacct']) {
    for (const p of v1Paths) {
      const q = cfsQuota(readText(join(root, dir, p, 'cpu.cfs_quota_us')), readText(join(root, dir, p, 'cpu.cfs_period_us')));
      if (q !== undefined) limits.push(q);
    }
  }
  return limits;
}

/** cgroup v2 `cpu.max` ("max 100000" = unlimited, "150000 100000" = 1.5 CPUs). */
function cpuMax(text: string | undefined): number | undefined {
  if (!text) return undefined;
  const [max, period] = text.trim().split(/\s+/);
  if (max === 'max') return undefined;
  return positive(Number(max) / Number(period));
}

/** cgroup v1: quota -1 = unlimited. */
function cfsQuota(quota: string | undefined, period: string | undefined): number | undefined {
  if (!quota || !period) return undefined;
  const q = Number(quota.trim());
  if (q <= 0) return undefined;
  return positive(q / Number(period.trim()));
}

function positive(q: number): number | undefined {
  return Number.isFinite(q) && q > 0 ? q : undefined;
}

function readText(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
