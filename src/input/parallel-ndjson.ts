// NDJSON entry files on worker threads (--workers N): the main thread only
// splits the file into blocks of whole lines and hands them out (LINES
// records, each with the number of its first line); each worker reads its
// lines as one thread does. Two uses:
//  - a `stats` table (aggregateNdjson): each worker parses, redacts and adds
//    its lines to a table of its own (worker.ts, as one thread's stats does),
//    and at the end the tables merge exactly, as they do for captures
//    (stats/aggregate.ts: nothing in a table depends on the order entries
//    came in). Lines reported bad come back with their numbers and are told
//    in the order of the file, each once every worker is past it (so only the
//    few between the workers' places wait);
//  - `shark filter` (filterNdjson): each worker filters its lines as run.ts
//    does (filter/line-matcher.ts) and hands back each block's kept lines and
//    bad-line warnings; the main thread gives them on in the order it sent
//    the blocks, which is the file's, so stdout and stderr are one thread's.
// Only from a file (a pipe is read as it comes, for live use), and not
// --strict (the first bad line ends reading: what follows must not count).

import { RecordTeachingScan } from '../redact/teaching.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { writeRecord, WorkerPool, type Link, type PoolRun } from '../dissect/parallel/pool.js';
import { STOPPED, unlessStopped } from './unless-stopped.js';
import { LINES_HEADER, RecordType, type FilteredBlock, type FilterWire, type WorkerOutput, type WorkerSpec } from '../dissect/parallel/wire.js';
import type { StatsWire } from '../stats/aggregate.js';

/**
 * The most bytes of lines in one record. A record must fit a worker's ring
 * (1 MB); a line longer than this goes in pieces, all to one worker.
 */
const BLOCK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;
/**
 * filterNdjson: bytes of lines sent and not yet given on, per worker. Bounds
 * what waits on the main thread for an earlier block still being read
 * elsewhere, or for a slow reader of stdout: 2 MB of lines per worker, and
 * what they kept. In bytes, not blocks: a pipe's reads (a FIFO's 64 KB) make
 * smaller blocks than a file's.
 */
const AHEAD_BYTES_PER_WORKER = 2 * 1024 * 1024;

export interface ParallelNdjsonOptions {
  workers: number;
  /** With `aggregate` and `project`: what each worker builds its table from. */
  spec: Omit<WorkerSpec, 'index' | 'lines'>;
  signal?: AbortSignal;
  onBadLine: (message: string) => void;
  /** Each worker's table, at the end. */
  into: (table: StatsWire) => void;
}

export async function aggregateNdjson(head: Buffer, rest: AsyncIterable<Buffer>, name: string, opts: ParallelNdjsonOptions): Promise<void> {
  const pool = new WorkerPool(opts.workers);
  const run = new LinesRun(pool.links, opts.onBadLine, false);
  pool.run = run;
  try {
    await run.start({ ...opts.spec, lines: { source: name } });
    await feedFile(run, head, rest, opts.signal);
    for (const l of pool.links) if (l.aggregate) opts.into(l.aggregate);
  } finally {
    pool.run = undefined;
    await pool.close();
  }
}

export interface FilterNdjsonOptions {
  workers: number;
  /** What the workers build their engines from (unused for lines, but a session's spec), and the filter. */
  spec: Omit<WorkerSpec, 'index' | 'lines' | 'filter'>;
  filter: FilterWire;
  signal?: AbortSignal;
}

/**
 * `shark filter` of an NDJSON file on worker threads: each block's kept
 * lines and bad-line warnings, in the file's order (the consumer tells the
 * warnings: with a limit, only those one thread would have read). A
 * consumer that stops early (a count reached, stdout gone) ends the workers
 * by leaving the loop.
 */
export async function* filterNdjson(head: Buffer, rest: AsyncIterable<Buffer>, name: string, opts: FilterNdjsonOptions): AsyncGenerator<FilteredBlock[]> {
  const pool = new WorkerPool(opts.workers);
  // Bad lines come in the blocks (FilteredBlock.bad), for the consumer to tell.
  // Redacting, a block that may teach the redactor (a login whose token comes later) pins the rest of the file to its worker.
  const run = new LinesRun(pool.links, () => {}, true, !opts.filter.noRedact);
  pool.run = run;
  let fed = false;
  let failure: { error: unknown } | undefined;
  let feeding: Promise<void> | undefined;
  // Reading stops at a stop (Ctrl-C), or when the consumer leaves: a read waiting on a silent pipe must not hold that up.
  const reading = new AbortController();
  const stop = (): void => reading.abort();
  opts.signal?.addEventListener('abort', stop, { once: true });
  if (opts.signal?.aborted) stop();
  try {
    await run.start({ ...opts.spec, lines: { source: name }, filter: opts.filter });
    feeding = feedFile(run, head, rest, reading.signal)
      .then(
        () => void (fed = true),
        (error: unknown) => void (failure = { error }),
      )
      .finally(() => run.wakeWaiters());
    for (;;) {
      const blocks = run.take();
      if (blocks.length > 0) yield blocks;
      else if (failure) throw failure.error;
      else if (fed) break;
      else await run.changed();
    }
  } finally {
    // Also when the consumer stopped early: the feeding ends at its next step, then the workers.
    opts.signal?.removeEventListener('abort', stop);
    run.abandon();
    reading.abort();
    await feeding;
    pool.run = undefined;
    await pool.close();
  }
}

/** The whole file into `run`, then its end (a stop, Ctrl-C, ends it where it is). */
async function feedFile(run: LinesRun, head: Buffer, rest: AsyncIterable<Buffer>, stop: AbortSignal | undefined): Promise<void> {
  if (head.length > 0) await run.feed(head);
  const signal = stop ?? new AbortController().signal;
  const chunks = rest[Symbol.asyncIterator]();
  let stopped = false;
  for (;;) {
    // A read waiting on a silent pipe (a FIFO named as the file) ends at a stop too.
    const next = await unlessStopped(chunks.next(), signal);
    if ((stopped = next === STOPPED) || next.done) break;
    await run.feed(next.value);
  }
  // Stopped (Ctrl-C): the line being read when it came is not a line of the file's.
  await run.finish(!stopped);
}

class LinesRun implements PoolRun {
  /** Bad lines the workers reported, not yet told (a worker may still report an earlier one). */
  private badLines: { line: number; message: string }[] = [];
  /** Per worker: the first line of each record sent to it, in order, and how many it has read. */
  private readonly sent: number[][];
  private readonly read: number[];
  private failure: Error | undefined;
  /** Settles when the run fails: waits for ring room end then. */
  private stopWaits!: () => void;
  private readonly failing = new Promise<void>((resolve) => (this.stopWaits = resolve));
  /** Whoever waits for news from the workers (the feeding, and filterNdjson's consumer). */
  private waiters: (() => void)[] = [];
  /** Ordered runs: the worker and bytes of each block sent and not yet given on, in the order sent. */
  private readonly order: number[] = [];
  private readonly orderBytes: number[] = [];
  /** Ordered runs: per worker, the blocks it gave back that wait for their turn. */
  private readonly arrived: FilteredBlock[][];
  /** Ordered runs: blocks whose turn came, for take(), and the bytes of lines they were. */
  private ready: FilteredBlock[] = [];
  private readyBytes = 0;
  /** Ordered runs: bytes of lines sent and not yet taken (AHEAD_BYTES_PER_WORKER bounds them). */
  private ahead = 0;
  /** Bytes after the last newline sent (the start of a line still to come). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The number of the next line to send. */
  private nextLine = 1;
  /** The worker taking the pieces of a line longer than a block, until its end; -1: none. */
  private continuing = -1;
  /** The worker next in turn for a block. */
  private turn = 0;
  /**
   * With `pinTeachers`: the worker that was sent a block holding a line that may teach redaction
   * (redact/teaching.ts: a JSON-RPC login whose token comes in a later message, a Redis script
   * whose EVALSHA calls follow), which takes every later block; -1 until then. Each worker has a
   * redactor of its own: the answer, in a block another worker read, kept its token.
   */
  private pinned = -1;
  /** Looks for a teaching line across the pieces of a long one, as they are sent. */
  private readonly teaching = new RecordTeachingScan();

  constructor(
    private readonly links: Link[],
    private readonly onBadLine: (message: string) => void,
    /** Each block's result comes back to be given on in the order sent (filterNdjson), not into tables. */
    private readonly ordered: boolean,
    private readonly pinTeachers = false,
  ) {
    for (const l of links) l.reset();
    this.sent = links.map(() => []);
    this.read = links.map(() => 0);
    this.arrived = links.map(() => []);
  }

  /** Ordered runs: the blocks whose turn has come, once each (their consumer tells their bad lines). */
  take(): FilteredBlock[] {
    const blocks = this.ready;
    if (blocks.length === 0) return blocks;
    this.ready = [];
    this.ahead -= this.readyBytes;
    this.readyBytes = 0;
    this.wakeWaiters();
    return blocks;
  }

  /** Settles at the next news: a worker's message, a failure, blocks taken. */
  changed(): Promise<void> {
    return new Promise<void>((resolve) => this.waiters.push(resolve));
  }

  /** The consumer is gone: the feeding stops at its next step, as if the run had failed. */
  abandon(): void {
    this.fail(-1, 'abandoned');
  }

  /** Every wait for news ends (to look again). */
  wakeWaiters(): void {
    const waiters = this.waiters;
    this.waiters = [];
    for (const w of waiters) w();
  }

  async start(spec: Omit<WorkerSpec, 'index'>): Promise<void> {
    for (const l of this.links) await this.write(l, RecordType.SESSION, Buffer.from(JSON.stringify({ ...spec, index: l.index })));
  }

  /** The next bytes of the file: every whole line in them goes out in blocks; the rest waits for its end. */
  async feed(chunk: Buffer): Promise<void> {
    let start = 0;
    if (this.pendingBytes > 0) {
      const nl = chunk.indexOf(NEWLINE);
      if (nl < 0) {
        // Still the same line: kept, and sent in pieces once it is a block long.
        this.pending.push(Buffer.from(chunk));
        this.pendingBytes += chunk.length;
        if (this.pendingBytes >= BLOCK_BYTES) {
          const line = Buffer.concat(this.pending, this.pendingBytes);
          const whole = line.length - (line.length % BLOCK_BYTES);
          await this.sendRun(line.subarray(0, whole), false);
          this.pending = whole < line.length ? [line.subarray(whole)] : [];
          this.pendingBytes = line.length - whole;
        }
        return;
      }
      // The line in progress ends here.
      await this.sendRun(Buffer.concat([...this.pending, chunk.subarray(0, nl + 1)]), true);
      this.pending = [];
      this.pendingBytes = 0;
      start = nl + 1;
    }
    while (start < chunk.length) {
      const limit = Math.min(chunk.length, start + BLOCK_BYTES);
      const nl = chunk.lastIndexOf(NEWLINE, limit - 1);
      if (nl >= start) {
        await this.send(chunk.subarray(start, nl + 1), true);
        start = nl + 1;
      } else if (limit - start === BLOCK_BYTES) {
        // A block's worth without a newline: a piece of a long line.
        await this.send(chunk.subarray(start, limit), false);
        start = limit;
      } else break;
    }
    if (start < chunk.length) {
      // Copied: the reader may reuse its chunk (and a view would keep all of it).
      this.pending = [Buffer.from(chunk.subarray(start))];
      this.pendingBytes = chunk.length - start;
    }
  }

  /**
   * End of the file: its last line even without a newline (read as one
   * thread reads it) unless `lastLine` is false (stopped), then every
   * worker's table.
   */
  async finish(lastLine: boolean): Promise<void> {
    if (lastLine && this.pendingBytes > 0) await this.sendRun(Buffer.concat([...this.pending, Buffer.of(NEWLINE)]), true);
    this.pending = [];
    this.pendingBytes = 0;
    for (const l of this.links) await this.write(l, RecordType.END, Buffer.alloc(0));
    for (const l of this.links) l.writer.notify();
    while (!this.links.every((l) => l.summary !== undefined)) {
      this.check();
      await this.changed();
    }
    this.check();
    this.tellBadLines(Infinity);
  }

  /** `bytes` in records of at most a block: the last ends a line when `endsLine`, the others are pieces. */
  private async sendRun(bytes: Buffer, endsLine: boolean): Promise<void> {
    for (let off = 0; off < bytes.length; off += BLOCK_BYTES) {
      const end = Math.min(bytes.length, off + BLOCK_BYTES);
      await this.send(bytes.subarray(off, end), end === bytes.length && endsLine);
    }
  }

  /** One LINES record: `bytes` end at a newline (`whole`), or are a piece of a line that goes on. */
  private async send(bytes: Buffer, whole: boolean): Promise<void> {
    // Ordered: no further ahead of the consumer than the bound (the blocks between wait on this thread).
    while (this.ordered && this.ahead >= AHEAD_BYTES_PER_WORKER * this.links.length) {
      this.check();
      await this.changed();
    }
    const continued = this.continuing >= 0;
    const link = continued ? this.links[this.continuing] : this.pinned >= 0 ? this.links[this.pinned] : this.withRoom(LINES_HEADER + bytes.length);
    this.continuing = whole ? -1 : link.index;
    if (this.pinTeachers && this.pinned < 0 && this.teaching.feed(bytes, whole)) this.pinned = link.index;
    const head = Buffer.allocUnsafe(LINES_HEADER - 1);
    head.writeDoubleLE(this.nextLine, 0);
    head[8] = continued ? 1 : 0;
    this.sent[link.index].push(this.nextLine);
    if (this.ordered) {
      this.order.push(link.index);
      this.orderBytes.push(bytes.length);
      this.ahead += bytes.length;
    }
    await writeRecord(link, RecordType.LINES, bytes, () => this.check(), this.failing, head);
    for (let at = bytes.indexOf(NEWLINE); at >= 0; at = bytes.indexOf(NEWLINE, at + 1)) this.nextLine++;
  }

  /**
   * The next worker in turn whose ring has room for a record of `len` bytes
   * now, or (none has) the next in turn: a worker behind for a moment does
   * not hold the others up. Whoever reads which lines, the tables merge
   * exactly, and bad lines are told in the file's order.
   */
  private withRoom(len: number): Link {
    const n = this.links.length;
    let chosen = this.links[this.turn];
    for (let k = 0; k < n; k++) {
      const link = this.links[(this.turn + k) % n];
      if (link.writer.tryReserve(len) >= 0) {
        chosen = link;
        break;
      }
    }
    this.turn = (chosen.index + 1) % n;
    return chosen;
  }

  private write(link: Link, type: number, body: Buffer): Promise<void> {
    return writeRecord(link, type, body, () => this.check(), this.failing);
  }

  accept(link: Link, out: WorkerOutput): void {
    if (out.badLines) this.badLines.push(...out.badLines);
    if (out.filtered) {
      for (const b of out.filtered) this.arrived[link.index].push(b);
      this.giveInTurn();
    }
    // Records read (`through`): what it read is forgotten, the rest says where it is.
    const sent = this.sent[link.index];
    const read = Math.min(out.through, sent.length + this.read[link.index]) - this.read[link.index];
    if (read > 0) {
      sent.splice(0, read);
      this.read[link.index] += read;
    }
    if (out.summary) link.summary = out.summary;
    if (out.aggregate) link.aggregate = out.aggregate;
    if (this.badLines.length > 0) this.tellBadLines(Math.min(...this.sent.map((s) => (s.length > 0 ? s[0] : Infinity))));
    this.wakeWaiters();
  }

  /** Ordered: every block whose turn has come (all sent before it given on) is ready; its consumer tells its bad lines. */
  private giveInTurn(): void {
    let given = 0;
    while (given < this.order.length) {
      const queue = this.arrived[this.order[given]];
      if (queue.length === 0) break;
      this.ready.push(queue.shift() as FilteredBlock);
      this.readyBytes += this.orderBytes[given];
      given++;
    }
    if (given > 0) {
      this.order.splice(0, given);
      this.orderBytes.splice(0, given);
    }
  }

  /** Tell, in the file's order, the bad lines before `line` (no worker can still report one there). */
  private tellBadLines(line: number): void {
    this.badLines.sort((a, b) => a.line - b.line);
    let n = 0;
    while (n < this.badLines.length && this.badLines[n].line < line) this.onBadLine(this.badLines[n++].message);
    if (n > 0) this.badLines = this.badLines.slice(n);
  }

  fail(worker: number, message: string): void {
    if (this.failure) return;
    this.failure = new UserError(`worker ${worker} failed: ${message}`, ExitCode.BUG);
    this.stopWaits();
    this.wakeWaiters();
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}
