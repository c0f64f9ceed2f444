// The engine's memory is bounded by design: one budget for what a run holds,
// whole flows evicted least recently active first (their calls still come
// out, marked), half-open flows and unanswered DNS queries released on
// capture time, and accounting that returns to zero when the run ends.
// Crafted floods, small enough to run in a second or two each.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, readFileSync, readdirSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { spawnSync } from 'node:child_process';
import { DissectionEngine, EVICTED_WARNING, type EngineOptions } from '../../src/dissect/engine.js';
import { ByteQueue } from '../../src/dissect/byte-queue.js';
import { FlowTable, type FlowLink } from '../../src/dissect/flow-table.js';
import { enterMeter, MemoryBudget, Meter } from '../../src/dissect/memory-budget.js';
import { LinkType, packetTimeMs, type Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';
import { dissectFile } from '../helpers/dissect.js';
import { runCli } from '../helpers/cli.js';
import { cliBin, examplesDir } from '../helpers/paths.js';
import { mulberry32 } from '../helpers/random.js';
import { rawPcapBytes } from '../helpers/pcap-wire.js';

const T0 = 1_700_000_000_000;
const SERVER = [198, 19, 0, 1];

/** Client `i`'s address: 198.18.x.y, a distinct 4-tuple per i with its port. */
function client(i: number): number[] {
  return [198, 18, (i >> 8) & 0xff, i & 0xff];
}

function ipv4(proto: number, src: number[], dst: number[], payloadLen: number): Buffer {
  const b = Buffer.alloc(20 + payloadLen);
  b[0] = 0x45;
  b.writeUInt16BE(b.length, 2);
  b[8] = 64;
  b[9] = proto;
  b.set(src, 12);
  b.set(dst, 16);
  return b;
}

function packet(atMs: number, data: Buffer, frame: number): Packet {
  return { tsSec: Math.floor(atMs / 1000), tsNsec: Math.round((atMs % 1000) * 1e6), linkType: LinkType.RAW, data, origLen: data.length, interfaceId: 0, frame };
}

function tcpSegment(src: number[], dst: number[], sport: number, dport: number, seq: number, flags: number, body = Buffer.alloc(0)): Buffer {
  const b = ipv4(6, src, dst, 20 + body.length);
  b.writeUInt16BE(sport, 20);
  b.writeUInt16BE(dport, 22);
  b.writeUInt32BE(seq >>> 0, 24);
  b[32] = 0x50;
  b[33] = flags;
  body.copy(b, 40);
  return b;
}

const SYN = 0x02;
const PSH_ACK = 0x18;

/** `n` SYNs from distinct clients, one every `gapMs`, none answered. */
function synFlood(n: number, gapMs: number): Packet[] {
  return Array.from({ length: n }, (_, i) => packet(T0 + i * gapMs, tcpSegment(client(i >> 6), SERVER, 1024 + (i & 63), 80, i * 7919, SYN), i + 1));
}

function dnsQuery(id: number): Buffer {
  const name = Buffer.from('\x01q\x07example\x03com\x00', 'latin1');
  const q = Buffer.alloc(12 + name.length + 4);
  q.writeUInt16BE(id, 0);
  q.writeUInt16BE(0x0100, 2);
  q.writeUInt16BE(1, 4);
  name.copy(q, 12);
  q.writeUInt16BE(1, 12 + name.length);
  q.writeUInt16BE(1, 14 + name.length);
  return q;
}

function udpDatagram(src: number[], dst: number[], sport: number, dport: number, body: Buffer): Buffer {
  const b = ipv4(17, src, dst, 8 + body.length);
  b.writeUInt16BE(sport, 20);
  b.writeUInt16BE(dport, 22);
  b.writeUInt16BE(8 + body.length, 24);
  body.copy(b, 28);
  return b;
}

/** `n` unanswered DNS queries, each from its own source port, one every `gapMs`. */
function dnsFlood(n: number, gapMs: number): Packet[] {
  return Array.from({ length: n }, (_, i) => packet(T0 + i * gapMs, udpDatagram(client(i >> 6), [198, 19, 0, 53], 1024 + (i & 63), 53, dnsQuery(i & 0xffff)), i + 1));
}

/** `flows` connections, each sending `segments` × 1400 bytes of an HTTP head that never ends, round-robin. */
function endlessHeads(flows: number, segments: number): Packet[] {
  const out: Packet[] = [];
  const first = Buffer.from('GET / HTTP/1.1\r\nHost: svc\r\n', 'latin1');
  const pad = Buffer.from(`X-Pad: ${'a'.repeat(1393)}`, 'latin1');
  let t = T0;
  for (let i = 0; i < flows; i++) out.push(packet((t += 1), tcpSegment(client(i), SERVER, 40000, 80, 1000, SYN), out.length + 1));
  for (let j = 0; j < segments; j++) {
    for (let i = 0; i < flows; i++) {
      const body = j === 0 ? Buffer.concat([first, pad.subarray(0, 1400 - first.length)]) : pad.subarray(0, 1400);
      out.push(packet((t += 1), tcpSegment(client(i), SERVER, 40000, 80, 1001 + j * 1400, PSH_ACK, body), out.length + 1));
    }
  }
  return out;
}

/** `flows` remote-write uploads (bodies a reader keeps past --max-body), each `segments` × 1400 bytes of a 1 MB body never finished. */
function remoteWriteUploads(flows: number, segments: number): Packet[] {
  const out: Packet[] = [];
  const head = Buffer.from('POST /api/v1/write HTTP/1.1\r\nHost: svc\r\nContent-Type: application/x-protobuf\r\nContent-Encoding: snappy\r\nX-Prometheus-Remote-Write-Version: 0.1.0\r\nContent-Length: 1048576\r\n\r\n', 'latin1');
  const pad = Buffer.alloc(1400, 0x61);
  let t = T0;
  for (let i = 0; i < flows; i++) out.push(packet((t += 1), tcpSegment(client(i), SERVER, 40000, 80, 1000, SYN), out.length + 1));
  for (let i = 0; i < flows; i++) out.push(packet((t += 1), tcpSegment(client(i), SERVER, 40000, 80, 1001, PSH_ACK, head), out.length + 1));
  for (let j = 0; j < segments; j++) {
    for (let i = 0; i < flows; i++) out.push(packet((t += 1), tcpSegment(client(i), SERVER, 40000, 80, 1001 + head.length + j * 1400, PSH_ACK, pad), out.length + 1));
  }
  return out;
}

interface Run {
  out: { entry: Entry; outAt: number }[];
  engine: DissectionEngine;
  /** Most accounted bytes seen after any packet (the engine's own peak is checked against it). */
  highest: number;
}

/** Feed packets; note at what capture time each entry came out (Infinity: at the end). */
function run(packets: Packet[], options: Partial<EngineOptions> = {}): Run {
  const out: { entry: Entry; outAt: number }[] = [];
  let now = 0;
  const engine = new DissectionEngine(options, (entry) => out.push({ entry, outAt: now }));
  let highest = 0;
  for (const p of packets) {
    now = packetTimeMs(p);
    engine.push(p);
    highest = Math.max(highest, engine.budget.used);
  }
  now = Infinity;
  engine.finish();
  return { out, engine, highest };
}

const MB = 1024 * 1024;

test('a SYN nobody answers is released 10 s (capture time) after it, not at the end of the capture', () => {
  // 3,000 SYNs over 30 s: today's engine held every one to the end.
  const { out, engine } = run(synFlood(3000, 10));
  assert.equal(out.length, 3000, 'one tcp entry per SYN, as before');
  assert.ok(out.every((o) => o.entry.protocol === 'tcp'));
  const counters = engine.summary();
  assert.ok(counters['tcp.half_open_expired'] >= 1800, `expired: ${counters['tcp.half_open_expired']}`);
  const first = out.find((o) => o.entry.frames?.request === 1);
  assert.ok(first, 'the first SYN has its entry');
  const delay = first.outAt - first.entry.timestamp;
  assert.ok(delay >= 10_000 && delay < 13_000, `out ${delay} ms after the SYN`);
  assert.equal((first.entry.response as { end: string }).end, 'timeout');
  assert.equal(engine.budget.used, 0, 'nothing stays accounted once the run ended');
});

test('a SYN flood under a small budget: flows evicted oldest first, every SYN still has its entry, accounted bytes within the budget', () => {
  // 20,000 SYNs in one second: expiry cannot help, the budget must.
  const budget = 1 * MB;
  const { out, engine, highest } = run(synFlood(20_000, 0.05), { memoryBudget: budget });
  assert.equal(out.length, 20_000, 'no SYN lost');
  const evicted = engine.summary()['engine.flows_evicted'];
  assert.ok(evicted > 15_000, `evicted ${evicted}`);
  assert.ok(engine.budget.peak <= budget, `peak ${engine.budget.peak} > ${budget}`);
  assert.ok(highest <= budget, `accounted ${highest} after a packet`);
  const marked = out.filter((o) => o.entry.warnings?.includes(EVICTED_WARNING));
  assert.equal(marked.length, evicted, 'each evicted flow says so on its entry');
  // Oldest first: the last SYNs were never evicted, the first ones were.
  const byFrame = new Map(out.map((o) => [o.entry.frames?.request, o.entry]));
  assert.ok(byFrame.get(1)?.warnings?.includes(EVICTED_WARNING));
  assert.equal(byFrame.get(20_000)?.warnings, undefined);
  assert.equal(engine.budget.used, 0);
});

test('eviction picks the least recently active flow, not the oldest one', () => {
  const packets = synFlood(600, 0.1);
  // Flow 0 speaks again after 300 others opened.
  packets.splice(300, 0, packet(T0 + 30.05, tcpSegment(client(0), SERVER, 1024, 80, 1, PSH_ACK, Buffer.from('x')), 9999));
  // Fewer than 300 flows fit in 1 MB: flow 0 is evicted too, but only after those that were quiet longer.
  const { out } = run(packets, { memoryBudget: 1 * MB });
  const evictedAs = (frame: number) => {
    const o = out.find((x) => x.entry.frames?.request === frame);
    assert.ok(o?.entry.warnings?.includes(EVICTED_WARNING), `flow of frame ${frame} evicted`);
    return Number(o?.entry.id.split('-')[1]);
  };
  const flow0 = evictedAs(1);
  for (const frame of [2, 100, 300]) assert.ok(evictedAs(frame) < flow0, `flow of frame ${frame} went before flow 0`);
});

test('1,000 DNS queries nobody answers come out unanswered on time, and a flood of them is evicted within the budget', () => {
  const spread = run(dnsFlood(1000, 40));
  assert.equal(spread.out.length, 1000);
  for (const { entry, outAt } of spread.out) {
    assert.equal(entry.protocol, 'dns');
    assert.equal(entry.response, null);
    assert.ok(entry.warnings?.includes('unanswered'));
    assert.ok(outAt - entry.timestamp <= 32_000 || outAt === Infinity, `held ${outAt - entry.timestamp} ms`);
  }
  assert.ok(spread.out.filter((o) => o.outAt < Infinity).length > 500, 'most come out before the capture ends');
  assert.equal(spread.engine.budget.used, 0);

  const budget = 1 * MB;
  const flood = run(dnsFlood(5000, 0.1), { memoryBudget: budget });
  assert.equal(flood.out.length, 5000, 'every query still has its entry');
  assert.ok(flood.out.every((o) => o.entry.response === null));
  assert.ok(flood.engine.summary()['engine.flows_evicted'] > 3000);
  assert.ok(flood.highest <= budget && flood.engine.budget.peak <= budget);
  assert.equal(flood.engine.budget.used, 0);
});

test('queries pending on one conversation are charged to the budget and released when they time out', () => {
  // One client port, 1,000 ids in a second, then one more query 40 s later keeps the conversation alive.
  const packets = Array.from({ length: 1000 }, (_, i) => packet(T0 + i, udpDatagram(client(1), [198, 19, 0, 53], 5000, 53, dnsQuery(i)), i + 1));
  let pendingPeak = 0;
  let afterTimeout = Infinity;
  const engine = new DissectionEngine({}, () => {});
  for (const p of packets) engine.push(p);
  pendingPeak = engine.budget.used;
  for (let s = 2; s <= 40; s++) engine.push(packet(T0 + s * 1000, udpDatagram(client(1), [198, 19, 0, 53], 5000, 53, dnsQuery(60000 + s)), 2000 + s));
  afterTimeout = engine.budget.used;
  engine.finish();
  assert.ok(pendingPeak > 1000 * 512, `1,000 pending queries accounted: ${pendingPeak}`);
  assert.ok(afterTimeout < pendingPeak / 4, `released after the request timeout: ${afterTimeout}`);
  assert.equal(engine.budget.used, 0);
});

test('heads that never end: the bytes a parser holds are charged, flows are evicted within the budget, and it is said', () => {
  // 40 flows × 64 KB in the parsers' buffers.
  const heads = endlessHeads(40, 46);
  const unbounded = run(heads, { memoryBudget: 1024 * MB });
  assert.ok(unbounded.engine.budget.peak > 40 * 60 * 1024, `parser bytes accounted: ${unbounded.engine.budget.peak}`);
  assert.equal(unbounded.engine.summary()['engine.flows_evicted'], undefined);

  const budget = 1 * MB;
  const bounded = run(heads, { memoryBudget: budget });
  assert.ok(bounded.engine.budget.peak <= budget, `peak ${bounded.engine.budget.peak}`);
  assert.ok(bounded.engine.summary()['engine.flows_evicted'] > 0);
  assert.ok(bounded.out.some((o) => o.entry.warnings?.includes(EVICTED_WARNING)), 'what eviction cut short is marked');
  assert.equal(bounded.engine.budget.used, 0);
});

test('bodies a reader keeps past --max-body (remote write) are charged: flows are evicted within the budget, and nothing stays accounted', () => {
  // 20 uploads × 280 KB kept (the default --max-body would keep 16 KB of each).
  const uploads = remoteWriteUploads(20, 200);
  const unbounded = run(uploads, { memoryBudget: 1024 * MB });
  assert.ok(unbounded.engine.budget.peak > 20 * 250 * 1024, `kept bytes accounted: ${unbounded.engine.budget.peak}`);
  assert.equal(unbounded.engine.budget.used, 0);
  const budget = 2 * MB;
  const bounded = run(uploads, { memoryBudget: budget });
  assert.ok(bounded.engine.budget.peak <= budget, `peak ${bounded.engine.budget.peak}`);
  assert.ok(bounded.engine.summary()['engine.flows_evicted'] > 0);
  assert.equal(bounded.engine.budget.used, 0);
});

test('IP fragments that never complete are charged and dropped (counted) within the budget', () => {
  // 2,000 first fragments (more to come, never coming) of 1,400 bytes each: 2.8 MB held without a bound.
  const fragments = Array.from({ length: 2000 }, (_, i) => {
    const b = ipv4(17, client(i >> 6), SERVER, 1400);
    b.writeUInt16BE(i, 4); // identification
    b[6] = 0x20; // more fragments, offset 0
    return packet(T0 + i, b, i + 1);
  });
  const budget = 1 * MB;
  const { engine, highest } = run(fragments, { memoryBudget: budget });
  assert.ok(highest <= budget && engine.budget.peak <= budget, `peak ${engine.budget.peak}`);
  assert.ok(engine.summary()['ip.fragments_dropped'] > 1000);
});

test('a normal capture: the same entries under the default budget as with no limit, nothing evicted, nothing left accounted', async () => {
  const file = join(examplesDir, 'bookinfo-mix.pcap');
  const normal = await dissectFile(file);
  const unlimited = await dissectFile(file, { memoryBudget: Number.MAX_SAFE_INTEGER });
  assert.ok(normal.entries.length > 100);
  assert.deepEqual(normal.entries, unlimited.entries);
  assert.ok(!normal.entries.some((e) => e.warnings?.includes(EVICTED_WARNING)));
});

test('the flow table keeps flows in order of last activity', () => {
  interface F extends FlowLink<F> {
    n: number;
  }
  const table = new FlowTable<F>();
  const make = (n: number): F => ({ key: `k${n}`, n, older: undefined, newer: undefined });
  const flows = [0, 1, 2, 3].map(make);
  for (const f of flows) table.add(f);
  table.touch(flows[0]);
  table.touch(flows[2]);
  const order = () => {
    const seen: number[] = [];
    table.forEach((f) => seen.push(f.n));
    return seen;
  };
  assert.deepEqual(order(), [1, 3, 0, 2]);
  assert.equal(table.oldest()?.n, 1);
  table.forEach((f) => f.n % 2 === 1 && table.delete(f));
  assert.deepEqual(order(), [0, 2]);
  assert.equal(table.size, 2);
  assert.equal(table.get('k1'), undefined);
  assert.equal(table.delete(flows[1]), false, 'a flow already gone');
  table.add(make(1));
  assert.equal(table.delete(flows[1]), false, 'a stale object for a key now held by another flow');
  assert.deepEqual(order(), [0, 2, 1]);
});

test('a ByteQueue gives the same bytes as a plain buffer whatever the order of pushes, peeks and takes, and its meter follows its length', () => {
  const random = mulberry32(7);
  const budget = new MemoryBudget(Infinity);
  const meter = new Meter(budget);
  const outer = enterMeter(meter);
  const q = new ByteQueue();
  enterMeter(outer);
  let model = Buffer.alloc(0);
  let next = 0;
  for (let step = 0; step < 5000; step++) {
    const op = random();
    if (op < 0.4) {
      const chunk = Buffer.from(Array.from({ length: Math.floor(random() * 300) }, () => next++ & 0xff));
      q.push(chunk);
      model = Buffer.concat([model, chunk]);
    } else if (op < 0.6) {
      // A whole look, the way a parser looks for the end of a head.
      assert.deepEqual(q.peek(), model);
    } else if (op < 0.7) {
      const n = Math.floor(random() * (model.length + 1));
      assert.deepEqual(q.peek(n), model.subarray(0, n));
    } else if (op < 0.85) {
      const n = Math.floor(random() * (model.length + 1));
      assert.deepEqual(q.take(n), model.subarray(0, n));
      model = model.subarray(n);
    } else if (op < 0.99) {
      const n = Math.floor(random() * 100);
      q.consume(n);
      model = model.subarray(Math.min(n, model.length));
    } else {
      q.clear();
      model = Buffer.alloc(0);
    }
    assert.equal(q.length, model.length);
    assert.equal(meter.bytes, model.length);
  }
  meter.close();
  assert.equal(budget.used, 0);
});


test('dissect --memory-budget: evictions are said on stderr; a budget below 1MB is a usage error', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-budget-'));
  try {
    const file = join(dir, 'flood.pcap');
    writeFileSync(file, rawPcapBytes(synFlood(5000, 0.1)));
    const small = await runCli(['dissect', '--memory-budget', '1MB', file]);
    assert.equal(small.code, 0, small.stderr);
    assert.equal(small.stdout.trim().split('\n').length, 5000);
    assert.match(small.stderr, /lost or damaged: .*engine\.flows_evicted=\d+/);
    const plenty = await runCli(['dissect', file]);
    assert.doesNotMatch(plenty.stderr, /evicted/);
    // The budget is the run's: two workers share it (each evicts from half), so they evict about as one thread
    // does (4,592 against 4,796; with the whole budget each they evicted 4,182).
    const evicted = (stderr: string) => Number(/engine\.flows_evicted=(\d+)/.exec(stderr)?.[1] ?? 0);
    const shared = await runCli(['dissect', '--workers', '2', '--memory-budget', '1MB', file]);
    assert.equal(shared.code, 0, shared.stderr);
    assert.equal(shared.stdout.trim().split('\n').length, 5000);
    const one = evicted(small.stderr);
    assert.ok(Math.abs(evicted(shared.stderr) - one) <= one * 0.08, `one thread evicted ${one}, two workers ${evicted(shared.stderr)}`);
    const bad = await runCli(['dissect', '--memory-budget', '10', file]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--memory-budget: '10' is too small/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('record --memory-budget: the evictions are in the manifest and the summary line', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-budget-rec-'));
  try {
    const r = spawnSync(process.execPath, [cliBin, 'record', '--name', 'flood', '--out', dir, '--memory-budget', '1MB'], {
      encoding: 'utf8',
      env: { ...process.env, HOME: tmpdir(), KUBECONFIG: '' },
      input: rawPcapBytes(synFlood(5000, 0.1)),
      timeout: 60_000,
    });
    assert.equal(r.status, 0, r.stderr);
    assert.match(r.stderr, /lost or damaged in dissection: .*engine\.flows_evicted=\d+/);
    const [folder] = readdirSync(dir).filter((n) => n.startsWith('flood-'));
    const manifest = JSON.parse(readFileSync(join(dir, folder, 'manifest.json'), 'utf8'));
    assert.ok(manifest.losses['engine.flows_evicted'] > 0, JSON.stringify(manifest.losses));
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
