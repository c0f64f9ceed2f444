// `shark tap -i IFACE`: live packets from local interfaces, either dissected
// into NDJSON entries or passed on as pcap/pcapng (stdout or a file). Stops at
// --duration, --count, Ctrl-C, or when stdout's reader goes away; in every
// case the capture is closed first and what is in flight is flushed.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Entry } from '../model/entry.js';
import type { Packet } from '../model/packet.js';
import type { DissectionEngine, EngineOptions } from '../dissect/engine.js';
import { dissectPackets } from '../dissect/dissect-packets.js';
import { describeLosses } from '../input/dissect-run.js';
import { describeCopies } from '../input/dissect-summary.js';
import { ExitCode, UserError } from '../cli/errors.js';
import { LineSink } from '../output/stdout-sink.js';
import { openLive, type LiveCapture, type LiveStats } from '../capture/live.js';
import { dissectLiveParallel } from './live-workers.js';
import { PcapngWriter, PcapWriter } from '../capture/writer.js';
import type { LiveOptions } from '../capture/live.js';
import { describeBacklog, describeShed } from '../capture/live-stats.js';
import { teachesRedaction } from '../redact/teaching.js';

export type TapOutput =
  | {
      kind: 'entries';
      sink: LineSink;
      transforms?: ((e: Entry) => Entry | void)[];
      keep?: (e: Entry) => boolean;
      /** Shown the entries `keep` refuses that may teach redaction (redact/teaching.ts): the redactor, which then writes nothing. */
      teach?: (e: Entry) => void;
      /** After the transforms: true when the caller takes the entry over (writes it later itself, or drops it). */
      take?: (e: Entry) => boolean;
    }
  | { kind: 'packets'; stream: Writable; onClosed?: () => void }
  | { kind: 'file'; path: string };

export interface LocalTapOptions {
  interfaces: string[];
  filter?: string;
  snaplen?: number;
  bufferSize?: number;
  /** The capture helper's ring and spool (--ring, --spool, --spool-dir). */
  buffers?: Pick<LiveOptions, 'ringSize' | 'spoolSize' | 'spoolDir' | 'immediate'>;
  /** Called every `progressMs` (default 5 s) with the capture's counters while it runs. */
  onProgress?: (stats: LiveStats) => void;
  progressMs?: number;
  /** Stop after this long (wall clock). */
  durationMs?: number;
  /** Stop after this many entries (entries output) or packets (pcap output). */
  count?: number;
  output: TapOutput;
  engine?: Partial<EngineOptions>;
  signal: AbortSignal;
  /**
   * Packets refused here go no further (per-pod capture keeps one copy of each
   * connection); they are not counted in the result's `packets`.
   */
  keepPacket?: (p: Packet) => boolean;
  /**
   * Packet output: a name for the packet's own pcapng interface (per-pod
   * capture names the pod, so each packet says whose it is); undefined keeps
   * the capture interface. Given this, the output is always pcapng.
   */
  packetInterface?: (p: Packet) => string | undefined;
  /**
   * Entries output: dissect on this many worker threads (live-workers.ts);
   * `proto`/`tlsKeylog` name what each worker loads (opts.engine's objects stay on this thread).
   */
  parallel?: { workers: number; proto?: string; tlsKeylog?: string };
  /** Told once the capture is open (the command prints tcpdump's "listening on" line). */
  onReady?: (capture: LiveCapture) => void;
}

export interface LocalTapResult {
  stats: LiveStats;
  packets: number;
  entries: number;
  /** The dissection engine's counters (entries output only). */
  counters?: Record<string, number>;
  /** Entries refused by the output's `keep` filter (not written, not counted in `entries`). */
  filtered?: number;
}

/** "tap: behind: …" while the capture helper is shedding or lagging, else undefined (nothing to say). */
export function behindLine(s: LiveStats, previous: LiveStats | undefined): string | undefined {
  const shedGrew = (s.shedPackets ?? 0) > (previous?.shedPackets ?? 0);
  const lostGrew = s.lost > (previous?.lost ?? 0);
  if (!shedGrew && !lostGrew && (s.lagMs ?? 0) < 1000) return undefined;
  const parts = [describeBacklog(s), describeShed(s), s.lost > 0 ? `${s.lost} lost (no room left)` : undefined];
  return parts.filter(Boolean).join(', ') || undefined;
}

/** "12 packets captured, 0 dropped by kernel, 0 lost" (tcpdump's closing lines, in one). */
export function tapSummary(r: LocalTapResult, withEntries: boolean): string {
  const kernel = r.stats.kernelDropped === undefined ? 'unknown' : String(r.stats.kernelDropped);
  const parts = [`${r.packets} packets captured`, `${kernel} dropped by kernel`, `${r.stats.lost} lost`];
  if (r.stats.ifDropped > 0) parts.push(`${r.stats.ifDropped} dropped by interface`);
  const shed = describeShed(r.stats);
  if (shed) parts.push(shed);
  if (withEntries) parts.push(`${r.entries} entries`);
  const losses = r.counters ? describeLosses(r.counters) : undefined;
  if (withEntries && losses) parts.push(`lost or damaged: ${losses}`);
  const copies = withEntries && r.counters ? describeCopies(r.counters) : undefined;
  if (copies) parts.push(copies);
  // The capture helper counts what libpcap handed it (tcpdump's "received by filter"): captured + shed + lost.
  if (r.stats.timestamps === 'kernel') parts.push(`${r.stats.received} received by filter`);
  return parts.join(', ');
}

export async function runLocalTap(opts: LocalTapOptions): Promise<LocalTapResult> {
  const capture = openLive({
    interfaces: opts.interfaces,
    filter: opts.filter,
    snaplen: opts.snaplen,
    bufferSize: opts.bufferSize,
    ...opts.buffers,
    signal: opts.signal,
  });
  const timer = opts.durationMs !== undefined ? setTimeout(() => capture.close(), opts.durationMs) : undefined;
  const onProgress = opts.onProgress;
  const progress = onProgress ? setInterval(() => onProgress(capture.stats()), opts.progressMs ?? 5000) : undefined;
  progress?.unref();
  const result: LocalTapResult = { stats: capture.stats(), packets: 0, entries: 0 };
  opts.onReady?.(capture);
  try {
    if (opts.output.kind === 'entries') await writeEntries(capture, opts, opts.output, result);
    else await writePackets(capture, opts, result);
  } finally {
    if (timer) clearTimeout(timer);
    if (progress) clearInterval(progress);
    capture.close();
    result.stats = capture.stats();
  }
  return result;
}

/** Count packets as they go by; close the capture at the packet limit. */
async function* counted(capture: LiveCapture, result: LocalTapResult, limit: number, keep?: (p: Packet) => boolean): AsyncGenerator<Packet[]> {
  for await (let batch of capture.batches()) {
    if (keep) {
      batch = batch.filter(keep);
      if (batch.length === 0) continue;
    }
    if (result.packets + batch.length >= limit) {
      batch = batch.slice(0, limit - result.packets);
      capture.close();
    }
    result.packets += batch.length;
    yield batch;
  }
}

/** Engine options that can cross to a worker thread (the proto schema and key log are loaded there from their paths). */
function withoutObjects(engine: Partial<EngineOptions>): Partial<Omit<EngineOptions, 'protoSchema' | 'tlsKeys'>> {
  const { protoSchema: _schema, tlsKeys: _keys, ...rest } = engine;
  return rest;
}

async function writeEntries(
  capture: LiveCapture,
  opts: LocalTapOptions,
  out: Extract<TapOutput, { kind: 'entries' }>,
  result: LocalTapResult,
): Promise<void> {
  const limit = opts.count ?? Infinity;
  let engine: DissectionEngine | undefined;
  // Live output should follow the traffic: order entries over a short window only.
  const packets = counted(capture, result, Infinity, opts.keepPacket);
  const workers = opts.parallel?.workers ?? 1;
  const entries =
    workers > 1
      ? dissectLiveParallel(packets, {
          workers,
          engine: { reorderWindowMs: 1000, ...withoutObjects(opts.engine ?? {}) },
          proto: opts.parallel?.proto,
          tlsKeylog: opts.parallel?.tlsKeylog,
          onSummary: (c) => (result.counters = c),
        })
      : dissectPackets(packets, {
          reorderWindowMs: 1000,
          ...opts.engine,
          live: true,
          engineRef: (e) => (engine = e),
        });
  try {
    for await (const batch of entries) {
      for (let e of batch) {
        // A pushed-down filter (shark agent --kfl): refused entries never leave the node.
        if (out.keep && !out.keep(e)) {
          result.filtered = (result.filtered ?? 0) + 1;
          // A refused login may say what a kept answer's secret is.
          if (out.teach && teachesRedaction(e)) out.teach(e);
          continue;
        }
        for (const t of out.transforms ?? []) e = t(e) ?? e;
        if (out.take?.(e)) continue;
        const wait = out.sink.write(JSON.stringify(e));
        if (wait) await wait;
        if (++result.entries >= limit || out.sink.closed) break;
      }
      // Live output follows the traffic (like tcpdump -l): each batch goes out
      // now, not when 64 KiB have piled up — and a reader that left (`| head`)
      // is noticed on this write.
      await out.sink.flush();
      // Stopping the capture lets the engine flush what is pending, so keep
      // reading (and writing, unless the reader left) until it is done.
      if (result.entries >= limit || out.sink.closed) {
        capture.close();
        if (out.sink.closed) break;
        if (result.entries >= limit) break;
      }
    }
  } finally {
    await out.sink.flush();
    if (engine) result.counters = engine.summary();
  }
}

async function writePackets(capture: LiveCapture, opts: LocalTapOptions, result: LocalTapResult): Promise<void> {
  const out = opts.output;
  if (out.kind === 'entries') return;
  let stream: Writable;
  if (out.kind === 'file') {
    stream = createWriteStream(out.path);
    await Promise.race([once(stream, 'open'), once(stream, 'error').then(([e]) => Promise.reject(e))]).catch((err) => {
      throw new UserError(`${out.path}: cannot write: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.OUTPUT);
    });
  } else stream = out.stream;
  const onClosed = () => {
    capture.close();
    if (out.kind === 'packets') out.onClosed?.();
  };
  // pcap for one interface; pcapng (one interface block each) for several.
  let writer: PcapWriter | PcapngWriter;
  const named = opts.packetInterface;
  if (capture.interfaces.length === 1 && !named) {
    const iface = capture.interfaces[0];
    writer = new PcapWriter(stream, { linkType: iface.linkType, snaplen: iface.snaplen, nanosecond: true, onClosed });
  } else {
    const ng = new PcapngWriter(stream, { onClosed });
    for (const iface of capture.interfaces) ng.addInterface(iface);
    writer = ng;
  }
  const where = out.kind === 'file' ? out.path : '<stdout>';
  try {
    await writer.flush();
    for await (const batch of counted(capture, result, opts.count ?? Infinity, opts.keepPacket)) {
      if (writer.closed) continue;
      for (const p of batch) {
        let id = p.interfaceId;
        const name = named?.(p);
        if (name !== undefined && writer instanceof PcapngWriter) {
          const iface = capture.interfaces[p.interfaceId];
          id = writer.addInterface({ ...iface, name }, `pod:${name}`);
        }
        const wait = writer instanceof PcapngWriter ? writer.write(p, id) : writer.write(p);
        if (wait) await wait;
      }
      // Live output goes out per batch, not per 256 KiB buffer.
      await writer.flush();
    }
    await writer.end();
    if (out.kind === 'file') await new Promise<void>((resolve) => stream.end(resolve));
  } catch (err) {
    capture.close();
    const code = (err as NodeJS.ErrnoException).code;
    throw new UserError(`${where}: write failed: ${code === 'ENOSPC' ? 'disk full' : (code ?? (err as Error).message)}`, ExitCode.OUTPUT);
  }
}
