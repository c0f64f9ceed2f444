// The two directions of a connection recorded out of order (`tcpdump -i any`,
// several NIC queues, a node agent reading per-CPU buffers): a response
// captured before the request it answers. Its packet acknowledges the
// request's bytes, so the engine reads those first; without that, an in-order
// protocol (HTTP/1, Redis, PostgreSQL…) paired every later call of the
// connection with the wrong answer. Property checked on real captures: swap
// any two adjacent packets and the calls come out as they did.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { join } from 'node:path';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import { LinkType, type Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';
import { ipv4Packet } from '../helpers/pcap-wire.js';
import { dissectPacketList, readPcap, swapped, without } from '../helpers/pcap-edit.js';

const dissect = dissectPacketList;

/** A TCP packet with payload, of IPv4 over Ethernet (the examples' link type). */
function hasTcpPayload(p: Packet): boolean {
  const d = p.data;
  if (d.length < 14 + 20 + 20 || d.readUInt16BE(12) !== 0x0800 || d[14 + 9] !== 6) return false;
  const ihl = (d[14] & 0x0f) * 4;
  const total = d.readUInt16BE(14 + 2);
  const tcpLen = (d[14 + ihl + 12] >> 4) * 4;
  return total > ihl + tcpLen;
}

/** What a call says, as a user reads it: the pairing of request and response. */
const calls = (entries: Entry[]): string[] => entries.map((e) => `${e.src.port}>${e.dst.port} ${e.summary}`).sort();

for (const name of ['http-errors.pcap', 'bookinfo-mix.pcap']) {
  test(`${name}: any two adjacent packets recorded the other way round pair every call as before`, () => {
    const packets = readPcap(join(repoRoot, 'examples', name));
    const clean = calls(dissect(packets).entries);
    let tried = 0;
    for (let i = 0; i + 1 < packets.length; i++) {
      // Two data packets, or a data packet and the ACK that answers it: the pairs that can mislead.
      if (!hasTcpPayload(packets[i]) && !hasTcpPayload(packets[i + 1])) continue;
      tried++;
      const { entries } = dissect(swapped(packets, i));
      assert.deepEqual(calls(entries), clean, `packets ${i + 1} and ${i + 2} swapped`);
    }
    assert.ok(tried > 20, `${tried} swaps tried`);
  });
}

const SYN = 0x02;
const FIN = 0x01;
const ACK = 0x10;
const PSH = 0x08;

/** One connection 198.18.0.1:40000 → 198.18.0.2:8080 with real sequence and acknowledgement numbers. */
class Conn {
  readonly packets: Packet[] = [];
  private seq: Record<1 | 2, number> = { 1: 1000, 2: 50000 };
  private ms = 0;
  constructor() {
    this.send(1, '', SYN, false);
    this.seq[1]++;
    this.send(2, '', SYN | ACK);
    this.seq[2]++;
    this.send(1, '', ACK);
  }

  /** Sends from 1 (client) or 2 (server); `capture: false` sends bytes the capture misses. */
  send(from: 1 | 2, text: string, flags = PSH | ACK, withAck = true, capture = true): void {
    const body = Buffer.from(text, 'latin1');
    const [sport, dport] = from === 1 ? [40000, 8080] : [8080, 40000];
    const data = ipv4Packet(from, 6, sport, dport, 20, body);
    data.writeUInt32BE(this.seq[from] >>> 0, 24);
    data.writeUInt32BE(withAck ? this.seq[from === 1 ? 2 : 1] >>> 0 : 0, 28);
    data[32] = 0x50;
    data[33] = flags;
    this.seq[from] += body.length;
    this.ms += 1;
    if (capture) this.packets.push({ tsSec: 0, tsNsec: this.ms * 1e6, linkType: LinkType.RAW, data, origLen: data.length, interfaceId: 0, frame: this.packets.length + 1 });
  }
}

const ok = (body: string): string => `HTTP/1.1 200 OK\r\nContent-Length: ${body.length}\r\n\r\n${body}`;
const get = (path: string): string => `GET ${path} HTTP/1.1\r\nHost: svc\r\n\r\n`;

test('a response whose request was lost still comes out alone, and the calls after it pair', () => {
  const c = new Conn();
  c.send(1, get('/a'));
  c.send(2, ok('a'));
  c.send(1, get('/lost'), PSH | ACK, true, false);
  c.send(2, ok('lost'));
  c.send(1, get('/b'));
  c.send(2, ok('b'));
  c.send(1, '', FIN | ACK);
  c.send(2, '', FIN | ACK);
  const { entries } = dissect(c.packets);
  const summaries = entries.map((e) => e.summary);
  assert.ok(summaries.includes('GET /a → 200'), summaries.join(' | '));
  assert.ok(summaries.includes('GET /b → 200'), summaries.join(' | '));
  assert.ok(!summaries.some((s) => s.startsWith('GET /b') && s !== 'GET /b → 200'), summaries.join(' | '));
  assert.equal(entries.filter((e) => e.request?.path === '/b').length, 1);
});

test('a request and a FIN acknowledged together are not waited for: the response after a half-close pairs at once', () => {
  const c = new Conn();
  c.send(1, get('/half'), PSH | ACK | FIN);
  // The server's ACK covers the client's FIN too (one more than its bytes): nothing is missing.
  c.send(2, ok('x'));
  const { entries, counters } = dissect(c.packets);
  assert.deepEqual(
    entries.map((e) => e.summary),
    ['GET /half → 200'],
  );
  assert.equal(counters['tcp.held_for_acked_bytes'], undefined);
});

test('a response captured before its request waits for it, and keeps its own frame and time', () => {
  const c = new Conn();
  c.send(1, get('/one'));
  c.send(2, ok('1'));
  c.send(1, get('/two'));
  c.send(2, ok('22'));
  c.send(1, get('/three'));
  c.send(2, ok('333'));
  // Frames 6 and 7 (GET /two and its response) recorded the other way round.
  const packets = swapped(c.packets, 5);
  const { entries, counters } = dissect(packets);
  assert.deepEqual(
    entries.map((e) => e.summary),
    ['GET /one → 200', 'GET /two → 200', 'GET /three → 200'],
  );
  const two = entries[1];
  assert.equal(two.response?.body, '22');
  assert.deepEqual(two.frames, { request: 7, response: 6 });
  assert.equal(counters['tcp.held_for_acked_bytes'], 1);
});

test('a request whose packet acknowledges its own reply (tap --tls: a write that returned after the read of its reply) is read before it', () => {
  const c = new Conn();
  c.send(1, get('/one'));
  c.send(2, ok('1'));
  c.send(1, get('/up'));
  const request = c.packets[c.packets.length - 1];
  c.send(2, ok('created'));
  // Each packet acknowledges the other: the request is held for the reply's bytes, and the reply
  // proves by its own acknowledgement that the request came first.
  request.data.writeUInt32BE((request.data.readUInt32BE(28) + ok('created').length) >>> 0, 28);
  const { entries } = dissect(c.packets);
  assert.deepEqual(
    entries.map((e) => e.summary),
    ['GET /one → 200', 'GET /up → 200'],
  );
  assert.equal(entries[1].response?.body, 'created');
});

test('a request lost from the capture: the lone response that answers it says gap (HTTP/1 and gRPC)', () => {
  // http-errors.pcap frame 4: the first request of its connection; its response comes alone.
  const http = dissect(without(readPcap(join(repoRoot, 'examples', 'http-errors.pcap')), 4)).entries;
  const lone = http.find((e) => e.request === null);
  assert.ok(lone, http.map((e) => e.summary).join(' | '));
  assert.deepEqual(lone.warnings, ['gap'], lone.summary);
  // lab-bookinfo-mix.pcap frame 1595: a gRPC request (HEADERS and DATA) whose response the next packet carries.
  const grpc = dissect(without(readPcap(sharedCapture('lab-bookinfo-mix.pcap')), 1595)).entries;
  const orphans = grpc.filter((e) => e.protocol === 'grpc' && e.request === null);
  assert.equal(orphans.length, 1, orphans.map((e) => e.summary).join(' | '));
  assert.ok(orphans[0].warnings?.includes('gap'), JSON.stringify(orphans[0].warnings));
});

test('the whole request after the lone response of a lost request is not marked gap, and a pipelined one still is', () => {
  // http-errors.pcap frame 4 lost: GET /details/1, whose response comes alone; GET /ratings/1 follows on the same connection.
  const http = dissect(without(readPcap(join(repoRoot, 'examples', 'http-errors.pcap')), 4)).entries;
  const next = http.find((e) => e.request?.path === '/ratings/1');
  assert.ok(next, http.map((e) => e.summary).join(' | '));
  assert.equal(next.summary, 'GET /ratings/1 → 500');
  assert.equal(next.warnings, undefined);
  // Pipelined: the request after the hole is read before the lost one's response, which then pairs with it: that must say gap.
  const c = new Conn();
  c.send(1, get('/lost'), PSH | ACK, true, false);
  c.send(1, get('/b'));
  c.send(2, ok('lost'));
  c.send(2, ok('b'));
  const piped = dissect(c.packets).entries;
  const b = piped.find((e) => e.request?.path === '/b');
  assert.ok(b?.warnings?.includes('gap'), JSON.stringify(b?.warnings));
});

test('a reply held for a request the capture lost says gap when the client next sends only a bare ACK past it', () => {
  const c = new Conn();
  c.send(1, get('/lost'), PSH | ACK, true, false);
  c.send(2, ok('x'));
  // The client's ACK of that reply: its sequence number is past the lost request.
  c.send(1, '', ACK);
  const { entries, counters } = dissect(c.packets);
  assert.deepEqual(
    entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`),
    ['(no request) → 200 ["gap"]'],
  );
  assert.equal(counters['tcp.gaps'], 1);
});

test('a reply held longer than the wait for the bytes its packet acknowledged says gap: they were lost', () => {
  const c = new Conn();
  c.send(1, get('/a'));
  c.send(2, ok('a'));
  c.send(1, get('/lost'), PSH | ACK, true, false);
  c.send(2, ok('lost'));
  // The client says nothing more: the reply waits, then (the server's keep-alive two seconds on, or the
  // end of the capture) is read after the hole it answers.
  (c as unknown as { ms: number }).ms += 2000;
  c.send(2, '', ACK);
  const { entries } = dissect(c.packets);
  assert.deepEqual(
    entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`),
    ['GET /a → 200 []', '(no request) → 200 ["gap"]'],
  );
  const ending = dissect(c.packets.slice(0, -1)).entries;
  assert.deepEqual(ending[1].warnings, ['gap']);
});

test('a connection whose response was lost still closes on its FINs: one entry, not an ongoing report and then another', () => {
  // zeek-http-methods.pcap frame 16 is the only response of the connection from port 46563 (`OPTIONS HTTP/1.1`).
  const { entries } = dissect(without(readPcap(sharedCapture('zeek-http-methods.pcap')), 16));
  const conn = entries.filter((e) => e.src.port === 46563);
  assert.equal(conn.length, 1, conn.map((e) => e.summary).join(' | '));
  assert.ok(conn[0].warnings?.includes('gap'));
  assert.equal(conn[0].response?.end, 'fin');
});

test('a connection captured mid-way whose first two packets are swapped (response, then request) is one call', () => {
  const c = new Conn();
  c.send(1, get('/first'));
  c.send(2, ok('1'));
  c.send(1, get('/second'));
  c.send(2, ok('22'));
  // No handshake in the capture, and its first request recorded after its response.
  const midway = c.packets.slice(3).map((p, i) => ({ ...p, frame: i + 1 }));
  const { entries, counters } = dissect(swapped(midway, 0));
  assert.deepEqual(
    entries.map((e) => `${e.summary} ${JSON.stringify(e.warnings ?? [])}`),
    ['GET /first → 200 []', 'GET /second → 200 []'],
  );
  assert.deepEqual(entries[0].frames, { request: 2, response: 1 });
  // A routine wait, not a reordering found: not counted as one.
  assert.equal(counters['tcp.held_for_acked_bytes'], undefined);
  // In order, nothing changes, and a one-way capture (only the client's packets) still comes out.
  assert.deepEqual(dissect(midway).entries.map((e) => e.summary), ['GET /first → 200', 'GET /second → 200']);
  const oneWay = midway.filter((p) => p.data.readUInt16BE(20) === 40000);
  assert.deepEqual(dissect(oneWay).entries.map((e) => e.summary), ['GET /first → unanswered', 'GET /second → unanswered']);
});

test('HTTP/2: a pushed stream whose PUSH_PROMISE was lost says gap (arkime-http2-nghttp2 without frame 26)', () => {
  const packets = readPcap(sharedCapture('arkime-http2-nghttp2.pcap'));
  const whole = dissectPacketList(packets).entries.find((e) => e.protocol === 'http2' && e.request === null);
  assert.equal(whole, undefined, 'every stream has its request (or promise) in the whole capture');
  const { entries } = dissectPacketList(without(packets, 26));
  const lone = entries.filter((e) => e.protocol === 'http2' && e.request === null);
  assert.ok(lone.length > 0, 'the pushed response comes out');
  for (const e of lone) assert.ok(e.warnings?.includes('gap'), `${e.summary}: ${JSON.stringify(e.warnings)}`);
});
