import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LEARNED_PREFIX_CHARS, MAX_TEMPLATED_SEGMENTS, PathTemplater, deepPathsNote, keyShape, nameParameters, redisShape, segmentKind, sqlShape, templateSegments } from '../../src/catalog/path-template.js';
import { openApiDocument } from '../../src/catalog/openapi.js';
import { httpCall } from './entries.js';
import { Catalog, MAX_OTHER_ROWS } from '../../src/catalog/endpoints.js';
import { readEntries } from '../../src/input/entries.js';
import { sharedCapture } from '../helpers/paths.js';

test('value-like segments become their kind', () => {
  const cases: Array<[string, string]> = [
    ['/api/v1/users/42/orders', '/api/v1/users/{id}/orders'],
    ['/api/v1/users/7f3c2a10-5b4e-4c1d-9a8e-0d2f6b1c3e55/orders?page=2', '/api/v1/users/{uuid}/orders'],
    ['/commits/3f786850e387550fdab836ed7e6dc881de23001b', '/commits/{hash}'],
    ['/objects/507f1f77bcf86cd799439011', '/objects/{hash}'],
    ['/reports/2026-11-23/summary', '/reports/{date}/summary'],
    ['/events/2026-11-23T03:49:35Z', '/events/{date}'],
    ['/reset/eyJhbGciOiJIUzI1NiJ9abc123def456ghi789', '/reset/{token}'],
    ['/details/0', '/details/{id}'],
    ['/', '/'],
    ['/v2/library/nginx/manifests/latest', '/v2/library/nginx/manifests/latest'],
    ['/static/app.js#top', '/static/app.js'],
  ];
  for (const [path, want] of cases) assert.equal(templateSegments(path).join('/'), want, path);
  // Words, versions and short hex-looking words stay literal.
  for (const s of ['api', 'v1', 'cafe', 'deadbeef', 'hamlet', 'index.html']) assert.equal(segmentKind(s), undefined, s);
});

test('a position with more distinct values than the threshold folds to {param}, per service and method', () => {
  const t = new PathTemplater(3);
  const slugs = ['hamlet', 'macbeth', 'othello', 'king-lear', 'the-tempest'];
  const out = slugs.map((s) => t.learn('books GET', `/books/${s}/reviews`));
  // The first three are literals (not yet more than 3); the fourth crosses the threshold.
  assert.deepEqual(out.slice(0, 3), ['/books/hamlet/reviews', '/books/macbeth/reviews', '/books/othello/reviews']);
  assert.equal(out[3], '/books/{param}/reviews');
  assert.equal(t.template('books GET', '/books/hamlet/reviews'), '/books/{param}/reviews');
  // Another service, or another method, learned nothing.
  assert.equal(t.template('authors GET', '/books/hamlet/reviews'), '/books/hamlet/reviews');
  assert.equal(t.template('books POST', '/books/hamlet/reviews'), '/books/hamlet/reviews');
  // A few top-level resources never fold.
  const t2 = new PathTemplater(3);
  for (let i = 0; i < 50; i++) t2.learn('s GET', ['/productpage', '/details/1', '/reviews/2'][i % 3]);
  assert.equal(t2.template('s GET', '/productpage'), '/productpage');
});

test('the catalogue merges endpoints when a position folds, keeping every call', () => {
  const c = new Catalog({ foldThreshold: 5 });
  const batch = [];
  for (let i = 0; i < 40; i++) batch.push(httpEntry(`/wiki/Article_${i}`, 200, i));
  c.addBatch(batch);
  const list = c.list();
  assert.equal(list.length, 1);
  assert.equal(list[0].name, 'GET /wiki/{param}');
  assert.equal(list[0].calls, 40);
});

test('memory is bounded by --max-endpoints: later new endpoints are counted into (other)', () => {
  const c = new Catalog({ maxEndpoints: 10, foldThreshold: 1000 });
  c.addBatch(Array.from({ length: 100 }, (_v, i) => httpEntry(`/p${i}/x`, 200, i)));
  const list = c.list();
  assert.equal(list.length, 11);
  const other = list.find((e) => e.name === '(other)')!;
  assert.equal(other.calls, 90);
  assert.equal(c.limits().foldedCalls, 90);
});

test('calls past --max-endpoints to ever new services: at most 1000 (other) rows, later services share one (other) row', () => {
  // Before: one (other) row per service, each with its latency sketch and samples: 400,000 services took 2 GB.
  const c = new Catalog({ maxEndpoints: 10, foldThreshold: 1000 });
  const n = 10 + MAX_OTHER_ROWS + 500;
  c.addBatch(
    Array.from({ length: n }, (_v, i) => {
      const e = httpEntry(`/p${i}/x`, 200, i);
      e.dst = { ...e.dst, service: `svc-${i}` };
      return e;
    }),
  );
  const list = c.list();
  assert.equal(list.length, 10 + MAX_OTHER_ROWS + 1);
  const shared = list.filter((e) => e.service === '(other)');
  assert.equal(shared.length, 1);
  assert.equal(shared[0].name, '(other)');
  assert.equal(shared[0].calls, 500);
  assert.equal(list.reduce((sum, e) => sum + e.calls, 0), n, 'every call is counted somewhere');
  assert.equal(c.limits().foldedCalls, n - 10);
  assert.equal(c.limits().foldedServiceCalls, 500);
});

test('OpenAPI parameter names are unique within a path', () => {
  assert.deepEqual(nameParameters('/u/{id}/o/{id}/{uuid}'), {
    path: '/u/{id}/o/{id2}/{uuid}',
    params: [
      { name: 'id', kind: 'id' },
      { name: 'id2', kind: 'id' },
      { name: 'uuid', kind: 'uuid' },
    ],
  });
});

test('SQL statements keep their shape with literals as ?', () => {
  assert.equal(sqlShape("SELECT * FROM users WHERE id = 42 AND name = 'O''Brien'"), 'SELECT * FROM users WHERE id = ? AND name = ?');
  assert.equal(sqlShape('select 10 as n, now()'), 'select ? as n, now()');
  assert.equal(sqlShape('SELECT a FROM t WHERE id IN (1, 2, 3, 4)'), 'SELECT a FROM t WHERE id IN (?)');
  assert.equal(sqlShape('SELECT a FROM t2 WHERE x = $1 -- comment\n LIMIT 10;'), 'SELECT a FROM t2 WHERE x = $1 LIMIT ?');
  assert.equal(sqlShape("INSERT INTO log (msg) VALUES ('it\\'s')"), 'INSERT INTO log (msg) VALUES (?)');
  assert.equal(sqlShape("insert into pets values (1, 'a'), (2, 'b'), (3, 'c')"), 'insert into pets values (?)');
  // MySQL's "…" is a string; PostgreSQL's an identifier.
  assert.equal(sqlShape('select 1 as one, "hello" as greeting', { doubleQuotedStrings: true }), 'select ? as one, ? as greeting');
  assert.equal(sqlShape('select "Name" from "Users"'), 'select "Name" from "Users"');
});

test('Redis command shapes fold value-like key parts', () => {
  assert.equal(redisShape('get', ['session:8a7f3c2a105b4e4c1d9a8e0d'], 'session:8a7f3c2a105b4e4c1d9a8e0d'), 'GET session:{hash}');
  assert.equal(redisShape('SET', ['user:42:cart', 'x'], 'user:42:cart'), 'SET user:{id}:cart');
  assert.equal(redisShape('CONFIG', ['get', 'maxmemory'], undefined), 'CONFIG GET');
  assert.equal(redisShape('PING', [], undefined), 'PING');
  assert.equal(keyShape('orders/2026-11-23'), 'orders/{date}');
});

test('shared captures: templated endpoints of a real lab recording', async () => {
  const c = new Catalog();
  for await (const batch of readEntries([sharedCapture('lab-bookinfo-mix.pcap')], { onWarning: () => undefined })) c.addBatch(batch);
  const names = new Set(c.list().map((e) => `${e.protocol} ${e.name}`));
  for (const want of [
    'http GET /details/{id}',
    'http2 GET /details/{id}',
    'grpc bookinfo.Ratings/Get',
    'postgresql select ? as n, now()',
    'redis GET user:{id}',
    'redis HSET h:{id}',
    'amqp basic.publish orders',
  ]) {
    assert.ok(names.has(want), `missing ${want} in ${[...names].join(' | ')}`);
  }
  // No raw numeric id survives in an HTTP path.
  for (const n of names) if (n.startsWith('http')) assert.doesNotMatch(n, /\/\d+(\/|$)/, n);
});

function httpEntry(path: string, status: number, i: number) {
  return {
    id: `${i}-0`,
    timestamp: 1_700_000_000_000 + i,
    protocol: 'http',
    transport: 'tcp' as const,
    elapsedTime: 1,
    src: { ip: '10.0.0.1', port: 40000 + i, name: '', namespace: '', pod: '', service: '', node: '' },
    dst: { ip: '10.0.0.2', port: 80, name: '', namespace: 'shop', pod: '', service: 'web', node: '' },
    request: { method: 'GET', path, url: path, headers: {} },
    response: { status, headers: {} },
    error: status >= 500,
    requestSize: 10,
    responseSize: 10,
    summary: '',
  };
}

// A crafted path can hold millions of segments (`/a/a/a…`, 4 MB in one request line): catalog split,
// tested and keyed it a segment at a time (5 s and 270 MB for one call; with --openapi, 10 s and a
// 4 MB operationId). Only the first MAX_TEMPLATED_SEGMENTS segments are templated and learned; the
// rest is kept as it came, and how many paths were is said on stderr (deepPathsNote).
test('a path of 200,000 segments is templated to its 128th segment, the rest kept, nothing past it learned', () => {
  const tail = '/a'.repeat(200_000);
  const path = `/users/42${tail}/99`;
  const t = new PathTemplater();
  const out = t.learn('shop/orders GET', path);
  assert.ok(out.startsWith('/users/{id}/a/a/'), out.slice(0, 40));
  assert.ok(out.endsWith('/a/99'), 'the deep rest is kept as it came: its last id is not templated');
  assert.equal(out.length, path.length + '{id}'.length - '42'.length);
  assert.equal(t.deepPaths, 1);
  // Before: every segment past the first 50,000 positions was counted as a position not tracked.
  assert.equal(t.untracked, 0);
  assert.equal(templateSegments(path).length, MAX_TEMPLATED_SEGMENTS);
  // A path one segment short of the bound is templated whole, and counted nowhere.
  const ids = `${'/7'.repeat(MAX_TEMPLATED_SEGMENTS - 1)}`;
  assert.equal(t.learn('s GET', ids), '/{id}'.repeat(MAX_TEMPLATED_SEGMENTS - 1));
  assert.equal(t.deepPaths, 1);
  // Long segments: positions under a prefix longer than MAX_LEARNED_PREFIX_CHARS are not learned (their key holds the prefix).
  const wide = new PathTemplater(2);
  const seg = 'w'.repeat(MAX_LEARNED_PREFIX_CHARS);
  for (const leaf of ['x', 'y', 'z', 'v']) wide.learn('s GET', `/${seg}/${leaf}`);
  assert.equal(wide.template('s GET', `/${seg}/x`), `/${seg}/x`, 'no position learned under a 4 KB prefix');
  assert.equal(wide.deepPaths, 4);
  assert.match(deepPathsNote(2), /^2 paths deeper than 128 segments or 4096 characters/);
});

test('catalog and OpenAPI read a deep path within bounds: one endpoint, a short operationId', () => {
  const path = `/orders/7${'/b'.repeat(200_000)}`;
  const c = new Catalog({ details: true });
  c.addBatch([httpCall({ path, i: 1 }), httpCall({ path: '/orders/8', i: 2 })]);
  const names = c.list().map((e) => e.name);
  assert.equal(names.length, 2);
  assert.ok(names.some((n) => n.startsWith('GET /orders/{id}/b/b') && n.length === 'GET '.length + path.length + '{id}'.length - 1));
  assert.equal(c.templater.deepPaths, 1);
  const doc = openApiDocument('shop/orders', c.list());
  const ops = Object.values(doc.paths as Record<string, { get: { operationId: string; parameters?: Array<{ name: string }> } }>).map((p) => p.get);
  assert.equal(ops.length, 2);
  for (const op of ops) assert.ok(op.operationId.length <= 1100, `operationId of ${op.operationId.length} characters`);
  assert.ok(ops.every((op) => op.parameters?.some((p) => p.name === 'id')), 'both name the {id} placeholder');
});
