// HTTP/2 against input made on purpose (issue 22.3/22.4): every buffer a peer
// fills has a bound, and hitting it is counted and said on the entry. The
// bounds are asserted through counters and entry contents; memory figures are
// measured by hand (docs/entry.md "Limits").
import { test } from 'node:test';
import assert from 'node:assert/strict';
import type { CallRecord } from '../../src/dissect/api.js';
import { DissectionEngine } from '../../src/dissect/engine.js';
import { http2 } from '../../src/dissect/protocols/http2.js';
import type { Entry } from '../../src/model/entry.js';
import { FrameType, Flags, getRequest, h2frame, hpack, hpackBombPackets, preface, settings } from '../helpers/http2-wire.js';
import { makeContext } from './helpers.js';

test('HPACK bomb: 300 requests naming a 4 KB header 990 times keep 64 KB of headers each, counted', () => {
  const entries: Entry[] = [];
  const engine = new DissectionEngine({}, (e) => entries.push(e));
  for (const p of hpackBombPackets()) engine.push(p);
  engine.finish();
  assert.equal(entries.length, 300);
  for (const e of entries) {
    assert.ok(e.warnings?.includes('truncated headers: header list over 64 KB'), JSON.stringify(e.warnings));
    assert.ok(e.warnings?.includes('unanswered'));
    const big = String(e.request!.headers['x-big']);
    // 64 KB of name + value + 32 per field: 16 copies of the 4,000-byte value at most.
    assert.ok(big.length <= 16 * 4002 && big.length >= 4000, `x-big is ${big.length} bytes`);
  }
  assert.deepEqual(new Set(entries.map((e) => e.request!.path)).size, 300);
  assert.equal(engine.counters['http2.header_list_truncated'], 300);
  // Open streams hold at most 8 MB of decoded headers: the oldest went out early, counted.
  assert.ok(engine.counters['http2.streams_evicted'] > 0);
  const evicted = entries.filter((e) => e.warnings?.includes('evicted: header memory of open streams over 8 MB'));
  assert.equal(evicted.length, engine.counters['http2.streams_evicted']);
});

test('a header block that never ends: 2 MB of CONTINUATION buffers 256 KB, the stream keeps its prefix and the connection goes on', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const parser = http2.createTcpParser!(ctx);
  parser.onData('c2s', preface());
  parser.onData('s2c', settings());
  parser.onData('c2s', h2frame(FrameType.HEADERS, Flags.END_STREAM, 1, getRequest('/endless')));
  const pad = hpack.literal('x-pad', 'y'.repeat(1000));
  for (let i = 0; i < 2000; i++) parser.onData('c2s', h2frame(FrameType.CONTINUATION, 0, 1, pad));
  parser.onData('c2s', h2frame(FrameType.CONTINUATION, Flags.END_HEADERS, 1, pad));
  // The connection is still read: the next request and both answers.
  parser.onData('c2s', h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 3, getRequest('/next')));
  parser.onData('s2c', h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, hpack.indexed(8)));
  parser.onData('s2c', h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 3, hpack.indexed(13)));
  parser.onEnd('fin');
  assert.equal(records.length, 2);
  const [endless, next] = records;
  assert.equal(endless.request!.path, '/endless');
  assert.equal(endless.response!.status, 200);
  assert.ok(endless.warnings?.includes('truncated headers: header block over 256 KB'), JSON.stringify(endless.warnings));
  assert.ok(String(endless.request!.headers['x-pad']).length < 70 * 1024);
  assert.equal(counters['http2.header_block_truncated'], 1);
  assert.equal(next.request!.path, '/next');
  assert.equal(next.response!.status, 404);
});

test('a header block cut by the end of the capture still yields its entry, marked', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const parser = http2.createTcpParser!(ctx);
  parser.onData('c2s', preface());
  parser.onData('c2s', h2frame(FrameType.HEADERS, 0, 1, getRequest('/never-ends')));
  parser.onData('c2s', h2frame(FrameType.CONTINUATION, 0, 1, hpack.literal('x-a', 'b')));
  parser.onEnd('eof');
  assert.equal(records.length, 1);
  assert.equal(records[0].request!.path, '/never-ends');
  assert.equal(records[0].request!.headers['x-a'], 'b');
  assert.ok(records[0].warnings?.includes('truncated headers: header block never ended'), JSON.stringify(records[0].warnings));
  assert.equal(counters['http2.header_block_truncated'], 1);
});

test('1,500 open streams: 1,000 are tracked, the oldest 500 emitted early as unanswered, counted', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters);
  const parser = http2.createTcpParser!(ctx);
  parser.onData('c2s', preface());
  for (let i = 0; i < 1500; i++) parser.onData('c2s', h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 2 * i + 1, getRequest(`/s/${i}`)));
  assert.equal(records.length, 500);
  assert.equal(counters['http2.streams_evicted'], 500);
  assert.ok(records.every((r) => r.warnings?.includes('evicted: too many open streams') && r.response === null));
  parser.onEnd('eof');
  assert.equal(records.length, 1500);
});

test('one DATA frame of 16 MB is read as it comes: the body keeps --max-body bytes', () => {
  const records: CallRecord[] = [];
  const counters: Record<string, number> = {};
  const ctx = makeContext(records, counters, { maxBody: 1000, noBodies: false });
  const parser = http2.createTcpParser!(ctx);
  parser.onData('c2s', preface());
  parser.onData('c2s', h2frame(FrameType.HEADERS, Flags.END_HEADERS | Flags.END_STREAM, 1, getRequest('/big')));
  parser.onData('s2c', h2frame(FrameType.HEADERS, Flags.END_HEADERS, 1, hpack.indexed(8)));
  const length = (1 << 24) - 1;
  const header = h2frame(FrameType.DATA, Flags.END_STREAM, 1, Buffer.alloc(0));
  header.writeUIntBE(length, 0, 3);
  parser.onData('s2c', header);
  const chunk = Buffer.alloc(65536, 0x62);
  for (let left = length; left > 0; left -= chunk.length) parser.onData('s2c', chunk.subarray(0, Math.min(chunk.length, left)));
  assert.equal(records.length, 1);
  assert.equal(records[0].response!.bodySize, length);
  assert.equal(records[0].response!.body.length, 1000);
  assert.equal(records[0].response!.bodyTruncated, true);
  assert.equal(counters['http2.malformed'] ?? 0, 0);
});
