import { readFileSync } from 'node:fs';
import { until } from './until.js';

/** The pids of `pid`'s child processes (none when it is gone). */
export function childPids(pid: number): number[] {
  try {
    return readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number);
  } catch {
    return [];
  }
}

/**
 * Waits until process `pid` has started a child process: a command that hands its work to a child
 * (JSONata's evaluator) is then past its start-up, signal handlers in place. A fixed sleep before a
 * signal failed at load 20, the default action killing Node before the program's handler existed.
 */
export async function childStarted(pid: number, ms = 60_000): Promise<number> {
  return until(() => childPids(pid)[0], `pid ${pid} to start a child process`, ms);
}
