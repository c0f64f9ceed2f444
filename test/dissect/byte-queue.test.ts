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
