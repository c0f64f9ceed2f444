// `--workers N` for a capture file: the main thread reads the capture and
// dispatches each packet to one of N worker threads by flow (route.ts),
// through SharedArrayBuffer rings; the workers run the engine; the main
// thread merges their entries back into exactly the single-thread output.
//
// Exactly, ids included: the single engine numbers calls in the order it
// emits them and lets them out in request-time order at ticks and releases
// whose schedule depends on every packet. So the dispatcher (which sees every
// packet) replays that schedule and tells every worker when to tick; each
// emitted call carries where in that run it was emitted (the packet, or the
// tick and the flow's place in the tick's walk); the merger numbers calls in
// that order, and feeds the same reorder buffer the single engine uses, with
// watermarks combined from every worker's oldest pending request.

import { STOPPED, unlessStopped } from '../../input/unless-stopped.js';
import { Worker } from 'node:worker_threads';
import { setFlagsFromString } from 'node:v8';
import { POOL_HEAP_FLAGS, applyHeapFlags } from '../../cli/heap-flags.js';
import type { PacketBatch } from '../../model/packet-batch.js';
import { FragmentReassembler } from '../decode/fragments.js';
import type { IpPacket } from '../decode/ip.js';
import { ReorderBuffer } from '../reorder.js';
import { CUT_BY_SNAPLEN, defaultEngineOptions, type EntryNumbering } from '../engine.js';
import { earliest, horizons, inOrder, laterMinimum, LOOKAHEAD_WAIT_MS, settle, SLICE, TICK, within } from '../dissect-packets.js';
import { workerShare } from '../memory-budget.js';
import { openCapture } from '../../capture/reader.js';
import { SECRETS_TLS_KEYLOG } from '../../capture/pcapng-parser.js';
import { TlsKeyLog } from '../tls/keylog.js';
import type { LineSink } from '../../output/stdout-sink.js';
import { ExitCode, UserError } from '../../cli/errors.js';
import { createRing, RingWriter } from './ring.js';
import { route } from './route.js';
import { FlowBalancer, flowIdleMs } from './balance.js';
import { workerEntry } from './worker-entry.js';
import { DATAGRAM_HEADER, KEY_FIELDS, PACKET_HEADER, RecordType, type WorkerOutput, type WorkerSpec } from './wire.js';
import { UnknownLinkTypes } from '../../input/dissect-stream.js';
import type { Entry } from '../../model/entry.js';
import type { StatsWire } from '../../stats/aggregate.js';

// The single engine's schedule (engine.ts): replayed here, so kept equal.
const TICK_MS = 1000;
const MAX_TICK_MS = 10_000;
const RELEASE_MS = 100;
/**
 * Bytes of packet records in flight per worker. What a worker has not yet
 * dissected is how far it may lag the others, and the main thread holds the
 * others' entries until it catches up (they merge in time order). 4 MB of
 * small packets (Redis, DNS) was ~40k packets of lag: `dissect --workers 2`
 * peaked at 198–204 MB on the bench capture and 215–229 MB on twice that,
 * 1 MB gives 184 and 201 MB at the same speed (still ~700 full-size packets).
 */
const RING_BYTES = 1024 * 1024;
/** Heap limit per worker (MB) unless SHARK_WORKER_HEAP_MB says otherwise. */
const DEFAULT_WORKER_HEAP_MB = 256;
/**
 * Each worker's young-generation semi-space (MB). A worker allocates
 * about 10 KB of short-lived objects per call; with the main thread's 1 MB
 * (heap-flags.ts) it scavenged every few milliseconds, 23 % of its time.
 * V8 reads the size when an isolate is made, so it is set just for the
 * workers' start. Bench capture, `stats --workers 2`: 1 MB 2.19–2.42 s and
 * 146 MB peak; 4 MB 2.05–2.17 s and 166 MB; 8 MB no faster, 188 MB.
 */
const WORKER_SEMI_SPACE_MB = 4;
/**
 * V8 flags read when an isolate is made, set only while the workers' are.
 * `--no-concurrent-recompilation`: a worker then optimises hot functions on
 * its own thread rather than handing them to V8's platform threads. With it
 * on, those four threads (shared by every isolate) used about 1 s of CPU in a
 * `stats --workers 2` run of the bench capture, more than the workers spent
 * optimising on their own threads when it was off (1.05 → 1.3 s each):
 * on 2 cores every such second is wall time.
 */
const WORKER_ISOLATE_FLAGS = [`--min-semi-space-size=${WORKER_SEMI_SPACE_MB}`, '--no-concurrent-recompilation'];
/** The same flags' values for isolates made afterwards (V8's defaults). */
const LATER_ISOLATE_FLAGS = ['--min-semi-space-size=0', '--concurrent-recompilation'];

/** Where a run's NDJSON lines go: stdout's sink (bytes as they are), or a consumer's (parallel-entries.ts: strings). */
export type LineOut = Pick<LineSink, 'write' | 'flush' | 'closed'> & Partial<Pick<LineSink, 'writeWithId'>>;

export interface ParallelOptions {
  workers: number;
  spec: Omit<WorkerSpec, 'index'>;
  sink: LineOut;
  /** Stop after this many entries. */
  limit: number;
  signal: AbortSignal;
  onWarning: (message: string) => void;
  /** Told about each entry written (progress). */
  onEntry?: () => void;
  /** Told the run's totals when its input ends, whole or damaged (not when a worker fails). */
  onTotals?: (result: ParallelResult) => void;
  /** Workers to use (and keep: a pool serves one run after another); default: started for this run and ended after it. */
  pool?: WorkerPool;
  /** Entry ids' sequence, shared with the run's other inputs (EngineOptions.numbering); default: this input's own. */
  numbering?: EntryNumbering;
}

export interface ParallelResult {
  entries: number;
  packets: number;
  counters: Record<string, number>;
  /** Times the dispatcher had to wait for the workers' flow count at the last release (schedule decisions). */
  flowWaits: number;
  /** Each worker's table, when the spec asked them to aggregate (WorkerSpec.aggregate). */
  aggregates: StatsWire[];
}

interface Pending {
  key: Float64Array;
  at: number;
  /** The worker's batch of lines, and this one's bytes in it. */
  bytes: Buffer;
  start: number;
  end: number;
  worker: number;
}

interface Release {
  g: number;
  now: number;
  horizon: number;
}

/** A held line in the reorder buffer (it only reads `timestamp`): its id's parts and its bytes after the id. */
interface Held {
  timestamp: number;
  frame: number;
  seq: number;
  rest: Buffer;
}

export class Link {
  through = 0;
  summary: Record<string, number> | undefined;
  aggregate: StatsWire | undefined;
  /** Batches of results not yet merged: `next` entry, at byte `pos` of `bytes`. */
  queue: { keys: Float64Array; bytes: Buffer; count: number; next: number; pos: number }[] = [];
  readonly writer: RingWriter;
  constructor(
    readonly index: number,
    readonly worker: Worker,
    ring: ReturnType<typeof createRing>,
  ) {
    this.writer = new RingWriter(ring);
  }

  reset(): void {
    this.through = 0;
    this.summary = undefined;
    this.aggregate = undefined;
    this.queue = [];
  }
}

/** What a pool's workers answer to: the run they serve. */
export interface PoolRun {
  accept(link: Link, out: WorkerOutput): void;
  fail(worker: number, message: string): void;
}

/**
 * Room for a record of `len` bytes in a worker's ring (its offset), once the
 * worker made it. `check` throws once the run failed, and `failed` settles
 * then: the wait ends with it, since a worker that died never makes room,
 * and a wait on the ring alone keeps nothing in the event loop (the process
 * would end with its run unfinished, exit 13).
 */
export async function roomIn(link: Link, len: number, check: () => void, failed: Promise<void>): Promise<number> {
  check();
  const now = link.writer.tryReserve(len);
  if (now >= 0) return now;
  const at = await Promise.race([link.writer.reserve(len), failed.then(() => -1)]);
  check();
  if (at < 0) throw new Error('pool: a wait for ring room ended, and no failure said why');
  return at;
}

/** Write one record (`type`, then `head` if given, then `body`) into a worker's ring, once it has room (roomIn). */
export async function writeRecord(link: Link, type: number, body: Uint8Array, check: () => void, failed: Promise<void>, head?: Uint8Array): Promise<void> {
  const len = 1 + (head?.length ?? 0) + body.length;
  const at = await roomIn(link, len, check, failed);
  const view = link.writer.view;
  view[at + 4] = type;
  if (head) view.set(head, at + 5);
  view.set(body, at + 5 + (head?.length ?? 0));
  link.writer.commit(at, len);
}

/** Worker threads, started once, serving one dissection run after another. */
export class WorkerPool {
  readonly links: Link[] = [];
  run: PoolRun | undefined;
  private closing = false;
  /** A run stopped half-way (or a worker died): its workers' rings are not at a run's start. */
  broken = false;

  constructor(size: number) {
    const heapMb = Number(process.env.SHARK_WORKER_HEAP_MB) || DEFAULT_WORKER_HEAP_MB;
    const entry = workerEntry('dissect/parallel/worker');
    for (const flag of WORKER_ISOLATE_FLAGS) setFlagsFromString(flag);
    let online = 0;
    for (let i = 0; i < size; i++) {
      const ring = createRing(RING_BYTES);
      const worker = new Worker(entry.url, {
        workerData: { ring, index: i },
        execArgv: entry.execArgv,
        resourceLimits: { maxOldGenerationSizeMb: heapMb },
        stdout: false,
        stderr: false,
      });
      const link = new Link(i, worker, ring);
      worker.once('online', () => {
        // A worker's start undoes the heap flags for every thread (heap-flags.ts); a pool's own.
        applyHeapFlags(POOL_HEAP_FLAGS);
        // Every worker's isolate is made (on its thread, after `new Worker` returns): back to the defaults.
        if (++online === size) for (const flag of LATER_ISOLATE_FLAGS) setFlagsFromString(flag);
      });
      worker.on('message', (out: WorkerOutput) => this.run?.accept(link, out));
      worker.on('error', (err: Error) => this.failed(i, err.message));
      worker.on('exit', (code) => {
        if (!this.closing) this.failed(i, `exited with code ${code}`);
      });
      this.links.push(link);
    }
  }

  private failed(worker: number, message: string): void {
    this.broken = true;
    this.run?.fail(worker, message);
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const l of this.links) l.writer.close();
    await Promise.all(this.links.map((l) => l.worker.terminate()));
    // What follows in this process runs on one thread again.
    applyHeapFlags();
  }
}

export async function dissectParallel(head: Buffer, rest: AsyncIterable<Buffer>, name: string, opts: ParallelOptions): Promise<ParallelResult> {
  const pool = opts.pool && !opts.pool.broken ? opts.pool : new WorkerPool(opts.workers);
  const run = new ParallelRun(opts, pool);
  try {
    return await run.dissect(head, rest, name);
  } finally {
    pool.run = undefined;
    // Workers that did not reach the run's end are mid-run: not reused.
    if (!run.ended) pool.broken = true;
    if (pool !== opts.pool || pool.broken) await pool.close();
  }
}

class ParallelRun implements PoolRun {
  private readonly links: Link[];
  private readonly frags = new FragmentReassembler();
  private readonly balancer: FlowBalancer;
  private readonly reorder: ReorderBuffer;
  private readonly window: number;
  private failure: Error | undefined;
  /** Settles when the run fails (fail()): waits for ring room end then. */
  private stopWaits!: () => void;
  private readonly failing = new Promise<void>((resolve) => (this.stopWaits = resolve));
  private wake: (() => void) | undefined;
  /** Packets a snap length cut short (counted here: the workers see only what they are handed). */
  private cut = 0;
  // The single engine's schedule state.
  private g = 0;
  private maxTime = -Infinity;
  private lastTick = -Infinity;
  private lastRelease = -Infinity;
  private sinceTick = 0;
  private sinceRelease = 0;
  private horizon = Infinity;
  /** Where the last tick or release was (g), and the flows every worker had just after it, once all have said. */
  private releaseG = 0;
  private flowsAtRelease: number | undefined = 0;
  // The merger's.
  private releases: Release[] = [];
  /** Per TICK/RELEASE position g: how many workers answered, their lowest pending request time, their flows. */
  private readonly lows = new Map<number, { n: number; low: number; flows: number }>();
  private readonly numbering: EntryNumbering;
  private entries = 0;
  private stopped = false;
  private sinkWait: Promise<void> | undefined;
  private backlog: (Held | undefined)[] = [];
  /** Lines of the backlog before this one are written (a drain stopped by a full sink resumes here, not by copying the rest). */
  private backlogNext = 0;
  private flowWaits = 0;
  private secrets: string[] = [];

  constructor(
    private readonly opts: ParallelOptions,
    pool: WorkerPool,
  ) {
    this.links = pool.links;
    this.numbering = opts.numbering ?? { seq: 0 };
    pool.run = this;
    for (const l of this.links) l.reset();
    this.balancer = new FlowBalancer(this.links.length, flowIdleMs(opts.spec.engine));
    this.window = Math.max(opts.spec.engine.reorderWindowMs ?? defaultEngineOptions.reorderWindowMs, 0);
    this.reorder = new ReorderBuffer(this.window, opts.spec.engine.maxReorderHeld ?? defaultEngineOptions.maxReorderHeld, (e) => this.write(e as unknown as Held));
  }

  async dissect(head: Buffer, rest: AsyncIterable<Buffer>, name: string): Promise<ParallelResult> {
    const onSecrets = (type: number, data: Buffer): void => {
      if (type !== SECRETS_TLS_KEYLOG) return;
      const text = data.toString('latin1');
      // The workers take the lines silently: the bad ones are said here, once, as one thread says them (dissect-stream.ts).
      new TlsKeyLog().addText(text, (line, why) => this.opts.onWarning(`${name}: decryption secrets block line ${line}: ${why}; skipped`));
      this.secrets.push(text);
    };
    await this.session();
    const reader = openCapture(head, rest, name, { onSecrets });
    const unknown = new UnknownLinkTypes();
    const it = unknown.watch(reader.packetBatches())[Symbol.asyncIterator]();
    let next = settle(it.next());
    let failure: unknown;
    // dissectPackets' reading, one batch ahead (dissect-packets.ts): the same horizons.
    for (;;) {
      const result = await unlessStopped(next, this.opts.signal);
      if (result === STOPPED) break;
      if ('error' in result) {
        failure = result.error;
        break;
      }
      if (result.done) break;
      next = settle(it.next());
      const ahead = await within(next, LOOKAHEAD_WAIT_MS);
      const after = ahead === TICK || 'error' in ahead || ahead.done ? Infinity : earliest(ahead.value);
      const batch = result.value;
      if (batch.length <= SLICE) await this.slice(batch, 0, batch.length, after);
      else {
        const later = laterMinimum(batch, after);
        for (let i = 0; i < batch.length && !this.done(); i += SLICE) {
          const end = Math.min(i + SLICE, batch.length);
          await this.slice(batch, i, end, later[end]);
        }
      }
      await this.broadcast(RecordType.PROGRESS);
      await this.drained();
      this.check();
      if (this.done()) break;
    }
    if (!this.stopped) {
      await this.broadcast(RecordType.END);
      await this.until(() => this.links.every((l) => l.summary !== undefined));
      this.ended = !this.stopped;
      this.merge();
      this.reorder.flush();
    }
    await this.drained();
    await this.opts.sink.flush();
    const aggregates = this.links.flatMap((l) => (l.aggregate ? [l.aggregate] : []));
    const result = { entries: this.entries, packets: this.g, counters: this.counters(), flowWaits: this.flowWaits, aggregates };
    // Told before a damaged input's error is thrown: what the run lost up to the damage is news too.
    this.opts.onTotals?.(result);
    if (failure !== undefined) throw failure;
    unknown.throwIfSeen(name);
    return result;
  }

  /** Every worker finished the run (its input ended, or was damaged): they can serve another. */
  ended = false;

  /** Tell every worker to start afresh with this run's options. */
  private async session(): Promise<void> {
    // The memory budget is the run's, not each worker's: shared out, as live workers do (tap/live-workers.ts).
    const { engine } = this.opts.spec;
    const shared = { ...engine, memoryBudget: workerShare(engine.memoryBudget, this.links.length) };
    for (const l of this.links) {
      const spec = Buffer.from(JSON.stringify({ ...this.opts.spec, engine: shared, index: l.index }));
      await writeRecord(l, RecordType.SESSION, spec, () => this.check(), this.failing);
    }
  }

  private done(): boolean {
    return this.stopped || this.opts.signal.aborted || this.opts.sink.closed || this.failure !== undefined;
  }

  private check(): void {
    if (this.failure) throw this.failure;
  }

  fail(worker: number, message: string): void {
    if (this.failure) return;
    this.failure = new UserError(`worker ${worker} failed: ${message}`, ExitCode.BUG);
    this.stopWaits();
    this.wake?.();
  }

  // ---- dispatch -------------------------------------------------------------

  /** Packets [from, to) of a batch, each with the earliest time still to come (dissect-packets.ts pushWithHorizon). */
  private async slice(batch: PacketBatch, from: number, to: number, after: number): Promise<void> {
    await this.sendSecrets();
    if (inOrder(batch, from, to, after)) {
      this.horizon = Infinity;
      for (let i = from; i < to; i++) {
        const wait = this.packet(batch, i);
        if (wait) await wait;
      }
      return;
    }
    const later = horizons(batch, from, to, after);
    for (let i = from; i < to; i++) {
      this.horizon = later[i - from];
      const wait = this.packet(batch, i);
      if (wait) await wait;
    }
  }

  private async sendSecrets(): Promise<void> {
    for (const text of this.secrets) {
      const bytes = Buffer.from(text, 'latin1');
      for (const l of this.links) await writeRecord(l, RecordType.SECRETS, bytes, () => this.check(), this.failing);
    }
    this.secrets = [];
  }

  /**
   * One packet, then what the single engine's push() would decide after it.
   * A promise only when something must be waited for (a full ring, a tick or
   * release, a datagram): most packets cost no promise and no microtask.
   */
  private packet(batch: PacketBatch, i: number): Promise<void> | undefined {
    const g = ++this.g;
    this.sinceTick++;
    this.sinceRelease++;
    // The packet's fields from the batch's columns: no Packet object per packet (engine.ts pushFrame).
    const now = batch.timeMs(i);
    if (now > this.maxTime) this.maxTime = now;
    const frame = batch.frameNumber(i);
    const linkType = batch.linkType(i);
    const data = batch.data(i);
    if (batch.cut(i)) this.cut++;
    const r = route(linkType, data, this.frags, now, this.balancer);
    if (r !== null) {
      const link = this.links[r.worker];
      if (r.ip !== undefined) return this.datagramThenSchedule(link, g, frame, now, r.ip);
      const len = PACKET_HEADER + data.length;
      const at = link.writer.tryReserve(len);
      if (at < 0) return this.packetWhenRoom(link, g, frame, linkType, now, data);
      this.writePacket(link, at, g, frame, linkType, now, data);
    }
    return this.schedule();
  }

  // The waiting paths of packet() and schedule() are methods of their own, not
  // closures inside them: a function with a closure in it gets a context object
  // on every call, taken or not (packet() made one per packet, with `now` boxed
  // in it: a fifth of what the dispatcher's thread allocated).

  private async packetWhenRoom(link: Link, g: number, frame: number, linkType: number, now: number, data: Buffer): Promise<void> {
    const at = await this.reserve(link, PACKET_HEADER + data.length);
    this.writePacket(link, at, g, frame, linkType, now, data);
    await this.schedule();
  }

  private async datagramThenSchedule(link: Link, g: number, frame: number, now: number, ip: IpPacket): Promise<void> {
    await this.sendDatagram(link, g, frame, now, ip);
    await this.schedule();
  }

  /** The captured frame as is (PACKET record), at `at` reserved for it. */
  private writePacket(link: Link, at: number, g: number, frame: number, linkType: number, now: number, data: Buffer): void {
    const w = link.writer;
    const dv = w.data;
    const o = at + 4;
    dv.setUint8(o, RecordType.PACKET);
    dv.setFloat64(o + 1, g, true);
    dv.setUint32(o + 9, frame, true);
    // All 32 bits: a pcap link type field with its reserved bits set is no link type shark
    // dissects, and cut to 16 bits it was one (0x7f0000 became 0, BSD loopback).
    dv.setUint32(o + 13, linkType, true);
    // The time as the one engine computes it (packetTimeMs), so the worker's engine sees the same bits.
    dv.setFloat64(o + 17, now, true);
    w.view.set(data, o + PACKET_HEADER);
    w.commit(at, PACKET_HEADER + data.length, false);
  }

  /** A datagram reassembled from fragments (DATAGRAM record): rare, so plainly async. */
  private async sendDatagram(link: Link, g: number, frame: number, now: number, ip: IpPacket): Promise<void> {
    const src = Buffer.from(ip.src, 'latin1');
    const dst = Buffer.from(ip.dst, 'latin1');
    const len = DATAGRAM_HEADER + src.length + dst.length + ip.payload.length;
    const at = await this.reserve(link, len);
    const view = link.writer.view;
    const dv = link.writer.data;
    const o = at + 4;
    dv.setUint8(o, RecordType.DATAGRAM);
    dv.setFloat64(o + 1, g, true);
    dv.setUint32(o + 9, frame, true);
    dv.setFloat64(o + 13, now, true);
    dv.setUint8(o + 21, ip.version);
    dv.setUint8(o + 22, ip.protocol);
    dv.setUint8(o + 23, ip.ttl);
    dv.setUint8(o + 24, src.length);
    dv.setUint8(o + 25, dst.length);
    view.set(src, o + DATAGRAM_HEADER);
    view.set(dst, o + DATAGRAM_HEADER + src.length);
    view.set(ip.payload, o + DATAGRAM_HEADER + src.length + dst.length);
    link.writer.commit(at, len, false);
  }

  /**
   * The single engine's tick/release decision after a packet (engine.ts
   * pushFrame); nothing to wait for unless one is due, or the workers have
   * not yet all said how many flows they had at the last one.
   */
  private schedule(): Promise<void> | undefined {
    const sinceTick = this.maxTime - this.lastTick;
    if (sinceTick < TICK_MS && this.maxTime - this.lastRelease < RELEASE_MS) return undefined;
    if (sinceTick >= MAX_TICK_MS) return this.tick();
    const flows = this.flowsAtRelease;
    if (flows === undefined) return this.scheduleWhenReported();
    if (sinceTick >= TICK_MS && this.sinceTick >= flows >> 3) return this.tick();
    if (this.maxTime - this.lastRelease >= RELEASE_MS && this.sinceRelease >= flows >> 3) return this.release(RecordType.RELEASE);
    return undefined;
  }

  private async scheduleWhenReported(): Promise<void> {
    await this.flowsReported();
    await this.schedule();
  }

  /** Wait until every worker has answered the last TICK/RELEASE with its flow count (usually long done: at most once per release). */
  private async flowsReported(): Promise<void> {
    this.flowWaits++;
    await this.until(() => this.flowsAtRelease !== undefined);
  }

  private async tick(): Promise<void> {
    this.lastTick = this.maxTime;
    this.sinceTick = 0;
    this.frags.expire(this.maxTime);
    // Sent before the next packet is routed: flows the workers end at this tick may go elsewhere after it.
    this.balancer.ticked(this.maxTime);
    await this.release(RecordType.TICK);
  }

  private async release(type: typeof RecordType.TICK | typeof RecordType.RELEASE): Promise<void> {
    this.lastRelease = this.maxTime;
    this.sinceRelease = 0;
    this.releaseG = this.g;
    this.flowsAtRelease = undefined;
    this.releases.push({ g: this.g, now: this.maxTime, horizon: this.horizon });
    await this.broadcast(type, this.maxTime);
  }

  private async broadcast(type: number, now?: number): Promise<void> {
    const len = type === RecordType.END ? 1 : now === undefined ? 9 : 17;
    for (const l of this.links) {
      const at = await this.reserve(l, len);
      const dv = new DataView(l.writer.view.buffer, l.writer.view.byteOffset + at + 4, len);
      dv.setUint8(0, type);
      if (len >= 9) dv.setFloat64(1, this.g, true);
      if (len >= 17) dv.setFloat64(9, now as number, true);
      l.writer.commit(at, len);
    }
  }

  private reserve(link: Link, len: number): Promise<number> {
    return roomIn(link, len, () => this.check(), this.failing);
  }

  /** Wait (letting worker messages in) until `ready()`; a worker failing ends the wait. */
  private async until(ready: () => boolean): Promise<void> {
    for (const l of this.links) l.writer.notify();
    while (!ready()) {
      this.check();
      await new Promise<void>((resolve) => (this.wake = resolve));
      this.wake = undefined;
    }
    this.check();
  }

  // ---- merge ----------------------------------------------------------------

  accept(link: Link, out: WorkerOutput): void {
    const count = out.keys.length / KEY_FIELDS;
    if (count > 0) link.queue.push({ keys: out.keys, bytes: Buffer.from(out.lines.buffer, out.lines.byteOffset, out.lines.byteLength), count, next: 0, pos: 0 });
    for (let i = 0; i < out.lows.length; i += 3) {
      const g = out.lows[i];
      let got = this.lows.get(g);
      if (got) {
        got.n++;
        got.low = Math.min(got.low, out.lows[i + 1]);
        got.flows += out.lows[i + 2];
      } else this.lows.set(g, (got = { n: 1, low: out.lows[i + 1], flows: out.lows[i + 2] }));
      if (got.n === this.links.length && g === this.releaseG) this.flowsAtRelease = got.flows;
    }
    link.through = out.through;
    if (out.summary) link.summary = out.summary;
    if (out.aggregate) link.aggregate = out.aggregate;
    if (!this.stopped) this.merge();
    this.wake?.();
  }

  /** Number and write every entry, and apply every release, that no worker can still precede. */
  private merge(): void {
    let through = Infinity;
    for (const l of this.links) through = Math.min(through, l.through);
    const ready: Pending[] = [];
    for (const l of this.links) {
      while (l.queue.length > 0) {
        const q = l.queue[0];
        while (q.next < q.count && q.keys[q.next * KEY_FIELDS] <= through) {
          let end = q.bytes.indexOf(0x0a, q.pos);
          if (end < 0) end = q.bytes.length;
          ready.push({ key: q.keys, at: q.next * KEY_FIELDS, bytes: q.bytes, start: q.pos, end, worker: l.index });
          q.pos = end + 1;
          q.next++;
        }
        if (q.next < q.count) break;
        l.queue.shift();
      }
    }
    let r = 0;
    while (r < this.releases.length && this.releases[r].g <= through) r++;
    const releases = this.releases.slice(0, r);
    this.releases = this.releases.slice(r);
    if (ready.length === 0 && releases.length === 0) return;
    // Arrival order within a worker is already its order: a stable sort by key keeps it.
    ready.sort(compareKeys);
    let e = 0;
    for (const rel of releases) {
      // A release at g follows everything emitted by g's packet and tick (phase < 2).
      while (e < ready.length && beforeRelease(ready[e], rel.g)) this.number(ready[e++]);
      this.applyRelease(rel);
    }
    while (e < ready.length) this.number(ready[e++]);
  }

  private number(p: Pending): void {
    const k = p.key;
    // A copy: a line held for ordering must not keep its worker's whole batch alive.
    const rest = Buffer.allocUnsafe(p.end - p.start);
    p.bytes.copy(rest, 0, p.start, p.end);
    const held: Held = { timestamp: k[p.at + 4], frame: k[p.at + 5], seq: ++this.numbering.seq, rest };
    this.reorder.add(held as unknown as Entry);
  }

  private applyRelease(rel: Release): void {
    const got = this.lows.get(rel.g);
    this.lows.delete(rel.g);
    const low = got ? got.low : -Infinity;
    const floor = rel.now - this.window;
    if (this.reorder.size === 0) return;
    this.reorder.releaseThrough(Math.max(floor, Math.min(rel.now, rel.horizon, low)));
  }

  private write(e: Held): void {
    if (this.entries >= this.opts.limit || this.opts.sink.closed) return;
    // While stdout is full, lines wait here (the dispatcher stops reading until it drains).
    if (this.sinkWait) this.backlog.push(e);
    else this.send(e);
    this.opts.onEntry?.();
    if (++this.entries >= this.opts.limit) this.stopped = true;
  }

  private send(e: Held): void {
    const sink = this.opts.sink;
    const wait = sink.writeWithId ? sink.writeWithId(e.frame, e.seq, e.rest) : sink.write(`{"id":"${e.frame}-${e.seq}"` + e.rest.toString('utf8'));
    if (wait) this.sinkWait = wait.then(() => this.drain());
  }

  private drain(): void {
    this.sinkWait = undefined;
    const lines = this.backlog;
    while (this.backlogNext < lines.length && !this.sinkWait) {
      const line = lines[this.backlogNext] as Held;
      // Written: not kept alive by the backlog until it empties.
      lines[this.backlogNext++] = undefined;
      this.send(line);
    }
    if (this.backlogNext === lines.length) {
      this.backlog = [];
      this.backlogNext = 0;
    } else if (this.backlogNext > 4096 && 2 * this.backlogNext > lines.length) {
      this.backlog = lines.slice(this.backlogNext);
      this.backlogNext = 0;
    }
  }

  /** Every line handed to stdout's sink. */
  private async drained(): Promise<void> {
    while (this.sinkWait) await this.sinkWait;
  }

  private counters(): Record<string, number> {
    const out: Record<string, number> = {};
    for (const l of this.links) for (const [k, v] of Object.entries(l.summary ?? {})) out[k] = (out[k] ?? 0) + v;
    if (this.cut) out[CUT_BY_SNAPLEN] = (out[CUT_BY_SNAPLEN] ?? 0) + this.cut;
    const f = this.frags.counters;
    if (f.dropped) out['ip.fragments_dropped'] = (out['ip.fragments_dropped'] ?? 0) + f.dropped;
    if (f.malformed) out['ip.fragments_malformed'] = (out['ip.fragments_malformed'] ?? 0) + f.malformed;
    return out;
  }
}

function compareKeys(a: Pending, b: Pending): number {
  const x = a.key;
  const y = b.key;
  for (let i = 0; i < 4; i++) {
    const d = x[a.at + i] - y[b.at + i];
    if (d !== 0) return d;
  }
  return 0;
}

function beforeRelease(p: Pending, g: number): boolean {
  const k = p.key[p.at];
  return k < g || (k === g && p.key[p.at + 1] < 2);
}
