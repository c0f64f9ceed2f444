import { readdirSync, readFileSync } from 'node:fs';
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

/** Every thread's state letter and the process's CPU ticks so far, or undefined when it is gone. */
function threadsNow(pid: number): { states: string[]; ticks: number } | undefined {
  try {
    let ticks = 0;
    const states: string[] = [];
    for (const tid of readdirSync(`/proc/${pid}/task`)) {
      // Fields after the command's closing parenthesis: state is the 1st, utime and stime the 12th and 13th.
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8');
      const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
      states.push(fields[0]!);
      ticks += Number(fields[11]) + Number(fields[12]);
    }
    return { states, ticks };
  } catch {
    return undefined;
  }
}

/**
 * Waits until process `pid` is idle: every thread asleep and no CPU used over three polls 200 ms
 * apart. A command reading a pipe that stays open is then waiting for more, having read what was
 * written; a loaded machine only makes the wait longer (a thread waiting for a core is `R`).
 */
export async function idle(pid: number, ms = 60_000): Promise<void> {
  const end = Date.now() + ms;
  let last = -1;
  let quiet = 0;
  while (quiet < 3) {
    if (Date.now() > end) throw new Error(`timed out waiting for pid ${pid} to be idle`);
    await new Promise((r) => setTimeout(r, 200));
    const now = threadsNow(pid);
    if (!now) throw new Error(`pid ${pid} ended while a test waited for it to be idle`);
    quiet = now.ticks === last && now.states.every((s) => s === 'S') ? quiet + 1 : 0;
    last = now.ticks;
  }
}
