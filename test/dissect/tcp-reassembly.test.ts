import { test } from 'node:test';
import assert from 'node:assert/strict';
import { HalfStream, seqDiff, type ReassemblyCounters } from '../../src/dissect/tcp-reassembly.js';

function stream(maxBuffered = 1 << 20) {
  const out: (string | number)[] = [];
  const counters: ReassemblyCounters = { retransmitted: 0, outOfOrder: 0, gaps: 0, gapBytes: 0 };
  const half = new HalfStream({ data: (b) => out.push(b.toString('latin1')), gap: (n) => out.push(n) }, counters, maxBuffered, 8);
  const text = () => out.filter((x) => typeof x === 'string').join('');
  return { half, out, counters, text };
}
const b = (s: string) => Buffer.from(s, 'latin1');

test('in-order segments after a SYN are delivered in order', () => {
  const s = stream();
  s.half.segment(1000, true, false, b(''));
  s.half.segment(1001, false, false, b('hello '));
  s.half.segment(1007, false, false, b('world'));
  assert.equal(s.text(), 'hello world');
});

test('out-of-order segments wait for the hole to fill', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  s.half.segment(7, false, false, b('world'));
  assert.equal(s.text(), '');
  s.half.segment(1, false, false, b('hello '));
  assert.equal(s.text(), 'hello world');
  assert.equal(s.counters.outOfOrder, 1);
});

test('retransmissions and overlaps are trimmed, first copy wins', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  s.half.segment(1, false, false, b('abcd'));
  s.half.segment(1, false, false, b('abcd'));
  s.half.segment(3, false, false, b('XXef'));
  assert.equal(s.text(), 'abcdef');
  assert.equal(s.counters.retransmitted, 1);
});

test('sequence numbers wrap around 2^32', () => {
  const s = stream();
  s.half.segment(0xfffffffd, true, false, b(''));
  s.half.segment(0xfffffffe, false, false, b('ab'));
  s.half.segment(0, false, false, b('cd'));
  assert.equal(s.text(), 'abcd');
  assert.equal(seqDiff(0, 0xffffffff), 1);
});

test('a hole the peer already acknowledged is reported as a gap at once', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  s.half.segment(1, false, false, b('aa'));
  s.half.ackHint(13); // peer got 12 bytes: bytes 3..10 were lost from the capture
  s.half.segment(11, false, false, b('zz'));
  assert.deepEqual(s.out, ['aa', 8, 'zz']);
  assert.equal(s.counters.gaps, 1);
});

test('too many held segments give up the hole instead of growing', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  for (let i = 0; i < 9; i++) s.half.segment(101 + i * 2, false, false, b('xy'));
  assert.equal(s.counters.gaps, 1);
  assert.equal(s.out[0], 100);
  assert.equal(s.text(), 'xy'.repeat(9));
});

test('flush at the end delivers held data after reporting the hole', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  s.half.segment(5, false, false, b('tail'));
  s.half.flush();
  assert.deepEqual(s.out, [4, 'tail']);
});

test('mid-stream start (no SYN) begins at the first segment seen', () => {
  const s = stream();
  s.half.segment(5000, false, false, b('GET / HTTP/1.1\r\n'));
  s.half.segment(5016, false, true, b('\r\n'));
  assert.equal(s.text(), 'GET / HTTP/1.1\r\n\r\n');
  assert.equal(s.half.finished, true);
});

test('bytes before a FIN that the capture never saw are a gap at the end (the FIN says where the stream ended)', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  s.half.segment(1, false, false, b('GET /ratings/1 HTTP/1.0\r\nHos')); // what a snap length kept
  s.half.segment(115, false, true, b('')); // the FIN: 114 bytes were sent
  assert.deepEqual(s.out, ['GET /ratings/1 HTTP/1.0\r\nHos']);
  assert.equal(s.half.finished, false);
  s.half.flush();
  s.half.gapToFin();
  assert.deepEqual(s.out.slice(1), [86]);
  assert.equal(s.counters.gapBytes, 86);
  assert.equal(s.half.finished, true);
  // Nothing more to report when the stream was whole.
  const whole = stream();
  whole.half.segment(0, true, false, b(''));
  whole.half.segment(1, false, true, b('abc'));
  whole.half.gapToFin();
  assert.deepEqual(whole.out, ['abc']);
});

test('bytes a snap length cut off a segment are a gap right after its captured bytes, in order or once a hole fills', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  // 'hello' captured of a 12-byte segment: 7 lost at once, before anything else comes.
  s.half.segment(1, false, false, b('hello'), undefined, undefined, undefined, 7);
  assert.deepEqual(s.out, ['hello', 7]);
  // A segment held behind a hole keeps its cut: reported when it is delivered.
  s.half.segment(20, false, false, b('yy'), undefined, undefined, undefined, 3);
  s.half.segment(13, false, false, b('xxxxxxx'));
  assert.deepEqual(s.out, ['hello', 7, 'xxxxxxx', 'yy', 3]);
  // A FIN after a cut segment ends where the whole segment ended: no gap is left.
  s.half.segment(25, false, true, b('z'), undefined, undefined, undefined, 4);
  s.half.gapToFin();
  assert.deepEqual(s.out.slice(5), ['z', 4]);
  assert.equal(s.half.finished, true);
  assert.deepEqual([s.counters.gaps, s.counters.gapBytes], [3, 14]);
});

test('a FIN after a hole the peer acknowledged past: the hole is a gap at once and the half is finished', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  s.half.segment(1, false, false, b('ab'));
  // Bytes 3..9 lost; the FIN comes at 10 and waits for them.
  s.half.segment(10, false, true, b(''));
  assert.equal(s.half.finished, false);
  // The peer's ACK covers the FIN: it had every byte before it.
  s.half.ackHint(11);
  assert.deepEqual(s.out, ['ab', 7]);
  assert.equal(s.half.finished, true);
});

test('without a FIN, bytes the peer acknowledged that the capture never saw are a gap at the end', () => {
  const s = stream();
  s.half.segment(0, true, false, b(''));
  s.half.ackHint(454); // the peer had 453 bytes; the segment that carried them was lost
  s.half.flush();
  s.half.gapToFin();
  assert.deepEqual(s.out, [453]);
  assert.equal(s.counters.gapBytes, 453);
  // An acknowledgement of what was captured leaves nothing to report.
  const whole = stream();
  whole.half.segment(0, true, false, b(''));
  whole.half.segment(1, false, false, b('abc'));
  whole.half.ackHint(4);
  whole.half.gapToFin();
  assert.deepEqual(whole.out, ['abc']);
});
