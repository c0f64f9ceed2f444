// Fuzzing the whole engine: real packets from the shared captures, mutated
// (bit flips, truncations, length fields forced to extremes, spliced
// payloads), pushed through link → IP → TCP/UDP → every dissector. Nothing may
// throw, hang or produce an entry the schema rejects. Seeded: reproducible.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, readFileSync, readdirSync } from 'node:fs';
import { join } from 'node:path';
import { Ajv } from 'ajv';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { openCapture } from '../../src/capture/reader.js';
import type { Packet } from '../../src/model/packet.js';
import type { Entry } from '../../src/model/entry.js';
import { repoRoot, sharedCaptures } from '../helpers/paths.js';

/** xorshift32: small, fast, seeded. */
function rng(seed: number): () => number {
  let x = seed >>> 0 || 1;
  return () => {
    x ^= x << 13;
    x >>>= 0;
    x ^= x >>> 17;
    x ^= x << 5;
    x >>>= 0;
    return x / 0x100000000;
  };
}

async function loadPackets(limitPerFile: number): Promise<Packet[]> {
  const out: Packet[] = [];
  for (const name of readdirSync(sharedCaptures).filter((f) => /\.pcap(ng)?$/.test(f)).sort()) {
    const reader = openCapture(Buffer.alloc(0), createReadStream(join(sharedCaptures, name)), name);
    let n = 0;
    try {
      for await (const batch of reader.batches()) {
        for (const p of batch) {
          if (n++ >= limitPerFile) break;
          out.push({ ...p, data: Buffer.from(p.data) });
        }
        if (n >= limitPerFile) break;
      }
    } catch {
      // damaged files: the packets before the damage are enough
    }
  }
  return out;
}

function mutate(p: Packet, r: () => number, others: Packet[]): Packet {
  const data = Buffer.from(p.data);
  const kind = Math.floor(r() * 5);
  if (kind === 0) {
    const flips = 1 + Math.floor(r() * 8);
    for (let i = 0; i < flips && data.length > 0; i++) data[Math.floor(r() * data.length)] ^= 1 << Math.floor(r() * 8);
  } else if (kind === 1) {
    return { ...p, data: data.subarray(0, Math.floor(r() * data.length)) };
  } else if (kind === 2 && data.length > 2) {
    // A 16-bit field somewhere forced to 0 or 0xffff (lengths, counts).
    const at = Math.floor(r() * (data.length - 1));
    data.writeUInt16BE(r() < 0.5 ? 0 : 0xffff, at);
  } else if (kind === 3) {
    // Splice the tail of another packet onto this one's headers.
    const o = others[Math.floor(r() * others.length)].data;
    const cut = Math.floor(r() * data.length);
    return { ...p, data: Buffer.concat([data.subarray(0, cut), o.subarray(Math.floor(r() * o.length))]) };
  } else {
    for (let i = 0; i < data.length; i++) if (r() < 0.02) data[i] = Math.floor(r() * 256);
  }
  return { ...p, data };
}

test('mutated real packets never crash the engine or produce invalid entries', async () => {
  const schema = JSON.parse(readFileSync(join(repoRoot, 'docs', 'entry.schema.json'), 'utf8'));
  const validate = new Ajv({ strict: false }).compile(schema);
  const packets = await loadPackets(400);
  assert.ok(packets.length > 2000, `only ${packets.length} seed packets`);
  const r = rng(0x5eed);
  const rounds = 3;
  let cases = 0;
  let entries = 0;
  for (let round = 0; round < rounds; round++) {
    const out: Entry[] = [];
    const engine = new DissectionEngine({ maxBody: 2048 }, (e) => out.push(e));
    for (const p of packets) {
      // Mostly mutated, some intact so that real conversations get far into the parsers.
      const q = r() < 0.7 ? mutate(p, r, packets) : p;
      engine.push(q);
      cases++;
    }
    engine.finish();
    const threw = Object.entries(engine.counters).filter(([k]) => k.endsWith('_threw'));
    assert.deepEqual(threw, [], 'a dissector threw: errors must be data, not exceptions');
    for (const e of out) {
      if (!validate(e)) assert.fail(`invalid entry ${JSON.stringify(e).slice(0, 300)}: ${JSON.stringify(validate.errors?.[0])}`);
      JSON.stringify(e); // must serialise (no cycles, no BigInt)
    }
    entries += out.length;
  }
  assert.ok(cases >= 6000, `${cases} cases`);
  assert.ok(entries > 0);
});

test('every prefix of a real TCP conversation is handled (truncated captures)', async () => {
  const packets = (await loadPackets(60)).slice(0, 1500);
  const r = rng(42);
  for (let i = 0; i < 80; i++) {
    const cut = Math.floor(r() * packets.length);
    const engine = new DissectionEngine({}, () => {});
    for (const p of packets.slice(0, cut)) engine.push(p);
    engine.finish();
    assert.deepEqual(Object.keys(engine.counters).filter((k) => k.endsWith('_threw')), []);
  }
});
