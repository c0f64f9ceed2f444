// Fuzzing WebSocket, MQTT, NATS and Memcached (issue 18) the way fuzz.test.ts
// fuzzes the others: real conversations from the shared captures mutated
// (byte flips, truncation, junk, tiny pieces, gaps), seeded so failures
// reproduce. Nothing may throw, and every entry the engine makes of the
// mutated captures validates against docs/entry.schema.json.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import type { CallRecord, Direction, ProtocolDissector } from '../../src/dissect/api.js';
import { mqtt } from '../../src/dissect/protocols/mqtt.js';
import { nats } from '../../src/dissect/protocols/nats.js';
import { memcached } from '../../src/dissect/protocols/memcached.js';
import { http1 } from '../../src/dissect/protocols/http1.js';
import * as zlib from 'node:zlib';
import { WebSocketParser, createWebSocketParserAfterUpgrade, parseDeflate, websocket } from '../../src/dissect/protocols/websocket.js';
import { repoRoot, sharedCapture } from '../helpers/paths.js';
import { conversations, fuzzDissector, makeContext, seededRandom, tcpSegments } from './helpers.js';

const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8'));
const validate = new Ajv({ allErrors: true, strict: false }).compile(schema);

const corpora: Array<{ dissector: ProtocolDissector; files: string[]; cases: number }> = [
  { dissector: mqtt, files: ['suricata-mqtt311-pub-qos1.pcap', 'suricata-mqtt5-pub-qos2.pcap', 'deepflow-mqtt-multi-publish-one-segment.pcap'], cases: 1500 },
  { dissector: nats, files: ['deepflow-nats-headers.pcap', 'deepflow-nats-nrpc1.pcap', 'ndpi-nats.pcap'], cases: 1500 },
  { dissector: memcached, files: ['deepflow-memcached-text.pcap'], cases: 1500 },
  // WebSocket is reached through HTTP/1's Upgrade: fuzz the whole hand-over.
  { dissector: http1, files: ['suricata-websocket-basic.pcap', 'suricata-websocket-permessage-deflate.pcap', 'zeek-websocket-two-binary-fragments.pcap'], cases: 1500 },
];

for (const { dissector, files, cases } of corpora) {
  test(`fuzz ${dissector.name} (${files[0].split('-')[1]}): ${cases} mutated conversations, nothing escapes`, { timeout: 60_000 }, () => {
    const convs = files.flatMap((f) => conversations(tcpSegments(sharedCapture(f))));
    assert.ok(convs.length > 0);
    const counters: Record<string, number> = {};
    assert.equal(fuzzDissector(dissector, convs, cases, 0x5eed + dissector.name.length * 7, counters), cases);
    assert.equal(counters[`${dissector.name}.internal`] ?? 0, 0, JSON.stringify(counters));
  });
}

/** A WebSocket data frame around `payload`: masked from the client, compressed (RSV1, no context takeover) from the server. */
function wsFrame(dir: Direction, payload: Buffer): Buffer {
  const compress = dir === 's2c';
  const body = compress ? zlib.deflateRawSync(payload, { finishFlush: zlib.constants.Z_SYNC_FLUSH }).subarray(0, -4) : payload;
  const len = body.length < 126 ? [body.length] : [126, body.length >> 8, body.length & 0xff];
  const mask = dir === 'c2s' ? Buffer.from([0x5a, 0x13, 0xc7, 0x02]) : null;
  const head = Buffer.from([0x82 | (compress ? 0x40 : 0), (mask ? 0x80 : 0) | len[0], ...len.slice(1)]);
  const masked = mask ? Buffer.from(body.map((b, i) => b ^ mask[i & 3])) : body;
  return Buffer.concat([head, ...(mask ? [mask] : []), masked]);
}

test('fuzz MQTT over WebSocket (subprotocol mqtt, deflate on): the MQTT captures framed as messages, mutated; nothing escapes', { timeout: 60_000 }, () => {
  const files = ['suricata-mqtt311-pub-qos1.pcap', 'suricata-mqtt5-pub-qos2.pcap', 'deepflow-mqtt-multi-publish-one-segment.pcap'];
  // Each segment one message; the server's compressed, as permessage-deflate sends them.
  const convs = files.flatMap((f) => conversations(tcpSegments(sharedCapture(f)))).map((conv) => conv.map((c) => ({ dir: c.dir, data: wsFrame(c.dir, c.data) })));
  const mqttOverWs: ProtocolDissector = {
    ...websocket,
    createTcpParser: (ctx) => createWebSocketParserAfterUpgrade(ctx, 'permessage-deflate; server_no_context_takeover', 'mqtt'),
  };
  const counters: Record<string, number> = {};
  assert.equal(fuzzDissector(mqttOverWs, convs, 1500, 0x5eed18, counters), 1500);
  assert.equal((counters['mqtt.internal'] ?? 0) + (counters['ws.internal'] ?? 0), 0, JSON.stringify(counters));
  // Unmutated, the conversations read as MQTT calls.
  const records: CallRecord[] = [];
  for (const conv of convs) {
    const p = mqttOverWs.createTcpParser!(makeContext(records, {}));
    for (const c of conv) p.onData(c.dir, c.data);
    p.onEnd('fin');
  }
  assert.ok(records.length >= 10 && records.every((r) => r.protocol === 'mqtt' && !r.warnings), JSON.stringify(records.map((r) => [r.summary, r.warnings])));
});

test('fuzz the WebSocket frame parser directly (deflate on), and the probes with random bytes', { timeout: 60_000 }, () => {
  const rnd = seededRandom(18);
  const frames = conversations(tcpSegments(sharedCapture('suricata-websocket-permessage-deflate.pcap'))).flatMap((c) => c.slice(2));
  for (let i = 0; i < 2000; i++) {
    const records: CallRecord[] = [];
    const ctx = makeContext(records, {}, { maxBody: 1 + Math.floor(rnd() * 2048), noBodies: rnd() < 0.1 });
    const p = new WebSocketParser(ctx, parseDeflate(rnd() < 0.5 ? 'permessage-deflate; client_max_window_bits=15' : 'permessage-deflate; server_no_context_takeover'));
    for (let k = 0; k < 8; k++) {
      const base = frames[Math.floor(rnd() * frames.length)]?.data ?? Buffer.alloc(4);
      const data = Buffer.from(base);
      for (let f = 0; f < 1 + Math.floor(rnd() * 4); f++) data[Math.floor(rnd() * data.length)] = Math.floor(rnd() * 256);
      const dir: Direction = rnd() < 0.5 ? 'c2s' : 's2c';
      p.onData(dir, data.subarray(0, Math.max(1, Math.floor(rnd() * data.length) + 1)));
      if (rnd() < 0.1) p.onGap(dir, 10);
      ctx.now += 100;
      p.onTick(ctx.now, 250);
    }
    p.onEnd();
    JSON.stringify(records);
  }
  for (let i = 0; i < 5000; i++) {
    const buf = Buffer.from(Array.from({ length: Math.floor(rnd() * 64) }, () => Math.floor(rnd() * 256)));
    for (const d of [mqtt, nats, memcached, websocket]) {
      const v = d.probe(buf, rnd() < 0.5);
      assert.ok(v === false || v === 'request' || v === 'response' || v === 'stream' || v === 'need-more');
    }
  }
});

test('mutated captures through the engine: every entry validates against the schema', { timeout: 120_000 }, async () => {
  const { dissectFile } = await import('../helpers/dissect.js');
  const { writeFileSync, mkdtempSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const dir = mkdtempSync(join(tmpdir(), 's4a-fuzz-'));
  const rnd = seededRandom(4222);
  let checked = 0;
  try {
    for (const file of corpora.flatMap((c) => c.files)) {
      const original = readFileSync(sharedCapture(file));
      for (let round = 0; round < 20; round++) {
        const copy = Buffer.from(original);
        // Flip bytes past the pcap headers (payload and TCP fields alike).
        for (let f = 0; f < 1 + Math.floor(rnd() * 20); f++) copy[100 + Math.floor(rnd() * (copy.length - 100))] = Math.floor(rnd() * 256);
        const path = join(dir, `${round}-${file}`);
        writeFileSync(path, copy);
        const { entries } = await dissectFile(path);
        for (const e of entries) {
          assert.ok(validate(e), `${file} round ${round}: ${JSON.stringify(validate.errors)} ${JSON.stringify(e).slice(0, 300)}`);
          checked++;
        }
        rmSync(path);
      }
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
  assert.ok(checked > 100, String(checked));
});
