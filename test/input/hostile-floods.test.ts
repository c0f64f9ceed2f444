// Floods a crafted capture can hold shark to (issue 22), beyond the memory
// budget's own tests (test/dissect/memory-budget.test.ts): what is given up
// under them is counted, and the entries still come out one per connection.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { LinkType, type Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';

const SYN = 0x02;
const RST = 0x04;

/** Raw IPv4 + TCP from 198.18.<i>/16 (a distinct client per i) to 198.19.9.9:443. */
function segment(i: number, flags: number, atMs: number, frame: number): Packet {
  const b = Buffer.alloc(40);
  b[0] = 0x45;
  b.writeUInt16BE(40, 2);
  b[8] = 64;
  b[9] = 6;
  b.set([198, 18, (i >> 8) & 0xff, i & 0xff], 12);
  b.set([198, 19, 9, 9], 16);
  b.writeUInt16BE(20_000 + (i >> 16), 20);
  b.writeUInt16BE(443, 22);
  b.writeUInt32BE((i * 7919) >>> 0, 24);
  b[32] = 0x50;
  b[33] = flags;
  return { tsSec: Math.floor(atMs / 1000), tsNsec: (atMs % 1000) * 1e6, linkType: LinkType.RAW, data: b, origLen: 40, interfaceId: 0, frame };
}

test('a flood of SYN+RST pairs: the ended connections remembered for port reuse are bounded, the rest forgotten and counted', () => {
  const out: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => out.push(e));
  const n = 70_000; // more than the 65,536 remembered, all within the 10 s they are kept
  let frame = 0;
  for (let i = 0; i < n; i++) {
    const at = 1_700_000_000_000 + i / 10;
    engine.push(segment(i, SYN, at, ++frame));
    engine.push(segment(i, RST, at, ++frame));
  }
  engine.finish();
  const counters = engine.summary();
  assert.ok(counters['tcp.tombstones_dropped'] >= 65_536, JSON.stringify(counters));
  assert.equal(out.length, n, 'one tcp entry per connection, whatever was forgotten');
  assert.ok(out.every((e) => e.protocol === 'tcp' && (e.response as { end?: string }).end === 'rst'));
  assert.equal(engine.budget.used, 0);
});
