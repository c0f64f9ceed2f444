// A `stats` table of an NDJSON entry file on worker threads (--workers N):
// the main thread only splits the file into blocks of whole lines and hands
// them out (LINES records, each with the number of its first line); each
// worker parses, redacts and adds its lines to a table of its own (worker.ts,
// as one thread's stats does), and at the end the tables merge exactly, as
// they do for captures (stats/aggregate.ts: nothing in a table depends on
// the order entries came in). Lines reported bad come back with their
// numbers and are told in the order of the file, each once every worker is
// past it (so only the few between the workers' places wait).
// Only where nothing else depends on that order (entries.ts decides): a final
// table (no --check, no live refresh), a file (not a pipe), not --strict.

import { ExitCode, UserError } from '../cli/errors.js';
import { STOPPED, unlessStopped, writeRecord, WorkerPool, type Link, type PoolRun } from '../dissect/parallel/pool.js';
import { LINES_HEADER, RecordType, type WorkerOutput, type WorkerSpec } from '../dissect/parallel/wire.js';
import type { StatsWire } from '../stats/aggregate.js';

/**
 * The most bytes of lines in one record. A record must fit a worker's ring
 * (1 MB); a line longer than this goes in pieces, all to one worker.
 */
const BLOCK_BYTES = 256 * 1024;
const NEWLINE = 0x0a;

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
  const run = new LinesRun(pool.links, opts.onBadLine);
  pool.run = run;
  try {
    await run.start({ ...opts.spec, lines: { source: name } });
    if (head.length > 0) await run.feed(head);
    const signal = opts.signal ?? new AbortController().signal;
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
    for (const l of pool.links) if (l.aggregate) opts.into(l.aggregate);
  } finally {
    pool.run = undefined;
    await pool.close();
  }
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
  private wake: (() => void) | undefined;
  /** Bytes after the last newline sent (the start of a line still to come). */
  private pending: Buffer[] = [];
  private pendingBytes = 0;
  /** The number of the next line to send. */
  private nextLine = 1;
  /** The worker taking the pieces of a line longer than a block, until its end; -1: none. */
  private continuing = -1;
  /** The worker next in turn for a block. */
  private turn = 0;

  constructor(
    private readonly links: Link[],
    private readonly onBadLine: (message: string) => void,
  ) {
    for (const l of links) l.reset();
    this.sent = links.map(() => []);
    this.read = links.map(() => 0);
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
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
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
    const continued = this.continuing >= 0;
    const link = continued ? this.links[this.continuing] : this.withRoom(LINES_HEADER + bytes.length);
    this.continuing = whole ? -1 : link.index;
    const head = Buffer.allocUnsafe(LINES_HEADER - 1);
    head.writeDoubleLE(this.nextLine, 0);
    head[8] = continued ? 1 : 0;
    this.sent[link.index].push(this.nextLine);
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
    this.wake?.();
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
    this.wake?.();
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }
}
