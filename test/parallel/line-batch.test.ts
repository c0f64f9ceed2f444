// A worker's lines travel as UTF-8 in a buffer of their own (line-batch.ts):
// what comes out must be exactly the lines, newline-joined, whatever their
// characters and however the buffer grew or was reused.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LineBatch } from '../../src/dissect/parallel/line-batch.js';

test('lines come out newline-joined as UTF-8, across growth and reuse, each batch in an ArrayBuffer of its own', () => {
  const batch = new LineBatch();
  const seen = new Set<ArrayBufferLike>();
  for (const sizes of [[3], [1000, 20_000, 70_000, 5], [0, 0], [200_000]]) {
    const lines = sizes.map((n, i) => `{"n":${i},"s":"${'a→é😀'.repeat(n).slice(0, n)}"}`);
    for (const l of lines) batch.add(l);
    assert.equal(batch.count, lines.length);
    const bytes = batch.take();
    assert.equal(batch.count, 0);
    assert.equal(Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8'), lines.join('\n'));
    // Transferable: the view starts its buffer, and no two batches share one.
    assert.equal(bytes.byteOffset, 0);
    assert.ok(!seen.has(bytes.buffer));
    seen.add(bytes.buffer);
  }
  assert.equal(new LineBatch().take().byteLength, 0, 'an empty batch is empty');
});
