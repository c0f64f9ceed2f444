// view's window of calls is bounded in bytes as well as in calls, and its
// counter bar in protocols: an entry file of large bodies or of a million
// made-up protocol names must not grow view without bound.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { EntryStore, entrySize, MAX_PROTOCOLS } from '../../src/view/entry-store.js';
import type { Entry } from '../../src/model/entry.js';

const call = (id: number, protocol = 'http', body = ''): Entry =>
  ({ id: String(id), timestamp: 1_795_400_000_000 + id, protocol, request: { method: 'POST', path: '/', body }, response: { status: 200 } }) as unknown as Entry;

test('calls past the window bytes are let go oldest first and counted; the newest stays whatever its size', () => {
  const body = 'x'.repeat(1024 * 1024);
  const store = new EntryStore(20_000, 8 * 1024 * 1024);
  for (let i = 0; i < 20; i++) store.add([call(i, 'http', body)]);
  assert.ok(store.size >= 7 && store.size <= 8, `${store.size} calls kept of 20`);
  assert.equal(store.dropped, 20 - store.size);
  assert.equal(store.total, 20);
  assert.equal(store.at(store.size - 1)!.id, '19');
  assert.equal(store.at(0)!.id, String(20 - store.size));
  store.add([call(20, 'http', 'y'.repeat(20 * 1024 * 1024))]);
  assert.equal(store.size, 1);
  assert.equal(store.at(0)!.id, '20');
  // Small calls fill the window again by count.
  for (let i = 21; i < 40; i++) store.add([call(i)]);
  assert.equal(store.at(0)!.id, '21');
  assert.ok(entrySize(call(1, 'http', body)) > body.length);
});

test('the counter bar names at most MAX_PROTOCOLS protocols; calls of later ones are counted as (other)', () => {
  const store = new EntryStore(100);
  for (let i = 0; i < 10_000; i++) store.add([call(i, `proto-${i}`)]);
  assert.equal(store.counts.size, MAX_PROTOCOLS + 1);
  assert.equal(store.counts.get('(other)'), 10_000 - MAX_PROTOCOLS);
  assert.equal(store.counts.get('proto-0'), 1);
  store.add([call(10_001, 'proto-1')]);
  assert.equal(store.counts.get('proto-1'), 2);
});
