// HTTP/2 and gRPC after TCP gaps (issue 15.2) and the request time of a split
// first message (15.4). The lossy wires are made from a real gRPC
// server-streaming conversation (packt, grpc-go) with frames removed, and from
// hand-built HPACK where the dynamic table matters.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallRecord, Direction } from '../../src/dissect/api.js';
import { http2 } from '../../src/dissect/protocols/http2.js';
import { splitGrpcMessages } from '../../src/dissect/protocols/grpc.js';
import { HpackDecoder } from '../../src/dissect/protocols/hpack.js';
import { sharedCapture } from '../helpers/paths.js';
import { mulberry32 } from '../helpers/random.js';
import { Wire, runEngine } from '../helpers/engine-wire.js';
import {
  FrameType,
  Flags,
  getRequest,
  grpcMessage,
  grpcRequest,
  grpcResponseHeaders,
  grpcTrailers,
  h2frame,
  hpack,
  preface,
  settings,
} from '../helpers/http2-wire.js';
import { makeContext, tcpSegments } from './helpers.js';

/** One frame's bytes (or the preface) as carried by one segment: the unit a test keeps or loses. */
interface Piece {
  dir: Direction;
  data: Buffer;
  time: number;
  /** Frame type, -1 for the preface. */
  type: number;
  /** Index of the frame among its direction's frames. */
  index: number;
}

type Step = { dir: Direction; data: Buffer; time?: number } | { dir: Direction; gap: number; time?: number };

/** Feed steps to a fresh HTTP/2 parser; the connection then ends. */
function run(steps: Step[]): { records: CallRecord[]; counters: Record<string, number> } {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const parser = http2.createTcpParser!(ctx);
  for (const s of steps) {
    if (s.time !== undefined) ctx.now = s.time;
    ctx.frame++;
    if ('gap' in s) parser.onGap(s.dir, s.gap);
    else parser.onData(s.dir, s.data);
  }
  parser.onEnd('fin');
  return { records, counters };
}

/**
 * The packt server-streaming call (one request, ten 25-byte messages, then
 * trailers) cut at its frame boundaries, in capture order.
 */
function serverStreamPieces(): Piece[] {
  const segments = tcpSegments(sharedCapture('packt-grpc-server-streaming.pcapng'), { decodeAs: ['tcp.port==50051,http2'] });
  const clientPort = segments.find((s) => s.syn)!.srcPort;
  const out: Piece[] = [];
  const state: Record<Direction, { left: number; header: number; type: number; index: number; started: boolean }> = {
    c2s: { left: 0, header: 0, type: 0, index: -1, started: false },
    s2c: { left: 0, header: 0, type: 0, index: -1, started: true },
  };
  for (const seg of segments) {
    if (seg.payload.length === 0) continue;
    const dir: Direction = seg.srcPort === clientPort ? 'c2s' : 's2c';
    const st = state[dir];
    let off = 0;
    if (!st.started) {
      st.started = true;
      out.push({ dir, data: seg.payload.subarray(0, 24), time: seg.time, type: -1, index: -1 });
      off = 24;
    }
    while (off < seg.payload.length) {
      if (st.left === 0) {
        // Frames of this capture never straddle segments: a header is always whole here.
        st.left = 9 + seg.payload.readUIntBE(off, 3);
        st.type = seg.payload[off + 3];
        st.index++;
      }
      const n = Math.min(st.left, seg.payload.length - off);
      out.push({ dir, data: seg.payload.subarray(off, off + n), time: seg.time, type: st.type, index: st.index });
      st.left -= n;
      off += n;
    }
  }
  return out;
}

const asSteps = (pieces: Piece[], lose: (p: Piece) => boolean): Step[] =>
  pieces.map((p) => (lose(p) ? { dir: p.dir, gap: p.data.length, time: p.time } : { dir: p.dir, data: p.data, time: p.time }));

/** s2c DATA frames in order: the k-th carries message k. */
function dataFrames(pieces: Piece[]): Piece[] {
  return pieces.filter((p) => p.dir === 's2c' && p.type === FrameType.DATA);
}

test('gRPC server stream: whole DATA frames lost → every other message and the grpc-status trailer', () => {
  const pieces = serverStreamPieces();
  const clean = run(asSteps(pieces, () => false)).records;
  assert.equal(clean.length, 1);
  const all = clean[0].response!.messages as Array<Record<string, unknown>>;
  assert.equal(all.length, 10);

  const data = dataFrames(pieces);
  const lost = new Set([data[2], data[3], data[6]]);
  const { records, counters } = run(asSteps(pieces, (p) => lost.has(p)));
  assert.equal(records.length, 1);
  const r = records[0];
  assert.equal(r.protocol, 'grpc');
  const got = r.response!.messages as Array<Record<string, unknown>>;
  assert.deepEqual(got, [0, 1, 4, 5, 7, 8, 9].map((i) => all[i]));
  assert.equal(r.response!.grpcStatus, 0);
  assert.equal(r.response!.grpcStatusName, 'OK');
  assert.equal(r.response!.contentType, 'application/grpc');
  assert.equal(r.request!.method, clean[0].request!.method);
  assert.ok(r.warnings?.includes('gap'), JSON.stringify(r.warnings));
  assert.ok(!r.warnings?.includes('grpc: no grpc-status'));
  assert.equal(counters['http2.gap_resync'], 2);
});

test('gRPC server stream: bytes lost inside DATA frames → the frame boundary is known, the table kept', () => {
  const pieces = serverStreamPieces();
  const clean = run(asSteps(pieces, () => false)).records[0];
  const all = clean.response!.messages as Array<Record<string, unknown>>;
  // Messages 3 and 8 lose 10 bytes from their middle; everything else arrives.
  const data = dataFrames(pieces);
  const steps: Step[] = [];
  for (const p of pieces) {
    if (p === data[3] || p === data[8]) {
      steps.push({ dir: p.dir, data: p.data.subarray(0, 20), time: p.time });
      steps.push({ dir: p.dir, gap: 10, time: p.time });
      steps.push({ dir: p.dir, data: p.data.subarray(30), time: p.time });
    } else steps.push({ dir: p.dir, data: p.data, time: p.time });
  }
  const { records, counters } = run(steps);
  const r = records[0];
  const got = r.response!.messages as Array<Record<string, unknown>>;
  assert.equal(got.length, 10);
  for (const i of [0, 1, 2, 4, 5, 6, 7, 9]) assert.deepEqual(got[i], all[i]);
  for (const i of [3, 8]) assert.deepEqual(got[i], { compressed: false, length: 25, truncated: true, gap: true });
  assert.equal(r.response!.grpcStatus, 0);
  assert.ok(r.warnings?.includes('gap'));
  // No frame boundary was lost: no search, and no header became unknown.
  assert.equal(counters['http2.gap_resync'] ?? 0, 0);
  assert.equal(counters['http2.gap_unknown_headers'] ?? 0, 0);
  assert.ok(!r.warnings?.some((w) => w.startsWith('hpack')));
});

test('HPACK after a gap: only references to entries the gap may have shifted are unknown', () => {
  const steps: Step[] = [
    { dir: 'c2s', data: preface() },
    { dir: 's2c', data: settings() },
    // Stream 1 inserts x-tenant (dynamic index 62).
    { dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, Buffer.concat([getRequest('/one'), hpack.insert('x-tenant', 'blue')])) },
    { dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, hpack.indexed(8)) },
    // Stream 3 uses it.
    { dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 3, Buffer.concat([getRequest('/two'), hpack.indexed(62)])) },
    { dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 3, hpack.indexed(8)) },
  ];
  // Stream 5's request, which inserts x-lost (pushing x-tenant to 63), never reaches the capture.
  const lostRequest = h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 5, Buffer.concat([getRequest('/three'), hpack.insert('x-lost', '1')]));
  steps.push({ dir: 'c2s', gap: lostRequest.length });
  steps.push({ dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 5, hpack.indexed(8)) });
  // Stream 7 names both table entries (unknowable now), static ones, literals, and inserts x-fresh (62).
  // x-tenant's name (63 now) also comes with a new value that must not appear under no name.
  const block7 = Buffer.concat([getRequest('/four'), hpack.indexed(62), hpack.indexed(63), hpack.literal('x-plain', 'p'), hpack.literalNamed(63, 's3cr3t'), hpack.insert('x-fresh', 'f')]);
  steps.push({ dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 7, block7) });
  steps.push({ dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 7, hpack.indexed(8)) });
  // Stream 9 names x-fresh, inserted after the gap: known.
  steps.push({ dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 9, Buffer.concat([getRequest('/five'), hpack.indexed(62)])) });
  steps.push({ dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 9, hpack.indexed(8)) });

  const { records, counters } = run(steps);
  const byStream = new Map(records.map((r) => [r.request?.streamId ?? Number(/stream (\d+)/.exec(r.summary)?.[1]), r]));
  assert.equal(records.length, 5, JSON.stringify(records.map((r) => [r.summary, r.warnings])));
  assert.equal(byStream.get(3)!.request!.headers['x-tenant'], 'blue');

  // The lost request's stream is still an entry: its answer, marked.
  const five = records.find((r) => r.request === null)!;
  assert.equal(five.response!.status, 200);
  assert.ok(five.warnings?.includes('gap'));

  const seven = byStream.get(7)!;
  assert.equal(seven.request!.path, '/four');
  assert.equal(seven.request!.method, 'GET');
  assert.equal(seven.request!.headers['x-plain'], 'p');
  assert.equal(seven.request!.headers['x-fresh'], 'f');
  // Index 62 is x-lost and 63 x-tenant on the wire: neither is guessed.
  assert.equal(seven.request!.headers['x-tenant'], undefined);
  assert.equal(seven.request!.headers['<unknown index 62>'], '');
  assert.equal(seven.request!.headers['<unknown index 63>'], '');
  assert.ok(!JSON.stringify(seven).includes('s3cr3t'));
  assert.ok(seven.warnings?.includes('hpack: headers unknown (table entries lost with a gap)'), JSON.stringify(seven.warnings));
  assert.equal(counters['http2.gap_unknown_headers'], 3);

  const nine = byStream.get(9)!;
  assert.equal(nine.request!.headers['x-fresh'], 'f');
  assert.equal(nine.warnings, undefined);
  assert.equal(byStream.get(1)!.warnings, undefined);
});

test('resync: junk after a gap is skipped, not read as frames', () => {
  const rnd = mulberry32(7);
  const junk = Buffer.from(Array.from({ length: 4096 }, () => Math.floor(rnd() * 256)));
  const grpc = (stream: number): Step[] => [
    { dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS, stream, grpcRequest('/pkg.Svc/Call')) },
    { dir: 'c2s', data: h2frame(FrameType.DATA, Flags.END_STREAM, stream, grpcMessage('hi')) },
  ];
  const steps: Step[] = [
    { dir: 'c2s', data: preface() },
    { dir: 's2c', data: settings() },
    ...grpc(1),
    { dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcResponseHeaders()) },
    // The server's frames are lost from the middle of a big DATA frame on: what follows is its tail.
    { dir: 's2c', data: h2frame(FrameType.DATA, 0, 1, Buffer.concat([grpcMessage('a'), Buffer.alloc(20)])).subarray(0, 12) },
    { dir: 's2c', gap: 5000 },
    { dir: 's2c', data: junk },
    { dir: 's2c', data: h2frame(FrameType.DATA, 0, 1, grpcMessage('after')) },
    { dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, grpcTrailers(0)) },
  ];
  const { records, counters } = run(steps);
  assert.equal(records.length, 1);
  const r = records[0];
  assert.equal(r.response!.grpcStatus, 0);
  const messages = r.response!.messages as Array<{ fields?: Array<{ value: unknown }>; gap?: true }>;
  assert.deepEqual(messages.at(-1)!.fields!.map((f) => f.value), ['after']);
  assert.ok((counters['http2.gap_skipped_bytes'] ?? 0) >= 4000, JSON.stringify(counters));
  assert.equal(counters['http2.gap_resync'], 1);
});

// ---------------------------------------------------------------- 15.4: the request's first packet

test('request time is the first packet of a HEADERS frame split across segments (http2, through the engine)', () => {
  const w = new Wire();
  w.send(900, 1, 41000, 8080, preface());
  w.send(905, 2, 8080, 41000, settings());
  const headers = h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, getRequest('/split'));
  w.send(1_000, 1, 41000, 8080, headers.subarray(0, 6));
  w.send(1_500, 1, 41000, 8080, headers.subarray(6));
  w.send(2_000, 2, 8080, 41000, h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, hpack.indexed(8)));
  const out = runEngine(w.packets);
  assert.equal(out.length, 1);
  const e = out[0].entry;
  assert.equal(e.request?.path, '/split');
  assert.equal(e.timestamp, 1_000);
  assert.equal(e.elapsedTime, 1_000);
  assert.equal(e.frames?.request, 3);
});

test('request time is the first packet of a gRPC request whose HEADERS come in pieces and CONTINUATION', () => {
  const w = new Wire();
  w.send(900, 1, 41000, 50051, preface());
  w.send(905, 2, 50051, 41000, settings());
  const block = grpcRequest('/pkg.Svc/Call');
  const headers = h2frame(FrameType.HEADERS, 0, 1, block.subarray(0, 10));
  w.send(1_000, 1, 41000, 50051, headers.subarray(0, 9)); // the frame header alone
  w.send(1_100, 1, 41000, 50051, headers.subarray(9));
  w.send(1_200, 1, 41000, 50051, h2frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, block.subarray(10)));
  w.send(1_300, 1, 41000, 50051, h2frame(FrameType.DATA, Flags.END_STREAM, 1, grpcMessage('hi')));
  w.send(1_400, 2, 50051, 41000, h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcResponseHeaders()));
  w.send(1_450, 2, 50051, 41000, h2frame(FrameType.DATA, 0, 1, grpcMessage('ok')));
  w.send(1_600, 2, 50051, 41000, h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, grpcTrailers(0)));
  const out = runEngine(w.packets);
  assert.equal(out.length, 1);
  const e = out[0].entry;
  assert.equal(e.protocol, 'grpc');
  assert.equal(e.request?.method, 'Call');
  assert.equal(e.timestamp, 1_000);
  assert.equal(e.elapsedTime, 600);
  assert.equal(e.frames?.request, 3);
});

test('pendingSince: a frame read in part holds its first packet time until the stream is done', () => {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const parser = http2.createTcpParser!(ctx);
  ctx.now = 900;
  parser.onData('c2s', preface());
  assert.equal(parser.pendingSince!(), undefined);
  const headers = h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, getRequest('/p'));
  ctx.now = 1_000;
  parser.onData('c2s', headers.subarray(0, 4));
  assert.equal(parser.pendingSince!(), 1_000);
  ctx.now = 1_500;
  parser.onData('c2s', headers.subarray(4));
  assert.equal(parser.pendingSince!(), 1_000);
  // After a gap, bytes held while searching for the next frame count from their first packet.
  ctx.now = 1_600;
  parser.onGap('c2s', 100);
  ctx.now = 1_700;
  parser.onData('c2s', h2frame(FrameType.HEADERS, Flags.END_HEADERS, 3, getRequest('/q')).subarray(0, 12));
  assert.equal(parser.pendingSince!(), 1_000);
  ctx.now = 2_000;
  parser.onData('s2c', Buffer.concat([settings(), h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, hpack.indexed(8))]));
  assert.equal(records.length, 1);
  assert.equal(records[0].requestTime, 1_000);
  assert.equal(parser.pendingSince!(), 1_700);
});

// ---------------------------------------------------------------- a real connection with segments lost

test('lab gRPC connection (240 calls) with segments lost: every call still an entry, no header wrong', () => {
  const segments = tcpSegments(sharedCapture('lab-bookinfo-mix.pcap'), { decodeAs: ['tcp.port==50051,http2'], bpf: 'tcp port 50051' });
  const counts = new Map<number, number>();
  for (const s of segments) if (s.payload.length > 0) counts.set(s.stream, (counts.get(s.stream) ?? 0) + 1);
  const busiest = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  const conn = segments.filter((s) => s.stream === busiest && s.payload.length > 0);
  const clientPort = segments.find((s) => s.stream === busiest && s.syn)!.srcPort;
  const pieces: Piece[] = conn.map((s, index) => ({ dir: s.srcPort === clientPort ? 'c2s' : 's2c', data: s.payload, time: s.time, type: 0, index }));
  const server = pieces.filter((p) => p.dir === 's2c');
  const client = pieces.filter((p) => p.dir === 'c2s');
  const lost = new Set([server[40], server[41], server[120], client[150]]);

  const clean = run(asSteps(pieces, () => false)).records;
  const lossy = run(asSteps(pieces, (p) => lost.has(p)));
  assert.ok(clean.length >= 200, `${clean.length} calls`);
  const key = (r: CallRecord): number => Number(r.request?.streamId ?? r.response?.streamId);
  const cleanBy = new Map(clean.map((r) => [key(r), r]));
  // Nothing silently dropped: one entry per call, as on the whole capture.
  assert.deepEqual(lossy.records.map(key).sort((a, b) => a - b), [...cleanBy.keys()].sort((a, b) => a - b));
  let sameResponses = 0;
  for (const r of lossy.records) {
    const c = cleanBy.get(key(r))!;
    assert.ok(!r.warnings?.some((w) => w.startsWith('malformed')), JSON.stringify(r.warnings));
    // What is shown is right: every header decoded after the gaps has the value the whole capture gives it.
    for (const half of ['request', 'response'] as const) {
      for (const [name, value] of Object.entries((r[half]?.headers ?? {}) as Record<string, unknown>)) {
        if (name.startsWith('<unknown')) continue;
        assert.deepEqual(value, c[half]?.headers?.[name], `${r.summary}: ${half} ${name}`);
      }
    }
    // A :path named by a lost table entry is left empty (the entry says why), never another call's.
    if (r.request?.path) assert.equal(r.request.path, c.request!.path);
    else if (r.request) assert.ok(r.warnings?.includes('hpack: headers unknown (table entries lost with a gap)'));
    if (!r.warnings?.length) {
      assert.deepEqual(r.response, c.response);
      sameResponses++;
    } else assert.ok(r.warnings.some((w) => w === 'gap' || w.startsWith('hpack')), `${r.summary}: ${JSON.stringify(r.warnings)}`);
  }
  assert.ok(sameResponses >= 20, `${sameResponses} calls untouched by the loss`);
  // Server segments 40 and 41 make one hole (no server byte between them): three searches in all.
  assert.equal(lossy.counters['http2.gap_resync'], 3);
  if (process.env.SHARK_TEST_VERBOSE) console.log({ calls: lossy.records.length, sameResponses, counters: lossy.counters });
});

test('gRPC server stream of 5 messages through the engine, segments lost: the messages whose bytes arrived and grpc-status', () => {
  const w = new Wire();
  const lose: number[] = [];
  const send = (at: number, from: 1 | 2, data: Buffer, lost = false): void => {
    w.send(at, from, from === 1 ? 41000 : 50051, from === 1 ? 50051 : 41000, data);
    if (lost) lose.push(w.packets.length - 1);
  };
  send(900, 1, preface());
  send(905, 2, settings());
  send(1_000, 1, h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcRequest('/pkg.Feed/Watch')));
  send(1_001, 1, h2frame(FrameType.DATA, Flags.END_STREAM, 1, grpcMessage('from-now')));
  send(1_100, 2, h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, grpcResponseHeaders()));
  for (let i = 1; i <= 5; i++) {
    const frame = h2frame(FrameType.DATA, 0, 1, grpcMessage(`event-${i}`));
    // Each message comes in two segments; the second half of message 2 and all of message 4 are lost.
    send(1_100 + i * 100, 2, frame.subarray(0, 16), i === 4);
    send(1_150 + i * 100, 2, frame.subarray(16), i === 2 || i === 4);
  }
  send(1_800, 2, h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, grpcTrailers(0)));
  const packets = w.packets.filter((_, i) => !lose.includes(i));
  const out = runEngine(packets);
  assert.equal(out.length, 1);
  const e = out[0].entry;
  assert.equal(e.protocol, 'grpc');
  assert.equal(e.response?.grpcStatus, 0);
  const texts = (e.response?.messages as Array<{ fields?: Array<{ value: unknown }>; gap?: true }>).map((m) => (m.gap ? 'gap' : m.fields?.[0]?.value));
  assert.deepEqual(texts, ['event-1', 'gap', 'event-3', 'event-5']);
  assert.ok(e.warnings?.includes('gap'));
  assert.equal(e.timestamp, 1_000);
});

test('gRPC messages across holes: a known hole size finds the next message, an unknown one the next DATA frame', () => {
  const a = grpcMessage('a'.repeat(20)); // 27 bytes
  const b = grpcMessage('b'.repeat(30)); // 37 bytes
  const c = grpcMessage('c'.repeat(10)); // 17 bytes
  const values = (ms: Array<{ fields?: Array<{ value?: unknown }>; gap?: true }>): unknown[] => ms.map((m) => (m.gap ? 'gap' : m.fields?.[0]?.value));
  // 10 bytes of a lost: b is found by arithmetic, no frame start needed.
  const small = Buffer.concat([a.subarray(0, 10), a.subarray(20), b, c]);
  assert.deepEqual(values(splitGrpcMessages(small, undefined, false, undefined, { holes: [{ at: 10, lost: 10 }], frameStarts: [] })), ['gap', 'b'.repeat(30), 'c'.repeat(10)]);
  // The rest of a and the start of b lost (a ended inside the hole): reading resumes at c's DATA frame.
  const big = Buffer.concat([a.subarray(0, 10), b.subarray(8), c]);
  const at = 10 + b.length - 8;
  assert.deepEqual(values(splitGrpcMessages(big, undefined, false, undefined, { holes: [{ at: 10, lost: 25 }], frameStarts: [10, at] })), ['gap', 'c'.repeat(10)]);
  // Size unknown: the same, from the frame starts alone.
  assert.deepEqual(values(splitGrpcMessages(big, undefined, false, undefined, { holes: [{ at: 10 }], frameStarts: [10, at] })), ['gap', 'c'.repeat(10)]);
});

test('a gap inside a header block: that stream is marked, its CONTINUATIONs skipped quietly, the next stream decodes', () => {
  const block = Buffer.concat([getRequest('/cut'), hpack.literal('x-a', 'a'.repeat(40))]);
  const headers = h2frame(FrameType.HEADERS, Flags.END_STREAM, 1, block);
  const { records, counters } = run([
    { dir: 'c2s', data: preface() },
    { dir: 's2c', data: settings() },
    { dir: 'c2s', data: headers.subarray(0, 20) },
    { dir: 'c2s', gap: 10 },
    { dir: 'c2s', data: headers.subarray(30) },
    { dir: 'c2s', data: h2frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, hpack.literal('x-b', 'b')) },
    { dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 3, getRequest('/next')) },
    { dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, hpack.indexed(8)) },
    { dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 3, hpack.indexed(8)) },
  ]);
  assert.equal(records.length, 2);
  const [cut, next] = records;
  assert.equal(cut.request, null);
  assert.equal(cut.response!.status, 200);
  assert.ok(cut.warnings?.includes('gap: header block lost'), JSON.stringify(cut.warnings));
  assert.equal(next.request!.path, '/next');
  assert.equal(next.warnings, undefined);
  assert.equal(counters['http2.malformed'] ?? 0, 0);
  assert.equal(counters['http2.gap_resync'] ?? 0, 0);
});

test('random segments lost from a real gRPC connection (30 seeds): what is shown is never wrong', () => {
  const segments = tcpSegments(sharedCapture('lab-bookinfo-mix.pcap'), { decodeAs: ['tcp.port==50051,http2'], bpf: 'tcp port 50051' });
  const counts = new Map<number, number>();
  for (const s of segments) if (s.payload.length > 0) counts.set(s.stream, (counts.get(s.stream) ?? 0) + 1);
  const busiest = [...counts].sort((a, b) => b[1] - a[1])[0][0];
  const clientPort = segments.find((s) => s.stream === busiest && s.syn)!.srcPort;
  const pieces: Piece[] = segments
    .filter((s) => s.stream === busiest && s.payload.length > 0)
    .map((s, index) => ({ dir: s.srcPort === clientPort ? 'c2s' : 's2c', data: s.payload, time: s.time, type: 0, index }));
  const key = (r: CallRecord): number => Number(r.request?.streamId ?? r.response?.streamId);
  const clean = new Map(run(asSteps(pieces, () => false)).records.map((r) => [key(r), r]));
  const text = (m: { fields?: unknown }): string => JSON.stringify(m.fields);
  const seeds = Number(process.env.SHARK_GAP_SEEDS ?? 30);
  for (let seed = 1; seed <= seeds; seed++) {
    const rnd = mulberry32(seed);
    // Lose 1 to 6 segments anywhere, sometimes only part of one.
    const lost = new Set(Array.from({ length: 1 + Math.floor(rnd() * 6) }, () => pieces[Math.floor(rnd() * pieces.length)]));
    const steps: Step[] = [];
    for (const p of pieces) {
      if (!lost.has(p)) steps.push({ dir: p.dir, data: p.data, time: p.time });
      else if (rnd() < 0.5 || p.data.length < 4) steps.push({ dir: p.dir, gap: p.data.length, time: p.time });
      else {
        const cut = 1 + Math.floor(rnd() * (p.data.length - 2));
        steps.push({ dir: p.dir, data: p.data.subarray(0, cut), time: p.time }, { dir: p.dir, gap: p.data.length - cut, time: p.time });
      }
    }
    const { records } = run(steps);
    for (const r of records) {
      const c = clean.get(key(r));
      assert.ok(c, `seed ${seed}: ${r.summary} is no call of the whole capture`);
      for (const half of ['request', 'response'] as const) {
        for (const [name, value] of Object.entries((r[half]?.headers ?? {}) as Record<string, unknown>)) {
          if (!name.startsWith('<unknown')) assert.deepEqual(value, c[half]?.headers?.[name], `seed ${seed}: ${r.summary}: ${half} ${name}`);
        }
        const seen = new Set(((c[half]?.messages ?? []) as Array<{ fields?: unknown }>).map(text));
        for (const m of (r[half]?.messages ?? []) as Array<{ fields?: unknown; gap?: true; truncated?: true }>) {
          if (!m.gap && !m.truncated) assert.ok(seen.has(text(m)), `seed ${seed}: ${r.summary}: ${half} message ${text(m)}`);
        }
      }
      if (r.request?.path) assert.equal(r.request.path, c.request!.path, `seed ${seed}`);
      if (r.response?.grpcStatus !== undefined) assert.equal(r.response.grpcStatus, c.response!.grpcStatus, `seed ${seed}: ${r.summary}`);
    }
  }
});

test('HPACK table after loseSync: whole again once new insertions fill it, or a size update to 0', () => {
  const d = new HpackDecoder();
  d.decode(Buffer.concat([hpack.insert('x-old', 'o')]));
  d.loseSync();
  const before = d.decode(hpack.indexed(62));
  assert.equal(before.unknown, 1);
  assert.equal(before.problem, undefined);
  // A 4,096-byte table: three 1,025-byte entries leave room for unknown ones (32 bytes at least)…
  for (let i = 0; i < 3; i++) d.decode(hpack.insert(`x-${i}`, 'v'.repeat(990)));
  assert.equal(d.incomplete, true);
  assert.equal(d.decode(hpack.indexed(65)).unknown, 1);
  // …a fourth evicts a known one, so every unknown one went before it.
  d.decode(hpack.insert('x-3', 'v'.repeat(990)));
  assert.equal(d.incomplete, false);
  // Past the known entries is now a real error (malformed), not an unknown.
  assert.match(d.decode(hpack.indexed(65)).problem ?? '', /beyond the dynamic table/);
  assert.deepEqual(d.decode(hpack.indexed(64)).headers, [{ name: 'x-1', value: 'v'.repeat(990) }]);

  const e = new HpackDecoder();
  e.decode(hpack.insert('x-old', 'o'));
  e.loseSync();
  e.decode(Buffer.from([0x20])); // dynamic table size update to 0: empty, so known
  assert.equal(e.incomplete, false);
});

test('a :status that is not three digits (a damaged or hostile header block) is status null (unknown) with a warning, never 0 or NaN', () => {
  const steps: Step[] = [{ dir: 'c2s', data: preface() }, { dir: 's2c', data: settings() }];
  const statuses = ['2x0', '', '20', '2000', '\u0000\u00ff!', '404'];
  statuses.forEach((status, i) => {
    const stream = 1 + 2 * i;
    steps.push({ dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, stream, getRequest(`/s${i}`)) });
    // :status is static-table name 8; the value is a literal.
    steps.push({ dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, stream, hpack.literalNamed(8, status)) });
  });
  const { records } = run(steps);
  assert.equal(records.length, statuses.length);
  const byPath = new Map(records.map((r) => [r.request!.path, r]));
  statuses.forEach((status, i) => {
    const r = byPath.get(`/s${i}`)!;
    const expected = i === statuses.length - 1 ? 404 : null;
    assert.equal(r.response!.status, expected, `:status ${JSON.stringify(status)}`);
    if (expected === null) {
      assert.ok(r.warnings?.some((w) => w.startsWith('malformed: :status')), JSON.stringify(r.warnings));
      assert.equal(r.summary, `GET /s${i} → ? (malformed)`);
      assert.equal(r.error, false);
    }
  });
  // What a warning quotes is printable.
  assert.ok(byPath.get('/s4')!.warnings!.includes('malformed: :status "\\x00\\xff!"'), JSON.stringify(byPath.get('/s4')!.warnings));
});

test('a response whose HEADERS a gap took: status null (unknown, not 0), a warning saying so, and the summary says it', () => {
  // Stream 1's response HEADERS (a 503) are lost whole; its DATA and the next stream's answer arrive.
  const body = Buffer.from('<html>503 Service Unavailable</html>');
  const { records } = run([
    { dir: 'c2s', data: preface() },
    { dir: 's2c', data: settings() },
    { dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, getRequest('/boom')) },
    { dir: 's2c', gap: 9 + 1 },
    { dir: 's2c', data: h2frame(FrameType.DATA, Flags.END_STREAM, 1, body) },
    { dir: 'c2s', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 3, getRequest('/next')) },
    { dir: 's2c', data: h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 3, hpack.indexed(8)) },
  ]);
  assert.equal(records.length, 2);
  const [lost, next] = records;
  assert.equal(lost.request!.path, '/boom');
  assert.equal(lost.response!.status, null);
  assert.equal(lost.response!.bodySize, body.length);
  assert.equal(lost.summary, 'GET /boom → ? (headers lost)');
  assert.ok(lost.warnings?.includes('gap: response headers lost'), JSON.stringify(lost.warnings));
  // Unknown is not a failure the capture showed.
  assert.equal(lost.error, false);
  assert.equal(next.response!.status, 200);
  assert.equal(next.warnings, undefined);
});
