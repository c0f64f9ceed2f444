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

test('pushBorrowed: parsed in place, only what is left at settle() is copied; the caller may then reuse its buffer', () => {
  const q = new ByteQueue();
  const packet = Buffer.from('GET / HTTP/1.1\r\n\r\nGET /n');
  q.pushBorrowed(packet);
  assert.equal(q.frontChunk, packet, 'no copy while the caller parses');
  q.consume(18);
  q.settle();
  packet.fill(0x78); // the caller reuses its buffer
  assert.equal(q.peek().toString(), 'GET /n', 'the rest was copied at settle');
  // Into a queue that holds bytes: copied at once (a plain push).
  const more = Buffer.from(' HTTP/1.1\r\n\r\n');
  q.pushBorrowed(more);
  more.fill(0x79);
  q.settle();
  assert.equal(q.peek().toString(), 'GET /n HTTP/1.1\r\n\r\n');
  // Wholly consumed before settle: nothing copied, nothing kept.
  q.consume(q.length);
  const whole = Buffer.from('abc');
  q.pushBorrowed(whole);
  q.consume(3);
  q.settle();
  assert.equal(q.length, 0);
  assert.equal(q.frontChunk.length, 0);
});
