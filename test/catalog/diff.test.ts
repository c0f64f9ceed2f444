import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Catalog } from '../../src/catalog/endpoints.js';
import { diffCatalogs, failsOn, mannWhitneyP, twoProportionP, DEFAULT_DIFF_OPTIONS, type Change } from '../../src/catalog/diff.js';
import { renderDiff } from '../../src/catalog/render.js';
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

/** A Redis call to a server known only by its IP (no Kubernetes names). */
function redisCall(ip: string, command: string, i: number): Entry {
  const ep = (a: string, port: number) => ({ ip: a, port, name: '', namespace: '', pod: '', service: '', node: '' });
  return {
    id: `${i}-0`,
    timestamp: 1_795_400_000_000 + i,
    protocol: 'redis',
    transport: 'tcp',
    elapsedTime: 0.2,
    src: ep('10.9.0.1', 40000 + i),
    dst: ep(ip, 6379),
    request: { command, args: [] },
    response: { type: 'simple', value: 'OK' },
    error: false,
    requestSize: 14,
    responseSize: 5,
    summary: command,
  };
}

/** A DNS answer naming `ip` (the way the DNS dissector writes it). */
function dnsAnswer(name: string, ip: string, i: number): Entry {
  return {
    ...redisCall('10.9.0.53', 'x', i),
    protocol: 'dns',
    transport: 'udp',
    dst: { ip: '10.9.0.53', port: 53, name: '', namespace: '', pod: '', service: '', node: '' },
    request: { questions: [{ name, type: 'A', class: 'IN' }] },
    response: { rcode: 0, rcodeName: 'NOERROR', answers: [{ name, type: 'A', class: 'IN', ttl: 30, data: ip }] },
    summary: `A ${name} → ${ip}`,
  };
}

function diffResult(a: Entry[], b: Entry[]) {
  const ca = new Catalog({ details: true });
  ca.addBatch(a);
  const cb = new Catalog({ details: true });
  cb.addBatch(b);
  return diffCatalogs(ca, cb);
}

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
  // Clients reading name break; the added fullName alone would not.
  assert.equal(schema.detail, 'response 200 (breaking): removed $.name; added $.fullName');
  assert.ok(schema.regression);
  const lat = changes.find((c) => c.kind === 'latency')!;
  assert.ok(lat.regression);
  assert.match(lat.detail, /^p95 .* → .* n=120→120, Mann-Whitney p=/);
  assert.ok(changes.some((c) => c.kind === 'errors' && /^5xx 0\.0 % → 33\.3 %/.test(c.detail)));
  assert.ok(changes.some((c) => c.kind === 'errors' && c.detail === 'new error status 503 (40×)'));
});

test('a 200 that became a 302 is a status change (class shares of the non-error answers); a 200 that became a 503 is only an errors change', () => {
  // 60 calls of each endpoint: /login answers 200, then 302 to all but a few; /cart answers 200, then 503 to a third.
  const calls = (candidate: boolean) =>
    Array.from({ length: 60 }, (_, i) => [
      httpCall({ method: 'POST', path: '/login', status: candidate && i >= 3 ? 302 : 200, i: 2 * i }),
      httpCall({ path: '/cart', status: candidate && i % 3 === 0 ? 503 : 200, i: 2 * i + 1 }),
    ]).flat();
  const changes = diff(calls(false), calls(true));
  assert.deepEqual(
    changes.filter((c) => c.kind === 'status').map((c) => [c.endpoint, c.detail.replace(/p=[^)]+/, 'p=…'), c.regression]),
    [
      ['POST /login', 'new status 302 (57×)', false],
      ['POST /login', '2xx 100.0 % → 5.0 %, 3xx 0.0 % → 95.0 % of non-error answers (n=60→60, p=…)', true],
    ],
  );
  assert.deepEqual(brief(changes.filter((c) => c.kind !== 'status')), ['errors GET /cart', 'errors GET /cart']);
  const mix = changes.find((c) => c.kind === 'status' && c.regression)!;
  assert.ok((mix.data!.p as number) < DEFAULT_DIFF_OPTIONS.alpha);
  // Only the fewer-2xx change fails --fail-on status; a new status alone is reported, not failed.
  assert.deepEqual(
    changes.filter((c) => failsOn(c, new Set(['status']))).map((c) => c.endpoint),
    ['POST /login'],
  );
  // The reverse move (302s back to 200s) is reported, and is no regression.
  const back = diff(calls(true), calls(false)).filter((c) => c.kind === 'status');
  assert.deepEqual(back.map((c) => c.regression), [false]);
  assert.match(back[0].detail, /^2xx 5\.0 % → 100\.0 %, 3xx 95\.0 % → 0\.0 % of non-error answers/);
  // Few answers are no evidence of a shift, but a new status is still a fact.
  assert.deepEqual(
    diff(calls(false).slice(0, 8), calls(true).slice(0, 8)).map((c) => `${c.kind} ${c.detail}`),
    ['errors new error status 503 (2×)', 'status new status 302 (1×)'],
  );
});

test('counts of calls in change details read as English: 1 call, 2 calls', () => {
  const one = [httpCall({ path: '/only', i: 0 })];
  const two = [httpCall({ path: '/pair', i: 0 }), httpCall({ path: '/pair', i: 1 })];
  const details = diff(one, two).map((c) => c.detail).sort();
  assert.deepEqual(details, ['new endpoint (2 calls)', 'vanished (1 call in the baseline)']);
  // And the summary of a diff without changes: 1 endpoint, 2 endpoints.
  const summary = (a: Entry[], b: Entry[]) => {
    const [ca, cb] = [new Catalog(), new Catalog()];
    ca.addBatch(a);
    cb.addBatch(b);
    return renderDiff(diffCatalogs(ca, cb), 'table', new Set(), { baseline: 'a', candidate: 'b' });
  };
  assert.equal(summary(one, one), 'no API changes (1 endpoint in a, 1 in b)\n');
  assert.equal(summary([...one, ...two], [...one, ...two]), 'no API changes (2 endpoints in a, 2 in b)\n');
});

test('few samples are not evidence: 3 slow calls do not make a latency change', () => {
  const few = (slow: boolean) => Array.from({ length: 3 }, (_v, i) => httpCall({ path: '/x', elapsed: slow ? 500 : 5, i }));
  assert.deepEqual(diff(few(false), few(true)), []);
});

test('a type change in a body field is reported as such', () => {
  const a = Array.from({ length: 5 }, (_v, i) => httpCall({ path: '/p', responseBody: { price: 3 + i, tags: ['a'] }, i }));
  const b = Array.from({ length: 5 }, (_v, i) => httpCall({ path: '/p', responseBody: { price: `${3 + i}`, tags: ['a'] }, i }));
  const [c] = diff(a, b);
  assert.equal(c.detail, 'response 200 (breaking): type changed $.price number→string');
});

test('a server named by DNS in one input only is the same server in both (only the DNS calls themselves differ)', () => {
  const calls = (from: number) => ['PING', 'GET', 'SET'].map((c, i) => redisCall('10.9.0.7', c, from + i));
  const withDns = [dnsAnswer('redis.shop.svc.cluster.local', '10.9.0.7', 0), ...calls(1)];
  const r = diffResult(withDns, calls(10));
  assert.deepEqual(
    r.changes.map((c) => `${c.kind} ${c.service} ${c.protocol} ${c.endpoint}`),
    ['vanished 10.9.0.53:53 dns A redis.shop.svc.cluster.local'],
  );
  assert.deepEqual(r.nameConflicts, []);
  // The other way round: the name learnt from the candidate names the baseline too.
  const back = diffResult(calls(10), withDns);
  assert.deepEqual(brief(back.changes), ['new-endpoint A redis.shop.svc.cluster.local']);
  // Without DNS on either side, the same calls diff to nothing.
  assert.deepEqual(diffResult(calls(1), calls(10)).changes, []);
});

test('a real change on a server named from one side only is still reported under that name', () => {
  const base = [dnsAnswer('redis.shop.svc.cluster.local', '10.9.0.7', 0), redisCall('10.9.0.7', 'PING', 1), redisCall('10.9.0.7', 'GET', 2)];
  const cand = [redisCall('10.9.0.7', 'PING', 11), redisCall('10.9.0.7', 'HGETALL', 12)];
  const r = diffResult(base, cand);
  assert.deepEqual(r.changes.filter((c) => c.protocol === 'redis').map((c) => `${c.kind} ${c.service} ${c.endpoint}`).sort(), [
    'new-endpoint redis.shop.svc.cluster.local:6379 HGETALL',
    'vanished redis.shop.svc.cluster.local:6379 GET',
  ]);
});

test('two DNS names for one IP: each side keeps its own and the conflict is reported', async () => {
  const a = [dnsAnswer('old.shop.svc.cluster.local', '10.9.0.7', 0), redisCall('10.9.0.7', 'PING', 1)];
  const b = [dnsAnswer('new.shop.svc.cluster.local', '10.9.0.7', 0), redisCall('10.9.0.7', 'PING', 1)];
  const r = diffResult(a, b);
  assert.deepEqual(r.nameConflicts, [{ ip: '10.9.0.7', baseline: 'old.shop.svc.cluster.local', candidate: 'new.shop.svc.cluster.local' }]);
  assert.deepEqual(r.changes.filter((c) => c.protocol === 'redis').map((c) => `${c.kind} ${c.service}`).sort(), [
    'new-endpoint new.shop.svc.cluster.local:6379',
    'vanished old.shop.svc.cluster.local:6379',
  ]);
  const dir = mkdtempSync(join(tmpdir(), 's4k-diff-names-'));
  try {
    const write = (name: string, entries: Entry[]) => {
      const f = join(dir, name);
      writeFileSync(f, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
      return f;
    };
    const cli = await runCli(['diff', write('a.ndjson', a), write('b.ndjson', b)]);
    assert.equal(cli.code, 0, cli.stderr);
    assert.equal(
      cli.stderr,
      "diff: 1 IP(s) named differently by the two sides' DNS/Host names, each side keeps its own: 10.9.0.7 is old.shop.svc.cluster.local in the baseline, new.shop.svc.cluster.local in the candidate\n",
    );
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
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

test('CLI: a candidate without the DNS answers of the baseline diffs only in its DNS calls', async () => {
  const dir = mkdtempSync(join(tmpdir(), 's4k-diff-dns-'));
  try {
    const full = join(dir, 'bm.ndjson');
    const noDns = join(dir, 'nodns.ndjson');
    const fewer = join(dir, 'fewer.ndjson');
    const run = async (args: string[], out?: string) => {
      const r = await runCli(args);
      assert.equal(r.code, 0, r.stderr);
      if (out) writeFileSync(out, r.stdout);
      return r;
    };
    await run(['dissect', 'examples/bookinfo-mix.pcap'], full);
    await run(['filter', '!dns', full], noDns);
    await run(['filter', '!dns and request.path != "/productpage"', full], fewer);
    const changes = async (args: string[]) => {
      const r = await runCli(['diff', '--format', 'json', ...args]);
      return { code: r.code, stderr: r.stderr, list: (JSON.parse(r.stdout) as { changes: Change[] }).changes.map((c) => `${c.kind} ${c.service} ${c.protocol} ${c.endpoint}`) };
    };
    const r = await changes(['--fail-on', 'vanished,new-endpoint', full, noDns]);
    // The DNS server's own endpoints did vanish; every other server keeps its DNS name on both sides.
    assert.equal(r.code, 1);
    assert.equal(r.list.length, 7, r.list.join('\n'));
    assert.ok(r.list.every((l) => l.startsWith('vanished 198.18.20.45:53 dns ')), r.list.join('\n'));
    for (const service of ['redis.bookinfo.svc.cluster.local:6379', 'reviews.bookinfo.svc.cluster.local:80']) {
      const one = await changes(['--fail-on', 'vanished,new-endpoint', '--service', service, full, noDns]);
      assert.deepEqual(one.list, []);
      assert.equal(one.code, 0, one.stderr);
    }
    assert.equal((await changes(['--fail-on', 'new-endpoint,errors,latency,schema', full, noDns])).code, 0);
    // A real change is still found, under the name the baseline learnt.
    const real = await changes(['--fail-on', 'vanished', '--service', 'reviews.bookinfo.svc.cluster.local:80', full, fewer]);
    assert.deepEqual(real.list, ['vanished reviews.bookinfo.svc.cluster.local:80 http GET /productpage']);
    assert.equal(real.code, 1);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('schema changes are split as oasdiff splits them: only breaking ones fail --fail-on schema', async () => {
  const calls = (variant: 'base' | 'additive' | 'breaking') => {
    const out: Entry[] = [];
    for (let i = 0; i < 12; i++) {
      const states = variant === 'breaking' ? ['on', 'off', 'idle', 'gone'] : ['on', 'off', 'idle'];
      const item: Record<string, unknown> = { id: i, name: 'n', state: states[i % states.length] };
      if (variant === 'additive') item.color = 'red'; // a new response field: clients ignore it
      if (variant === 'breaking') delete item.name; // a response field clients read is gone
      out.push(httpCall({ path: '/items', responseBody: item, i }));
      const order: Record<string, unknown> = { qty: 1, ...(variant === 'additive' && i % 2 ? { note: 'x' } : {}), ...(variant === 'breaking' ? { tenant: 't' } : {}) };
      out.push(httpCall({ method: 'POST', path: '/orders', requestBody: order, responseBody: { ok: true }, i: 100 + i }));
      const query: Record<string, string> = { q: 'x', ...(variant === 'additive' && i % 2 ? { sort: 'asc' } : {}), ...(variant === 'breaking' ? { page: '1' } : {}) };
      out.push(httpCall({ path: '/search', query, responseBody: { r: [] }, i: 200 + i }));
    }
    return out;
  };
  const additive = diff(calls('base'), calls('additive'));
  assert.deepEqual(
    additive.map((c) => [c.endpoint, c.detail, c.regression]).sort(),
    [
      ['GET /items', 'response 200: added $.color', false],
      ['GET /search', 'query: new optional parameter sort', false],
      ['POST /orders', 'request body: added optional $.note', false],
    ],
  );
  const breaking = diff(calls('base'), calls('breaking'));
  assert.deepEqual(
    breaking.map((c) => [c.endpoint, c.detail, c.regression]).sort(),
    [
      ['GET /items', 'response 200 (breaking): removed $.name; enum value added $.state "gone"', true],
      ['GET /search', 'query (breaking): new required parameter page', true],
      ['POST /orders', 'request body (breaking): new required field $.tenant', true],
    ],
  );
  const dir = mkdtempSync(join(tmpdir(), 's4k-diff-breaking-'));
  try {
    const write = (name: string, entries: Entry[]) => {
      const f = join(dir, name);
      writeFileSync(f, entries.map((e) => JSON.stringify(e)).join('\n') + '\n');
      return f;
    };
    const base = write('base.ndjson', calls('base'));
    const ok = await runCli(['diff', '--fail-on', 'schema', base, write('additive.ndjson', calls('additive'))]);
    assert.equal(ok.code, 0, ok.stdout + ok.stderr);
    assert.match(ok.stdout, /response 200: added \$\.color/);
    const bad = await runCli(['diff', '--fail-on', 'schema', '--format', 'junit', base, write('breaking.ndjson', calls('breaking'))]);
    assert.equal(bad.code, 1, bad.stderr);
    assert.equal((bad.stdout.match(/<failure /g) ?? []).length, 3);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
