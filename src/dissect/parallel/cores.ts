// How many cores this process may use: the machine's, bounded by a cgroup v2
// CPU quota (a pod's CPU limit), which os.availableParallelism() ignores.

import os from 'node:os';
import { readFileSync } from 'node:fs';

/** `--workers auto`: the cores this process may use (cgroup CPU quota honoured) less one for the dispatcher, at least 1. */
export function autoWorkers(): number {
  return Math.max(1, availableCores() - 1);
}

export function availableCores(cpuMax = '/sys/fs/cgroup/cpu.max'): number {
  let cores = typeof os.availableParallelism === 'function' ? os.availableParallelism() : os.cpus().length;
  const quota = cgroupCpuLimit(cpuMax);
  if (quota !== undefined) cores = Math.min(cores, Math.max(1, Math.floor(quota)));
  return cores;
}

/** CPUs allowed by cgroup v2's cpu.max ("max 100000" = unlimited), or undefined. */
function cgroupCpuLimit(path: string): number | undefined {
  try {
    const text = readFileSyncSafe(path);
    if (!text) return undefined;
    const [max, period] = text.trim().split(/\s+/);
    if (max === 'max') return undefined;
    const q = Number(max) / Number(period);
    return Number.isFinite(q) && q > 0 ? q : undefined;
  } catch {
    return undefined;
  }
}

function readFileSyncSafe(path: string): string | undefined {
  try {
    return readFileSync(path, 'utf8');
  } catch {
    return undefined;
  }
}
