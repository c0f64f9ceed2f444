// The request time is the request's first packet (docs/entry.md), for every
// dissector but HTTP/1 and HTTP/2 (tested with theirs): a request split
// across segments is stamped with the first segment's time and frame, the
// first message of a connection as much as a later one.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DissectionEngine } from '../../src/dissect/engine.js';
import type { Entry } from '../../src/model/entry.js';
import { Wire } from '../helpers/engine-wire.js';
import { PROTOCOL_HEADER } from '../../src/dissect/protocols/amqp.js';

function dissect(w: Wire): Entry[] {
  const out: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => out.push(e));
  for (const p of w.packets) engine.push(p);
  engine.finish();
  return out;
}

const CLIENT = 45000;

interface Exchange {
  request: Buffer;
  response: Buffer;
}

/**
 * Two exchanges on one connection to `port`: each request split in two
 * segments 5 ms apart (at `split` bytes), answered 5 ms after its last part.
 * Returns the entries of `protocol` with, for each, the first segment's time and frame.
 */
function splitRequests(port: number, exchanges: Exchange[], split: number, preamble?: Buffer) {
  const w = new Wire();
  let t = 1000;
  if (preamble) w.send(t - 100, 1, CLIENT, port, preamble);
  const expected: Array<{ timestamp: number; frame: number }> = [];
  for (const { request, response } of exchanges) {
    expected.push({ timestamp: t, frame: w.packets.length + 1 });
    w.send(t, 1, CLIENT, port, request.subarray(0, split));
    w.send(t + 5, 1, CLIENT, port, request.subarray(split));
    w.send(t + 10, 2, port, CLIENT, response);
    t += 100;
  }
  return { entries: dissect(w), expected };
}

function assertFirstPacket(protocol: string, entries: Entry[], expected: Array<{ timestamp: number; frame: number }>): void {
  const mine = entries.filter((e) => e.protocol === protocol);
  assert.equal(mine.length, expected.length, `${protocol}: ${JSON.stringify(entries.map((e) => [e.protocol, e.summary]))}`);
  assert.deepEqual(
    mine.map((e) => ({ timestamp: e.timestamp, frame: e.frames?.request, elapsed: e.elapsedTime })),
    expected.map((x) => ({ timestamp: x.timestamp, frame: x.frame, elapsed: 10 })),
    protocol,
  );
}

const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};
const sized = (body: Buffer): Buffer => Buffer.concat([u32(body.length), body]);

test('Redis: a command split across segments is stamped with its first', () => {
  const cmd = (...words: string[]) => Buffer.from(`*${words.length}\r\n${words.map((w) => `$${w.length}\r\n${w}\r\n`).join('')}`);
  const { entries, expected } = splitRequests(6379, [
    { request: cmd('GET', 'k'), response: Buffer.from('$1\r\nv\r\n') },
    { request: cmd('SET', 'k', 'v'), response: Buffer.from('+OK\r\n') },
  ], 9);
  assertFirstPacket('redis', entries, expected);
});

test('DNS over TCP: a query split across segments is stamped with its first', () => {
  const question = Buffer.from([3, ...Buffer.from('svc'), 0, 0, 1, 0, 1]);
  const msg = (id: number, flags: number, an: number, extra: Buffer = Buffer.alloc(0)) => {
    const m = Buffer.concat([u16(id), u16(flags), u16(1), u16(an), u16(0), u16(0), question, extra]);
    return Buffer.concat([u16(m.length), m]);
  };
  const answer = Buffer.from([0xc0, 12, 0, 1, 0, 1, 0, 0, 0, 60, 0, 4, 198, 18, 0, 9]);
  const { entries, expected } = splitRequests(53, [
    { request: msg(1, 0x0100, 0), response: msg(1, 0x8180, 1, answer) },
    { request: msg(2, 0x0100, 0), response: msg(2, 0x8180, 1, answer) },
  ], 7);
  assertFirstPacket('dns', entries, expected);
});

test('Kafka: a request split across segments is stamped with its first', () => {
  const apiVersions = (corr: number) => sized(Buffer.concat([u16(18), u16(0), u32(corr), u16(1), Buffer.from('c')]));
  const apiVersionsOk = (corr: number) => sized(Buffer.concat([u32(corr), u16(0), u32(0)]));
  const { entries, expected } = splitRequests(9092, [
    { request: apiVersions(1), response: apiVersionsOk(1) },
    { request: apiVersions(2), response: apiVersionsOk(2) },
  ], 6);
  assertFirstPacket('kafka', entries, expected);
});

test('AMQP: a method frame split across segments is stamped with its first', () => {
  const frame = (channel: number, payload: Buffer) => Buffer.concat([Buffer.from([1]), u16(channel), u32(payload.length), payload, Buffer.from([0xce])]);
  const shortstr = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
  const declare = (q: string) => frame(1, Buffer.concat([u16(50), u16(10), u16(0), shortstr(q), Buffer.from([0]), u32(0)]));
  const declareOk = (q: string) => frame(1, Buffer.concat([u16(50), u16(11), shortstr(q), u32(0), u32(0)]));
  const { entries, expected } = splitRequests(5672, [
    { request: declare('jobs'), response: declareOk('jobs') },
    { request: declare('mail'), response: declareOk('mail') },
  ], 9, PROTOCOL_HEADER);
  assertFirstPacket('amqp', entries, expected);
});

test('PostgreSQL: a query split across segments is stamped with its first', () => {
  const msg = (type: string, body: Buffer) => Buffer.concat([Buffer.from(type), u32(body.length + 4), body]);
  const query = (sql: string) => msg('Q', Buffer.from(`${sql}\0`));
  const done = Buffer.concat([msg('C', Buffer.from('SELECT 1\0')), msg('Z', Buffer.from('I'))]);
  const { entries, expected } = splitRequests(5432, [
    { request: query('select 1'), response: done },
    { request: query('select 2'), response: done },
  ], 7);
  assertFirstPacket('postgresql', entries, expected);
});

test('MySQL: a COM_QUERY split across segments is stamped with its first', () => {
  const packet = (seq: number, payload: Buffer) => {
    const h = Buffer.alloc(4);
    h.writeUIntLE(payload.length, 0, 3);
    h[3] = seq;
    return Buffer.concat([h, payload]);
  };
  const query = (sql: string) => packet(0, Buffer.concat([Buffer.from([3]), Buffer.from(sql)]));
  const ok = packet(1, Buffer.from('00000002000000', 'hex'));
  const { entries, expected } = splitRequests(3306, [
    { request: query('select 1'), response: ok },
    { request: query('select 2'), response: ok },
  ], 6);
  assertFirstPacket('mysql', entries, expected);
});

test('TLS: a ClientHello split across segments is stamped with its first', () => {
  const handshake = (type: number, body: Buffer) => {
    const hs = Buffer.concat([Buffer.from([type, 0, body.length >> 8, body.length & 0xff]), body]);
    return Buffer.concat([Buffer.from([0x16, 3, 1]), u16(hs.length), hs]);
  };
  const sni = Buffer.from('shark.test');
  const sniExt = Buffer.concat([u16(0), u16(sni.length + 5), u16(sni.length + 3), Buffer.from([0]), u16(sni.length), sni]);
  const clientHello = handshake(1, Buffer.concat([u16(0x0303), Buffer.alloc(32, 7), Buffer.from([0]), u16(2), u16(0x1301), Buffer.from([1, 0]), u16(sniExt.length), sniExt]));
  const serverHello = handshake(2, Buffer.concat([u16(0x0303), Buffer.alloc(32, 9), Buffer.from([0]), u16(0x1301), Buffer.from([0]), u16(0)]));
  const { entries, expected } = splitRequests(443, [{ request: clientHello, response: serverHello }], 20);
  assertFirstPacket('tls', entries, expected);
  assert.equal(entries[0].request?.sni, 'shark.test');
});

test('a message cut off by the end of the capture is counted; a call still open keeps its first packet', () => {
  const run = (w: Wire) => {
    const out: Entry[] = [];
    const engine = new DissectionEngine({}, (e) => out.push(e));
    for (const p of w.packets) engine.push(p);
    engine.finish();
    return { entries: out, counters: engine.summary() };
  };
  const partial: Record<string, [number, Buffer]> = {
    redis: [6379, Buffer.from('*2\r\n$3\r\nGET\r\n$1\r\nk\r\n')],
    kafka: [9092, sized(Buffer.concat([u16(18), u16(0), u32(1), u16(1), Buffer.from('c')]))],
    postgresql: [5432, Buffer.concat([Buffer.from('Q'), u32(13), Buffer.from('select 1\0')])],
    mysql: [3306, Buffer.concat([Buffer.from([9, 0, 0, 0, 3]), Buffer.from('select 1')])],
  };
  for (const [protocol, [port, request]] of Object.entries(partial)) {
    const w = new Wire();
    w.send(1000, 1, CLIENT, port, request);
    w.send(2000, 1, CLIENT, port, request.subarray(0, 7));
    const { entries, counters } = run(w);
    assert.deepEqual(entries.map((e) => [e.protocol, e.timestamp]), [[protocol, 1000]], protocol);
    assert.equal(counters[`${protocol}.truncated`], 1, `${protocol}: ${JSON.stringify(counters)}`);
  }
  // AMQP: a publish whose body the capture cut is reported, stamped with its method's first packet.
  const frame = (type: number, payload: Buffer) => Buffer.concat([Buffer.from([type]), u16(1), u32(payload.length), payload, Buffer.from([0xce])]);
  const shortstr = (s: string) => Buffer.concat([Buffer.from([s.length]), Buffer.from(s)]);
  const publish = frame(1, Buffer.concat([u16(60), u16(40), u16(0), shortstr(''), shortstr('jobs'), Buffer.from([0])]));
  const header = frame(2, Buffer.concat([u16(60), u16(0), u32(0), u32(100), u16(0)]));
  const w = new Wire();
  w.send(900, 1, CLIENT, 5672, PROTOCOL_HEADER);
  w.send(1000, 1, CLIENT, 5672, publish.subarray(0, 10));
  w.send(1005, 1, CLIENT, 5672, Buffer.concat([publish.subarray(10), header]));
  w.send(1010, 1, CLIENT, 5672, frame(3, Buffer.alloc(100, 0x61)).subarray(0, 50));
  const { entries, counters } = run(w);
  assert.deepEqual(entries.map((e) => [e.summary, e.timestamp, e.frames?.request, e.warnings]), [['basic.publish (default) jobs', 1000, 2, ['truncated']]]);
  assert.equal(counters['amqp.truncated'], 1);
});
