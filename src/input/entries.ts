// Every command that consumes entries (filter, stats, map, …) reads them
// through here: files or stdin, NDJSON or pcap/pcapng (dissected on the fly),
// told apart by their first bytes, so `shark stats capture.pcap` and
// `shark dissect capture.pcap | shark stats` give the same result.

import { accessSync, constants as fsConstants, createReadStream, openSync, statSync } from 'node:fs';
import { Socket } from 'node:net';
import type { Readable } from 'node:stream';
import { ExitCode, InputError, UserError } from '../cli/errors.js';
import type { Entry } from '../model/entry.js';
import { readNdjson } from '../ndjson/read.js';
import { readProjectedNdjson } from '../ndjson/read-projected.js';
import type { FieldSpec } from '../ndjson/project.js';
import { isPcapMagic } from '../capture/pcap-parser.js';
import type { WorkerSpec } from '../dissect/parallel/wire.js';
import type { RedactFlagValues } from '../redact/flags.js';
import type { StatsWire } from '../stats/aggregate.js';
import { specToWire } from '../ndjson/project-object.js';
import { growYoungGeneration } from '../cli/heap-flags.js';
import { STOPPED, unlessStopped } from './unless-stopped.js';
import { compressionOf, decompressed } from './compressed.js';
import { inputReadError, namedReadErrors } from './read-error.js';
import { checkStdin } from './stdin.js';

/** Entries after which reading them is long enough to give this thread a larger young generation (heap-flags.ts). */
const GROW_AFTER_ENTRIES = 10_000;

export interface EntrySourceOptions {
  /** A bad NDJSON line is fatal instead of skipped. */
  strict?: boolean;
  /** Stop reading when aborted (Ctrl-C, EPIPE). */
  signal?: AbortSignal;
  /** Human-readable warnings (bad lines, damaged captures) go here; default: stderr. */
  onWarning?: (message: string) => void;
  /** Options for dissecting capture inputs. */
  dissect?: Record<string, unknown>;
  /** Injected stdin (tests). */
  stdin?: Readable;
  /** Told about each NDJSON line skipped as bad (already a one-line message); default: onWarning. */
  onBadLine?: (message: string) => void;
  /** Told when each input is opened (progress display). */
  onOpen?: (name: string, stream: Readable) => void;
  /**
   * The only fields the consumer reads: NDJSON entries then carry just these
   * (read without JSON.parse, see ndjson-projected.ts). Captures still give whole entries.
   */
  project?: FieldSpec;
  /**
   * Dissect captures on this many worker threads (1 or absent: on this
   * thread); `parallel` is what each worker builds its engine from (plain
   * data: the key log's path, not the key log). Entries are the same.
   */
  workers?: number;
  parallel?: Omit<WorkerSpec, 'index'>;
  /**
   * `stats` tables (a built-in grouping): with workers, captures are
   * aggregated on them and only their tables come back, to `into`; entries
   * are not yielded then. `redact` is what the workers redact with first.
   */
  aggregate?: { by: string; redact: RedactFlagValues; into: (table: StatsWire) => void };
}

/** Name of an input for messages. */
export function inputName(path: string): string {
  return path === '-' ? '<stdin>' : path;
}

/** Open a file or stdin as a readable stream; missing files, and a stdin that is a terminal, a directory or closed, are user errors. */
export function openInput(path: string, stdin: Readable = process.stdin): Readable {
  if (path === '-') {
    checkStdin(stdin);
    return stdin;
  }
  if (isFifo(path)) return openFifo(path);
  const s = createReadStream(path, { highWaterMark: 1 << 20 });
  return s;
}

/** Whether `path` names a pipe (read as a stream, never with blocking file reads). */
export function isFifo(path: string): boolean {
  try {
    // bigint: a plain stat of a pipe misleads fs.realpathSync, and the modules loaded after it (stdin.ts).
    return statSync(path, { bigint: true }).isFIFO();
  } catch {
    return false; // the open reports it
  }
}

/**
 * A named pipe (`mkfifo p; tcpdump -w p & shark dissect p`), read as stdin
 * is: through the event loop, not file reads on libuv's thread pool. A file
 * read blocks a pool thread until the writer writes or goes away, and at exit
 * libuv joins its threads: a run that ended early (Ctrl-C, `--first`, `| head`,
 * or workers that read ahead) while the writer held the pipe open and
 * silent never exited. Opened without blocking (no thread waits for a writer
 * either); Linux reports no hang-up on it before a writer has come and gone,
 * so the read waits for the writer as a blocking open would, and ends when
 * it closes.
 */
function openFifo(path: string): Readable {
  const fd = openSync(path, fsConstants.O_RDONLY | fsConstants.O_NONBLOCK);
  return new Socket({ fd, readable: true, writable: false });
}

/**
 * Read the first chunk of a stream (to sniff its format) without losing it; `name` names it in errors.
 * Stopped (`signal`) while a pipe has not written yet, the stream is empty: Ctrl-C or SIGTERM ends a
 * run waiting for `tcpdump -w fifo` to start.
 */
export async function sniff(stream: Readable, name?: string, signal?: AbortSignal, inCompressed = false): Promise<{ head: Buffer; rest: AsyncIterator<Buffer> }> {
  // A read error, now or later, is one line naming the input (read-error.ts), not a bug.
  const it = inCompressed ? (stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>) : namedReadErrors(stream[Symbol.asyncIterator]() as AsyncIterator<Buffer>, name ?? '<input>');
  const first = signal ? await unlessStopped(it.next(), signal) : await it.next();
  if (first === STOPPED) return { head: Buffer.alloc(0), rest: it };
  const head = first.done ? Buffer.alloc(0) : Buffer.from(first.value);
  // A compressed file is read decompressed (one level: a .gz inside a .gz is not a capture).
  const compression = inCompressed ? undefined : compressionOf(head);
  if (compression) return await sniff(decompressed(compression, head, it, name ?? '<input>'), name, signal, true);
  return { head: withoutBom(head), rest: it };
}

/**
 * `head` without a UTF-8 byte order mark: entry files saved by Windows tools
 * (PowerShell 5's `Out-File`, Notepad) open with one, and RFC 8259 lets a
 * reader ignore it. No capture format starts with these bytes.
 */
export function withoutBom(head: Buffer): Buffer {
  return head.length >= 3 && head[0] === 0xef && head[1] === 0xbb && head[2] === 0xbf ? head.subarray(3) : head;
}

/**
 * Every named input must exist and be readable before the first is read, as
 * mergecap checks: `shark dissect a.pcap typo.pcap` is a usage error (exit 2)
 * before any output, not a's entries followed by one. Stdin ('-') must not be a
 * terminal, a directory or closed (stdin.ts), nor named twice.
 */
export function checkInputs(paths: string[], stdin: Readable = process.stdin): void {
  // Stdin reads once: a second "-" would be read empty, as if it had no traffic (merge says the same).
  if (paths.filter((p) => p === '-').length > 1) throw new UserError('stdin ("-") can be given only once', ExitCode.USAGE);
  for (const path of paths) {
    if (path === '-') {
      checkStdin(stdin);
      continue;
    }
    try {
      accessSync(path, fsConstants.R_OK);
    } catch (err) {
      throw inputReadError(err, path, 0);
    }
  }
}

export type InputKind = 'pcap' | 'pcapng' | 'ndjson' | 'unknown' | 'empty';

/** Decide what a stream holds from its first bytes. */
export function detectKind(head: Buffer): InputKind {
  if (head.length === 0) return 'empty';
  if (head.length >= 4) {
    const m = head.readUInt32LE(0);
    if (m === 0x0a0d0d0a) return 'pcapng';
    if (isPcapMagic(head)) return 'pcap';
  }
  for (const byte of head) {
    if (byte === 0x20 || byte === 0x0a || byte === 0x0d || byte === 0x09) continue;
    return byte === 0x7b /* { */ ? 'ndjson' : 'unknown';
  }
  return 'ndjson';
}

/**
 * The error for input that is neither a capture nor NDJSON entries, quoting its first four bytes:
 * enough to tell a file's kind (`"<htm"`, `"PK\u0003\u0004"`), too few to show a secret it starts with
 * (a token file, `Authorization: …`), since stderr lands in CI logs too. The pcap reader quotes as many.
 */
export function notCaptureOrEntries(name: string, head: Buffer): InputError {
  const start = JSON.stringify(head.subarray(0, 4).toString('latin1'));
  return new InputError(name, 'at byte 0', `not a pcap/pcapng capture or NDJSON entries (starts with ${start})`);
}

function iterable(it: AsyncIterator<Buffer>): AsyncIterable<Buffer> {
  return { [Symbol.asyncIterator]: () => it };
}

/** Entries from every input in turn, in batches. */
export async function* readEntries(inputs: string[], opts: EntrySourceOptions = {}): AsyncGenerator<Entry[]> {
  const list = inputs.length === 0 ? ['-'] : inputs;
  checkInputs(list, opts.stdin ?? process.stdin);
  // Entry ids are unique across the inputs (EngineOptions.numbering), unless the caller shares a sequence wider still.
  opts = { ...opts, dissect: { ...opts.dissect, numbering: opts.dissect?.numbering ?? { seq: 0 } } };
  const warn = opts.onWarning ?? ((m: string) => process.stderr.write(`${m}\n`));
  for (const path of list) {
    if (opts.signal?.aborted) return;
    const stream = openInput(path, opts.stdin);
    const name = inputName(path);
    opts.onOpen?.(name, stream);
    const { head, rest } = await sniff(stream, name, opts.signal);
    const kind = detectKind(head);
    if (kind === 'empty') {
      stream.destroy();
      continue;
    }
    // Garbage is not a stream of bad lines: one line, exit 3, for every command (as merge does).
    if (kind === 'unknown') {
      stream.destroy();
      throw notCaptureOrEntries(name, head);
    }
    if (kind === 'ndjson' && linesOnWorkers(path, opts)) {
      // A table of an entry file: its lines are read on the workers, and only their tables come back.
      const { aggregateNdjson } = await import('./parallel-ndjson.js');
      await aggregateNdjson(head, iterable(rest), name, {
        workers: opts.workers!,
        spec: aggregateSpec(opts.parallel!, opts.aggregate!, opts.project),
        signal: opts.signal,
        onBadLine: opts.onBadLine ?? warn,
        into: opts.aggregate!.into,
      });
    } else if (kind === 'ndjson') {
      const ndjsonOpts = { strict: opts.strict, onBadLine: opts.onBadLine ?? warn, prefix: head };
      const batches = opts.project ? readProjectedNdjson(iterable(rest), name, opts.project, ndjsonOpts) : readNdjson(iterable(rest), name, ndjsonOpts);
      let entries = 0;
      for (;;) {
        // A pipe's writer may stay silent: a stop does not wait for its next line.
        const next = opts.signal ? await unlessStopped(batches.next(), opts.signal) : await batches.next();
        if (next === STOPPED || next.done) break;
        const batch = next.value;
        if (entries < GROW_AFTER_ENTRIES && (entries += batch.length) >= GROW_AFTER_ENTRIES) growYoungGeneration();
        yield batch;
        if (opts.signal?.aborted) {
          await batches.return(undefined);
          break;
        }
      }
    } else {
      const { dissectStream } = await import('./dissect-stream.js');
      for await (const batch of dissectStream(head, iterable(rest), name, { ...opts, onWarning: warn })) {
        yield batch;
        if (opts.signal?.aborted) break;
      }
    }
    stream.destroy();
  }
}

/**
 * Whether an NDJSON input is read on the workers (parallel-ndjson.ts): for a
 * table aggregated there (a consumer reading a few fields), from a file (a
 * pipe is read as it comes, for live use), and not with --strict (the first
 * bad line ends reading: what follows it must not count).
 */
function linesOnWorkers(path: string, opts: EntrySourceOptions): boolean {
  return opts.aggregate !== undefined && opts.project !== undefined && (opts.workers ?? 1) > 1 && opts.parallel !== undefined && path !== '-' && !opts.strict;
}

/** What workers aggregating a table are told (a capture's or an entry file's): they redact as the consumer would, and keep only the table's fields. */
export function aggregateSpec(parallel: Omit<WorkerSpec, 'index'>, aggregate: NonNullable<EntrySourceOptions['aggregate']>, fields: FieldSpec | undefined): Omit<WorkerSpec, 'index'> {
  return { ...parallel, aggregate: { by: aggregate.by }, redact: aggregate.redact, project: fields && specToWire(fields) };
}
