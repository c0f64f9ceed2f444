import { test } from 'node:test';
import assert from 'node:assert/strict';
import { ByteQueue } from '../../src/dissect/byte-queue.js';

test('indexOfByte finds a byte in the front chunk, across chunks, and honours the limit', () => {
  const q = new ByteQueue();
  q.push(Buffer.from('abc\n'));
  q.push(Buffer.from('de'));
  q.push(Buffer.from('f\ng'));
  assert.equal(q.indexOfByte(0x0a), 3);
  assert.equal(q.indexOfByte(0x0a, 3), -1, 'the byte at the limit is outside it');
  q.consume(4);
  assert.equal(q.indexOfByte(0x0a), 3, 'found across two chunks, offset from the front');
  assert.equal(q.indexOfByte(0x0a, 2), -1);
  assert.equal(q.indexOfByte(0x7a), -1);
  q.consume(1);
  assert.equal(q.indexOfByte(0x0a), 2, 'offset counts from inside a partly consumed chunk');
  q.clear();
  assert.equal(q.indexOfByte(0x0a), -1);
});

test('indexOfInPlace finds what indexOf finds, for every chunking, start and limit', () => {
  const text = '\n\r\nab\n\nx\n\r\n\n';
  for (let seed = 0; seed < 200; seed++) {
    const q = new ByteQueue();
    let i = 0;
    let cut = seed;
    while (i < text.length) {
      const n = 1 + (cut % 4);
      cut = Math.floor(cut / 2) + 7 * seed;
      q.push(Buffer.from(text.slice(i, i + n)));
      i += n;
    }
    q.consume(seed % 3);
    // Compared with a flat copy: indexOf itself would merge the chunks under test.
    const flat = Buffer.from(text.slice(seed % 3));
    for (const needle of [Buffer.from('\n\r\n'), Buffer.from('\n\n')]) {
      for (let from = 0; from < q.length; from++) {
        for (let limit = 0; limit <= q.length; limit++) {
          assert.equal(q.indexOfInPlace(needle, from, limit), flat.subarray(0, limit).indexOf(needle, from), `seed ${seed} from ${from} limit ${limit}`);
        }
      }
    }
  }
});
