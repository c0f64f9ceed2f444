// Entries leave the engine as soon as no flow can still produce an older one
// (each parser tells the engine its oldest pending request), instead of
// waiting for the whole reorder window; order is never given up for it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { dissectPackets } from '../../src/dissect/dissect-packets.js';
import type { Entry } from '../../src/model/entry.js';
import { Wire, runEngine as run, httpRequest as request, httpResponse as response } from '../helpers/engine-wire.js';

test('answered calls come out within a moment of capture time, not after the reorder window', () => {
  const w = new Wire();
  // Ten quick calls, 500 ms apart, on one keep-alive connection; the capture lasts 5 s of a 31 s window.
  for (let i = 0; i < 10; i++) {
    w.send(1_000 + i * 500, 1, 40000, 80, request(`/fast/${i}`));
    w.send(1_010 + i * 500, 2, 80, 40000, response);
  }
  const out = run(w.packets);
  assert.equal(out.length, 10);
  // All but the last are out before the capture ends, each within ~1 s of its request.
  const early = out.filter((o) => o.outAt !== Infinity);
  assert.ok(early.length >= 8, `only ${early.length} entries came out before the end`);
  for (const o of early) assert.ok(o.outAt - o.entry.timestamp < 1_200, `held ${o.outAt - o.entry.timestamp} ms`);
});

test('a slow request on another connection holds newer calls back, so order is kept', () => {
  const w = new Wire();
  w.send(1_000, 1, 41000, 80, request('/slow')); // answered only at 6 s
  for (let i = 0; i < 8; i++) {
    w.send(1_500 + i * 500, 1, 42000, 80, request(`/fast/${i}`));
    w.send(1_510 + i * 500, 2, 80, 42000, response);
  }
  w.send(6_000, 2, 80, 41000, response);
  for (let i = 0; i < 4; i++) {
    w.send(7_000 + i * 500, 1, 42000, 80, request(`/after/${i}`));
    w.send(7_010 + i * 500, 2, 80, 42000, response);
  }
  const out = run(w.packets);
  const paths = out.map((o) => o.entry.request?.path);
  assert.deepEqual(paths, ['/slow', ...Array.from({ length: 8 }, (_, i) => `/fast/${i}`), ...Array.from({ length: 4 }, (_, i) => `/after/${i}`)]);
  const ts = out.map((o) => o.entry.timestamp);
  assert.deepEqual(ts, [...ts].sort((a, b) => a - b));
  // The fast calls waited for the slow one (nothing came out before 6 s), then went at once.
  for (const o of out.slice(0, 9)) assert.ok(o.outAt >= 6_000 && o.outAt < 7_500, `out at ${o.outAt}`);
});

test('a request read only in part holds newer calls back', () => {
  const w = new Wire();
  const head = request('/upload').replace('\r\n\r\n', '\r\nContent-Length: 10\r\n\r\n');
  w.send(1_000, 1, 43000, 80, head + '12345'); // body completes at 4 s
  for (let i = 0; i < 4; i++) {
    w.send(1_500 + i * 500, 1, 44000, 80, request(`/fast/${i}`));
    w.send(1_510 + i * 500, 2, 80, 44000, response);
  }
  w.send(4_000, 1, 43000, 80, '67890');
  w.send(4_010, 2, 80, 43000, response);
  const out = run(w.packets);
  assert.deepEqual(out.map((o) => o.entry.request?.path), ['/upload', '/fast/0', '/fast/1', '/fast/2', '/fast/3']);
  for (const o of out.slice(1)) assert.ok(o.outAt >= 4_000, `a fast call left at ${o.outAt}, before the upload finished`);
});

test('a packet stamped earlier than the ones before it (time stepping back) still finds its place', async () => {
  const w = new Wire();
  for (let i = 0; i < 6; i++) {
    w.send(1_000 + i * 1_000, 1, 45000, 80, request(`/tick/${i}`));
    w.send(1_010 + i * 1_000, 2, 80, 45000, response);
  }
  // A new connection whose packets carry a clock 2.5 s behind (another interface, a merged file).
  w.send(3_500, 1, 46000, 80, request('/behind'));
  w.send(3_510, 2, 80, 46000, response);
  for (const split of [w.packets.length, 8, 11]) {
    // In one batch, and with the step back at (or just after) a batch boundary.
    async function* batches() {
      yield w.packets.slice(0, split);
      if (split < w.packets.length) yield w.packets.slice(split);
    }
    const entries: Entry[] = [];
    for await (const batch of dissectPackets(batches())) entries.push(...batch);
    const ts = entries.map((e) => e.timestamp);
    assert.equal(entries.length, 7);
    assert.deepEqual(ts, [...ts].sort((a, b) => a - b), `split at ${split}: ${entries.map((e) => e.request?.path).join(' ')}`);
  }
});
