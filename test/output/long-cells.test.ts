// A name in an entry file can be megabytes long (a crafted service or path): a box or Markdown table
// cuts such a cell at MAX_CELL_CHARS and the command says how many it cut on stderr, where a 20 MB
// service name made catalog draw 220 MB of box rules in 700 MB of memory. JSON keeps the name whole.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { Catalog } from '../../src/catalog/endpoints.js';
import { renderCatalog, renderDiff } from '../../src/catalog/render.js';
import { diffCatalogs } from '../../src/catalog/diff.js';
import { MAX_CELL_CHARS, renderRows } from '../../src/output/table.js';
import { httpCall } from '../catalog/entries.js';

test('catalog tables cut a megabyte service name and say so; JSON keeps it', () => {
  const long = 's'.repeat(1 << 20);
  const catalog = new Catalog();
  catalog.addBatch([httpCall({ path: '/a', service: long }), httpCall({ path: '/b', i: 1 })]);
  for (const format of ['table', 'markdown'] as const) {
    const cuts: number[] = [];
    const out = renderCatalog(catalog.list(), catalog.limits(), format, 0, (n) => cuts.push(n));
    assert.ok(out.length < 8 * MAX_CELL_CHARS, `${format}: ${out.length} characters`);
    assert.ok(out.includes(`shop/${'s'.repeat(MAX_CELL_CHARS - 6)}…`), format);
    assert.ok(out.includes('orders'), `${format}: the other row stays`);
    assert.deepEqual(cuts, [1], format);
  }
  const json = renderCatalog(catalog.list(), catalog.limits(), 'json', 0, () => assert.fail('JSON cuts nothing'));
  assert.ok(json.includes(long));
});

test('a diff table whose new endpoint has a megabyte service name pads no row to it', () => {
  // Every row was padded to the widest cell: 200 rows beside a 20 MB name ran `diff` out of a 4 GB heap.
  const baseline = new Catalog();
  const candidate = new Catalog();
  baseline.addBatch([httpCall({ path: '/kept' })]);
  candidate.addBatch([httpCall({ path: '/kept' }), httpCall({ path: '/a', service: 's'.repeat(1 << 20) })]);
  candidate.addBatch(Array.from({ length: 40 }, (_, i) => httpCall({ path: `/new`, service: `svc${i}`, i })));
  const cuts: number[] = [];
  const out = renderDiff(diffCatalogs(baseline, candidate), 'table', new Set(), { baseline: 'a', candidate: 'b' }, 0, (n) => cuts.push(n));
  assert.ok(out.length < 200 * MAX_CELL_CHARS, `${out.length} characters`);
  assert.ok(out.includes('shop/svc39 '), 'every added endpoint is a row');
  assert.ok(cuts.length === 1 && cuts[0] >= 1, String(cuts));
});

test('a cut never splits a surrogate pair; short cells and CSV stay whole; a narrow terminal is fitted at once', () => {
  const emoji = '😀'.repeat(MAX_CELL_CHARS);
  const columns = [{ title: 'name', shrink: true }, { title: 'n', align: 'right' as const }];
  let cut = 0;
  const table = renderRows(columns, [[emoji, '1'], ['short', '2']], 'table', { onCut: (n) => (cut += n) });
  assert.equal(cut, 1);
  assert.ok(!/[\uD800-\uDBFF](?![\uDC00-\uDFFF])/.test(table), 'no lone high surrogate');
  assert.ok(table.includes('short'));
  const csv = renderRows(columns, [[emoji, '1']], 'csv', { onCut: () => assert.fail('CSV cuts nothing') });
  assert.ok(csv.includes(emoji));
  // Fitting a table to a terminal narrowed its widest column one column at a time: 20 MB wide took that many steps.
  const started = performance.now();
  const narrow = renderRows(columns, [['x'.repeat(20 << 20), '1']], 'table', { width: 80 });
  assert.ok(narrow.split('\n').every((l) => l.length <= 80));
  assert.ok(performance.now() - started < 2000, 'fitted without a step per character');
});
