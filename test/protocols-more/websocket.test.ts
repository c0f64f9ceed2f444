// WebSocket after the HTTP/1.1 Upgrade, against tshark on the shared captures:
// every data message (fragments joined, masking removed, permessage-deflate
// inflated with context takeover) and every close/ping, field by field.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import * as zlib from 'node:zlib';
import { dissectFile } from '../helpers/dissect.js';
import { sharedCapture } from '../helpers/paths.js';
import { tshark } from './helpers.js';
import { makeContext } from './helpers.js';
import { createWebSocketParserAfterUpgrade, parseDeflate, WebSocketParser } from '../../src/dissect/protocols/websocket.js';
import type { CallRecord } from '../../src/dissect/api.js';
import { lossCounters } from '../../src/input/dissect-summary.js';
import type { Entry } from '../../src/model/entry.js';

interface TsharkMessage {
  frame: number;
  opcode: number;
  from: 'client' | 'server';
  payload: Buffer;
}

/** Data messages as tshark reads them: one row per frame, joined by FIN like RFC 6455 §5.4. */
function tsharkMessages(file: string): { messages: TsharkMessage[]; closes: string[]; pings: number[] } {
  // Port 5000 is not an HTTP port to tshark: tell it, so it follows the Upgrade.
  const rows = tshark(['-r', file, '-d', 'tcp.port==5000,http', '-Y', 'websocket', '-T', 'fields', '-E', 'separator=\t', '-E', 'occurrence=a', '-E', 'aggregator=|',
    '-e', 'frame.number', '-e', 'websocket.fin', '-e', 'websocket.opcode', '-e', 'websocket.mask', '-e', 'websocket.payload.text', '-e', 'data.data',
    '-e', 'websocket.payload.close.status_code']);
  const messages: TsharkMessage[] = [];
  const closes: string[] = [];
  const pings: number[] = [];
  const open: Record<string, TsharkMessage | undefined> = {};
  for (const row of rows) {
    const [frame, fins, opcodes, masks, text, data, close] = row.split('\t');
    const f = fins.split('|');
    const o = opcodes.split('|').map(Number);
    const m = masks.split('|');
    for (let i = 0; i < o.length; i++) {
      const from = m[i] === '1' || m[i] === 'True' ? 'client' : 'server';
      if (o[i] === 8) closes.push(`${frame} ${from} ${close.split('|')[0] ?? ''}`);
      if (o[i] === 9) pings.push(Number(frame));
      if (o[i] === 1 || o[i] === 2) open[from] = { frame: Number(frame), opcode: o[i], from, payload: Buffer.alloc(0) };
      if ((o[i] <= 2) && (f[i] === '1' || f[i] === 'True') && open[from]) {
        // tshark shows the (reassembled, inflated) message on the frame that ends it.
        open[from]!.payload = text !== '' ? Buffer.from(text.split('|').join('')) : Buffer.from(data.replace(/[|:]/g, ''), 'hex');
        messages.push(open[from]!);
        open[from] = undefined;
      }
    }
  }
  return { messages, closes, pings };
}

function payloadOf(e: Entry): Buffer {
  const r = e.request!;
  return r.bodyEncoding === 'base64' ? Buffer.from(r.body, 'base64') : Buffer.from(r.body ?? '');
}

for (const file of ['suricata-websocket-basic.pcap', 'suricata-websocket-permessage-deflate.pcap', 'zeek-websocket-two-binary-fragments.pcap']) {
  test(`WebSocket ${file}: messages, closes and pings as tshark`, async () => {
    const path = sharedCapture(file);
    const { entries, error } = await dissectFile(path, { decodeAs: undefined });
    assert.equal(error, undefined);
    // The handshake stays an http entry answered 101.
    const http = entries.filter((e) => e.protocol === 'http');
    assert.equal(http.length, 1);
    assert.equal(http[0].response!.status, 101);
    assert.equal(http[0].response!.upgrade, 'websocket');
    const ws = entries.filter((e) => e.protocol === 'ws');
    const theirs = tsharkMessages(path);
    const ours = ws.filter((e) => e.request!.opcode === 'text' || e.request!.opcode === 'binary');
    assert.ok(theirs.messages.length > 0);
    assert.deepEqual(
      ours.map((e) => `${e.frames!.request} ${e.request!.from} ${e.request!.opcode}`),
      theirs.messages.map((m) => `${m.frame} ${m.from} ${m.opcode === 1 ? 'text' : 'binary'}`),
    );
    for (let i = 0; i < ours.length; i++) {
      assert.equal(ours[i].request!.bodySize, theirs.messages[i].payload.length, ours[i].summary);
      assert.deepEqual(payloadOf(ours[i]), theirs.messages[i].payload);
      assert.equal(ours[i].error, false);
      assert.equal(ours[i].response, null);
      assert.equal(ours[i].warnings, undefined, ours[i].summary);
    }
    const closes = ws.filter((e) => e.request!.opcode === 'close');
    assert.deepEqual(
      closes.flatMap((e) => [`${e.frames!.request} ${e.request!.from} ${e.request!.closeCode ?? ''}`, ...(e.response ? [`${e.frames!.response} ${e.response.from} ${e.response.closeCode ?? ''}`] : [])]),
      theirs.closes,
    );
    assert.deepEqual(ws.filter((e) => e.request!.opcode === 'ping').map((e) => e.frames!.request), theirs.pings);
  });
}

test('WebSocket: the deflate capture inflates with context takeover (later messages reuse the window)', async () => {
  const { entries } = await dissectFile(sharedCapture('suricata-websocket-permessage-deflate.pcap'));
  const ws = entries.filter((e) => e.protocol === 'ws');
  assert.equal(ws.length, 10);
  for (const e of ws) {
    assert.equal(e.request!.compressed, true);
    assert.match(e.request!.body, /^(KEY|TOGGLE)=/);
  }
  // The summary never repeats the body (output redaction reads the body, not the summary, for secrets).
  assert.doesNotMatch(ws[0].summary, /07cb95/);
});

test('WebSocket: ping/pong latency and fragment count on the zeek capture', async () => {
  const { entries } = await dissectFile(sharedCapture('zeek-websocket-two-binary-fragments.pcap'));
  const ping = entries.find((e) => e.protocol === 'ws' && e.request!.opcode === 'ping')!;
  assert.equal(ping.request!.from, 'server');
  assert.equal(ping.response!.opcode, 'pong');
  assert.ok(ping.elapsedTime > 0);
  const fragmented = entries.find((e) => e.protocol === 'ws' && e.request!.frames === 2)!;
  assert.equal(fragmented.request!.bodySize, 12);
});

/** A frame as RFC 6455 §5.2 lays it out. */
function frame(opcode: number, payload: Buffer, opts: { fin?: boolean; mask?: boolean; rsv1?: boolean } = {}): Buffer {
  const { fin = true, mask = false, rsv1 = false } = opts;
  const len = payload.length;
  const head = [((fin ? 0x80 : 0) | (rsv1 ? 0x40 : 0) | opcode), 0];
  let ext = Buffer.alloc(0);
  if (len < 126) head[1] = len;
  else if (len < 65536) {
    head[1] = 126;
    ext = Buffer.alloc(2);
    ext.writeUInt16BE(len);
  } else {
    head[1] = 127;
    ext = Buffer.alloc(8);
    ext.writeBigUInt64BE(BigInt(len));
  }
  if (!mask) return Buffer.concat([Buffer.from(head), ext, payload]);
  head[1] |= 0x80;
  const key = Buffer.from([1, 2, 3, 4]);
  const body = Buffer.from(payload.map((b, i) => b ^ key[i & 3]));
  return Buffer.concat([Buffer.from(head), ext, key, body]);
}

test('WebSocket: close codes, gaps resync on the next frame, no-context-takeover deflate, body cap', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters, { maxBody: 8, noBodies: false });
  const p = new WebSocketParser(ctx, parseDeflate('permessage-deflate; server_no_context_takeover'));
  const deflated = (s: string) => zlib.deflateRawSync(Buffer.from(s), { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  p.onData('s2c', frame(1, deflated('hello hello hello'), { rsv1: true }));
  p.onData('s2c', frame(1, deflated('hello again'), { rsv1: true }));
  p.onData('c2s', frame(2, Buffer.alloc(300, 7), { mask: true }));
  p.onGap('c2s', 100);
  p.onData('c2s', Buffer.from([0x42, 0x99, 0x00])); // junk after the gap: skipped
  p.onData('c2s', frame(1, Buffer.from('after gap'), { mask: true }));
  const closePayload = Buffer.concat([Buffer.from([0x03, 0xf3]), Buffer.from('boom')]); // 1011 internal error
  p.onData('s2c', frame(8, closePayload));
  p.onData('c2s', frame(8, Buffer.from([0x03, 0xf3]), { mask: true }));
  p.onEnd();
  assert.deepEqual(records.map((r) => r.summary), [
    'server text 17 bytes',
    'server text 11 bytes',
    'client binary 300 bytes',
    'client text 9 bytes',
    'server close 1011 boom → close 1011',
  ]);
  assert.equal(records[0].request!.body, 'hello he');
  assert.equal(records[0].request!.bodyTruncated, true);
  assert.equal(records[4].error, true);
  assert.ok(counters['ws.resync_skipped'] > 0);
});

test('WebSocket: a frame with no payload (a close without a code, an empty ping or pong) is done when its header is, not when more bytes come', () => {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {}, { maxBody: 64, noBodies: false }) as ReturnType<typeof makeContext> & { frame: number };
  const p = new WebSocketParser(ctx, null);
  const at = (frameNo: number, dir: 'c2s' | 's2c', bytes: Buffer) => {
    ctx.frame = frameNo;
    p.onData(dir, bytes);
  };
  // Each frame alone in its packet, as servers send them.
  at(5, 's2c', frame(8, Buffer.alloc(0)));
  at(6, 'c2s', frame(8, Buffer.from([0x03, 0xe8]), { mask: true }));
  at(7, 's2c', frame(1, Buffer.alloc(0)));
  at(8, 'c2s', frame(9, Buffer.alloc(0), { mask: true }));
  at(9, 's2c', frame(10, Buffer.alloc(0)));
  p.onEnd();
  assert.deepEqual(records.map((r) => `${r.summary} ${r.requestFrame} ${r.responseFrame ?? '-'}`), [
    'server close → close 1000 5 6',
    'server text 0 bytes 7 -',
    'client ping → pong 8 9',
  ]);
});

test('WebSocket subprotocol mqtt: packets read across and within messages, inflated, and resumed after a gap; control frames stay ws; a message not inflated is a reported loss', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const p = createWebSocketParserAfterUpgrade(ctx, 'permessage-deflate', 'mqtt');
  const deflated = (b: Buffer) => zlib.deflateRawSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  const str = (s: string) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)]);
  const connectBody = Buffer.concat([str('MQTT'), Buffer.from([4, 2, 0, 30]), str('ws-unit')]);
  const connect = Buffer.concat([Buffer.from([0x10, connectBody.length]), connectBody]);
  const publish = (id: number, topic: string, body: string) => {
    const rest = Buffer.concat([str(topic), Buffer.from([0, id]), Buffer.from(body)]);
    return Buffer.concat([Buffer.from([0x32, rest.length]), rest]);
  };
  const puback = (id: number) => Buffer.from([0x40, 2, 0, id]);
  let n = 0;
  const send = (dir: 'c2s' | 's2c', bytes: Buffer) => {
    ctx.frame = ++n;
    p.onData(dir, bytes);
  };
  // CONNECT across two messages, CONNACK and a PUBLISH's PUBACK compressed together in one.
  const one = publish(1, 'a/b', 'first');
  send('c2s', frame1(connect.subarray(0, 5), true));
  send('c2s', frame1(connect.subarray(5), true));
  send('c2s', frame1(Buffer.concat([one, publish(2, 'a/c', 'second')]), true));
  send('s2c', frame1(deflated(Buffer.concat([Buffer.from([0x20, 2, 0, 0]), puback(1)])), false, true));
  send('s2c', frame1(deflated(puback(2)), false, true));
  // A ping is still a ws entry; lost client bytes end the stream there, the next packet start resumes it.
  send('c2s', frame(9, Buffer.from('hb'), { mask: true }));
  send('s2c', frame(10, Buffer.from('hb')));
  p.onGap('c2s', 40);
  send('c2s', frame1(publish(3, 'a/d', 'after gap'), true));
  send('s2c', frame1(deflated(puback(3)), false, true));
  p.onEnd('fin');
  assert.deepEqual(records.map((r) => [r.protocol, r.summary, r.requestFrame, r.responseFrame]), [
    ['mqtt', 'CONNECT ws-unit → CONNACK Connection Accepted', 1, 4],
    ['mqtt', 'PUBLISH a/b qos=1 → PUBACK', 3, 4],
    ['mqtt', 'PUBLISH a/c qos=1 → PUBACK', 3, 5],
    ['ws', 'client ping → pong', 6, 7],
    ['mqtt', 'PUBLISH a/d qos=1 → PUBACK', 8, 9],
  ]);
  assert.deepEqual(records.map((r) => r.request?.body).filter(Boolean), ['first', 'second', 'after gap']);
  assert.equal(counters['ws.subprotocol.mqtt'], 1);
  // A compressed message that does not inflate is a gap in that side's MQTT stream, reported as a loss;
  // without context takeover the next one inflates, and the flow pairs again.
  const again: CallRecord[] = [];
  const lossy: Record<string, number> = {};
  const q = createWebSocketParserAfterUpgrade(makeContext(again, lossy), 'permessage-deflate; server_no_context_takeover', 'mqttv3.1');
  q.onData('c2s', frame1(Buffer.concat([connect, one]), true));
  q.onData('s2c', frame1(Buffer.from([0xff, 0xff, 0xff, 0xff]), false, true));
  q.onData('c2s', frame1(publish(2, 'a/c', 'second'), true));
  q.onData('s2c', frame1(deflated(puback(2)), false, true));
  q.onEnd('fin');
  assert.deepEqual(again.map((r) => r.summary).sort(), ['CONNECT ws-unit → unanswered', 'PUBLISH a/b qos=1 → unanswered', 'PUBLISH a/c qos=1 → PUBACK']);
  assert.equal(lossCounters(lossy)['ws.inner_dropped'], 1);
});

test('WebSocket without a subprotocol named: a client first message that is an MQTT CONNECT (compressed or not) makes the messages MQTT; any other first message keeps them ws', async () => {
  const str = (s: string) => Buffer.concat([Buffer.from([s.length >> 8, s.length & 0xff]), Buffer.from(s)]);
  const connectOf = (name: string, level: number) => {
    // MQTT 5 puts its properties' length (none here) after the keep-alive.
    const body = Buffer.concat([str(name), Buffer.from(level === 5 ? [level, 2, 0, 30, 0] : [level, 2, 0, 30]), str('unnamed')]);
    return Buffer.concat([Buffer.from([0x10, body.length]), body]);
  };
  const publishOf = (level: number) => Buffer.concat([Buffer.from([0x32, level === 5 ? 11 : 10]), str('a/b'), Buffer.from(level === 5 ? [0, 1, 0] : [0, 1]), Buffer.from('hi!')]);
  const publish = publishOf(4);
  const deflated = (b: Buffer) => zlib.deflateRawSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  for (const [name, level, compressed] of [['MQTT', 4, false], ['MQTT', 5, true], ['MQIsdp', 3, false]] as const) {
    const records: CallRecord[] = [];
    const counters: Record<string, number> = {};
    const p = createWebSocketParserAfterUpgrade(makeContext(records, counters), compressed ? 'permessage-deflate' : undefined, undefined);
    const connect = connectOf(name, level);
    p.onData('c2s', compressed ? frame1(deflated(connect), true, true) : frame1(connect, true));
    p.onData('s2c', frame1(level === 5 ? Buffer.from([0x20, 3, 0, 0, 0]) : Buffer.from([0x20, 2, 0, 0]), false));
    p.onData('c2s', frame1(publishOf(level), true));
    p.onData('s2c', frame1(level === 5 ? Buffer.from([0x40, 3, 0, 1, 0]) : Buffer.from([0x40, 2, 0, 1]), false));
    p.onEnd('fin');
    assert.deepEqual(records.map((r) => [r.protocol, (r.request as any)?.type, (r.response as any)?.type]), [['mqtt', 'CONNECT', 'CONNACK'], ['mqtt', 'PUBLISH', 'PUBACK']], name);
    assert.equal(records[0].request!.protocolName, name);
    assert.equal(counters['ws.subprotocol.mqtt'], 1);
  }
  // Another protocol's first message (even one that is a CONNECT later) stays ws, shown to --max-body only.
  const records: CallRecord[] = [];
  const p = createWebSocketParserAfterUpgrade(makeContext(records, {}, { maxBody: 8, noBodies: false }), undefined, undefined);
  p.onData('c2s', frame1(Buffer.alloc(300, 7), true));
  p.onData('c2s', frame1(connectOf('MQTT', 4), true));
  p.onData('c2s', frame(1, Buffer.from('\x10 text is not MQTT'), { mask: true }));
  p.onEnd('fin');
  assert.deepEqual(records.map((r) => r.summary), ['client binary 300 bytes', 'client binary 21 bytes', 'client text 18 bytes']);
  assert.equal(records[0].request!.body, Buffer.alloc(8, 7).toString('base64'));
  assert.equal(records[0].request!.bodyTruncated, true);
  // The --decode-as path for a capture that holds neither the handshake nor the CONNECT.
  const { parseDecodeAs, DecodeAsTable } = await import('../../src/dissect/decode-as.js');
  const forced = new DecodeAsTable([parseDecodeAs('tcp.port==8083,mqttws')]).lookup('tcp', 40000, 8083)!;
  assert.equal(forced.dissector.name, 'mqttws');
  const mid: CallRecord[] = [];
  const q = forced.dissector.createTcpParser!(makeContext(mid, {}));
  q.onData('c2s', frame1(publish, true));
  q.onData('s2c', frame1(Buffer.from([0x40, 2, 0, 1]), false));
  q.onData('c2s', frame(9, Buffer.from('hb'), { mask: true }));
  q.onData('s2c', frame(10, Buffer.from('hb')));
  q.onEnd('fin');
  assert.deepEqual(mid.map((r) => [r.protocol, r.summary]), [['mqtt', 'PUBLISH a/b qos=1 → PUBACK'], ['ws', 'client ping → pong']]);
});

/** One data frame (binary, FIN), masked as a client sends it, or compressed (RSV1) as a server does. */
function frame1(payload: Buffer, mask: boolean, rsv1 = false): Buffer {
  return frame(2, payload, { mask, rsv1 });
}

test('WebSocket: a compressed message that is not inflated (past 8 MB inflated, or its window lost to a gap) shows no bytes', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters, { maxBody: 64 * 1024, noBodies: false });
  const p = new WebSocketParser(ctx, parseDeflate('permessage-deflate'));
  const deflated = (b: Buffer) => zlib.deflateRawSync(b, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4);
  // A secret, then 20 MB of padding: a few KB on the wire. Shown deflated, anyone could inflate the secret.
  const bomb = deflated(Buffer.concat([Buffer.from('{"password":"ws-bomb-secret"}'), Buffer.alloc(20 * 1024 * 1024, 0x20)]));
  p.onData('s2c', frame(1, bomb, { rsv1: true }));
  // With context takeover, a gap loses the window: later messages cannot be inflated.
  p.onData('c2s', frame(1, deflated(Buffer.from('{"token":"before-gap"}')), { rsv1: true, mask: true }));
  p.onGap('c2s', 50);
  p.onData('c2s', frame(1, deflated(Buffer.from('{"token":"ws-after-gap-secret"}')), { rsv1: true, mask: true }));
  p.onEnd();
  const [bombCall, before, after] = records;
  assert.equal(bombCall.request!.body, undefined);
  assert.ok(bombCall.warnings!.some((w) => w.startsWith('compressed: ')), String(bombCall.warnings));
  assert.equal(before.request!.body, '{"token":"before-gap"}');
  assert.equal(after.request!.body, undefined);
  assert.ok(after.warnings!.includes('compressed: context lost after a gap, not inflated'), String(after.warnings));
  assert.ok(!JSON.stringify(records).includes('secret'));
});
