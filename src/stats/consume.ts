// The read loop behind `stats` and `map`: every entry from the inputs, until
// they end or the command is stopped. Stopping must not lose what is already
// on its way: in `shark tap | shark filter dns | shark stats` one Ctrl-C
// reaches every process, and the upstream ones flush their last entries as
// they finish. So when reading a pipe, a stop gives the writer a short grace
// period to close it; a file stops at once. Then the source finishes (the
// calls its engine still held are counted, as `dissect` prints them), but a
// source that does not within a few seconds is abandoned rather than awaited,
// so the final table always gets printed.
// Damaged input (a capture cut short, garbage, a bad line with --strict) ends
// reading too, but is handed back rather than thrown: the result covers every
// entry before the damage, is printed, and only then is the damage reported
// (exit 3), as `dissect` does.

import type { Readable } from 'node:stream';
import type { Entry } from '../model/entry.js';
import { InputError } from '../cli/errors.js';
import { readEntries, type EntrySourceOptions } from '../input/entries.js';
import { STOPPED, unlessStopped } from '../input/unless-stopped.js';
import type { FieldSpec } from '../ndjson/project.js';

export interface ConsumeOptions {
  /** Aborted on Ctrl-C / EPIPE (the command's `stop`). */
  stop: AbortSignal;
  /** How long a stopped pipe may still deliver entries (ms). */
  graceMs?: number;
  strict?: boolean;
  stdin?: Readable;
  onWarning?: (message: string) => void;
  /** The only entry fields onBatch reads (see EntrySourceOptions.project). */
  project?: FieldSpec;
  /** Options for dissecting capture inputs (decode-as rules). */
  dissect?: Record<string, unknown>;
  /** Dissect captures on worker threads (EntrySourceOptions.workers says how). */
  workers?: number;
  parallel?: EntrySourceOptions['parallel'];
  /**
   * Applied to every entry before onBatch sees it: row names and labels are
   * made from entries, so a secret grouped on would otherwise be printed.
   */
  redact?: (e: Entry) => Entry;
  /** Aggregate captures on the workers (EntrySourceOptions.aggregate): their tables go to `into`, not onBatch. */
  aggregate?: EntrySourceOptions['aggregate'];
}

export interface ConsumeResult {
  /** True when reading ended because of `stop` rather than end of input. */
  stopped: boolean;
  /** The damage that ended reading early (throw it once the result is out). */
  damage?: InputError;
  /** NDJSON lines reported as bad and skipped. */
  badLines: number;
}

export async function consumeEntries(
  inputs: string[],
  onBatch: (batch: Entry[]) => void | Promise<void>,
  opts: ConsumeOptions,
): Promise<ConsumeResult> {
  const readingPipe = inputs.length === 0 || inputs.includes('-');
  const inner = new AbortController();
  let timer: NodeJS.Timeout | undefined;
  const onStop = () => {
    if (readingPipe && (opts.graceMs ?? 0) > 0) timer = setTimeout(() => inner.abort(), opts.graceMs);
    else inner.abort();
  };
  if (opts.stop.aborted) onStop();
  else opts.stop.addEventListener('abort', onStop, { once: true });
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`${m}\n`));
  let badLines = 0;
  const onBadLine = (m: string): void => {
    badLines++;
    warn(m);
  };
  const source = readEntries(inputs, { signal: inner.signal, strict: opts.strict, stdin: opts.stdin, onWarning: warn, onBadLine, project: opts.project, dissect: opts.dissect, workers: opts.workers, parallel: opts.parallel, aggregate: opts.aggregate });
  // Once stopped, the source ends by itself (every reader in readEntries stops at its next
  // read, and the engine hands over the calls it still held, as `dissect` prints them): what
  // it gives until then is taken, for at most FINISH_WAIT_MS in all.
  let finishBy = Infinity;
  const untilFinished = <T>(p: Promise<T>): Promise<T | typeof STOPPED> => {
    if (finishBy === Infinity) finishBy = Date.now() + FINISH_WAIT_MS;
    return beforeDeadline(p, finishBy);
  };
  try {
    for (;;) {
      let next: IteratorResult<Entry[]> | typeof STOPPED;
      try {
        const p = source.next();
        next = inner.signal.aborted ? await untilFinished(p) : await unlessStopped(p, inner.signal);
        // Stopped while waiting (on a silent pipe): the same read now ends with the source's last batch.
        if (next === STOPPED && finishBy === Infinity) next = await untilFinished(p);
      } catch (err) {
        if (err instanceof InputError) return { stopped: false, damage: err, badLines };
        throw err;
      }
      if (next === STOPPED) {
        await close(source, opts.aggregate !== undefined);
        return { stopped: true, badLines };
      }
      if (next.done) return { stopped: opts.stop.aborted, badLines };
      const redact = opts.redact;
      await onBatch(redact ? next.value.map((e) => redact(e)) : next.value);
    }
  } finally {
    if (timer) clearTimeout(timer);
    opts.stop.removeEventListener('abort', onStop);
  }
}

/** How long a stopped source may take to hand over its last entries (or its workers' tables). */
const FINISH_WAIT_MS = 3000;

/** `p`, or STOPPED once the clock passes `deadline` (epoch ms). */
async function beforeDeadline<T>(p: Promise<T>, deadline: number): Promise<T | typeof STOPPED> {
  let timer: NodeJS.Timeout | undefined;
  const late = new Promise<typeof STOPPED>((resolve) => (timer = setTimeout(() => resolve(STOPPED), Math.max(0, deadline - Date.now()))));
  try {
    return await Promise.race([p, late]);
  } finally {
    clearTimeout(timer);
  }
}

/** How long a stopped run may take to hand back its workers' tables. */
const TABLES_WAIT_MS = 3000;

/**
 * End the source. Not awaited as a rule: a read blocked on a silent pipe
 * would never settle. But when workers aggregate, everything read so far is
 * in their tables, which come back only as the run ends (it stops at its next
 * batch once stopped): wait for them, boundedly, or Ctrl-C prints an empty table.
 */
async function close(source: AsyncGenerator<unknown>, tablesPending: boolean): Promise<void> {
  const closing = source.return(undefined).catch(() => undefined);
  if (!tablesPending) return;
  let timer: NodeJS.Timeout | undefined;
  await Promise.race([closing, new Promise<void>((resolve) => (timer = setTimeout(resolve, TABLES_WAIT_MS)))]);
  clearTimeout(timer);
}

