// Kafka and AMQP 0-9-1 parsers against tshark on the shared captures.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { kafka, probeKafka } from '../../src/dissect/protocols/kafka.js';
import { amqp, amqpMethodName as amqpName, probeAmqp, PROTOCOL_HEADER } from '../../src/dissect/protocols/amqp.js';
import type { CallRecord, Direction } from '../../src/dissect/api.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import type { Entry } from '../../src/model/entry.js';
import { AGG, feedConnections, makeContext, tcpSegments, type Segment } from './helpers.js';

const KAFKA_FIELDS = ['kafka.api_key', 'kafka.correlation_id', 'kafka.request_frame', 'kafka.client_id', 'kafka.topic_name', 'kafka.api_version'];

function kafkaRows(segments: Segment[]): { requests: string[]; responses: string[]; topics: string[] } {
  const requests: string[] = [];
  const responses: string[] = [];
  const topics: string[] = [];
  for (const s of segments) {
    const [apiKey, corr, reqFrame, clientId, topic, version] = s.extra;
    if (corr === '' || corr === undefined) continue;
    if (reqFrame === '' && version !== '') requests.push(`${s.frame} key=${apiKey} v=${version} corr=${corr} client=${clientId}`);
    else responses.push(`${s.frame} corr=${corr} req=${reqFrame}`);
    for (const t of topic.split(AGG).filter((x) => x !== '' && x !== '[ Null ]')) topics.push(`${s.frame} ${t}`);
  }
  return { requests: requests.sort(), responses: responses.sort(), topics: [...new Set(topics)].sort() };
}

function ourKafka(records: CallRecord[]): { requests: string[]; responses: string[] } {
  return {
    requests: records
      .filter((r) => r.request)
      .map((r) => `${r.requestFrame} key=${r.request!.apiKey} v=${r.request!.apiVersion} corr=${r.request!.correlationId} client=${r.request!.clientId}`)
      .sort(),
    responses: records.filter((r) => r.response).map((r) => `${r.responseFrame} corr=${r.response!.correlationId} req=${r.request ? r.requestFrame : ''}`).sort(),
  };
}

for (const file of ['deepflow-kafka-00-produce-v2.pcap', 'ndpi-kafka.pcapng']) {
  test(`Kafka ${file}: headers and request/response pairing as tshark`, () => {
    const segments = tcpSegments(sharedCapture(file), { fields: KAFKA_FIELDS });
    const { records, counters } = feedConnections(kafka, segments);
    assert.deepEqual(counters, {});
    const theirs = kafkaRows(segments);
    const ours = ourKafka(records);
    assert.deepEqual(ours.requests, theirs.requests);
    // tshark cannot read the Produce v9 response in frame 37, so it does not link it to its request (36); we do.
    assert.deepEqual(ours.responses, theirs.responses.map((r) => (r === '37 corr=6 req=' ? '37 corr=6 req=36' : r)));
    for (const r of records) assert.ok(!r.warnings?.some((w) => w.startsWith('malformed')), `${r.summary} ${r.warnings}`);
  });
}

test('Kafka: Produce v2 topic/partition/offset and Metadata topics', () => {
  const segments = tcpSegments(sharedCapture('deepflow-kafka-00-produce-v2.pcap'), { fields: KAFKA_FIELDS });
  const [produce] = feedConnections(kafka, segments).records;
  assert.equal(produce.request!.apiKeyName, 'Produce');
  assert.equal(produce.request!.clientId, 'console-producer');
  assert.equal(produce.request!.acks, 1);
  assert.deepEqual(produce.request!.topics.map((t: any) => [t.name, t.partitions.map((p: any) => p.partition)]), [['topic2', [0]]]);
  assert.equal(produce.response!.topics[0].partitions[0].errorCode, 0);
  assert.equal(typeof produce.response!.topics[0].partitions[0].baseOffset, 'number');
  assert.equal(produce.error, false);
  const ndpi = tcpSegments(sharedCapture('ndpi-kafka.pcapng'), { fields: KAFKA_FIELDS });
  const { records } = feedConnections(kafka, ndpi);
  const theirTopics = kafkaRows(ndpi).topics;
  const ourTopics = records
    .flatMap((r) => [
      ...(r.request?.topics ?? []).map((t: any) => `${r.requestFrame} ${t.name}`),
      ...(r.response?.topics ?? []).map((t: any) => `${r.responseFrame} ${t.name}`),
    ])
    .filter((t) => !t.endsWith(' null'));
  // Every topic tshark names is named by us in the same frame (we also read the v9/v12 ones it cannot).
  for (const t of theirTopics) assert.ok(ourTopics.includes(t), `missing ${t}`);
  const metadata = records.find((r) => r.request?.apiKeyName === 'Metadata' && r.response)!;
  assert.ok(metadata.response!.brokers.length >= 1);
  const orphans = records.filter((r) => r.request === null);
  assert.equal(orphans.length, 3);
  assert.ok(orphans.every((r) => r.warnings?.includes('request not captured')));
});

test('Kafka: an error code marks the call; acks=0 produce needs no response', () => {
  const records: CallRecord[] = [];
  const parser = kafka.createTcpParser!(makeContext(records, {}));
  // Metadata v1 request for topic "t" and a response with UNKNOWN_TOPIC_OR_PARTITION.
  const req = Buffer.from('0003' + '0001' + '00000007' + '0001' + '63' + '00000001' + '000174', 'hex');
  parser.onData('c2s', Buffer.concat([u32(req.length), req]));
  const res = Buffer.from('00000007' + '00000000' + 'ffffffff' + '00000001' + '0003' + '000174' + '00' + '00000000', 'hex');
  parser.onData('s2c', Buffer.concat([u32(res.length), res]));
  // Produce v0 acks=0.
  const produce = Buffer.from('0000' + '0000' + '00000008' + '0001' + '63' + '0000' + '000003e8' + '00000000', 'hex');
  parser.onData('c2s', Buffer.concat([u32(produce.length), produce]));
  parser.onEnd('fin');
  assert.equal(records.length, 2);
  assert.equal(records[0].error, true);
  assert.equal(records[0].response!.errorName, 'UNKNOWN_TOPIC_OR_PARTITION');
  assert.equal(records[1].request!.acks, 0);
  assert.equal(records[1].error, false);
  assert.equal(records[1].warnings, undefined);
});

test('Kafka: Fetch v4 topics/partitions/offsets, and a partition error (OFFSET_OUT_OF_RANGE)', () => {
  const records: CallRecord[] = [];
  const parser = kafka.createTcpParser!(makeContext(records, {}));
  const req = Buffer.from(
    '0001' + '0004' + '0000002a' + '0001' + '63' + // Fetch v4, correlation 42, client "c"
      'ffffffff' + '000001f4' + '00000001' + '03200000' + '00' + // replica, max wait, min bytes, max bytes, isolation
      '00000001' + '000174' + '00000001' + '00000000' + '0000000000000005' + '00100000', // topic t, partition 0 @5
    'hex',
  );
  parser.onData('c2s', Buffer.concat([u32(req.length), req]));
  const res = Buffer.from(
    '0000002a' + '00000000' + // correlation, throttle
      '00000001' + '000174' + '00000001' + '00000000' + '0001' + '000000000000000a' + '000000000000000a' + 'ffffffff' + '00000000',
    'hex',
  );
  parser.onData('s2c', Buffer.concat([u32(res.length), res]));
  parser.onEnd('fin');
  assert.equal(records.length, 1);
  const [fetch] = records;
  assert.equal(fetch.request!.apiKeyName, 'Fetch');
  assert.equal(fetch.request!.maxWaitMs, 500);
  assert.deepEqual(fetch.request!.topics, [{ name: 't', partitions: [{ partition: 0, fetchOffset: 5, maxBytes: 1048576 }] }]);
  assert.equal(fetch.response!.topics[0].partitions[0].highWatermark, 10);
  assert.equal(fetch.error, true);
  assert.equal(fetch.response!.errorName, 'OFFSET_OUT_OF_RANGE');
  assert.equal(fetch.summary, 'Fetch v4 t → OFFSET_OUT_OF_RANGE');
});

function u32(n: number): Buffer {
  const b = Buffer.alloc(4);
  b.writeUInt32BE(n);
  return b;
}

test('Kafka probe: request headers on any port, responses only on 9092', () => {
  const segments = tcpSegments(sharedCapture('deepflow-kafka-00-produce-v2.pcap'), { fields: KAFKA_FIELDS });
  assert.equal(probeKafka(segments[0].payload, false), 'request');
  // ApiVersions response (correlation id 129): cannot be read as a request.
  const response = tcpSegments(sharedCapture('ndpi-kafka.pcapng'), { fields: KAFKA_FIELDS }).find((s) => s.frame === 2)!;
  assert.equal(probeKafka(response.payload, true), 'response');
  assert.equal(probeKafka(response.payload, false), false);
  assert.equal(probeKafka(Buffer.from('GET / HTTP/1.1\r\nHost: x\r\n\r\n'), true), false);
});

const AMQP_FIELDS = ['amqp.method.class', 'amqp.method.method', 'amqp.method.arguments.routing_key', 'amqp.method.arguments.reply_code'];

function amqpMethods(segments: Segment[]): string[] {
  const out: string[] = [];
  for (const s of segments) {
    const classes = (s.extra[0] ?? '').split(AGG);
    const methods = (s.extra[1] ?? '').split(AGG);
    classes.forEach((c, i) => c !== '' && out.push(`${c}.${methods[i]}`));
  }
  return out.sort();
}

function ourMethods(records: CallRecord[]): string[] {
  const ids = (name: string): string => {
    const probe: Record<string, string> = {};
    for (const c of [10, 20, 40, 50, 60, 85, 90]) for (let m = 10; m <= 120; m++) probe[amqpName(c, m)] = `${c}.${m}`;
    return probe[name];
  };
  return records.flatMap((r) => [r.request?.method, r.response?.method].filter(Boolean).map((n) => ids(n))).sort();
}

for (const [file, bpf] of [['deepflow-amqp1.pcap', undefined], ['ndpi-amqp.pcap', undefined], ['lab-bookinfo-mix.pcap', 'tcp port 5672']] as const) {
  test(`AMQP ${file}: every method tshark decodes, in one entry`, () => {
    const segments = tcpSegments(sharedCapture(file), { fields: AMQP_FIELDS, bpf });
    const { records, counters } = feedConnections(amqp, segments);
    assert.deepEqual(counters, {});
    assert.deepEqual(ourMethods(records), amqpMethods(segments));
    const routingKeys = segments.flatMap((s) => (s.extra[2] ?? '').split(AGG).filter(Boolean)).sort();
    const ours = records.map((r) => r.request?.routingKey ?? r.response?.routingKey).filter((k) => k !== undefined && k !== '').sort();
    assert.deepEqual(ours, routingKeys);
    for (const r of records) assert.ok(r.responseTime === undefined || r.responseTime >= r.requestTime);
  });
}

test('AMQP: publish carries exchange, routing key, properties and body; sync methods pair', () => {
  const { records } = feedConnections(amqp, tcpSegments(sharedCapture('deepflow-amqp1.pcap'), { fields: AMQP_FIELDS }));
  const publish = records.find((r) => r.request?.method === 'basic.publish')!;
  assert.equal(publish.request!.exchange, 'exchange-1');
  assert.equal(publish.request!.routingKey, 'rk-1');
  assert.ok(publish.request!.bodySize > 0);
  assert.equal(typeof publish.request!.body, 'string');
  const start = records.find((r) => r.request?.method === 'connection.start')!;
  assert.equal(start.response!.method, 'connection.start-ok');
  assert.equal(start.request!.product, 'RabbitMQ');
  const declare = records.find((r) => r.request?.method === 'queue.declare')!;
  assert.equal(declare.response!.queue, 'hello');
  const close = records.find((r) => r.request?.method === 'channel.close')!;
  assert.equal(close.request!.replyCode, 200);
  assert.equal(close.error, false);
});

test('AMQP: a channel.close with 404 is an error; probe verdicts', () => {
  const records: CallRecord[] = [];
  const parser = amqp.createTcpParser!(makeContext(records, {}));
  const method = (channel: number, payload: Buffer): Buffer => {
    const h = Buffer.alloc(7);
    h[0] = 1;
    h.writeUInt16BE(channel, 1);
    h.writeUInt32BE(payload.length, 3);
    return Buffer.concat([h, payload, Buffer.from([0xce])]);
  };
  const text = 'NOT_FOUND - no queue';
  const close = Buffer.concat([Buffer.from('00140028', 'hex'), Buffer.from([0x01, 0x94, text.length]), Buffer.from(text), Buffer.from('0032000a', 'hex')]);
  parser.onData('c2s', PROTOCOL_HEADER);
  parser.onData('s2c', method(1, close));
  parser.onData('c2s', method(1, Buffer.from('00140029', 'hex')));
  parser.onEnd('fin');
  assert.equal(records.length, 1);
  assert.equal(records[0].error, true);
  assert.equal(records[0].request!.replyCode, 404);
  assert.equal(records[0].request!.failedMethod, 'queue.declare');
  assert.equal(records[0].response!.method, 'channel.close-ok');
  assert.equal(probeAmqp(PROTOCOL_HEADER, false), 'request');
  assert.equal(probeAmqp(method(1, close), true), 'request');
  assert.equal(probeAmqp(method(1, Buffer.from('00140029', 'hex')), true), 'response');
  assert.equal(probeAmqp(Buffer.from('GET / HTTP/1.1\r\n\r\n'), true), false);
});

/** One AMQP frame: type, channel, payload, frame-end. */
function amqpFrame(type: number, channel: number, payload: Buffer): Buffer {
  const h = Buffer.alloc(7);
  h[0] = type;
  h.writeUInt16BE(channel, 1);
  h.writeUInt32BE(payload.length, 3);
  return Buffer.concat([h, payload, Buffer.from([0xce])]);
}
const shortstr = (s: string): Buffer => Buffer.concat([Buffer.from([Buffer.byteLength(s)]), Buffer.from(s)]);
const u16 = (n: number): Buffer => Buffer.from([n >> 8, n & 0xff]);
const amqpMethod = (channel: number, classId: number, methodId: number, ...args: Buffer[]): Buffer =>
  amqpFrame(1, channel, Buffer.concat([u16(classId), u16(methodId), ...args]));
const amqpClose = (channel: number, code: number, text: string, failedClass: number, failedMethod: number): Buffer =>
  amqpMethod(channel, channel === 0 ? 10 : 20, channel === 0 ? 50 : 40, u16(code), shortstr(text), u16(failedClass), u16(failedMethod));

/** Feed [dir, bytes] steps to a fresh AMQP parser, one frame number and 10 ms per step. */
function amqpRun(steps: Array<[Direction, Buffer]>): CallRecord[] {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const parser = amqp.createTcpParser!(ctx);
  steps.forEach(([dir, data], i) => {
    ctx.frame = i + 1;
    ctx.now = 1000 + 10 * i;
    parser.onData(dir, data);
  });
  parser.onEnd('fin');
  return records;
}

test('AMQP: connection.open refused by connection.close 530 is answered, and an error', () => {
  const records = amqpRun([
    ['c2s', PROTOCOL_HEADER],
    ['c2s', amqpMethod(0, 10, 40, shortstr('/prod'), shortstr(''), Buffer.from([0]))],
    ['s2c', amqpClose(0, 530, "NOT_ALLOWED - access to vhost '/prod' refused", 10, 40)],
    ['c2s', amqpMethod(0, 10, 51)],
  ]);
  const open = records.find((r) => r.request?.method === 'connection.open')!;
  assert.equal(open.response?.method, 'connection.close');
  assert.equal(open.response?.replyCode, 530);
  assert.equal(open.error, true);
  assert.equal(open.warnings, undefined, 'answered, not unanswered');
  assert.deepEqual([open.requestFrame, open.responseFrame], [2, 3]);
  assert.equal(open.summary, "connection.open 530 NOT_ALLOWED - access to vhost '/prod' refused → connection.close");
  // The close keeps its own handshake.
  const close = records.find((r) => r.request?.method === 'connection.close')!;
  assert.equal(close.response?.method, 'connection.close-ok');
});

test('AMQP: exchange.declare refused by channel.close 406 is answered; other channels still wait', () => {
  const declare = amqpMethod(1, 40, 10, u16(0), shortstr('logs'), shortstr('fanout'), Buffer.from([0x02]), Buffer.alloc(4));
  const queueOn2 = amqpMethod(2, 50, 10, u16(0), shortstr('q2'), Buffer.from([0]), Buffer.alloc(4));
  const records = amqpRun([
    ['c2s', declare],
    ['c2s', queueOn2],
    ['s2c', amqpClose(1, 406, "PRECONDITION_FAILED - inequivalent arg 'type' for exchange 'logs'", 40, 10)],
    ['c2s', amqpMethod(1, 20, 41)],
  ]);
  const refused = records.find((r) => r.request?.method === 'exchange.declare')!;
  assert.equal(refused.response?.method, 'channel.close');
  assert.equal(refused.error, true);
  assert.match(refused.summary, /^exchange\.declare logs 406 PRECONDITION_FAILED/);
  const other = records.find((r) => r.request?.method === 'queue.declare')!;
  assert.equal(other.response, null, 'a channel.close answers only its own channel');
  assert.deepEqual(other.warnings, ['unanswered']);
});

test('AMQP: basic.publish has no response, not its own body frame', () => {
  const publish = amqpMethod(1, 60, 40, u16(0), shortstr('ex'), shortstr('rk'), Buffer.from([0]));
  const header = amqpFrame(2, 1, Buffer.concat([u16(60), u16(0), Buffer.from('0000000000000005', 'hex'), u16(0)]));
  const records = amqpRun([
    ['c2s', PROTOCOL_HEADER],
    ['c2s', publish],
    ['c2s', header],
    ['c2s', amqpFrame(3, 1, Buffer.from('hello'))],
  ]);
  assert.equal(records.length, 1);
  const [r] = records;
  assert.equal(r.request?.method, 'basic.publish');
  assert.equal(r.request?.body, 'hello');
  assert.equal(r.response, null);
  assert.equal(r.requestFrame, 2);
  assert.equal(r.responseFrame, undefined);
  assert.equal(r.responseTime, undefined);
});

/** The calls a frame is part of (a frame that carries one method belongs to one call). */
function callsWithFrame(entries: Entry[], frame: number): string[] {
  return entries.filter((e) => e.frames?.request === frame || e.frames?.response === frame).map((e) => e.summary);
}

/** The AMQP calls of a pcap (classic format) with its records rearranged: `order` lists the 1-based records to keep, in order. */
async function amqpCallsOf(file: string, order: (records: number) => number[]): Promise<Entry[]> {
  const bytes = readFileSync(file);
  const le = bytes.readUInt32LE(0) === 0xa1b2c3d4 || bytes.readUInt32LE(0) === 0xa1b23c4d;
  const records: Buffer[] = [];
  for (let off = 24; off + 16 <= bytes.length; ) {
    const incl = le ? bytes.readUInt32LE(off + 8) : bytes.readUInt32BE(off + 8);
    records.push(bytes.subarray(off, off + 16 + incl));
    off += 16 + incl;
  }
  const dir = mkdtempSync(join(tmpdir(), 'shark-amqp-'));
  try {
    const out = join(dir, 'rearranged.pcap');
    writeFileSync(out, Buffer.concat([bytes.subarray(0, 24), ...order(records.length).map((n) => records[n - 1])]));
    const { entries, error } = await dissectFile(out);
    assert.equal(error, undefined);
    return entries.filter((e) => e.protocol === 'amqp');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
}

const range = (n: number): number[] => Array.from({ length: n }, (_, i) => i + 1);

test('AMQP: a connection.start whose start-ok was lost is unanswered (gap), not answered by the client close (deepflow-amqp1 without frame 10)', async () => {
  const file = sharedCapture('deepflow-amqp1.pcap');
  // tshark agrees on what frame 10 was.
  const info = execFileSync('tshark', ['-r', file, '-Y', 'frame.number==10', '-T', 'fields', '-e', '_ws.col.Info'], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] });
  assert.match(info, /Connection\.Start-Ok/);
  const entries = await amqpCallsOf(file, (n) => range(n).filter((f) => f !== 10));
  // Frame 29 (28 once frame 10 is gone) is the client's connection.close.
  assert.deepEqual(callsWithFrame(entries, 28), ['connection.close 200 Normal shutdown → connection.close-ok']);
  const start = entries.find((e) => e.request?.method === 'connection.start')!;
  assert.equal(start.response, null);
  assert.deepEqual(start.warnings, ['unanswered', 'gap']);
  assert.equal(start.elapsedTime, 0);
  assert.equal(entries.filter((e) => e.response?.method === 'connection.close').length, 0);
});

test('AMQP: a reply captured before its request (two packets swapped) still pairs with it, by the ACK it carries', async () => {
  const file = sharedCapture('deepflow-amqp1.pcap');
  const clean = await amqpCallsOf(file, range);
  const tune = clean.find((e) => e.request?.method === 'connection.tune')!;
  assert.deepEqual(tune.frames, { request: 11, response: 12 });
  // Frame 12 (tune-ok, acknowledging the tune) now comes before frame 11 (the tune).
  const swapped = await amqpCallsOf(file, (n) => range(n).map((f) => (f === 11 ? 12 : f === 12 ? 11 : f)));
  const summaries = (entries: Entry[]): string[] => entries.map((e) => `${e.summary} ${e.warnings ?? ''}`).sort();
  assert.deepEqual(summaries(swapped), summaries(clean));
  assert.deepEqual(swapped.find((e) => e.request?.method === 'connection.tune')!.frames, { request: 12, response: 11 });
  assert.deepEqual(callsWithFrame(swapped, 11), ['connection.tune → connection.tune-ok']);
  assert.deepEqual(callsWithFrame(swapped, 12), ['connection.tune → connection.tune-ok']);
});

test('AMQP: the client closing answers nothing the server awaits; a normal close refuses nothing', () => {
  const tune = amqpMethod(0, 10, 30, u16(2047), Buffer.from([0, 2, 0, 0]), u16(60));
  const records = amqpRun([
    ['c2s', PROTOCOL_HEADER],
    ['s2c', tune],
    ['c2s', amqpClose(0, 200, 'Normal shutdown', 0, 0)],
    ['s2c', amqpMethod(0, 10, 51)],
  ]);
  assert.deepEqual(
    records.map((r) => [r.summary, r.requestFrame, r.responseFrame ?? null, r.warnings ?? null]),
    [
      ['connection.close 200 Normal shutdown → connection.close-ok', 3, 4, null],
      ['connection.tune', 2, null, ['unanswered']],
    ],
  );
  // The server closing normally (200) is no refusal of what the client awaits either.
  const declare = amqpMethod(1, 50, 10, u16(0), shortstr('q'), Buffer.from([0]), Buffer.alloc(4));
  const normal = amqpRun([
    ['c2s', declare],
    ['s2c', amqpClose(1, 200, 'bye', 0, 0)],
    ['c2s', amqpMethod(1, 20, 41)],
  ]);
  assert.equal(normal.find((r) => r.request?.method === 'queue.declare')!.response, null);
});

test('AMQP: a close that names the method it refuses answers only that method', () => {
  const declare = amqpMethod(1, 40, 10, u16(0), shortstr('logs'), shortstr('fanout'), Buffer.from([0x02]), Buffer.alloc(4));
  const qos = amqpMethod(1, 60, 10, Buffer.alloc(4), u16(10), Buffer.from([0]));
  const records = amqpRun([
    ['c2s', qos],
    ['c2s', declare],
    ['s2c', amqpClose(1, 406, 'PRECONDITION_FAILED - inequivalent arg', 40, 10)],
    ['c2s', amqpMethod(1, 20, 41)],
  ]);
  assert.equal(records.find((r) => r.request?.method === 'exchange.declare')!.response?.method, 'channel.close');
  assert.equal(records.find((r) => r.request?.method === 'basic.qos')!.response, null);
});
