// `shark tap -i IFACE`: live packets from local interfaces, either dissected
// into NDJSON entries or passed on as pcap/pcapng (stdout or a file). Stops at
// --duration, --count, Ctrl-C, or when stdout's reader goes away; in every
// case the capture is closed first and what is in flight is flushed.

import { createWriteStream } from 'node:fs';
import { once } from 'node:events';
import type { Writable } from 'node:stream';
import type { Entry } from '../model/entry.js';
import type { Packet } from '../model/packet.js';
import { dissectPackets, type EngineOptions } from '../dissect/engine.js';
import { ExitCode, UserError, isEpipe } from '../cli/errors.js';
import { LineSink } from '../output/stdout-sink.js';
import { openLive, type LiveCapture, type LiveStats } from './capture/live.js';
import { encodingFor } from '../record/pcap-encoding.js';

export type TapOutput =
  | { kind: 'entries'; sink: LineSink; transforms?: ((e: Entry) => Entry | void)[] }
  | { kind: 'packets'; stream: Writable; onClosed?: () => void }
  | { kind: 'file'; path: string };

export interface LocalTapOptions {
  interfaces: string[];
  filter?: string;
  snaplen?: number;
  bufferSize?: number;
  /** Stop after this long (wall clock). */
  durationMs?: number;
  /** Stop after this many entries (entries output) or packets (pcap output). */
  count?: number;
  output: TapOutput;
  engine?: Partial<EngineOptions>;
  signal: AbortSignal;
  /** Told once the capture is open (the command prints tcpdump's "listening on" line). */
  onReady?: (capture: LiveCapture) => void;
}

export interface LocalTapResult {
  stats: LiveStats;
  packets: number;
  entries: number;
}

/** "12 packets captured, 0 dropped by kernel, 0 lost" (tcpdump's closing lines, in one). */
export function tapSummary(r: LocalTapResult, withEntries: boolean): string {
  const kernel = r.stats.kernelDropped === undefined ? 'unknown' : String(r.stats.kernelDropped);
  const parts = [`${r.packets} packets captured`, `${kernel} dropped by kernel`, `${r.stats.lost} lost`];
  if (r.stats.ifDropped > 0) parts.push(`${r.stats.ifDropped} dropped by interface`);
  if (withEntries) parts.push(`${r.entries} entries`);
  return parts.join(', ');
}

export async function runLocalTap(opts: LocalTapOptions): Promise<LocalTapResult> {
  const capture = openLive({
    interfaces: opts.interfaces,
    filter: opts.filter,
    snaplen: opts.snaplen,
    bufferSize: opts.bufferSize,
    signal: opts.signal,
  });
  const timer = opts.durationMs !== undefined ? setTimeout(() => capture.close(), opts.durationMs) : undefined;
  const result: LocalTapResult = { stats: capture.stats(), packets: 0, entries: 0 };
  opts.onReady?.(capture);
  try {
    if (opts.output.kind === 'entries') await writeEntries(capture, opts, opts.output, result);
    else await writePackets(capture, opts, result);
  } finally {
    if (timer) clearTimeout(timer);
    capture.close();
    result.stats = capture.stats();
  }
  return result;
}

/** Count packets as they go by; close the capture at the packet limit. */
async function* counted(capture: LiveCapture, result: LocalTapResult, limit: number): AsyncGenerator<Packet[]> {
  for await (let batch of capture.batches()) {
    if (result.packets + batch.length >= limit) {
      batch = batch.slice(0, limit - result.packets);
      capture.close();
    }
    result.packets += batch.length;
    yield batch;
  }
}

async function writeEntries(
  capture: LiveCapture,
  opts: LocalTapOptions,
  out: Extract<TapOutput, { kind: 'entries' }>,
  result: LocalTapResult,
): Promise<void> {
  const limit = opts.count ?? Infinity;
  // Live output should follow the traffic: order entries over a short window only.
  const entries = dissectPackets(counted(capture, result, Infinity), { reorderWindowMs: 1000, ...opts.engine, live: true });
  try {
    for await (const batch of entries) {
      for (let e of batch) {
        for (const t of out.transforms ?? []) e = t(e) ?? e;
        const wait = out.sink.write(JSON.stringify(e));
        if (wait) await wait;
        if (++result.entries >= limit || out.sink.closed) break;
      }
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
  }
}

async function writePackets(capture: LiveCapture, opts: LocalTapOptions, result: LocalTapResult): Promise<void> {
  const out = opts.output;
  if (out.kind === 'entries') return;
  const encoding = encodingFor(capture.interfaces);
  let stream: Writable;
  let closed = false;
  let failure: Error | undefined;
  if (out.kind === 'file') {
    stream = createWriteStream(out.path);
    await Promise.race([once(stream, 'open'), once(stream, 'error').then(([e]) => Promise.reject(e))]).catch((err) => {
      throw new UserError(`${out.path}: cannot write: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`, ExitCode.OUTPUT);
    });
  } else stream = out.stream;
  const onError = (err: Error) => {
    if (isEpipe(err)) {
      closed = true;
      capture.close();
      if (out.kind === 'packets') out.onClosed?.();
    } else {
      failure = err;
      capture.close();
    }
  };
  stream.on('error', onError);
  const write = async (chunk: Buffer) => {
    if (closed || failure) return;
    if (!stream.write(chunk)) await Promise.race([once(stream, 'drain'), once(stream, 'close')]);
  };
  try {
    await write(encoding.header());
    for await (const batch of counted(capture, result, opts.count ?? Infinity)) {
      if (closed || failure) continue;
      await write(Buffer.concat(batch.map((p) => encoding.record(p))));
    }
    if (out.kind === 'file') {
      await new Promise<void>((resolve) => stream.end(resolve));
    }
  } finally {
    if (out.kind === 'file') stream.off('error', onError);
  }
  if (failure) {
    const code = (failure as NodeJS.ErrnoException).code;
    const where = out.kind === 'file' ? out.path : '<stdout>';
    throw new UserError(`${where}: write failed: ${code === 'ENOSPC' ? 'disk full' : (code ?? failure.message)}`, ExitCode.OUTPUT);
  }
}
