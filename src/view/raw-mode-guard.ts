// Keep view's keyboard in raw mode while other programs of the pipeline come
// and go. In `shark dissect x | shark view` the upstream has the terminal on
// its stderr; Node saves the modes of its terminal stdio at start and puts them
// back at exit (node's ResetStdio), so when it exits after view made the
// terminal raw, the terminal is cooked again under view: keys are echoed and
// held until Enter, and view never sees them. Any program that restores the
// terminal at exit (less, vim, python's readline) does the same.
//
// No API tells a Node program that its terminal's mode changed (there is no
// tcgetattr, and a cooked terminal delivers no keys to notice), so view puts
// raw mode back at the moments another program may have taken it away:
// - when another process of view's process group exits (the shell puts a
//   pipeline in one group): it may have restored the terminal on its way out.
//   The group's pids are read once from /proc at start and looked at four
//   times a second; this covers an upstream that exits long
//   after its output ended (`shark tap | grep -m1 x | shark view`: tap exits
//   at its next write) and one that exits before view's input ends;
// - when view's input ends, and again shortly after (an upstream closes its
//   output a moment before it exits): this also covers systems without /proc
//   and upstreams outside the group (`shark view <(shark dissect x)`).
// libuv skips setRawMode(true) when it believes the terminal is raw already,
// so putting it back is a toggle through cooked and back (two tcsetattr
// calls, microseconds apart).

import { readdirSync, readFileSync } from 'node:fs';
import type { ReadStream } from 'node:tty';

/** After the input ends: now, and at these delays (ms) for an upstream still on its way out. */
const AFTER_END_MS = [100, 500, 2000];
/** How often the group's processes are looked at. */
const POLL_MS = 250;

export interface RawModeGuard {
  /** View's input has ended: its writers are exiting. */
  inputEnded(): void;
  stop(): void;
}

export function guardRawMode(keys: ReadStream): RawModeGuard {
  const timers = new Set<NodeJS.Timeout>();
  const reassert = () => {
    // Only when ink has made it raw (it does so once it draws) and has not let it go.
    if (!keys.isRaw || keys.destroyed) return;
    try {
      keys.setRawMode(false);
      keys.setRawMode(true);
    } catch {
      // The terminal went away: nothing left to guard.
    }
  };
  const later = (ms: number, fn: () => void) => {
    const t = setTimeout(() => {
      timers.delete(t);
      fn();
    }, ms);
    t.unref();
    timers.add(t);
  };

  const { group, pids } = groupPeers();
  const peers = new Set(pids);
  let poll: NodeJS.Timeout | undefined;
  if (peers.size > 0) {
    poll = setInterval(() => {
      let exited = false;
      for (const pid of peers) {
        if (!running(pid, group)) {
          peers.delete(pid);
          exited = true;
        }
      }
      if (exited) reassert();
      if (peers.size === 0 && poll) clearInterval(poll);
    }, POLL_MS);
    poll.unref();
  }

  return {
    inputEnded() {
      reassert();
      for (const ms of AFTER_END_MS) later(ms, reassert);
    },
    stop() {
      if (poll) clearInterval(poll);
      for (const t of timers) clearTimeout(t);
      timers.clear();
    },
  };
}

/** The other processes of this process's group (Linux /proc); none where /proc cannot say. */
function groupPeers(): { group: number; pids: number[] } {
  const group = readStat('self')?.group;
  const pids: number[] = [];
  if (group === undefined) return { group: 0, pids };
  try {
    for (const name of readdirSync('/proc')) {
      if (!/^\d+$/.test(name) || Number(name) === process.pid) continue;
      if (readStat(name)?.group === group) pids.push(Number(name));
    }
  } catch {
    // No /proc to list.
  }
  return { group, pids };
}

/**
 * The state and group of a process from /proc/PID/stat, undefined when it is gone. The command
 * name (field 2) is in parentheses and may hold spaces and ')': the fields are read after the last ')'.
 */
function readStat(pid: string): { state: string; group: number } | undefined {
  let stat: string;
  try {
    stat = readFileSync(`/proc/${pid}/stat`, 'utf8');
  } catch {
    return undefined;
  }
  const fields = stat.slice(stat.lastIndexOf(')') + 2).split(' ');
  const group = Number(fields[2]);
  return Number.isInteger(group) && group > 0 ? { state: fields[0], group } : undefined;
}

/** Still running in the group: a zombie has exited (and restored what it restores); a reused pid is another process. */
function running(pid: number, group: number): boolean {
  const s = readStat(String(pid));
  return s !== undefined && s.state !== 'Z' && s.state !== 'X' && s.group === group;
}
