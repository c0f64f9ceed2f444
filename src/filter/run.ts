// The `shark filter` pipeline as a library call: entries in (NDJSON keeping
// each raw line, or pcap/pcapng dissected on the fly), the predicate, then
// redaction, then the sink. An entry that matches and has nothing to redact is
// written as its original line — no JSON.stringify on the hot path.

import type { Readable, Writable } from 'node:stream';
import { ExitCode, UserError } from '../cli/errors.js';
import type { Entry } from '../model/entry.js';
import { LineSink } from '../output/stdout-sink.js';
import type { LineFormatter } from '../output/formats/entry-format.js';
import { checkInputs, detectKind, inputName, notCaptureOrEntries, openInput, sniff, type EntrySourceOptions } from '../input/entries.js';
import { binaryToText, parseEntryLine, readRawLines, type NdjsonReadOptions, type RawLine } from '../ndjson/read.js';
import { createRedactor } from '../redact/entry.js';
import { compileFilter, type CompiledFilter, type Dialect } from './index.js';
import { asWritten, LineMatcher, teachFromLine } from './line-matcher.js';
import { teachesRedaction } from '../redact/teaching.js';
import { evalCounts, evalReport } from './eval-report.js';
import type { JsonataFilter } from './jsonata-guard.js';
import type { FilteredBlock, FilterWire } from '../dissect/parallel/wire.js';
import { entryJson } from '../ndjson/stringify.js';

export interface RunFilterOptions {
  inputs: string[];
  /** A KFL1/KFL2 expression ('' matches everything). Ignored when `jsonata` is set. */
  expr: string;
  jsonata?: string;
  /** Per-entry time limit of the JSONata expression (ms). */
  jsonataTimeoutMs?: number;
  dialect?: Dialect | 'auto';
  /** Print only the number of matches. */
  count?: boolean;
  /** Keep entries that do NOT match. */
  invert?: boolean;
  /** Stop after this many matches. */
  first?: number;
  /** A bad input line is fatal (exit 3). */
  strict?: boolean;
  /** Extra sensitive key names or field paths. */
  redact?: string[];
  /** Turn redaction off. */
  noRedact?: boolean;
  stdout?: Writable;
  /** `-o` other than NDJSON: how matching entries are shown (src/output/formats). */
  format?: LineFormatter;
  stdin?: Readable;
  signal?: AbortSignal;
  /** Human-readable notes (grouping warnings, bad lines); default stderr. */
  onWarning?: (message: string) => void;
  /** Called when stdout's reader went away (EPIPE). */
  onClosed?: () => void;
  /** Dissection options for capture inputs. */
  dissect?: Record<string, unknown>;
  /** Dissect captures on worker threads (EntrySourceOptions.workers says how). */
  workers?: number;
  parallel?: EntrySourceOptions['parallel'];
  now?: number;
}

export interface RunFilterResult {
  read: number;
  matched: number;
}

export async function runFilter(opts: RunFilterOptions): Promise<RunFilterResult> {
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`${m}\n`));
  let syncPredicate: ((e: Entry) => boolean) | undefined;
  let project: ((line: string) => Entry | undefined) | undefined;
  let jsonata: JsonataFilter | undefined;
  let limit = opts.first;
  let redactPaths: string[] = [];
  let entriesOverLimit: (() => number) | undefined;
  /** The same, counted on worker threads. */
  let overLimitOnWorkers = 0;
  let evalErrors: CompiledFilter['evalErrors'];
  /** CEL's evaluation errors met on worker threads: entries, and the first error. */
  const errorsOnWorkers = { entries: 0, first: undefined as string | undefined };
  // KFL2's now() is fixed once, for this thread and any workers filtering with it.
  const now = opts.now ?? Date.now();
  if (opts.jsonata !== undefined) {
    // Loaded only for --jsonata: the module costs ~50 ms of every start.
    const { JsonataFilter } = await import('./jsonata-guard.js');
    jsonata = new JsonataFilter(opts.jsonata, { signal: opts.signal, onWarning: warn, limits: opts.jsonataTimeoutMs ? { timeoutMs: opts.jsonataTimeoutMs } : undefined });
  } else {
    const f = compileFilter(opts.expr, { dialect: opts.dialect, now, onWarning: (w) => warn(`warning: ${w}`) });
    syncPredicate = f.predicate;
    project = f.projectBinary;
    if (f.limit !== undefined) limit = limit === undefined ? f.limit : Math.min(limit, f.limit);
    redactPaths = f.redactions ?? [];
    entriesOverLimit = f.entriesOverLimit;
    evalErrors = f.evalErrors;
  }
  const redactor = createRedactor(opts.redact ?? [], { enabled: !opts.noRedact, paths: redactPaths, warn });
  // KFL1 redact() paths apply even with --no-redact.
  const redacting = !opts.noRedact || redactPaths.length > 0;
  const sink = new LineSink(opts.stdout ?? process.stdout, { onClosed: opts.onClosed, format: opts.count ? undefined : opts.format });
  const invert = opts.invert === true;
  const result: RunFilterResult = { read: 0, matched: 0 };
  const done = (): boolean => (limit !== undefined && result.matched >= limit) || sink.closed || opts.signal?.aborted === true;
  if (limit === 0) return finish();

  const emit = async (entry: Entry, line: string | undefined): Promise<void> => {
    result.matched++;
    if (opts.count) return;
    const wait = sink.write(line === undefined ? entryJson(redactor(entry)) : asWritten(line, entry, redactor, redacting));
    if (wait) await wait;
  };
  const count = opts.count === true;
  const matcher = syncPredicate ? new LineMatcher(syncPredicate, project, invert, redactor, redacting) : undefined;
  // A KFL filter of NDJSON files may run on workers (entryBatches decides), as this thread would run it.
  const onWorkers: FilterWire | undefined = matcher && (count || !opts.format) ? { expr: opts.expr, dialect: opts.dialect ?? 'auto', now, invert, count, redact: opts.redact ?? [], noRedact: opts.noRedact === true } : undefined;

  // JSONata runs in a process of its own (jsonata-process.ts). Reading files, two batches go there
  // at once, so this thread reads the next while that one evaluates; from a pipe one, so that each
  // batch is written as soon as it is evaluated, not when the next comes.
  const maxInFlight = opts.inputs.length > 0 && !opts.inputs.includes('-') ? 2 : 1;
  const inFlight: Array<{ batch: Batch; answers: Promise<Array<boolean | undefined>> }> = [];
  /** Write the oldest batch's matches, in order; true when the run is done. */
  const settleOldest = async (): Promise<boolean> => {
    const { batch, answers } = inFlight.shift()!;
    const hits = await answers;
    if (opts.signal?.aborted) return true;
    if (batch.kind === 'lines') {
      for (let i = 0; i < batch.lines.length; i++) {
        if (hits[i] !== undefined) result.read++;
        if (hits[i] === invert) {
          if (redacting) teachFromLine(batch.lines[i].text, batch.binary, redactor);
          continue;
        }
        if (count && hits[i] !== undefined) {
          result.matched++;
          if (done()) return true;
          continue;
        }
        // Kept, or not an entry: parsed here, which reports a bad line (or, with --strict, ends the run).
        const l = batch.binary ? { text: binaryToText(batch.lines[i].text), lineNo: batch.lines[i].lineNo } : batch.lines[i];
        const entry = parseEntryLine(l, batch.source, batch.readOpts);
        if (!entry || hits[i] === undefined) continue;
        await emit(entry, l.text);
        if (done()) return true;
      }
    } else if (batch.kind === 'entries') {
      for (let i = 0; i < batch.entries.length; i++) {
        result.read++;
        if (hits[i] === invert) {
          if (redacting && teachesRedaction(batch.entries[i])) redactor(batch.entries[i]);
          continue;
        }
        await emit(batch.entries[i], undefined);
        if (done()) return true;
      }
    }
    await sink.flush();
    return done();
  };

  // Lines are read as binary (latin1) strings when the projection can use them: cheaper than UTF-8 decoding every line.
  // So are they for JSONata: only the lines it keeps are decoded here, the others there (jsonata-child.ts).
  outer: for await (const batch of entryBatches(opts, warn, project !== undefined || jsonata !== undefined, onWorkers)) {
    if (batch.kind === 'lines' && matcher) {
      for (const l of batch.lines) {
        const text = matcher.match(l, batch.binary, batch.source, batch.readOpts, count);
        if (text === undefined) continue;
        result.matched++;
        if (!count) {
          const wait = sink.write(text);
          if (wait) await wait;
        }
        if (done()) break outer;
      }
    } else if (jsonata && batch.kind !== 'filtered') {
      const answers = batch.kind === 'lines' ? jsonata.matchLines(batch.lines.map((l) => l.text), batch.binary) : jsonata.matchEntries(batch.entries);
      // Awaited in turn by settleOldest; a refusal (exit 2) must not count as unhandled meanwhile.
      answers.catch(() => {});
      inFlight.push({ batch, answers });
      if (inFlight.length < maxInFlight) continue;
      if (await settleOldest()) break outer;
      continue;
    } else if (batch.kind === 'filtered') {
      // Workers' blocks, in the file's order: their kept lines (up to the limit) as they are, and the
      // warnings for bad lines one thread would have read (those before the limit's last line).
      for (const b of batch.blocks) {
        result.read += b.read;
        overLimitOnWorkers += b.overLimit ?? 0;
        if (b.evalErrors) {
          errorsOnWorkers.entries += b.evalErrors;
          errorsOnWorkers.first ??= b.evalError;
        }
        const room = limit === undefined ? Infinity : limit - result.matched;
        const kept = Math.min(b.kept, room);
        if (b.bad) for (const bad of b.bad) if (bad.kept < room) warn(bad.message);
        result.matched += kept;
        if (!count && kept > 0) {
          const wait = sink.writeText(kept === b.kept ? b.text : b.text.slice(0, endOfLine(b.text, kept)));
          if (wait) await wait;
        }
        if (done()) break outer;
      }
    } else if (batch.kind === 'entries') {
      for (const entry of batch.entries) {
        result.read++;
        const hit = syncPredicate!(entry) !== invert;
        if (opts.signal?.aborted) break outer;
        if (!hit) {
          // A left-out call may say what a kept answer's secret is (redact/teaching.ts).
          if (redacting && teachesRedaction(entry)) redactor(entry);
          continue;
        }
        await emit(entry, undefined);
        if (done()) break outer;
      }
    }
    if (done()) break;
    // Entries reach the reader as each input chunk is done (live pipes), not only when 64 KB piled up.
    await sink.flush();
  }
  while (inFlight.length > 0 && !done() && !(await settleOldest()));
  return finish();

  async function finish(): Promise<RunFilterResult> {
    jsonata?.close();
    result.read += matcher?.read ?? 0;
    const mine = evalCounts({ entriesOverLimit, evalErrors });
    const all = { overLimit: mine.overLimit + overLimitOnWorkers, errors: mine.errors + errorsOnWorkers.entries, firstError: mine.firstError ?? errorsOnWorkers.first };
    for (const line of evalReport(all)) warn(line);
    if (opts.count) sink.write(String(result.matched));
    await sink.finish();
    return result;
  }
}

/** Where the n-th line of `text` (lines ended by newlines) ends: the index after its newline. */
function endOfLine(text: string, n: number): number {
  let at = -1;
  for (let i = 0; i < n; i++) at = text.indexOf('\n', at + 1);
  return at + 1;
}

type Batch =
  | { kind: 'lines'; lines: RawLine[]; source: string; readOpts: NdjsonReadOptions; binary: boolean }
  | { kind: 'filtered'; blocks: FilteredBlock[] }
  | { kind: 'entries'; entries: Entry[] };

/**
 * From every input in turn: NDJSON as raw numbered lines (parsed by the
 * caller), or, from a file with workers and a filter they can run
 * (`onWorkers`), as the workers' filtered blocks; captures as dissected entries.
 */
async function* entryBatches(opts: RunFilterOptions, warn: (m: string) => void, binary: boolean, onWorkers: FilterWire | undefined): AsyncGenerator<Batch> {
  const list = opts.inputs.length === 0 ? ['-'] : opts.inputs;
  checkInputs(list, opts.stdin);
  // Entry ids unique across the inputs (EngineOptions.numbering).
  const dissect = { ...opts.dissect, numbering: { seq: 0 } };
  for (const path of list) {
    if (opts.signal?.aborted) return;
    const stream = openInput(path, opts.stdin);
    const name = inputName(path);
    // Ctrl-C while waiting for input (a live pipe): end the read so the run can finish.
    const onAbort = (): void => {
      stream.destroy();
    };
    opts.signal?.addEventListener('abort', onAbort, { once: true });
    try {
      const { head, rest } = await sniff(stream, name);
      const kind = detectKind(head);
      if (kind === 'empty') continue;
      if (kind === 'unknown') throw notCaptureOrEntries(name, head);
      const iterable: AsyncIterable<Buffer> = { [Symbol.asyncIterator]: () => rest };
      if (kind === 'ndjson' && onWorkers && path !== '-' && (opts.workers ?? 1) > 1 && opts.parallel && !opts.strict) {
        // A file (a pipe is read as it comes), not --strict (the first bad line ends reading): on the workers.
        const { filterNdjson } = await import('../input/parallel-ndjson.js');
        const run = filterNdjson(head, iterable, name, { workers: opts.workers as number, spec: opts.parallel, filter: onWorkers, signal: opts.signal });
        for await (const blocks of run) yield { kind: 'filtered', blocks };
      } else if (kind === 'ndjson') {
        const readOpts: NdjsonReadOptions = { strict: opts.strict, onBadLine: warn, prefix: head, binary };
        for await (const lines of readRawLines(iterable, name, readOpts)) yield { kind: 'lines', lines, source: name, readOpts, binary };
      } else {
        const { dissectStream } = await import('../input/dissect-stream.js');
        const sourceOpts: EntrySourceOptions = { strict: opts.strict, signal: opts.signal, onWarning: warn, dissect, workers: opts.workers, parallel: opts.parallel };
        for await (const entries of dissectStream(head, iterable, name, sourceOpts)) yield { kind: 'entries', entries };
      }
    } catch (err) {
      if (opts.signal?.aborted) return;
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') throw new UserError(`${name}: no such file`, ExitCode.USAGE);
      throw err;
    } finally {
      opts.signal?.removeEventListener('abort', onAbort);
      if (stream !== opts.stdin) stream.destroy();
    }
  }
}
