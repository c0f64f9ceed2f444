// Which side of a Kafka connection is the client when its start (SYN) was not
// captured: a response read first must not turn the broker into the client.
// A slice of a real capture that begins with a broker's Produce response,
// against tshark, then synthetic connections on the broker port and off it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { mkdtempSync, rmSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import type { CallRecord, Direction, ProtocolDissector } from '../../src/dissect/api.js';
import { isFlexible, kafka } from '../../src/dissect/protocols/kafka.js';
import { emptyEndpoint, type Entry } from '../../src/model/entry.js';
import { sharedCapture } from '../helpers/paths.js';
import { dissectFile } from '../helpers/dissect.js';
import { runEngine, Wire } from '../helpers/engine-wire.js';
import { KafkaWriter } from './kafka-wire.js';
import { conversations, fuzzDissector, makeContext, tcpSegments, type Segment } from './helpers.js';

/** Requests (frame, api key, version, correlation id) and responses (frame, correlation id, request frame) as tshark reads them. */
function tsharkCalls(file: string): { requests: string[]; responses: string[] } {
  const out = execFileSync(
    'tshark',
    ['-r', file, '-Y', 'kafka', '-T', 'fields', '-e', 'frame.number', '-e', 'kafka.request_key', '-e', 'kafka.api_version', '-e', 'kafka.correlation_id', '-e', 'kafka.request_frame'],
    { encoding: 'utf8', stdio: ['ignore', 'pipe', 'ignore'] },
  );
  const requests: string[] = [];
  const responses: string[] = [];
  for (const line of out.split('\n').filter((l) => l !== '')) {
    const [frame, key, version, corr, reqFrame] = line.split('\t');
    if (key !== '') requests.push(`${frame} key=${key} v=${version} corr=${corr}`);
    else responses.push(`${frame} corr=${corr} req=${reqFrame}`);
  }
  return { requests: requests.sort(), responses: responses.sort() };
}

function ourCalls(entries: Entry[]): { requests: string[]; responses: string[] } {
  const kafka = entries.filter((e) => e.protocol === 'kafka');
  return {
    requests: kafka.filter((e) => e.request).map((e) => `${e.frames!.request} key=${e.request!.apiKey} v=${e.request!.apiVersion} corr=${e.request!.correlationId}`).sort(),
    responses: kafka
      .filter((e) => e.response)
      .map((e) => `${e.frames!.response} corr=${e.response!.correlationId} req=${e.request ? e.frames!.request : ''}`)
      .sort(),
  };
}

test('Kafka caught mid-connection, a Produce response first (ndpi-kafka frames 16-20): calls as tshark reads them', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-kafka-mid-'));
  try {
    const slice = join(dir, 'from16.pcap');
    execFileSync('editcap', ['-r', sharedCapture('ndpi-kafka.pcapng'), slice, '16-20'], { stdio: 'ignore' });
    const { entries, error } = await dissectFile(slice);
    assert.equal(error, undefined);
    const theirs = tsharkCalls(slice);
    assert.deepEqual(ourCalls(entries), theirs);
    // The first frame is the broker's answer to a request sent before the capture began.
    assert.ok(theirs.responses.includes('1 corr=2 req='));
    for (const e of entries) assert.equal(e.dst.port, 9092, e.summary);
    const orphan = entries.find((e) => e.frames?.request === 1)!;
    assert.equal(orphan.request, null);
    assert.deepEqual(orphan.warnings, ['request not captured']);
    const produce = entries.find((e) => e.request?.apiKeyName === 'Produce')!;
    assert.equal(produce.summary, 'Produce v3 LB_MAIN_LOG_INPUT → NONE');
    assert.equal(produce.error, false);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

/** Produce v3 (classic encoding) of one record set to topic `orders`, and the broker's answer. */
function produceRequest(correlationId: number): Buffer {
  const body = new KafkaWriter(false)
    .i16(0).i16(3).i32(correlationId).nstr('shop')
    .nstr(null).i16(1).i32(30_000)
    .arr(['orders'], (w, name) => w.str(name).arr([0], (p, partition) => p.i32(partition).bytes(null)))
    .done();
  return sized(body);
}

function produceResponse(correlationId: number): Buffer {
  const body = new KafkaWriter(false)
    .i32(correlationId)
    .arr(['orders'], (w, name) => w.str(name).arr([0], (p, partition) => p.i32(partition).i16(0).i64(41n).i64(-1n)))
    .i32(0)
    .done();
  return sized(body);
}

function sized(body: Buffer): Buffer {
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  return Buffer.concat([size, body]);
}

/**
 * A connection seen from its middle: the broker's answer to an uncaptured
 * request (correlation id 2: its bytes read as a Produce v2 request whose client
 * id is the topic name), then one whole Produce call (id 3).
 */
function midConnection(brokerPort: number): Entry[] {
  const wire = new Wire();
  wire.send(1_000, 2, brokerPort, 40_123, produceResponse(2));
  wire.send(1_010, 1, 40_123, brokerPort, produceRequest(3));
  wire.send(1_020, 2, brokerPort, 40_123, produceResponse(3));
  return runEngine(wire.packets).map((o) => o.entry);
}

for (const port of [9092, 19092]) {
  test(`Kafka mid-connection on port ${port}: a response seen first is an answer with no request, not the broker asking`, () => {
    const entries = midConnection(port).filter((e) => e.protocol === 'kafka');
    assert.deepEqual(
      entries.map((e) => [e.summary, e.src.port, e.dst.port, e.frames, e.warnings ?? null]),
      [
        ['response #2 → ok', 40_123, port, { request: 1, response: 1 }, ['request not captured']],
        ['Produce v3 orders → NONE', 40_123, port, { request: 2, response: 3 }, null],
      ],
    );
  });
}

/** One connection fed to the parser; `guessed`: its start unseen, on no broker port, the client taken to be `client` ("broker" = the wrong guess). */
function feedConnection(segments: Segment[], guessed?: 'client' | 'broker'): CallRecord[] {
  const records: CallRecord[] = [];
  const base = makeContext(records, {});
  const ctx = guessed ? { ...base, clientGuessed: true, client: emptyEndpoint('198.18.48.1', 40000), server: emptyEndpoint('198.18.48.2', 19092) } : base;
  const parser = kafka.createTcpParser!(ctx);
  for (const s of segments) {
    ctx.now = s.time;
    ctx.frame = s.frame;
    const fromClient = s.dstPort === 9092;
    const dir: Direction = fromClient === (guessed !== 'broker') ? 'c2s' : 's2c';
    parser.onData(dir, s.payload);
  }
  parser.onEnd('eof');
  return records;
}

test('Kafka without its start, off the broker port: the same calls whichever side was taken for the client (ndpi-kafka)', () => {
  const byStream = new Map<number, Segment[]>();
  for (const s of tcpSegments(sharedCapture('ndpi-kafka.pcapng'))) if (s.payload.length > 0) byStream.set(s.stream, [...(byStream.get(s.stream) ?? []), s]);
  const shown = (r: CallRecord): unknown[] => [r.summary, r.requestFrame, r.responseFrame, r.requestTime, r.responseTime, r.error, r.warnings ?? null];
  let calls = 0;
  for (const [stream, segments] of byStream) {
    const known = feedConnection(segments).map(shown);
    calls += known.length;
    const right = feedConnection(segments, 'client');
    const wrong = feedConnection(segments, 'broker');
    assert.deepEqual(right.map(shown), known, `stream ${stream}, client guessed right`);
    assert.deepEqual(wrong.map(shown), known, `stream ${stream}, client guessed wrong`);
    assert.ok(right.every((r) => !r.reversed) && wrong.every((r) => r.reversed === true), `stream ${stream}`);
  }
  assert.equal(calls, 17);
});

test('fuzz Kafka with its sides unknown (messages held until they pair): nothing escapes', { timeout: 30_000 }, () => {
  // The context as the engine makes it for a connection seen without its SYN; its clock still advances underneath.
  const guessing: ProtocolDissector = { ...kafka, createTcpParser: (ctx) => kafka.createTcpParser!(Object.create(ctx, { clientGuessed: { value: true } })) };
  const convs = [sharedCapture('ndpi-kafka.pcapng'), sharedCapture('deepflow-kafka-00-produce-v2.pcap')].flatMap((f) => conversations(tcpSegments(f)));
  const counters: Record<string, number> = {};
  assert.equal(fuzzDissector(guessing, convs, 1500, 0x51de5, counters), 1500);
  assert.equal(counters['kafka.internal'] ?? 0, 0, JSON.stringify(counters));
});

test('Kafka flexible versions: KRaft quorum APIs become flexible at v1, not v0, as their message specs say', () => {
  // BeginQuorumEpoch (53) and EndQuorumEpoch (54): "flexibleVersions": "1+"; Vote (52) and later keys from v0.
  assert.deepEqual([[53, 0], [53, 1], [54, 0], [54, 1], [52, 0], [55, 0], [68, 0], [18, 2], [18, 3], [17, 1]].map(([k, v]) => isFlexible(k, v)),
    [false, true, false, true, true, true, true, false, true, false]);
});

test('Kafka: a request left without its response says unanswered as other protocols do', () => {
  const records: CallRecord[] = [];
  const ctx = makeContext(records, {});
  const parser = kafka.createTcpParser!(ctx);
  // ApiVersions v0, correlation id 7, client id "c"; the connection ends before the broker answers.
  const body = Buffer.from('00120000000000070001' + '63', 'hex');
  const size = Buffer.alloc(4);
  size.writeInt32BE(body.length);
  parser.onData('c2s', Buffer.concat([size, body]));
  parser.onEnd('fin');
  assert.deepEqual(records.map((r) => [r.summary, r.error, r.warnings]), [['ApiVersions v0 → unanswered', true, ['unanswered']]]);
});
