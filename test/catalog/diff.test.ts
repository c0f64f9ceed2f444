import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog } from '../../src/catalog/endpoints.js';
import { diffCatalogs, mannWhitneyP, twoProportionP, DEFAULT_DIFF_OPTIONS, type Change } from '../../src/catalog/diff.js';
import type { Entry } from '../../src/model/entry.js';
import { runCli } from '../helpers/cli.js';
import { httpCall } from './entries.js';

function rng(seed: number): () => number {
  return () => {
    seed = (seed + 0x6d2b79f5) | 0;
    let t = Math.imul(seed ^ (seed >>> 15), 1 | seed);
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t;
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296;
  };
}

interface Variant {
  renamed?: boolean;
  slowOrders?: boolean;
  failingOrders?: boolean;
  newEndpoint?: boolean;
  legacy?: boolean;
}

/** A service's traffic: latencies drawn around 8-12 ms, so two runs of the same service differ only by noise. */
function traffic(seed: number, v: Variant): Entry[] {
  const r = rng(seed);
  const out: Entry[] = [];
  let i = 0;
  const ms = (base: number) => base + r() * 4;
  for (let n = 0; n < 120; n++) {
    const id = Math.floor(r() * 10_000);
    out.push(httpCall({ path: `/users/${id}`, responseBody: v.renamed ? { id, fullName: 'Ann', email: 'a@b.io' } : { id, name: 'Ann', email: 'a@b.io' }, elapsed: ms(8), i: i++ }));
    out.push(httpCall({ path: '/health', responseBody: { ok: true }, elapsed: ms(1), i: i++ }));
    const fail = v.failingOrders && n % 3 === 0;
    out.push(httpCall({ method: 'POST', path: '/orders', requestBody: { sku: 'x', qty: 1 }, status: fail ? 503 : 201, responseBody: fail ? undefined : { order: n }, elapsed: ms(v.slowOrders ? 60 : 10), i: i++ }));
    if (v.newEndpoint) out.push(httpCall({ path: `/v2/items/${n}`, responseBody: [], elapsed: ms(5), i: i++ }));
    if (v.legacy !== false) out.push(httpCall({ path: '/legacy', elapsed: ms(5), i: i++ }));
  }
  return out;
}

function diff(a: Entry[], b: Entry[]): Change[] {
  const ca = new Catalog({ details: true });
  ca.addBatch(a);
  const cb = new Catalog({ details: true });
  cb.addBatch(b);
  return diffCatalogs(ca, cb).changes;
}

const brief = (cs: Change[]) => cs.map((c) => `${c.kind} ${c.endpoint}`).sort();

test('two runs of the same service: no change (latency noise and different ids are not changes)', () => {
  for (const [s1, s2] of [
    [1, 2],
    [3, 4],
    [5, 6],
  ]) {
    assert.deepEqual(diff(traffic(s1, {}), traffic(s2, {})), []);
  }
});

test('exactly the changes made: new, vanished, slower, failing, renamed field', () => {
  const changes = diff(traffic(1, {}), traffic(2, { renamed: true, slowOrders: true, failingOrders: true, newEndpoint: true, legacy: false }));
  assert.deepEqual(brief(changes), [
    'errors POST /orders', // new status 503
    'errors POST /orders', // 5xx 0 % → 33 %
    'latency POST /orders',
    'new-endpoint GET /v2/items/{id}',
    'schema GET /users/{id}',
    'vanished GET /legacy',
  ]);
  const schema = changes.find((c) => c.kind === 'schema')!;
  assert.equal(schema.detail, 'response 200: added $.fullName; removed $.name');
  const lat = changes.find((c) => c.kind === 'latency')!;
  assert.ok(lat.regression);
  assert.match(lat.detail, /^p95 .* → .* n=120→120, Mann-Whitney p=/);
  assert.ok(changes.some((c) => c.kind === 'errors' && /^5xx 0\.0 % → 33\.3 %/.test(c.detail)));
  assert.ok(changes.some((c) => c.kind === 'errors' && c.detail === 'new error status 503 (40×)'));
});

test('few samples are not evidence: 3 slow calls do not make a latency change', () => {
  const few = (slow: boolean) => Array.from({ length: 3 }, (_v, i) => httpCall({ path: '/x', elapsed: slow ? 500 : 5, i }));
  assert.deepEqual(diff(few(false), few(true)), []);
});

test('a type change in a body field is reported as such', () => {
  const a = Array.from({ length: 5 }, (_v, i) => httpCall({ path: '/p', responseBody: { price: 3 + i, tags: ['a'] }, i }));
  const b = Array.from({ length: 5 }, (_v, i) => httpCall({ path: '/p', responseBody: { price: `${3 + i}`, tags: ['a'] }, i }));
  const [c] = diff(a, b);
  assert.equal(c.detail, 'response 200: type changed $.price number→string');
});

test('statistics: Mann-Whitney and two-proportion p-values', () => {
  // scipy.stats.mannwhitneyu([1..5], [6..10], method='asymptotic', use_continuity=True) → 0.01219
  assert.ok(Math.abs(mannWhitneyP([1, 2, 3, 4, 5], [6, 7, 8, 9, 10]) - 0.01219) < 5e-4);
  assert.equal(mannWhitneyP([1, 1, 1], [1, 1, 1]), 1);
  // 2/1000 vs 40/1000 errors: decisive; 0/10 vs 1/10: not.
  assert.ok(twoProportionP(2, 1000, 40, 1000) < 1e-6);
  assert.ok(twoProportionP(0, 10, 1, 10) > DEFAULT_DIFF_OPTIONS.alpha);
});

test('CLI: --fail-on gates, formats, usage errors', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-diff-'));
  try {
    const write = (name: string, entries: Entry[]) => {
      const f = join(dir, name);
      writeFileSync(f, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
      return f;
    };
    const a = write('a.ndjson', traffic(1, {}));
    const a2 = write('a2.ndjson', traffic(2, {}));
    const b = write('b.ndjson', traffic(2, { slowOrders: true, newEndpoint: true }));
    const same = await runCli(['diff', '--fail-on', 'new-endpoint,vanished,errors,latency,schema', a, a2]);
    assert.equal(same.code, 0, same.stderr);
    assert.match(same.stdout, /^no API changes/);
    const changed = await runCli(['diff', '--fail-on', 'latency', a, b]);
    assert.equal(changed.code, 1);
    assert.match(changed.stdout, /latency ✗/);
    assert.match(changed.stdout, /new-endpoint/);
    // Reported but not named by --fail-on: exit 0.
    assert.equal((await runCli(['diff', '--fail-on', 'schema', a, b])).code, 0);
    assert.equal((await runCli(['diff', a, b])).code, 0);
    const json = await runCli(['diff', '--format', 'json', '--fail-on', 'new-endpoint', a, b]);
    const doc = JSON.parse(json.stdout) as { changes: Change[]; failing: number };
    assert.equal(json.code, 1);
    assert.equal(doc.failing, 1);
    const junit = await runCli(['diff', '--format', 'junit', '--fail-on', 'latency,new-endpoint', a, b]);
    assert.match(junit.stdout, /<testsuite name="[^"]*" tests="2" failures="2"/);
    const md = await runCli(['diff', '--format', 'markdown', a, b]);
    assert.match(md.stdout, /^\| service \| endpoint \| change \| detail \|/);
    const bad = await runCli(['diff', '--fail-on', 'latncy', a, b]);
    assert.equal(bad.code, 2);
    assert.match(bad.stderr, /--fail-on: unknown change "latncy"/);
    assert.equal((await runCli(['diff', a])).code, 2);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
