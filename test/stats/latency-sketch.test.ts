import { test } from 'node:test';
import assert from 'node:assert/strict';
import { LatencySketch, RELATIVE_ACCURACY } from '../../src/stats/latency-sketch.js';
import { mulberry32 as rng } from '../helpers/random.js';


function exactQuantile(sorted: number[], q: number): number {
  return sorted[Math.floor(q * (sorted.length - 1))];
}

test('quantiles stay within the stated relative error of the exact value at the same rank', () => {
  const r = rng(42);
  // Log-normal-ish latencies from 0.01 ms to ~10 s, plus exact zeros.
  const values = Array.from({ length: 50_000 }, (_, i) => (i % 97 === 0 ? 0 : Math.exp(r() * 13.8 - 4.6)));
  const sketch = new LatencySketch();
  for (const v of values) sketch.add(v);
  const sorted = [...values].sort((a, b) => a - b);
  for (const q of [0.01, 0.1, 0.5, 0.9, 0.95, 0.99, 0.999]) {
    const exact = exactQuantile(sorted, q);
    const got = sketch.quantile(q)!;
    const err = exact === 0 ? got : Math.abs(got - exact) / exact;
    assert.ok(err <= RELATIVE_ACCURACY + 1e-9, `q=${q}: sketch ${got} vs exact ${exact} (error ${err})`);
  }
  assert.equal(sketch.quantile(1), sorted[sorted.length - 1], 'max is exact');
  assert.equal(sketch.count, values.length);
  assert.ok(Math.abs(sketch.mean! - values.reduce((a, b) => a + b, 0) / values.length) < 1e-9, 'mean is exact');
});

test('memory is bounded by the value range, not by the number of values', () => {
  const sketch = new LatencySketch();
  const r = rng(7);
  for (let i = 0; i < 300_000; i++) sketch.add(Math.exp(r() * 27 - 6)); // 0.0025 ms … 1.3e9 ms
  const afterMany = sketch.size;
  assert.ok(afterMany < 1500, `buckets: ${afterMany}`);
  for (let i = 0; i < 300_000; i++) sketch.add(Math.exp(r() * 27 - 6));
  assert.ok(sketch.size <= afterMany + 5, 'doubling the input barely adds buckets');
});

test('merging two sketches equals sketching the union', () => {
  const a = new LatencySketch();
  const b = new LatencySketch();
  const all = new LatencySketch();
  for (let i = 1; i <= 1000; i++) {
    (i % 3 ? a : b).add(i / 10);
    all.add(i / 10);
  }
  a.merge(b);
  for (const q of [0.5, 0.95, 0.99]) assert.equal(a.quantile(q), all.quantile(q));
  assert.equal(a.count, 1000);
  assert.equal(a.max, 100);
});

test('an empty sketch reports nothing; bad values are ignored', () => {
  const s = new LatencySketch();
  assert.equal(s.quantile(0.5), null);
  assert.equal(s.mean, null);
  s.add(Number.NaN);
  s.add(-1);
  assert.equal(s.count, 0);
  s.add(5);
  assert.equal(s.quantile(0.5), 5);
});
