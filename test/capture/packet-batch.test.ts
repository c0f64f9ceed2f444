// The engine walks a capture file as ColumnBatches (packets made one at a
// time, src/model/packet-batch.ts): every packet they make must be the
// Packet the reader's arrays hold, for every capture of the corpus, read in
// chunks small enough that records straddle reads (rows in several buffers).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { openCapture } from '../../src/capture/reader.js';
import { ArrayBatch, asBatch, ColumnBatch } from '../../src/model/packet-batch.js';
import { packetTimeMs, type Packet } from '../../src/model/packet.js';
import { chunked, sharedCaptureFiles, sharedPath } from './helpers.js';

function plain(p: Packet): Record<string, unknown> {
  return { ...p, data: Buffer.from(p.data).toString('hex') };
}

async function viaArrays(bytes: Buffer, chunk: number): Promise<Packet[]> {
  const out: Packet[] = [];
  try {
    for await (const batch of openCapture(Buffer.alloc(0), chunked(bytes, chunk), 'x').batches()) out.push(...batch);
  } catch {
    // A damaged file: its good packets were yielded first, in both walks.
  }
  return out;
}

async function viaColumns(bytes: Buffer, chunk: number): Promise<{ packets: Packet[]; times: number[]; types: number[] }> {
  const packets: Packet[] = [];
  const times: number[] = [];
  const types: number[] = [];
  try {
    for await (const batch of openCapture(Buffer.alloc(0), chunked(bytes, chunk), 'x').packetBatches()) {
      for (let i = 0; i < batch.length; i++) {
        packets.push(batch.packet(i));
        times.push(batch.timeMs(i));
        types.push(batch.linkType(i));
      }
    }
  } catch {
    // As above.
  }
  return { packets, times, types };
}

test('packetBatches make exactly the packets batches() holds, on every capture, in whole and in 1,000-byte reads', async () => {
  let total = 0;
  for (const name of sharedCaptureFiles()) {
    const bytes = readFileSync(sharedPath(name));
    for (const chunk of [1 << 20, 1000]) {
      const arrays = await viaArrays(bytes, chunk);
      const columns = await viaColumns(bytes, chunk);
      assert.equal(columns.packets.length, arrays.length, `${name}, ${chunk}-byte reads: packet count`);
      for (let i = 0; i < arrays.length; i++) {
        assert.deepEqual(plain(columns.packets[i]), plain(arrays[i]), `${name}, ${chunk}-byte reads: packet ${i + 1}`);
        assert.equal(columns.times[i], packetTimeMs(arrays[i]), `${name}: time of packet ${i + 1}`);
        assert.equal(columns.types[i], arrays[i].linkType, `${name}: link type of packet ${i + 1}`);
      }
      total += arrays.length;
    }
  }
  assert.ok(total > 10_000, `the corpus was read (${total} packets)`);
});

test('a ColumnBatch grows past its first rows and finds each row in the buffer it was added from', () => {
  const bufs = [Buffer.from('aaaaaaaaaa'), Buffer.from('bbbbbbbbbb'), Buffer.from('cccccccccc')];
  const batch = new ColumnBatch();
  const expected: Packet[] = [];
  // 300 rows (more than the 64 it starts with) over three buffers, 100 rows each.
  for (let i = 0; i < 300; i++) {
    const buf = bufs[Math.floor(i / 100)];
    const off = i % 7;
    const p: Packet = { tsSec: 1_700_000_000 + i, tsNsec: (i * 7919) % 1e9, linkType: i % 3 === 0 ? 1 : 276, data: buf.subarray(off, off + 3), origLen: 1500 + i, interfaceId: i % 2, frame: i + 1 };
    batch.add(buf, p.tsSec, p.tsNsec, p.linkType, off, 3, p.origLen, p.interfaceId, p.frame);
    expected.push(p);
  }
  assert.equal(batch.length, 300);
  for (let i = 0; i < 300; i++) {
    assert.deepEqual(plain(batch.packet(i)), plain(expected[i]), `row ${i}`);
    assert.equal(batch.packet(i).data.buffer, bufs[Math.floor(i / 100)].buffer, `row ${i} is a view of its own buffer, not a copy`);
    assert.equal(batch.timeMs(i), packetTimeMs(expected[i]));
    assert.equal(batch.linkType(i), expected[i].linkType);
  }
  assert.deepEqual(batch.toArray().map(plain), expected.map(plain));
});

test('asBatch takes a Packet[] as it is', () => {
  const p: Packet = { tsSec: 1, tsNsec: 500_000, linkType: 101, data: Buffer.from([0x45]), origLen: 1, interfaceId: 0, frame: 1 };
  const batch = asBatch([p]);
  assert.ok(batch instanceof ArrayBatch);
  assert.equal(batch.length, 1);
  assert.equal(batch.packet(0), p);
  assert.equal(batch.timeMs(0), 1000.5);
  const columns = new ColumnBatch();
  assert.equal(asBatch(columns), columns);
});
