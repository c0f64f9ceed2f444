import { test } from 'node:test';
import assert from 'node:assert/strict';
import { StatsAggregator, MAX_GROUPS, MAX_KEY_CHARS, OTHER_GROUP, statsFields } from '../../src/stats/aggregate.js';
import { makeProjector } from '../../src/ndjson/project.js';
import { renderStats, sortRows } from '../../src/stats/render.js';
import { mixedEntries, http, ep, external, productpage, details } from './entries.js';

async function statsOf(by: string, entries = mixedEntries()) {
  const s = new StatsAggregator(by);
  await s.addBatch(entries);
  return s.snapshot();
}

test('per protocol: entries, errors, bytes, share and rate', async () => {
  const snap = await statsOf('protocol');
  const row = (n: string) => snap.rows.find((r) => r.name === n)!;
  assert.deepEqual(
    snap.rows.map((r) => [r.name, r.entries, r.errors]).sort(),
    [
      ['dns', 5, 4],
      ['http', 170, 10],
      ['redis', 8, 2],
    ],
  );
  assert.equal(snap.total.entries, 183);
  assert.equal(row('http').bytesIn, 170 * 100);
  assert.equal(row('http').bytesOut, 170 * 1000);
  assert.equal(row('redis').successes, 6);
  assert.ok(Math.abs(row('http').share - (100 * 170) / 183) < 1e-9);
  assert.equal(snap.seconds, 9.9); // first entry t0, last t0 + 9900 ms
  assert.ok(Math.abs(row('http').perSecond! - 170 / 9.9) < 1e-9);
  // Unanswered Redis calls carry no latency: p50 is the answered 0.5 ms.
  assert.equal(row('redis').latency.p50, 0.5);
  assert.equal(row('http').latency.max, 100);
});

test('a response whose request was not seen adds no latency (its elapsedTime 0 means unknown)', async () => {
  const a = http(ep('10.0.0.1', 40000), details(), 'GET', '/a', 200, 40, 1_000);
  const b = http(ep('10.0.0.1', 40001), details(), 'GET', '/b', 200, 60, 2_000);
  // Capture started after the request (as dissect emits it: request null, elapsedTime 0).
  const lone = { ...http(ep('10.0.0.1', 40002), details(), 'GET', '/c', 200, 0, 3_000), request: null, elapsedTime: 0 };
  // Pub/sub pushes and the like: no request, nothing to time.
  const push = { ...lone, id: 'push', protocol: 'redis', request: null, elapsedTime: 0 };
  const snap = await statsOf('protocol', [a, b, lone, push]);
  const row = (n: string) => snap.rows.find((r) => r.name === n)!;
  assert.equal(row('http').entries, 3);
  assert.equal(row('http').latency.avg, 50);
  assert.equal(row('http').latency.p50! >= 39.6, true, String(row('http').latency.p50));
  assert.equal(row('redis').entries, 1);
  assert.equal(row('redis').latency.p50, null);
  // An entry from elsewhere with no request field at all keeps its latency.
  const { request: _drop, ...foreign } = { ...a, id: 'foreign', elapsedTime: 7 };
  const other = await statsOf('protocol', [foreign as typeof a]);
  assert.equal(other.total.latency.max, 7);
});

test('--by service: Kubernetes names, DNS names learned later, merged across the answer', async () => {
  const snap = await statsOf('service');
  const names = snap.rows.map((r) => r.name).sort();
  assert.deepEqual(names, ['api.example.com:443', 'bookinfo/details', 'bookinfo/reviews', 'data/redis', 'kube-system/kube-dns']);
  // 10 calls before and 10 after the DNS answer are one service.
  assert.equal(snap.rows.find((r) => r.name === 'api.example.com:443')!.entries, 20);
  const details = snap.rows.find((r) => r.name === 'bookinfo/details')!;
  assert.equal(details.errors, 10);
  assert.equal(details.successes, 90);
  // Latencies 1..100 ms: p95 at rank 94 → 95 ms within 1 %.
  assert.ok(Math.abs(details.latency.p95! - 95) / 95 <= 0.01, String(details.latency.p95));
  assert.equal(details.latency.avg, 50.5);
});

test('names fall back to the Host header, then IP:port', async () => {
  const noDns = mixedEntries().filter((e) => e.protocol !== 'dns');
  assert.ok((await statsOf('service', noDns)).rows.some((r) => r.name === 'pay.example.com:443'));
  const plain = [http(ep('198.18.9.1', 5555), ep('198.18.9.2', 8080), 'GET', '/', 200, 1, 0)];
  assert.deepEqual((await statsOf('service', plain)).rows.map((r) => r.name), ['198.18.9.2:8080']);
});

test('--by endpoint, status, namespace, pod', async () => {
  const endpoint = await statsOf('endpoint');
  assert.ok(endpoint.rows.some((r) => r.name === 'bookinfo/reviews GET /reviews/{id}' && r.entries === 50), 'query string dropped, id templated');
  assert.ok(endpoint.rows.some((r) => r.name === 'api.example.com:443 POST /v1/charge' && r.entries === 20));
  const status = await statsOf('status');
  const byName = Object.fromEntries(status.rows.map((r) => [r.name, r.entries]));
  assert.deepEqual(byName, { 'http 200': 140, 'http 201': 20, 'http 500': 10, 'dns NOERROR': 1, 'dns NXDOMAIN': 4, 'redis ok': 6, 'redis unanswered': 2 });
  const ns = await statsOf('namespace');
  assert.deepEqual(
    Object.fromEntries(ns.rows.map((r) => [r.name, r.entries])),
    { bookinfo: 150, 'kube-system': 5, data: 8, '(no namespace)': 20 },
  );
  const pod = await statsOf('pod');
  assert.ok(pod.rows.some((r) => r.name === 'bookinfo/details-v1-xyz' && r.entries === 100));
});

test('--by endpoint templates ids in HTTP paths as catalog and map do: one row for /users/{id}, not one per user', async () => {
  const entries = [1, 2, 3, 42].map((n, i) => http(productpage(), details(), 'GET', `/users/${n}/orders?page=${n}`, 200, 5, 1000 + i));
  entries.push(http(productpage(), details(), 'GET', '/users/me/orders', 200, 5, 2000));
  entries.push(http(productpage(), details(), 'DELETE', '/files/0123456789abcdef0123/x', 404, 5, 2001));
  const rows = (await statsOf('endpoint', entries)).rows.map((r) => [r.name.replace(/^\S+ /, ''), r.entries]);
  assert.deepEqual(rows.sort(), [
    ['DELETE /files/{hash}/x', 1],
    ['GET /users/me/orders', 1],
    ['GET /users/{id}/orders', 4],
  ]);
});

test('--by endpoint names a SQL call by its statement with literals out, as catalog does, read through the NDJSON projection', async () => {
  const sql = (protocol: string, request: Record<string, unknown>, error: boolean, t: number) => ({ ...http(productpage(), details(), 'GET', '/', 200, 5, t), protocol, request, error });
  const entries = [
    ...[7, 8, 9].map((n, i) => sql('postgresql', { type: 'query', query: `select ${n} as n,\n  now()` }, false, 3000 + i)),
    sql('postgresql', { type: 'query', query: 'select * from no_such_table' }, true, 3010),
    sql('postgresql', { type: 'startup', user: 'app' }, false, 3011),
    sql('mysql', { command: 'COM_QUERY', query: 'select "a" from t where id in (1, 2)' }, false, 3012),
  ];
  const project = makeProjector(statsFields('endpoint')!);
  const projected = entries.map((e) => { const b = Buffer.from(JSON.stringify(e)); return project(b, 0, b.length) as any; });
  const rows = (await statsOf('endpoint', projected)).rows.map((r) => [r.name.replace(/^\S+ /, ''), r.entries, r.errors]);
  assert.deepEqual(rows.sort(), [
    ['select * from no_such_table', 1, 1],
    ['select ? as n, now()', 3, 0],
    ['select ? from t where id in (?)', 1, 0],
    ['startup', 1, 0],
  ]);
});

test('--by JSONata expression; a bad expression is a usage error with its column', async () => {
  const snap = await statsOf('request.method & " " & $string(response.status)');
  assert.equal(snap.rows.find((r) => r.name === 'GET 500')!.entries, 10);
  assert.throws(() => new StatsAggregator('request.(('), (err: any) => err.exitCode === 2 && /column/.test(err.message));
});

test('group count is capped: memory does not grow with distinct keys', async () => {
  const s = new StatsAggregator('endpoint');
  const batch = [];
  for (let i = 0; i < MAX_GROUPS + 500; i++) batch.push(http(productpage(), external(), 'GET', `/item/x${i}`, 200, 1, i));
  await s.addBatch(batch);
  const snap = s.snapshot();
  assert.equal(snap.rows.length, MAX_GROUPS + 1);
  assert.equal(snap.rows.find((r) => r.name === OTHER_GROUP)!.entries, 500);
});

test('a row name is cut at 1024 characters and counted: 10,000 rows of a megabyte each are not held', async () => {
  // Before: names were kept whole (10,000 rows of `$pad(request.path, 200000, "x")`: 2 GB).
  const s = new StatsAggregator('endpoint');
  const long = (c: string) => `/${c.repeat(100_000)}`;
  await s.addBatch([long('a'), long('a'), long('b'), '/short'].map((path, i) => http(productpage(), external(), 'GET', path, 200, 1, i)));
  const names = s.snapshot().rows.map((r) => r.name);
  assert.equal(names.length, 3);
  assert.ok(names.every((n) => n.length <= MAX_KEY_CHARS + 20), names.map((n) => n.length).join(' '));
  assert.equal(names.filter((n) => n.endsWith('…')).length, 2);
  assert.equal(s.cutKeys, 3);
  // A worker's table carries its count.
  const merged = new StatsAggregator('endpoint');
  merged.mergeWire(s.toWire());
  assert.equal(merged.cutKeys, 3);
});

test('past the cap, the alphabetically first keys keep their rows, whatever order entries come in', async () => {
  const entries = [];
  for (let i = 0; i < MAX_GROUPS + 500; i++) entries.push(http(productpage(), external(), 'GET', `/item/x${i}`, 200, 1, i));
  const kept = (snap: Awaited<ReturnType<typeof statsOf>>) => snap.rows.map((r) => `${r.name}=${r.entries}`).sort();
  const forward = await statsOf('endpoint', entries);
  const backward = await statsOf('endpoint', [...entries].reverse());
  assert.deepEqual(kept(backward), kept(forward));
  // "/item/x9999" sorts after "/item/x10000"…"/item/x10499": it is one of the 500 folded away, and "/item/x10499" is kept.
  // (Slugs, not numbers: `/item/9999` is templated to `/item/{id}`.)
  const names = new Set(forward.rows.map((r) => r.name.split(' ').pop()));
  assert.ok(names.has('/item/x10499'), 'a late but alphabetically early key is kept');
  assert.ok(!names.has('/item/x9999'));
});

test('tables filled apart and merged (as workers do) equal one table, in any split and order', async () => {
  // Latencies with fractions whose float sum depends on order: the mean must not.
  const base = mixedEntries();
  const entries = base.map((e, i) => ({ ...e, elapsedTime: e.elapsedTime ? e.elapsedTime + ((i * 7919) % 1000) / 997 : 0 }));
  for (const by of ['protocol', 'service', 'endpoint', 'status', 'pod']) {
    const one = new StatsAggregator(by);
    await one.addBatch(entries);
    for (let split = 2; split <= 4; split++) {
      const parts = Array.from({ length: split }, () => new StatsAggregator(by));
      // Round-robin, and each part in reverse: a different order from the one table.
      entries.forEach((e, i) => parts[i % split].add(e));
      const merged = new StatsAggregator(by);
      for (const p of parts.reverse()) merged.mergeWire(structuredClone(p.toWire()));
      // Rows come unsorted (render sorts them, names breaking ties): compare them by name.
      const sorted = (snap: ReturnType<StatsAggregator['snapshot']>) => ({ ...snap, rows: sortRows(snap.rows, 'name') });
      assert.deepEqual(sorted(merged.snapshot()), sorted(one.snapshot()), `--by ${by}, ${split} parts`);
    }
  }
});

test('sort, top and every output format', async () => {
  const snap = await statsOf('service');
  assert.deepEqual(sortRows(snap.rows, 'errors').slice(0, 2).map((r) => r.name), ['bookinfo/details', 'kube-system/kube-dns']);
  assert.equal(sortRows(snap.rows, 'name')[0].name, 'api.example.com:443');
  assert.equal(sortRows(snap.rows, 'p95')[0].name, 'api.example.com:443');
  assert.throws(() => sortRows(snap.rows, 'bogus'), /unknown column "bogus"/);

  const json = JSON.parse(renderStats(snap, { format: 'json', top: 2 }));
  assert.deepEqual(json.rows.map((r: any) => r.name), ['bookinfo/details', 'bookinfo/reviews']);
  assert.equal(json.total.entries, 183);

  const csv = renderStats(snap, { format: 'csv' }).trim().split('\n');
  assert.equal(csv.length, 1 + 5, 'header + one line per row, no total');
  assert.match(csv[0], /^service,entries,ok,share,req\/s,bytes in,bytes out,errors,error %,avg ms,p50 ms,p95 ms,p99 ms,max ms$/);
  assert.match(csv[1], /^bookinfo\/details,100,90,/);

  const md = renderStats(snap, { format: 'markdown' }).trim().split('\n');
  assert.match(md[1], /^\| --- \| ---: \|/);
  assert.ok(md.every((l) => l.startsWith('| ') && l.endsWith(' |')));
  assert.match(md[md.length - 1], /^\| total \| 183 \|/);

  const table = renderStats(snap, { format: 'table' });
  assert.match(table, /│ bookinfo\/details\s+│\s+100 │\s+90 │/);
  assert.ok(!table.includes('\u001b['), 'no colour codes');
});

test('CSV and Markdown quote awkward names', async () => {
  const odd = [http(ep('198.18.9.1', 1), ep('198.18.9.2', 80, { namespace: 'ns', service: 'a,"b"|c\nd' }), 'GET', '/', 200, 1, 0)];
  const snap = await statsOf('service', odd);
  assert.match(renderStats(snap, { format: 'csv' }), /^"ns\/a,""b""\|c\nd",1,/m);
  assert.match(renderStats(snap, { format: 'markdown' }), /\| ns\/a,"b"\\\|c\\\\nd \| 1 \|/);
});
