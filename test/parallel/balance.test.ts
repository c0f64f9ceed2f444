// The dispatcher's choice of worker per flow (balance.ts): a flow stays on
// one worker, new flows go where the recent load is least, and the choice
// depends only on the packets before it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { FlowBalancer } from '../../src/dissect/parallel/balance.js';

const IDLE_MS = 600_000;

test('one heavy flow: the flows after it go to the other worker, whose load stays below the heavy flow’s', () => {
  const b = new FlowBalancer(2, IDLE_MS);
  const heavy = 0x1234;
  const heavyWorker = b.workerFor(heavy, 1500, 0);
  const perWorker = [0, 0];
  // The heavy flow sends a full packet for every small packet of a stream of short flows (4 packets each).
  for (let i = 0; i < 40_000; i++) {
    assert.equal(b.workerFor(heavy, 1500, i), heavyWorker, 'a flow never changes worker');
    const w = b.workerFor(0x10000 + (i >> 2), 100, i);
    perWorker[w] += 1 + 100 / 4096;
  }
  const heavyLoad = 40_000 * (1 + 1500 / 4096);
  const other = 1 - heavyWorker;
  // The small flows' load (~41k) is below the heavy flow's (~55k): nearly all of it goes to the other worker.
  assert.ok(perWorker[other] > 0.95 * (perWorker[0] + perWorker[1]), `small flows on the other worker: ${perWorker}`);
  assert.ok(heavyLoad > perWorker[other]);
});

test('equal flows spread evenly over 4 workers, where a hash could pile them up', () => {
  const b = new FlowBalancer(4, IDLE_MS);
  const count = [0, 0, 0, 0];
  // 64 long flows whose hashes are all ≡ 0 mod 4 (a plain hash % 4 would put every one on worker 0).
  const flows = Array.from({ length: 64 }, (_, i) => i * 4);
  const owner = new Map<number, number>();
  for (let round = 0; round < 200; round++) {
    for (const f of flows) {
      const w = b.workerFor(f, 200, round);
      if (owner.has(f)) assert.equal(w, owner.get(f));
      owner.set(f, w);
      count[w]++;
    }
  }
  for (const c of count) assert.equal(c, (64 * 200) / 4, `packets per worker: ${count}`);
});

test('the same packets give the same choices (a file gives the same assignment every run)', () => {
  const run = (): number[] => {
    const b = new FlowBalancer(3, IDLE_MS);
    const out: number[] = [];
    let x = 99;
    for (let i = 0; i < 20_000; i++) {
      x = (Math.imul(x ^ (x >>> 15), 0x2c1b3c6d) + 0x9e3779b9) >>> 0;
      out.push(b.workerFor(x % 3000, x % 1500, i));
    }
    return out;
  };
  assert.deepEqual(run(), run());
});

test('a bucket is chosen afresh only after a tick that came when its flows were idle past every timeout', () => {
  const b = new FlowBalancer(2, IDLE_MS);
  const flow = 7;
  const first = b.workerFor(flow, 100, 0);
  const other = 1 - first;
  // Load the flow's worker so the least loaded is the other one.
  for (let i = 0; i < 100; i++) assert.equal(b.workerFor(flow, 1500, 1000), first);
  // A packet long after, with no tick between: the engine has not walked its flows, so the flow is still there.
  assert.equal(b.workerFor(flow, 100, 1000 + 10 * IDLE_MS), first);
  // A tick exactly the idle timeout after the flow's latest packet: not past it, the flow stays.
  b.ticked(1000 + 10 * IDLE_MS + IDLE_MS);
  assert.equal(b.workerFor(flow, 100, 1000 + 11 * IDLE_MS), first);
  // A tick past it: the engine ended the flow; its next packet starts a new one, wherever there is room.
  b.ticked(1000 + 12 * IDLE_MS + 1);
  assert.equal(b.workerFor(flow, 100, 1000 + 12 * IDLE_MS + 2), other);
  // And stays there.
  assert.equal(b.workerFor(flow, 100, 1000 + 12 * IDLE_MS + 3), other);
});

test('a packet stamped long before the latest tick, on a bucket just chosen, does not move its flow again before the next tick', () => {
  const b = new FlowBalancer(2, IDLE_MS);
  b.ticked(100 * IDLE_MS);
  const w = b.workerFor(9, 100, 0);
  for (let i = 0; i < 20; i++) b.workerFor(1000 + i, 1500, 100 * IDLE_MS); // load elsewhere
  assert.equal(b.workerFor(9, 100, 0), w);
  assert.equal(b.workerFor(9, 100, 1), w);
});

test('capture time going backwards never frees a bucket', () => {
  const b = new FlowBalancer(2, IDLE_MS);
  const w = b.workerFor(5, 100, 10 * IDLE_MS);
  for (let i = 0; i < 50; i++) b.workerFor(5, 1500, 10 * IDLE_MS);
  assert.equal(b.workerFor(5, 100, 0), w);
  assert.equal(b.workerFor(5, 100, 10 * IDLE_MS), w);
});
