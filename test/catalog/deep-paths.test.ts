// A crafted path can hold millions of segments (`/a/a/a…`, 4 MB in one request line): catalog split,
// tested and keyed it a segment at a time (5 s and 270 MB for one call; with --openapi, 10 s and a
// 4 MB operationId). Only the first MAX_TEMPLATED_SEGMENTS segments are templated and learned; the
// rest is kept as it came, and how many paths were is said on stderr (deepPathsNote).
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { MAX_LEARNED_PREFIX_CHARS, MAX_TEMPLATED_SEGMENTS, PathTemplater, deepPathsNote, templateSegments } from '../../src/catalog/path-template.js';
import { Catalog } from '../../src/catalog/endpoints.js';
import { openApiDocument } from '../../src/catalog/openapi.js';
import { httpCall } from './entries.js';

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
