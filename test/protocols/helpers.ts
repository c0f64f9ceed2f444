// Test helpers for protocol parsers: a ConnectionContext that records what a
// parser emits, chunking strategies, and raw TCP streams pulled from shared
// captures with tshark (the parsers see exactly the bytes tshark reassembles).
import { execFileSync, spawnSync } from 'node:child_process';
import type { CallRecord, ConnectionContext, Direction, DissectOptions, TcpStreamParser } from '../../src/dissect/api.js';
import type { Transport } from '../../src/model/entry.js';
import { emptyEndpoint } from '../../src/model/entry.js';

export interface FakeContext extends ConnectionContext {
  calls: CallRecord[];
  counters: Record<string, number>;
  now: number;
  frame: number;
}

export function fakeContext(options: Partial<DissectOptions> = {}, transport: Transport = 'tcp'): FakeContext {
  const ctx: FakeContext = {
    transport,
    client: emptyEndpoint('198.18.64.1', 40000),
    server: emptyEndpoint('198.18.64.2', 80),
    options: { maxBody: 64 * 1024, noBodies: false, ...options },
    now: 1000,
    frame: 1,
    calls: [],
    counters: {},
    emit(call) {
      ctx.calls.push(call);
    },
    count(counter, n = 1) {
      ctx.counters[counter] = (ctx.counters[counter] ?? 0) + n;
    },
  };
  return ctx;
}

/** Seeded PRNG (mulberry32) so chunkings and fuzz cases are reproducible. */
import { mulberry32 as prng } from '../helpers/random.js';
export { prng };

export type Chunking = 'whole' | 'bytes' | 'random';
export const chunkings: Chunking[] = ['whole', 'bytes', 'random'];

/** Split `data` into pieces according to the strategy. */
export function split(data: Buffer, how: Chunking, seed = 1): Buffer[] {
  if (how === 'whole') return [data];
  if (how === 'bytes') return [...data].map((b) => Buffer.from([b]));
  const rnd = prng(seed);
  const out: Buffer[] = [];
  let i = 0;
  while (i < data.length) {
    const n = 1 + Math.floor(rnd() * 40);
    out.push(data.subarray(i, i + n));
    i += n;
  }
  return out;
}

export interface Segment {
  dir: Direction;
  data: Buffer;
}

/** Feed segments in order, each split by `how`; advances ctx.now/frame per segment. */
export function feed(parser: TcpStreamParser, ctx: FakeContext, segments: Segment[], how: Chunking, seed = 1): void {
  for (const seg of segments) {
    ctx.frame++;
    ctx.now += 1;
    for (const piece of split(seg.data, how, seed++)) parser.onData(seg.dir, piece);
  }
}

/**
 * The payload segments of TCP stream `stream` as tshark's "follow" reassembles
 * them, in capture order: the first node shown is the client.
 */
export function followTcp(capture: string, stream: number): Segment[] {
  const out = execFileSync('tshark', ['-r', capture, '-q', '-z', `follow,tcp,raw,${stream}`], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  const segments: Segment[] = [];
  let started = false;
  for (const line of out.split('\n')) {
    if (line.startsWith('Node 1:')) {
      started = true;
      continue;
    }
    if (!started || line.startsWith('====') || line.trim() === '') continue;
    const dir: Direction = line.startsWith('\t') ? 's2c' : 'c2s';
    segments.push({ dir, data: Buffer.from(line.trim(), 'hex') });
  }
  return segments;
}

/** Number of TCP streams tshark sees in a capture. */
export function tcpStreamCount(capture: string): number {
  const out = execFileSync('tshark', ['-r', capture, '-T', 'fields', '-e', 'tcp.stream'], {
    encoding: 'utf8',
    maxBuffer: 64 * 1024 * 1024,
    stdio: ['ignore', 'pipe', 'ignore'],
  });
  let max = -1;
  for (const l of out.split('\n')) if (l !== '') max = Math.max(max, Number(l));
  return max + 1;
}

/** Run tshark -T fields and return rows of columns. */
export function tsharkFields(capture: string, filter: string, fields: string[], extra: string[] = []): string[][] {
  const args = ['-r', capture, ...extra, '-Y', filter, '-T', 'fields', '-E', 'occurrence=a', '-E', 'aggregator=|'];
  for (const f of fields) args.push('-e', f);
  // tshark exits 2 on a cut/damaged file after printing every packet before the damage.
  const out = spawnSync('tshark', args, { encoding: 'utf8', maxBuffer: 64 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] }).stdout ?? '';
  return out
    .split('\n')
    .filter((l) => l !== '')
    .map((l) => l.split('\t'));
}

/**
 * Payload segments of many TCP connections in one tshark pass (faster than
 * one "follow" per stream), plus any `extra` fields per packet so a test
 * needs a single tshark run. The side that sent the stream's first packet
 * (normally the SYN) is the client; retransmissions are skipped.
 */
export function tcpCapture(capture: string, filter = 'tcp', extra: string[] = []): { streams: Map<number, Segment[]>; rows: string[][] } {
  const rows = tsharkFields(capture, `(${filter}) && !tcp.analysis.retransmission`, ['tcp.stream', 'tcp.srcport', 'tcp.payload', 'tcp.flags.syn', 'tcp.flags.ack', ...extra]);
  const client = new Map<number, string>();
  const streams = new Map<number, Segment[]>();
  for (const [stream, srcport, payload, syn, ack] of rows) {
    const id = Number(stream);
    if (!client.has(id)) {
      // A SYN+ACK comes from the server; anything else first is taken as the client's.
      const synAck = (syn === '1' || syn === 'True') && (ack === '1' || ack === 'True');
      client.set(id, synAck ? `not:${srcport}` : srcport);
    }
    if (!payload) continue;
    const c = client.get(id)!;
    const isClient = c.startsWith('not:') ? c.slice(4) !== srcport : c === srcport;
    const list = streams.get(id) ?? [];
    list.push({ dir: isClient ? 'c2s' : 's2c', data: Buffer.from(payload.replace(/:/g, ''), 'hex') });
    streams.set(id, list);
  }
  return { streams, rows: rows.map((r) => r.slice(5)) };
}

export function tcpPayloads(capture: string, filter: string): Map<number, Segment[]> {
  return tcpCapture(capture, filter).streams;
}
