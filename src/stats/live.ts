// `stats --interval`: redraw the table in place on a terminal, or append one
// snapshot per interval when stdout is a pipe or file (so `> log` keeps them all).

import type { Writable } from 'node:stream';
import { UserError, ExitCode } from '../cli/errors.js';

/** ANSI: cursor home, clear screen. */
const CLEAR = '\x1b[H\x1b[2J';

/** "5s", "500ms", "2m", "1h", or a bare number of seconds → ms. */
export function parseDuration(text: string, flag = '--interval'): number {
  const m = /^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h)?\s*$/.exec(text);
  if (!m) throw new UserError(`${flag}: bad duration "${text}" (e.g. 500ms, 5s, 1m)`, ExitCode.USAGE);
  const unit = { ms: 1, s: 1000, m: 60_000, h: 3_600_000 }[(m[2] ?? 's') as 'ms' | 's' | 'm' | 'h'];
  const ms = Number(m[1]) * unit;
  if (ms < 100) throw new UserError(`${flag}: ${text} is too short (at least 100ms)`, ExitCode.USAGE);
  return ms;
}

export class LiveView {
  private timer: NodeJS.Timeout | undefined;
  private drawn = false;

  constructor(
    private readonly out: Writable & { isTTY?: boolean },
    private readonly render: () => string,
  ) {}

  start(intervalMs: number): void {
    this.timer = setInterval(() => this.draw(), intervalMs);
  }

  /** Stop redrawing without printing (the run failed). */
  cancel(): void {
    if (this.timer) clearInterval(this.timer);
    this.timer = undefined;
  }

  /** Stop redrawing and print the final state (replacing the last redraw on a terminal). */
  finish(): void {
    this.cancel();
    this.draw();
  }

  private draw(): void {
    const text = this.render();
    if (this.out.isTTY) this.out.write(CLEAR + text);
    else this.out.write(this.drawn && !text.startsWith('{') ? `\n${text}` : text);
    this.drawn = true;
  }
}
