// `shark view` end to end: read calls (captures dissected on the fly, entry
// files, or stdin — e.g. `shark tap -A | shark view`) into the store, redact
// them, and draw them until the user quits. Keys come from the terminal even
// when stdin carries the data (/dev/tty, as `less` does).

import { openSync } from 'node:fs';
import { ReadStream } from 'node:tty';
import { createElement } from 'react';
import { ExitCode, UserError } from '../cli/errors.js';
import type { Redactor } from '../redact/entry.js';
import { readEntries, type EntrySourceOptions } from '../input/entries.js';
import { evalReport } from '../filter/eval-report.js';
import { EntryStore } from './entry-store.js';
import { guardRawMode } from './raw-mode-guard.js';

export interface RunViewOptions {
  inputs: string[];
  colour: boolean;
  redact: Redactor;
  capacity: number;
  filter?: string;
  dissect?: Record<string, unknown>;
  /** Captures dissected on this many worker threads (as filter/stats do). */
  workers?: number;
  parallel?: EntrySourceOptions['parallel'];
  signal: AbortSignal;
}

/** Returns the exit code: 0, 2 for a missing file, 3 when an input could not be read (said on stderr after the screen closes). */
export async function runView(opts: RunViewOptions): Promise<number> {
  if (!process.stdout.isTTY) {
    throw new UserError('view draws on a terminal; to print calls into a pipe use `shark dissect -o compact` or `shark filter -o compact`', ExitCode.USAGE);
  }
  const readsStdin = opts.inputs.length === 0 || opts.inputs.includes('-');
  const keys = readsStdin || !process.stdin.isTTY ? openTerminalInput() : process.stdin;
  // ink draws only a final frame when it thinks it runs in CI; view is interactive by definition.
  for (const k of Object.keys(process.env)) if (k === 'CI' || k === 'CONTINUOUS_INTEGRATION' || k.startsWith('CI_')) delete process.env[k];
  const { render } = await import('ink');
  const { ViewApp } = await import('./app.js');

  const store = new EntryStore(opts.capacity);
  if (opts.filter) {
    const r = store.setFilter(opts.filter);
    if (r.error) throw new UserError(`--filter: ${r.error}${r.column ? ` at column ${r.column}` : ''}`, ExitCode.USAGE);
  }
  const listeners = new Set<() => void>();
  let status = 'reading';
  let failure: string | undefined;
  let failureCode: number = ExitCode.BAD_INPUT;
  let pending: NodeJS.Timeout | undefined;
  // Redraw at most every 100 ms however fast calls arrive.
  const changed = () => {
    if (pending) return;
    pending = setTimeout(() => {
      pending = undefined;
      for (const l of listeners) l();
    }, 100);
  };
  const warnings: string[] = [];
  const reader = new AbortController();
  opts.signal.addEventListener('abort', () => reader.abort(), { once: true });

  // Draw on the terminal's alternate screen, as less, top and termshark do: on quit the shell
  // comes back as it was, not under the last frame of the list.
  const screen = alternateScreen(process.stdout);
  const app = render(
    createElement(ViewApp, {
      store,
      colour: opts.colour,
      status: () => status,
      subscribe: (redraw: () => void) => {
        listeners.add(redraw);
        return () => listeners.delete(redraw);
      },
    }),
    { stdin: keys as NodeJS.ReadStream, exitOnCtrlC: true, patchConsole: false },
  );
  // Programs of the pipeline that exit can put the terminal back to cooked mode under view.
  const rawMode = guardRawMode(keys as ReadStream);
  const reading = (async () => {
    try {
      for await (const batch of readEntries(opts.inputs, {
        signal: reader.signal,
        dissect: opts.dissect,
        workers: opts.workers,
        parallel: opts.parallel,
        onWarning: (m) => {
          if (warnings.length < 100) warnings.push(m);
        },
      })) {
        store.add(batch.map(opts.redact));
        changed();
      }
      status = reader.signal.aborted ? '' : 'done';
    } catch (err) {
      failure = (err as Error).message;
      // A missing file is a usage error (2), a damaged input 3: as every other reader says.
      if (err instanceof UserError) failureCode = err.exitCode;
      status = `✗ ${failure}`;
    }
    rawMode.inputEnded();
    changed();
  })();
  await Promise.race([app.waitUntilExit(), opts.signal.aborted ? Promise.resolve() : new Promise((r) => opts.signal.addEventListener('abort', r, { once: true }))]);
  rawMode.stop();
  app.unmount();
  screen.leave();
  reader.abort();
  if (pending) clearTimeout(pending);
  if (keys !== process.stdin) (keys as ReadStream).destroy();
  // The reader may wait on a stdin that never ends (a live tap); it is aborted, not awaited.
  void reading;
  for (const w of warnings) process.stderr.write(`view: ${w}\n`);
  // The filter in effect at the end: calls it left out without a verdict, as `filter` tells them.
  const c = store.filter.counts?.();
  if (c) for (const line of evalReport(c)) process.stderr.write(`view: filter: ${line}\n`);
  if (failure) {
    process.stderr.write(`view: ${failure}\n`);
    return failureCode;
  }
  return ExitCode.OK;
}

function openTerminalInput(): ReadStream {
  try {
    return new ReadStream(openSync('/dev/tty', 'r'));
  } catch {
    throw new UserError('view needs a terminal for its keys (no /dev/tty)', ExitCode.USAGE);
  }
}

/** Enter the alternate screen now; leave() (also run at process exit, once) restores the main one. */
function alternateScreen(out: NodeJS.WriteStream): { leave(): void } {
  let inside = true;
  const leave = () => {
    if (!inside) return;
    inside = false;
    process.removeListener('exit', leave);
    try {
      out.write('\x1b[?1049l');
    } catch {
      // The terminal went away: nothing to restore.
    }
  };
  out.write('\x1b[?1049h');
  process.once('exit', leave);
  return { leave };
}
