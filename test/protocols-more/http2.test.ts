// HTTP/2 and HPACK against tshark on real captures (prior knowledge,
// mid-connection start, Upgrade, server push, CONTINUATION) plus RFC vectors.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HpackDecoder, huffmanDecode } from '../../src/dissect/protocols/hpack.js';
import { http2, probeHttp2, createHttp2ParserAfterUpgrade, CONNECTION_PREFACE } from '../../src/dissect/protocols/http2.js';
import { http1 } from '../../src/dissect/protocols/http1.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { sharedCapture } from '../helpers/paths.js';
import { AGG, feedConnections, makeContext, onPort, tcpSegments, type Segment } from './helpers.js';

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');

test('HPACK: RFC 7541 C.4 requests with Huffman and the dynamic table', () => {
  const d = new HpackDecoder();
  const one = d.decode(hex('8286 8441 8cf1 e3c2 e5f2 3a6b a0ab 90f4 ff'));
  assert.deepEqual(one.headers, [
    { name: ':method', value: 'GET' },
    { name: ':scheme', value: 'http' },
    { name: ':path', value: '/' },
    { name: ':authority', value: 'www.example.com' },
  ]);
  const two = d.decode(hex('8286 84be 5886 a8eb 1064 9cbf'));
  assert.equal(two.problem, undefined);
  assert.deepEqual(two.headers.at(-1), { name: 'cache-control', value: 'no-cache' });
  assert.deepEqual(two.headers[3], { name: ':authority', value: 'www.example.com' });
  const three = d.decode(hex('8287 85bf 4088 25a8 49e9 5ba9 7d7f 8925 a849 e95b b8e8 b4bf'));
  assert.deepEqual(three.headers.at(-1), { name: 'custom-key', value: 'custom-value' });
  assert.deepEqual(three.headers[2], { name: ':path', value: '/index.html' });
});

test('HPACK: C.6 responses with evictions (table size 256)', () => {
  const d = new HpackDecoder();
  d.decode(hex('3fe1 01')); // dynamic table size update to 256
  d.decode(hex('4882 6402 5885 aec3 771a 4b61 96d0 7abe 9410 54d4 44a8 2005 9504 0b81 66e0 82a6 2d1b ff6e 919d 29ad 1718 63c7 8f0b 97c8 e9ae 82ae 43d3'));
  d.decode(hex('4883 640e ffc1 c0bf'));
  const third = d.decode(
    hex('88c1 6196 d07a be94 1054 d444 a820 0595 040b 8166 e084 a62d 1bff c05a 839b d9ab 77ad 94e7 821d d7f2 e6c7 b335 dfdf cd5b 3960 d5af 2708 7f36 72c1 ab27 0fb5 291f 9587 3160 65c0 03ed 4ee5 b106 3d50 07'),
  );
  assert.equal(third.problem, undefined);
  assert.deepEqual(third.headers.find((h) => h.name === 'set-cookie'), {
    name: 'set-cookie',
    value: 'foo=ASDJKHQKBZXOQWEOPIUAXQWEOIU; max-age=3600; version=1',
  });
  assert.deepEqual(third.headers.find((h) => h.name === 'location'), { name: 'location', value: 'https://www.example.com' });
});

test('HPACK: bad input is reported, never thrown', () => {
  assert.equal(huffmanDecode(hex('ffffffff')), null); // EOS inside
  const d = new HpackDecoder();
  assert.match(d.decode(hex('be')).problem ?? '', /beyond the dynamic table/);
  assert.match(d.decode(hex('41 ff')).problem ?? '', /truncated/);
});

/**
 * (frame, path) of every request header block tshark decodes, and all :status
 * values (from the same pass). A block tshark reassembled from several
 * segments is stamped with the first of them: the request's first packet (docs/entry.md).
 */
const HTTP2_FIELDS = ['http2.headers.path', 'http2.headers.status', 'tcp.segment'];
function tsharkHttp2(segments: Segment[]): { paths: string[]; statuses: string[] } {
  const paths: string[] = [];
  const statuses: string[] = [];
  for (const s of segments) {
    const [path, status, parts] = s.extra;
    const first = (parts ?? '').split(AGG).filter(Boolean).map(Number)[0] ?? s.frame;
    for (const p of (path ?? '').split(AGG).filter(Boolean)) paths.push(`${first} ${p}`);
    for (const st of (status ?? '').split(AGG).filter(Boolean)) statuses.push(st);
  }
  return { paths: paths.sort(), statuses: statuses.sort() };
}

function segmentsOf(file: string, port: number, bpf?: string): Segment[] {
  return tcpSegments(sharedCapture(file), { decodeAs: [`tcp.port==${port},http2`], fields: HTTP2_FIELDS, bpf });
}

function mine(records: CallRecord[]): { paths: string[]; statuses: string[] } {
  return {
    paths: records.filter((r) => r.request && !r.request.pushed).map((r) => `${r.requestFrame} ${r.request!.path}`).sort(),
    statuses: records.filter((r) => r.response).map((r) => String(r.response!.status)).sort(),
  };
}

const cases: Array<{ file: string; port: number; expectStreams: number }> = [
  { file: 'arkime-http2-nghttp2.pcap', port: 80, expectStreams: 2 }, // CONTINUATION + server push
  { file: 'ndpi-http2.pcapng', port: 29518, expectStreams: 1 }, // starts mid-connection
  { file: 'deepflow-grpc-service-name.pcap', port: 38888, expectStreams: 1 },
  { file: 'packt-grpc-server-streaming.pcapng', port: 50051, expectStreams: 1 },
  { file: 'packt-grpc-unary.pcapng', port: 50051, expectStreams: 1 },
];

for (const c of cases) {
  test(`HTTP/2 ${c.file}: same requests and statuses as tshark`, () => {
    const segments = onPort(segmentsOf(c.file, c.port), c.port);
    const { records, counters } = feedConnections(http2, segments);
    assert.equal(records.length, c.expectStreams);
    const ours = mine(records);
    const theirs = tsharkHttp2(segments);
    // tshark shows a pushed stream's :path in the PUSH_PROMISE frame; we keep it on the pushed entry.
    const pushed = records.filter((r) => r.request?.pushed).map((r) => r.request!.path);
    assert.deepEqual(
      ours.paths,
      theirs.paths.filter((p) => !pushed.some((q) => p.endsWith(` ${q}`) && !ours.paths.includes(p))),
    );
    assert.deepEqual(ours.statuses, theirs.statuses);
    assert.equal(counters['http2.malformed'] ?? 0, 0);
    for (const r of records) assert.ok(!r.warnings?.some((w) => w.startsWith('malformed')), JSON.stringify(r.warnings));
  });
}

test('HTTP/2 lab-bookinfo-mix: 360 streams on 8080 (h2c) and 50051 (gRPC) like tshark', () => {
  // Connections tshark decodes as HTTP/2 (8080 by its heuristic, 50051 by decode-as).
  const all = segmentsOf('lab-bookinfo-mix.pcap', 50051, 'tcp port 8080 or tcp port 50051');
  const h2 = new Set(all.filter((s) => s.extra.some((e) => e !== '')).map((s) => s.stream));
  const segments = all.filter((s) => h2.has(s.stream));
  const { records } = feedConnections(http2, segments);
  const theirs = tsharkHttp2(segments);
  const ours = mine(records);
  assert.equal(records.length, 360);
  assert.deepEqual(ours.paths, theirs.paths);
  assert.deepEqual(ours.statuses, theirs.statuses);
  const boom = records.filter((r) => r.request?.path === '/boom');
  assert.ok(boom.length > 0 && boom.every((r) => r.error && r.response?.status === 503));
  const details = records.find((r) => r.request?.path === '/details/1')!;
  assert.equal(details.error, false);
  assert.equal(details.request!.method, 'GET');
  assert.ok(details.responseTime! >= details.requestTime);
});

test('HTTP/2 arkime: CONTINUATION headers and a server push', () => {
  const { records } = feedConnections(http2, onPort(segmentsOf('arkime-http2-nghttp2.pcap', 80), 80));
  const root = records.find((r) => r.request?.path === '/')!;
  // nghttp2 sends 16 KB test headers across CONTINUATION frames.
  assert.ok(Object.keys(root.request!.headers).filter((h) => h.startsWith('continuation-test')).length >= 1);
  const pushed = records.find((r) => r.request?.pushed)!;
  assert.equal(pushed.request!.path, '/stylesheets/screen.css');
  assert.equal(pushed.response!.status, 200);
  assert.equal(pushed.response!.headers['content-type'], 'text/css');
  assert.ok(typeof root.response!.body === 'string' && root.response!.body.includes('<html'));
});

test('HTTP/2 probe: preface, mid-connection frames, and non-HTTP/2 bytes', () => {
  assert.equal(probeHttp2(CONNECTION_PREFACE, false), 'request');
  assert.equal(probeHttp2(CONNECTION_PREFACE.subarray(0, 10), false), 'need-more');
  assert.equal(probeHttp2(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), false), false);
  assert.equal(probeHttp2(Buffer.from('HTTP/1.1 200 OK\r\n\r\n'), true), false);
  const segs = onPort(segmentsOf('ndpi-http2.pcapng', 29518), 29518);
  const first = segs.find((s) => s.payload.length > 0)!;
  assert.equal(probeHttp2(first.payload, false), 'request');
  const reply = segs.find((s) => s.srcPort !== first.srcPort && s.extra[1] !== '')!; // the HEADERS with :status
  assert.equal(probeHttp2(reply.payload, false), 'response');
});

test('HTTP/2 after an HTTP/1.1 Upgrade (suricata-http2-range)', () => {
  const segs = tcpSegments(sharedCapture('suricata-http2-range.pcap')).filter((s) => s.stream === 0);
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const parser = createHttp2ParserAfterUpgrade(ctx, {
    method: 'GET',
    path: '/eicar',
    headers: { host: '127.0.0.1:8080', connection: 'Upgrade, HTTP2-Settings', upgrade: 'h2c', 'user-agent': 'curl/7.64.0' },
    time: segs[0].time,
    frame: 5,
  });
  let c2s = Buffer.alloc(0);
  let s2c = Buffer.alloc(0);
  const clientPort = segs.find((s) => s.syn)!.srcPort;
  for (const s of segs) {
    if (s.srcPort === clientPort) c2s = Buffer.concat([c2s, s.payload]);
    else s2c = Buffer.concat([s2c, s.payload]);
  }
  // What the HTTP/1 dissector consumed: the request head and the 101 response head.
  c2s = c2s.subarray(c2s.indexOf('\r\n\r\n') + 4);
  s2c = s2c.subarray(s2c.indexOf('\r\n\r\n') + 4);
  parser.onData('c2s', c2s);
  parser.onData('s2c', s2c);
  parser.onEnd('fin');
  assert.equal(records.length, 1);
  const r = records[0];
  assert.equal(r.request!.upgrade, 'h2c');
  assert.equal(r.request!.streamId, 1);
  assert.equal(r.request!.authority, '127.0.0.1:8080');
  assert.deepEqual(r.request!.headers, { 'user-agent': 'curl/7.64.0' });
  assert.equal(r.requestFrame, 5);
  assert.equal(r.response!.status, 206); // tshark: frame 23, stream 1, :status 206
  assert.match(String(r.response!.headers['content-range']), /^bytes /);
});

test('h2c whose HTTP/1.1 Upgrade request was not captured: stream 1 has no request (not a guessed GET /), and says so', () => {
  const segs = tcpSegments(sharedCapture('suricata-http2-range.pcap')).filter((s) => s.stream === 0);
  const clientPort = segs.find((s) => s.syn)!.srcPort;
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const parser = http1.createTcpParser!(ctx);
  let first = true;
  for (const s of segs) {
    if (s.payload.length === 0) continue;
    ctx.frame = s.frame;
    ctx.now = s.time;
    // The client's first segment, the "GET /eicar" Upgrade request, is lost: what follows it is reported as a gap.
    if (s.srcPort === clientPort && first) {
      first = false;
      parser.onGap('c2s', s.payload.length);
      continue;
    }
    parser.onData(s.srcPort === clientPort ? 'c2s' : 's2c', s.payload);
  }
  parser.onEnd('fin');
  assert.deepEqual(records.map((r) => r.summary), ['(no request) → 101', 'stream 1 → 206']);
  const r = records[1];
  assert.equal(r.protocol, 'http2');
  assert.equal(r.request, null);
  assert.equal(r.response!.streamId, 1);
  assert.equal(r.response!.status, 206);
  assert.ok(r.warnings?.includes('request not captured'), JSON.stringify(r.warnings));
});

// Frames built by hand for what the shared captures lack: RST_STREAM and GOAWAY.
function frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}

test('HTTP/2 RST_STREAM and GOAWAY become errors', () => {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const parser = http2.createTcpParser!(ctx);
  const get = hex('82 86 84 41 0f 7777772e6578616d706c652e636f6d'.replace(/ /g, ''));
  parser.onData('c2s', Buffer.concat([CONNECTION_PREFACE, frame(4, 0, 0, Buffer.alloc(0)), frame(1, 0x05, 1, get), frame(1, 0x05, 3, get)]));
  const code = Buffer.alloc(4);
  code.writeUInt32BE(2); // INTERNAL_ERROR
  parser.onData('s2c', Buffer.concat([frame(4, 0, 0, Buffer.alloc(0)), frame(3, 0, 1, code)]));
  const goaway = Buffer.alloc(8);
  goaway.writeUInt32BE(1, 0);
  goaway.writeUInt32BE(0, 4);
  parser.onData('s2c', frame(7, 0, 0, goaway));
  parser.onEnd('fin');
  assert.equal(records.length, 2);
  const [reset, refused] = records;
  assert.equal(reset.error, true);
  assert.deepEqual(reset.warnings, ['rst_stream: INTERNAL_ERROR']);
  assert.equal(reset.request!.authority, 'www.example.com');
  assert.equal(refused.request!.streamId, 3);
  assert.equal(refused.error, true);
  assert.ok(refused.warnings!.includes('goaway: NO_ERROR'));
});

test('HTTP/2 bodies stay bounded: 3 MB of DATA keeps maxBody bytes and counts the rest', () => {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {}, { maxBody: 1000, noBodies: false });
  const parser = http2.createTcpParser!(ctx);
  const get = hex('82 86 84 41 0f 7777772e6578616d706c652e636f6d'.replace(/ /g, ''));
  parser.onData('c2s', Buffer.concat([CONNECTION_PREFACE, frame(1, 0x05, 1, get)]));
  parser.onData('s2c', frame(1, 0x04, 1, hex('88'))); // :status 200
  const chunk = Buffer.alloc(16384, 0x61);
  for (let i = 0; i < 192; i++) parser.onData('s2c', frame(0, i === 191 ? 0x01 : 0, 1, chunk));
  parser.onEnd('fin');
  assert.equal(records.length, 1);
  const res = records[0].response!;
  assert.equal(res.bodySize, 192 * 16384);
  assert.equal(res.body.length, 1000);
  assert.equal(res.bodyTruncated, true);
  assert.equal(records[0].responseSize, 192 * (16384 + 9) + 10);
});
