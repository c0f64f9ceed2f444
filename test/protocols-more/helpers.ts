// Test seams for the protocol parsers: tshark extracts each TCP connection's
// payloads (in capture order, retransmissions dropped) and the parser is fed
// them directly, so these tests do not depend on the engine.
import { execFileSync } from 'node:child_process';
import type { CallRecord, ConnectionContext, Direction, DissectOptions, ProtocolDissector } from '../../src/dissect/api.js';
import { emptyEndpoint } from '../../src/model/entry.js';

/** Separates several occurrences of one tshark field (values may contain commas). */
export const AGG = '\x1e';

export interface Segment {
  frame: number;
  time: number; // ms
  stream: number;
  src: string;
  srcPort: number;
  dstPort: number;
  payload: Buffer;
  syn: boolean;
  /** Extra tshark fields asked for, in order. */
  extra: string[];
}

/** Run tshark and return its stdout lines. */
export function tshark(args: string[]): string[] {
  const out = execFileSync('tshark', args, { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024, stdio: ['ignore', 'pipe', 'ignore'] });
  return out.split('\n').filter((l) => l.length > 0);
}

function shellLines(script: string): string[] {
  const out = execFileSync('sh', ['-c', script], { encoding: 'utf8', maxBuffer: 256 * 1024 * 1024 });
  return out.split('\n').filter((l) => l.length > 0);
}

/**
 * TCP segments with payload (and SYNs, to learn the client) of a capture, in
 * one tshark pass; `fields` are extra tshark fields returned per segment (all
 * occurrences, comma-separated), `decodeAs` are `-d` options. Cached per process.
 */
const segmentCache = new Map<string, Segment[]>();
export function tcpSegments(file: string, opts: { decodeAs?: string[]; fields?: string[]; bpf?: string } = {}): Segment[] {
  const key = JSON.stringify([file, opts]);
  const cached = segmentCache.get(key);
  if (cached) return cached;
  const filter = 'tcp && !tcp.analysis.retransmission && (tcp.len>0 || (tcp.flags.syn==1 && tcp.flags.ack==0))';
  const decodeAs = (opts.decodeAs ?? []).flatMap((d) => ['-d', d]);
  const extra = (opts.fields ?? []).flatMap((f) => ['-e', f]);
  // A BPF pre-filter (tcpdump) spares tshark most of a big capture; frame numbers then count the kept packets only.
  const args = [
    '-r', opts.bpf ? '-' : file, ...decodeAs, '-Y', filter, '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', `aggregator=${AGG}`,
    '-e', 'frame.number', '-e', 'frame.time_epoch', '-e', 'tcp.stream', '-e', 'ip.src', '-e', 'ipv6.src',
    '-e', 'tcp.srcport', '-e', 'tcp.dstport', '-e', 'tcp.payload', '-e', 'tcp.flags.syn', ...extra,
  ];
  const lines = opts.bpf
    ? shellLines(`tcpdump -r '${file}' -w - '${opts.bpf}' 2>/dev/null | tshark ${args.map((a) => `'${a}'`).join(' ')} 2>/dev/null`)
    : tshark(args);
  const segments = lines.map((l) => {
    const [frame, time, stream, ip4, ip6, sp, dp, payload, syn, ...rest] = l.split('\t');
    return {
      frame: Number(frame),
      time: Number(time) * 1000,
      stream: Number(stream),
      src: ip4 || ip6,
      srcPort: Number(sp),
      dstPort: Number(dp),
      payload: Buffer.from((payload ?? '').replace(/:/g, ''), 'hex'),
      syn: syn === '1' || syn === 'True',
      extra: rest,
    };
  });
  segmentCache.set(key, segments);
  return segments;
}

/** Segments of the TCP connections that use `port` on either side. */
export function onPort(segments: Segment[], ...ports: number[]): Segment[] {
  return segments.filter((s) => ports.includes(s.srcPort) || ports.includes(s.dstPort));
}

export interface FeedResult {
  records: CallRecord[];
  counters: Record<string, number>;
}

export const defaultOptions: DissectOptions = { maxBody: 64 * 1024, noBodies: false };

/**
 * Feed every TCP connection of `segments` to `dissector`, orienting it the
 * way the engine does: SYN sender is the client, else the probe's verdict on
 * the first payload, else the first sender.
 */
export function feedConnections(
  dissector: ProtocolDissector,
  segments: Segment[],
  opts: { options?: DissectOptions; onlyStreams?: number[]; end?: 'fin' | 'eof' } = {},
): FeedResult {
  const byStream = new Map<number, Segment[]>();
  for (const s of segments) {
    if (opts.onlyStreams && !opts.onlyStreams.includes(s.stream)) continue;
    const list = byStream.get(s.stream) ?? [];
    list.push(s);
    byStream.set(s.stream, list);
  }
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  for (const list of byStream.values()) {
    const syn = list.find((s) => s.syn);
    const firstData = list.find((s) => s.payload.length > 0);
    if (!firstData) continue;
    const opener = syn ?? firstData;
    const openerKey = `${opener.src}:${opener.srcPort}`;
    const openerIsClient = syn !== undefined || dissector.probe(firstData.payload, true) !== 'response';
    const ctx = makeContext(records, counters, opts.options ?? defaultOptions);
    const parser = dissector.createTcpParser!(ctx);
    for (const s of list) {
      if (s.payload.length === 0) continue;
      ctx.now = s.time;
      ctx.frame = s.frame;
      const fromOpener = `${s.src}:${s.srcPort}` === openerKey;
      const dir: Direction = fromOpener === openerIsClient ? 'c2s' : 's2c';
      parser.onData(dir, s.payload);
    }
    parser.onEnd(opts.end ?? 'eof');
  }
  return { records, counters };
}

export function makeContext(
  records: CallRecord[],
  counters: Record<string, number>,
  options: DissectOptions = defaultOptions,
): ConnectionContext & { now: number; frame: number } {
  return {
    transport: 'tcp',
    client: emptyEndpoint('198.18.48.1', 40000),
    server: emptyEndpoint('198.18.48.2', 80),
    options,
    now: 0,
    frame: 0,
    emit: (call: CallRecord) => records.push(call),
    count: (name: string, n = 1) => {
      counters[name] = (counters[name] ?? 0) + n;
    },
  };
}

/** A seeded PRNG (mulberry32) so fuzz cases are reproducible: the one test/protocols uses. */
export { prng as seededRandom } from '../protocols/helpers.js';
import { prng as seededRandom } from '../protocols/helpers.js';

/**
 * Fuzz a dissector with mutations of real conversations: byte flips,
 * truncation, random split points, inserted junk. Returns the number of cases
 * run; any exception escaping the parser fails the caller's test.
 */
export function fuzzDissector(
  dissector: ProtocolDissector,
  conversations: Array<Array<{ dir: Direction; data: Buffer }>>,
  cases: number,
  seed: number,
  counters: Record<string, number> = {},
): number {
  const rnd = seededRandom(seed);
  const pick = <T>(a: T[]): T => a[Math.floor(rnd() * a.length)];
  let run = 0;
  for (let c = 0; c < cases; c++) {
    const conv = pick(conversations);
    const records: CallRecord[] = [];
    const ctx = makeContext(records, counters, { maxBody: 1 + Math.floor(rnd() * 4096), noBodies: rnd() < 0.1 });
    const parser = dissector.createTcpParser!(ctx);
    const mode = Math.floor(rnd() * 5);
    for (const chunk of conv) {
      let data = Buffer.from(chunk.data);
      if (mode === 0 || rnd() < 0.3) {
        const flips = 1 + Math.floor(rnd() * 8);
        for (let f = 0; f < flips && data.length > 0; f++) data[Math.floor(rnd() * data.length)] = Math.floor(rnd() * 256);
      }
      if (mode === 1 && rnd() < 0.3) data = data.subarray(0, Math.floor(rnd() * data.length));
      if (mode === 2 && rnd() < 0.2) data = Buffer.concat([data, Buffer.from(Array.from({ length: 1 + Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)))]);
      dissector.probe(data, rnd() < 0.5);
      if (mode === 3) {
        // Deliver in random small pieces.
        let off = 0;
        while (off < data.length) {
          const n = 1 + Math.floor(rnd() * 32);
          parser.onData(chunk.dir, data.subarray(off, off + n));
          off += n;
        }
      } else parser.onData(chunk.dir, data);
      if (mode === 4 && rnd() < 0.1) parser.onGap(chunk.dir, 1 + Math.floor(rnd() * 1000));
      ctx.now += 1000;
      parser.onTick?.(ctx.now, 500);
    }
    parser.onEnd(rnd() < 0.5 ? 'eof' : 'rst');
    JSON.stringify(records);
    run++;
  }
  return run;
}

/** The conversations of a capture as parser input (direction + bytes), oriented by SYN or first sender. */
export function conversations(segments: Segment[]): Array<Array<{ dir: Direction; data: Buffer }>> {
  const byStream = new Map<number, Segment[]>();
  for (const s of segments) {
    const list = byStream.get(s.stream) ?? [];
    list.push(s);
    byStream.set(s.stream, list);
  }
  const out: Array<Array<{ dir: Direction; data: Buffer }>> = [];
  for (const list of byStream.values()) {
    const first = list.find((s) => s.syn) ?? list[0];
    const client = `${first.src}:${first.srcPort}`;
    const conv = list
      .filter((s) => s.payload.length > 0)
      .map((s) => ({ dir: (`${s.src}:${s.srcPort}` === client ? 'c2s' : 's2c') as Direction, data: s.payload }));
    if (conv.length > 0) out.push(conv);
  }
  return out;
}

/**
 * One connection's segments fed to a new `dissector` parser, oriented by the server's port, with
 * the segment at index `lost` (if any) replaced by a gap, as the engine reports a hole.
 */
export function feedWithGap(dissector: ProtocolDissector, list: Segment[], serverPort: number, lost = -1): CallRecord[] {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const parser = dissector.createTcpParser!(ctx);
  list.forEach((s, i) => {
    ctx.now = s.time;
    ctx.frame = s.frame;
    const dir: Direction = s.dstPort === serverPort ? 'c2s' : 's2c';
    if (i === lost) parser.onGap(dir, s.payload.length);
    else parser.onData(dir, s.payload);
  });
  parser.onEnd('eof');
  return records;
}
