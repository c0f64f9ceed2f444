import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRing, RingReader, RingWriter } from '../../src/dissect/parallel/ring.js';

test('records come out of the ring whole and in order, across wraps, runs and take limits', () => {
  // A small ring: records of 1 … 1500 bytes wrap it often, with and without room for the 0 marker.
  for (const capacity of [4096, 4099, 9000]) {
    const ring = createRing(capacity);
    const writer = new RingWriter(ring);
    const reader = new RingReader(ring);
    let seed = capacity;
    const rand = (n: number) => {
      seed = (seed * 1103515245 + 12345) >>> 0;
      return seed % n;
    };
    const sent: Buffer[] = [];
    let received = 0;
    const takeAll = (max: number) => {
      for (const rec of reader.take(max)) {
        assert.ok(received < sent.length, 'no record beyond what was written');
        assert.deepEqual(rec, sent[received], `record ${received}`);
        received++;
      }
    };
    for (let i = 0; i < 3000; i++) {
      const len = 1 + (i % 7 === 0 ? rand(1500) : rand(200));
      const rec = Buffer.alloc(len);
      for (let j = 0; j < len; j++) rec[j] = (i + j * 31) & 0xff;
      let at = writer.tryReserve(len);
      while (at < 0) {
        // Full: the reader takes a little (sometimes less than one record's worth: it still takes one).
        takeAll(rand(3) === 0 ? 1 : 64 * 1024);
        at = writer.tryReserve(len);
      }
      writer.view.set(rec, at + 4);
      writer.commit(at, len, false);
      sent.push(rec);
      if (rand(5) === 0) takeAll(rand(2) === 0 ? 512 : 64 * 1024);
    }
    while (reader.ready) takeAll(64 * 1024);
    assert.equal(received, sent.length, `capacity ${capacity}`);
  }
});

test('a record is a view of a run of at most 8 KB (or itself, when longer): what a flow keeps of it pins no more', () => {
  const ring = createRing(1 << 20);
  const writer = new RingWriter(ring);
  const reader = new RingReader(ring);
  for (const len of [100, 100, 100, 20_000, 100, ...Array(200).fill(500)]) {
    const at = writer.tryReserve(len);
    writer.view.set(Buffer.alloc(len, 7), at + 4);
    writer.commit(at, len, false);
  }
  const recs = reader.take(1 << 20);
  assert.equal(recs.length, 205);
  for (const rec of recs) assert.ok(rec.buffer.byteLength <= Math.max(8 * 1024, rec.length + 4), `${rec.length}-byte record in a ${rec.buffer.byteLength}-byte run`);
  assert.ok(!(recs[0].buffer instanceof SharedArrayBuffer), 'copied out of the shared ring');
});
