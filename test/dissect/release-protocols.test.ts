// Every parser tells the engine its oldest pending request (pendingSince), so
// entries leave as soon as no flow can precede them. For each protocol: a
// request left waiting on one connection holds back newer calls of another
// until it is answered (order kept, and no longer than that), and the parser
// says so itself — the request's time while it waits, nothing once answered.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { Direction, ProtocolDissector, TcpStreamParser } from '../../src/dissect/api.js';
import { tls } from '../../src/dissect/protocols/tls.js';
import { http2, createHttp2ParserAfterUpgrade, CONNECTION_PREFACE } from '../../src/dissect/protocols/http2.js';
import { kafka } from '../../src/dissect/protocols/kafka.js';
import { amqp, PROTOCOL_HEADER } from '../../src/dissect/protocols/amqp.js';
import { postgresql } from '../../src/dissect/protocols/postgresql.js';
import { mysql } from '../../src/dissect/protocols/mysql.js';
import { fakeContext, type FakeContext } from '../protocols/helpers.js';
import { Wire, runEngine as run, httpRequest, httpResponse } from '../helpers/engine-wire.js';

// ---------------------------------------------------------------- messages

const hex = (s: string): Buffer => Buffer.from(s.replace(/\s+/g, ''), 'hex');
const u32 = (n: number): Buffer => {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
};

/** TLS handshake record carrying one hello (1 = ClientHello, 2 = ServerHello), no extensions. */
function tlsHello(type: 1 | 2): Buffer {
  const body = type === 1
    ? Buffer.concat([hex('0303'), Buffer.alloc(32, 7), hex('00'), hex('0002 1301'), hex('0100')])
    : Buffer.concat([hex('0303'), Buffer.alloc(32, 9), hex('00'), hex('1301'), hex('00')]);
  const hs = Buffer.concat([Buffer.from([type, 0, body.length >> 8, body.length & 0xff]), body]);
  return Buffer.concat([hex('160301'), Buffer.from([hs.length >> 8, hs.length & 0xff]), hs]);
}
const tlsAppData = (): Buffer => hex('1703030005 0102030405');
/** The server's ChangeCipherSpec: a TLS 1.2 handshake's entry waits for it (a refusal after the ServerHello is an alert before it). */
const tlsChangeCipherSpec = (): Buffer => hex('1403030001 01');

function h2frame(type: number, flags: number, stream: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(9);
  h.writeUIntBE(payload.length, 0, 3);
  h[3] = type;
  h[4] = flags;
  h.writeUInt32BE(stream, 5);
  return Buffer.concat([h, payload]);
}
/** GET / on http://www.example.com (RFC 7541 C.3.1). */
const H2_GET = hex('828684410f7777772e6578616d706c652e636f6d');
const h2Request = (stream = 1): Buffer => h2frame(1, 0x05, stream, H2_GET);
/** :status 200, END_STREAM | END_HEADERS. */
const h2Response = (stream = 1): Buffer => h2frame(1, 0x05, stream, hex('88'));

/** Kafka ApiVersions v0 request / response with a correlation id. */
function kafkaRequest(correlationId: number): Buffer {
  const body = Buffer.concat([hex('0012 0000'), u32(correlationId), hex('0001 63')]);
  return Buffer.concat([u32(body.length), body]);
}
function kafkaResponse(correlationId: number): Buffer {
  const body = Buffer.concat([u32(correlationId), hex('0000 00000000')]);
  return Buffer.concat([u32(body.length), body]);
}

function amqpFrame(type: number, channel: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(7);
  h[0] = type;
  h.writeUInt16BE(channel, 1);
  h.writeUInt32BE(payload.length, 3);
  return Buffer.concat([h, payload, hex('ce')]);
}
/** queue.declare "q" and its declare-ok. */
const amqpDeclare = (): Buffer => amqpFrame(1, 1, hex('0032 000a 0000 0171 00 00000000'));
const amqpDeclareOk = (): Buffer => amqpFrame(1, 1, hex('0032 000b 0171 00000000 00000000'));
/** basic.publish to "q" with its content header (5-byte body); the body frame comes apart. */
const amqpPublish = (): Buffer =>
  Buffer.concat([amqpFrame(1, 1, hex('003c 0028 0000 00 0171 00')), amqpFrame(2, 1, hex('003c 0000 0000000000000005 0000'))]);
const amqpBody = (): Buffer => amqpFrame(3, 1, Buffer.from('hello'));

function pgMessage(type: string, body: Buffer): Buffer {
  return Buffer.concat([Buffer.from(type, 'latin1'), u32(body.length + 4), body]);
}
const pgQuery = (): Buffer => pgMessage('Q', Buffer.from('select 1\0'));
const pgResult = (): Buffer => Buffer.concat([pgMessage('C', Buffer.from('SELECT 1\0')), pgMessage('Z', Buffer.from('I'))]);

function myPacket(seq: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(4);
  h.writeUIntLE(payload.length, 0, 3);
  h[3] = seq;
  return Buffer.concat([h, payload]);
}
const myQuery = (): Buffer => myPacket(0, Buffer.concat([Buffer.from([0x03]), Buffer.from('select 1')]));
const myOk = (): Buffer => myPacket(1, hex('00 00 00 0200 0000'));

// ---------------------------------------------------------------- engine seam


interface Step {
  at: number;
  from: 1 | 2;
  data: Buffer;
}

/**
 * The slow connection (client port 41000 → `port`) runs `steps`: a call
 * started at 1 s is finished by the last step, at 6 s. Meanwhile HTTP/1 calls
 * on another connection go every half second (answered at once), and after.
 */
function holdsBack(protocol: string, port: number, steps: Step[]): void {
  const w = new Wire();
  const slow = steps.filter((s) => s.at < 6_000);
  const finishing = steps.filter((s) => s.at >= 6_000);
  for (const s of slow) w.send(s.at, s.from, s.from === 1 ? 41000 : port, s.from === 1 ? port : 41000, s.data);
  for (let i = 0; i < 8; i++) {
    w.send(1_500 + i * 500, 1, 42000, 80, httpRequest(`/fast/${i}`));
    w.send(1_510 + i * 500, 2, 80, 42000, httpResponse);
  }
  for (const s of finishing) w.send(s.at, s.from, s.from === 1 ? 41000 : port, s.from === 1 ? port : 41000, s.data);
  for (let i = 0; i < 4; i++) {
    w.send(7_000 + i * 500, 1, 42000, 80, httpRequest(`/after/${i}`));
    w.send(7_010 + i * 500, 2, 80, 42000, httpResponse);
  }
  const out = run(w.packets);
  const labels = out.map((o) => (o.entry.protocol === 'http' ? o.entry.request?.path : o.entry.protocol));
  assert.deepEqual(labels, [protocol, ...Array.from({ length: 8 }, (_, i) => `/fast/${i}`), ...Array.from({ length: 4 }, (_, i) => `/after/${i}`)]);
  assert.equal(out[0].entry.timestamp, 1_000);
  const ts = out.map((o) => o.entry.timestamp);
  assert.deepEqual(ts, [...ts].sort((a, b) => a - b));
  // Held for the slow call (not let out before it), then let out at once (not after the whole window).
  for (const o of out.slice(0, 9)) assert.ok(o.outAt >= 6_000 && o.outAt < 7_500, `${o.entry.summary} out at ${o.outAt}`);
}

test('TLS: a ClientHello waiting for its ServerHello holds newer calls back', () => {
  holdsBack('tls', 443, [
    { at: 1_000, from: 1, data: tlsHello(1) },
    { at: 6_000, from: 2, data: Buffer.concat([tlsHello(2), tlsChangeCipherSpec()]) },
  ]);
});

test('HTTP/2: a stream waiting for its response holds newer calls back', () => {
  holdsBack('http2', 50051, [
    { at: 1_000, from: 1, data: Buffer.concat([CONNECTION_PREFACE, h2frame(4, 0, 0, Buffer.alloc(0)), h2Request()]) },
    { at: 1_010, from: 2, data: h2frame(4, 0, 0, Buffer.alloc(0)) },
    { at: 6_000, from: 2, data: h2Response() },
  ]);
});

test('Kafka: a request waiting for its correlation id holds newer calls back', () => {
  holdsBack('kafka', 9092, [
    { at: 1_000, from: 1, data: kafkaRequest(7) },
    { at: 6_000, from: 2, data: kafkaResponse(7) },
  ]);
});

test('AMQP: a synchronous method waiting for its reply holds newer calls back', () => {
  holdsBack('amqp', 5672, [
    { at: 1_000, from: 1, data: Buffer.concat([PROTOCOL_HEADER, amqpDeclare()]) },
    { at: 6_000, from: 2, data: amqpDeclareOk() },
  ]);
});

test('AMQP: a publish whose body has not all come holds newer calls back', () => {
  holdsBack('amqp', 5672, [
    { at: 1_000, from: 1, data: Buffer.concat([PROTOCOL_HEADER, amqpPublish()]) },
    { at: 6_000, from: 1, data: amqpBody() },
  ]);
});

test('PostgreSQL: a query waiting for ReadyForQuery holds newer calls back', () => {
  holdsBack('postgresql', 5432, [
    { at: 1_000, from: 1, data: pgQuery() },
    { at: 6_000, from: 2, data: pgResult() },
  ]);
});

test('MySQL: a query waiting for its reply holds newer calls back', () => {
  holdsBack('mysql', 3306, [
    { at: 1_000, from: 1, data: myQuery() },
    { at: 6_000, from: 2, data: myOk() },
  ]);
});

// ---------------------------------------------------------------- parser seam

function parserOf(d: ProtocolDissector): { ctx: FakeContext; parser: TcpStreamParser; send: (at: number, dir: Direction, data: Buffer) => void } {
  const ctx = fakeContext();
  const parser = d.createTcpParser!(ctx);
  const send = (at: number, dir: Direction, data: Buffer): void => {
    ctx.now = at;
    ctx.frame++;
    parser.onData(dir, data);
  };
  return { ctx, parser, send };
}

test('TLS pendingSince: the ClientHello until the server changes cipher; a connection caught mid-stream until both sides were read', () => {
  const { ctx, parser, send } = parserOf(tls);
  assert.equal(parser.pendingSince!(), undefined);
  send(100, 'c2s', tlsHello(1).subarray(0, 20)); // a hello read in part: the call will carry this time
  assert.equal(parser.pendingSince!(), 100);
  send(150, 'c2s', tlsHello(1).subarray(20));
  assert.equal(parser.pendingSince!(), 100);
  send(300, 's2c', tlsHello(2));
  assert.equal(parser.pendingSince!(), 100, 'a handshake may still be refused after the ServerHello');
  assert.equal(ctx.calls.length, 0);
  send(320, 's2c', tlsChangeCipherSpec());
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].requestTime, 100);
  assert.equal(parser.pendingSince!(), undefined);

  const other = parserOf(tls);
  other.send(100, 'c2s', tlsAppData());
  assert.equal(other.parser.pendingSince!(), 100); // a ServerHello may still come
  other.send(200, 's2c', tlsAppData());
  // Records both ways without a hello: the handshake was not captured, and the call is out.
  assert.equal(other.parser.pendingSince!(), undefined);
  other.parser.onEnd('fin');
  assert.deepEqual(other.ctx.calls.map((c) => [c.summary, c.requestTime]), [['TLS (handshake not captured)', 100]]);
});

test('HTTP/2 pendingSince: the oldest open stream; nothing once all are answered', () => {
  const { ctx, parser, send } = parserOf(http2);
  send(100, 'c2s', Buffer.concat([CONNECTION_PREFACE, h2Request(1)]));
  send(200, 'c2s', h2Request(3));
  assert.equal(parser.pendingSince!(), 100);
  send(300, 's2c', h2Response(1));
  assert.equal(parser.pendingSince!(), 200);
  send(350, 's2c', h2Response(3).subarray(0, 5)); // a frame read in part is stamped when whole
  assert.equal(parser.pendingSince!(), 200);
  send(400, 's2c', h2Response(3).subarray(5));
  assert.deepEqual(ctx.calls.map((c) => c.requestTime), [100, 200]);
  assert.equal(parser.pendingSince!(), undefined);
});

test('HTTP/2 pendingSince: a pushed stream first seen in a CONTINUATION is not taken for the oldest', () => {
  const { parser, send } = parserOf(http2);
  send(100, 'c2s', Buffer.concat([CONNECTION_PREFACE, h2Request(1)]));
  // PUSH_PROMISE for stream 2 on stream 1, its header block in three frames; the client opens stream 3 meanwhile.
  send(200, 's2c', h2frame(5, 0, 1, Buffer.concat([u32(2), H2_GET.subarray(0, 3)])));
  send(210, 's2c', h2frame(9, 0, 1, H2_GET.subarray(3, 6)));
  send(220, 'c2s', h2Request(3));
  send(230, 's2c', h2frame(9, 0x04, 1, H2_GET.subarray(6)));
  send(240, 's2c', h2Response(1));
  assert.equal(parser.pendingSince!(), 220);
});

test('HTTP/2 pendingSince after an h2c upgrade: the HTTP/1.1 request until stream 1 is answered', () => {
  const ctx = fakeContext();
  const parser = createHttp2ParserAfterUpgrade(ctx, { method: 'GET', path: '/', host: 'svc', time: 50, frame: 1 });
  assert.equal(parser.pendingSince!(), 50);
  ctx.now = 120;
  parser.onData('c2s', CONNECTION_PREFACE);
  parser.onData('s2c', h2Response(1));
  assert.equal(ctx.calls.length, 1);
  assert.equal(ctx.calls[0].requestTime, 50);
  assert.equal(parser.pendingSince!(), undefined);
});

test('Kafka pendingSince: the oldest request waiting, a response read in part; nothing once answered', () => {
  const { ctx, parser, send } = parserOf(kafka);
  send(100, 'c2s', kafkaRequest(1));
  send(200, 'c2s', kafkaRequest(2));
  assert.equal(parser.pendingSince!(), 100);
  // A second request with id 1: the first is given up, and the newer one is not the oldest waiting.
  send(300, 'c2s', kafkaRequest(1));
  assert.equal(ctx.calls.length, 1);
  assert.equal(parser.pendingSince!(), 200);
  send(400, 's2c', kafkaResponse(2));
  assert.equal(parser.pendingSince!(), 300);
  send(500, 's2c', kafkaResponse(1));
  assert.equal(parser.pendingSince!(), undefined);
  // A response to a request not captured, read in part: stamped with its first segment.
  send(600, 's2c', kafkaResponse(99).subarray(0, 6));
  assert.equal(parser.pendingSince!(), 600);
  send(700, 's2c', kafkaResponse(99).subarray(6));
  assert.equal(ctx.calls.at(-1)!.requestTime, 600);
  assert.equal(parser.pendingSince!(), undefined);
});

test('AMQP pendingSince: a method awaiting its reply, content being assembled; nothing once done', () => {
  const { ctx, parser, send } = parserOf(amqp);
  send(100, 'c2s', Buffer.concat([PROTOCOL_HEADER, amqpDeclare()]));
  assert.equal(parser.pendingSince!(), 100);
  send(200, 's2c', amqpDeclareOk());
  assert.equal(parser.pendingSince!(), undefined);
  send(300, 'c2s', amqpPublish());
  assert.equal(parser.pendingSince!(), 300);
  send(400, 'c2s', amqpBody());
  assert.deepEqual(ctx.calls.map((c) => c.requestTime), [100, 300]);
  assert.equal(parser.pendingSince!(), undefined);
});

test('PostgreSQL pendingSince: the oldest call, even behind a reply without its request; nothing once answered', () => {
  const { ctx, parser, send } = parserOf(postgresql);
  send(100, 'c2s', pgQuery());
  assert.equal(parser.pendingSince!(), 100);
  send(200, 's2c', pgResult());
  assert.equal(parser.pendingSince!(), undefined);
  // An extended query still gathering (no Sync yet) when a reply to an uncaptured request comes.
  send(300, 'c2s', pgMessage('P', Buffer.from('\0select 2\0\0\0')));
  send(400, 's2c', pgMessage('C', Buffer.from('SELECT 1\0')));
  assert.equal(parser.pendingSince!(), 300);
  send(450, 's2c', pgMessage('Z', Buffer.from('I')));
  assert.equal(parser.pendingSince!(), 300);
  send(500, 'c2s', pgMessage('S', Buffer.alloc(0)));
  send(600, 's2c', pgMessage('Z', Buffer.from('I')));
  assert.deepEqual(ctx.calls.map((c) => c.requestTime), [100, 400, 300]);
  assert.equal(parser.pendingSince!(), undefined);
});

test('MySQL pendingSince: the handshake from the greeting, then the oldest command; nothing once answered', () => {
  const { ctx, parser, send } = parserOf(mysql);
  const greeting = Buffer.concat([hex('0a'), Buffer.from('8.0.36\0'), hex('01000000'), Buffer.alloc(8, 0x41), hex('00 ffff 21 0200 ffff 15'), Buffer.alloc(10), Buffer.alloc(13, 0x42)]);
  send(100, 's2c', myPacket(0, greeting));
  assert.equal(parser.pendingSince!(), 100);
  const login = Buffer.concat([hex('0582 0a00'), hex('00000001'), hex('21'), Buffer.alloc(23), Buffer.from('root\0'), hex('00')]);
  send(200, 'c2s', myPacket(1, login));
  assert.equal(parser.pendingSince!(), 200);
  send(300, 's2c', myPacket(2, hex('00 00 00 0200 0000')));
  assert.equal(parser.pendingSince!(), undefined);
  send(400, 'c2s', myQuery());
  assert.equal(parser.pendingSince!(), 400);
  send(500, 's2c', myOk());
  assert.deepEqual(ctx.calls.map((c) => c.requestTime), [200, 400]);
  assert.equal(parser.pendingSince!(), undefined);

  // A command queued behind the handshake before the login: the handshake's time then moves past it.
  const early = parserOf(mysql);
  early.send(100, 's2c', myPacket(0, greeting));
  early.send(150, 'c2s', myPacket(0, hex('0e')));
  early.send(200, 'c2s', myPacket(1, login));
  assert.equal(early.parser.pendingSince!(), 150);
});
