// Tables on a terminal narrower than they are: the least needed columns are
// left out (and named under the table) instead of every row wrapping in two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { renderRows, displayWidth, tableWidth } from '../../src/output/table.js';
import { cliBin, examplesDir } from '../helpers/paths.js';

const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex

/** Run shark with a pseudo-terminal of `columns` columns as stdout (script(1)). */
function onTerminal(columns: number, args: string[]): string {
  const cmd = `stty cols ${columns}; COLUMNS= NO_COLOR=1 '${process.execPath}' '${cliBin}' ${args.map((a) => `'${a}'`).join(' ')}`;
  const r = spawnSync('script', ['-qec', cmd, '/dev/null'], { encoding: 'utf8', timeout: 60_000, stdio: ['ignore', 'pipe', 'pipe'] });
  assert.equal(r.status, 0, r.stderr + r.stdout);
  return visible(r.stdout).replace(/\r/g, '');
}

test('renderRows: droppable columns go, highest rank first, until the table fits; the rest always stay', () => {
  const columns = [{ title: 'name' }, { title: 'a', drop: 1 }, { title: 'b', drop: 2 }, { title: 'c' }];
  const rows = [['x'.repeat(10), '1'.repeat(10), '2'.repeat(10), '3'.repeat(10)]];
  const full = renderRows(columns, rows, 'table');
  assert.equal(displayWidth(full.split('\n')[0]), 53);
  const fitted = renderRows(columns, rows, 'table', { width: 45 });
  assert.ok(fitted.split('\n')[1].includes(' a '), fitted);
  assert.ok(!fitted.split('\n')[1].includes(' b '), fitted);
  assert.match(fitted, /\(1 column hidden to fit 45: b\)\n$/);
  // Too narrow for even the kept ones: only droppable columns go.
  const narrow = renderRows(columns, rows, 'table', { width: 10 });
  assert.match(narrow.split('\n')[1], /│ name +│ c +│/);
  // The width: COLUMNS when set (also into a pipe), else the terminal's, else none.
  assert.equal(tableWidth({ isTTY: false }, { COLUMNS: '200' }), 200);
  assert.equal(tableWidth({ isTTY: true, columns: 80 }, { COLUMNS: '120' }), 120);
  assert.equal(tableWidth({ isTTY: true, columns: 80 }, { COLUMNS: '' }), 80);
  assert.equal(tableWidth({ isTTY: false }, {}), 0);
  // CSV and Markdown keep everything whatever the width.
  assert.equal(renderRows(columns, rows, 'markdown', { width: 10 }).split('\n')[0], '| name | a | b | c |');
});

test('stats and catalog on an 80-column terminal fit it and say which columns they hid; into a pipe every column stays', () => {
  const capture = join(examplesDir, 'bookinfo-mix.pcap');
  for (const args of [['stats', capture], ['catalog', capture]]) {
    const out = onTerminal(80, args);
    const lines = out.trimEnd().split('\n');
    for (const l of lines) assert.ok(displayWidth(l) <= 80, `${args[0]}: line wider than 80 columns:\n${l}`);
    assert.match(lines[lines.length - 1], /^\(\d+ columns hidden to fit 80: /);
    assert.match(lines[1], args[0] === 'stats' ? /│ entries │.*│ errors │ error % │.*│ p95 ms │/ : /│ service .*│ endpoint .*│ calls │ error % │ p95 ms │/);
  }
  const piped = spawnSync(process.execPath, [cliBin, 'stats', capture], { encoding: 'utf8', env: { ...process.env, COLUMNS: '' } });
  assert.match(piped.stdout.split('\n')[1], /bytes in │ bytes out │.*│ max ms │$/);
  assert.doesNotMatch(piped.stdout, /hidden to fit/);
  // COLUMNS fits a piped table too, as it does the entry formats (`COLUMNS=200 shark stats | less -S`).
  const fitted = spawnSync(process.execPath, [cliBin, 'stats', capture], { encoding: 'utf8', env: { ...process.env, COLUMNS: '60' } });
  for (const l of fitted.stdout.trimEnd().split('\n')) assert.ok(displayWidth(l) <= 60, `stats with COLUMNS=60: line wider than 60 columns:\n${l}`);
  // The note is wrapped to the width: its lines joined again.
  assert.match(fitted.stdout.replace(/\n(?=[^│┌├└(\n])/g, ' '), /\n\(\d+ columns hidden to fit 60: [^)]*\)\n$/);
});

test('narrower panes: catalog fits 60 columns by giving up the protocol, stats fits 40 by giving up errors; names and their titles are cut shorter', () => {
  const capture = join(examplesDir, 'bookinfo-mix.pcap');
  const box = (out: string) => out.split('\n').filter((l) => /^[┌│├└]/.test(l));
  const catalog60 = onTerminal(60, ['catalog', capture]);
  for (const l of box(catalog60)) assert.ok(displayWidth(l) <= 60, `catalog: line wider than 60 columns:\n${l}`);
  assert.match(box(catalog60)[1], /^│ service +│ endpoint +│ calls │ error % │ p95 ms │$/);
  // The note is wrapped to the pane: its lines joined again.
  assert.match(catalog60.replace(/\n(?=[^│┌├└(\n])/g, ' '), /\(6 columns hidden to fit 60: protocol, p50 ms, p99 ms, statuses, first seen, last seen\)/);
  // At 80 the protocol stays: names cut to 16 columns are enough there.
  assert.match(box(onTerminal(80, ['catalog', capture]))[1], /│ protocol │/);
  for (const args of [['stats', capture], ['stats', '--by', 'endpoint', capture]]) {
    const out = onTerminal(40, args);
    for (const l of box(out)) assert.ok(displayWidth(l) <= 40, `${args.join(' ')}: line wider than 40 columns:\n${l}`);
    assert.match(box(out)[1], /│ entries │ error % │ p95 ms │$/);
    assert.match(out.replace(/\n(?=[^│┌├└(\n])/g, ' '), /hidden to fit 40: .*errors/);
  }
  // Sorted by errors, errors is never the one to go.
  assert.match(box(onTerminal(40, ['stats', '--sort', 'errors', capture]))[1], /│ errors │/);
});

test('table cells show C1 controls, bidi overrides and zero-width characters as escapes, in box and Markdown tables', () => {
  // U+009B is a one-byte CSI (terminals that take 8-bit controls obey it); U+202E turns what follows around.
  const rows = [['GET /c1/\u009b31mred\u0085x', 'GET /bidi/\u202egnp.exe\u200b']];
  const columns = [{ title: 'a' }, { title: 'b' }];
  for (const format of ['table', 'markdown'] as const) {
    const out = renderRows(columns, rows, format);
    assert.doesNotMatch(out, /[\u0080-\u009f\u202e\u200b]/, `${format}: no raw control or format character`);
    // Markdown doubles the backslash, so that the page shows one.
    const bs = format === 'markdown' ? '\\\\' : '\\';
    assert.ok(out.includes(`GET /c1/${bs}x9b31mred${bs}x85x`), out);
    assert.ok(out.includes(`GET /bidi/${bs}u202egnp.exe${bs}u200b`), out);
  }
  // Tabs stay one space, as before.
  assert.match(renderRows([{ title: 'a' }], [['x\ty']], 'table'), /│ x y │/);
});

test('Markdown tables keep a path from traffic as text: links, images, code, emphasis and HTML comments are escaped', () => {
  const path = 'GET /<!-- [x](http://e) ![i](http://t/p.png) *a* `c` _u_ ~s~ &lt; |';
  const out = renderRows([{ title: 'endpoint' }, { title: 'calls' }], [[path, '1']], 'markdown');
  const row = out.split('\n')[2];
  // Every active character is preceded by a backslash (an odd run of them), so CommonMark shows it as it is.
  for (const m of row.matchAll(/[`*_[\]<>|~&!]/g)) {
    const before = row.slice(0, m.index);
    const slashes = before.length - before.replace(/\\+$/, '').length;
    const isCellBorder = m[0] === '|' && (m.index === 0 || m.index === row.length - 1 || row.slice(m.index - 1, m.index + 2) === ' | ');
    if (!isCellBorder) assert.equal(slashes % 2, 1, `unescaped ${m[0]} at ${m.index} in ${row}`);
  }
  assert.equal(row, '| GET /\\<\\!-- \\[x\\](http://e) \\!\\[i\\](http://t/p.png) \\*a\\* \\`c\\` \\_u\\_ \\~s\\~ \\&lt; \\| | 1 |');
});

test('stats, catalog and diff tables of traffic with a C1 CSI or a bidi override in a path print neither raw', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { httpCall } = await import('../catalog/entries.js');
  const dir = mkdtempSync(join(tmpdir(), 'shark-table-escape-'));
  try {
    const file = join(dir, 'calls.ndjson');
    const other = join(dir, 'other.ndjson');
    writeFileSync(file, [httpCall({ path: '/c1/\u009b2J', i: 1 }), httpCall({ path: '/bidi/\u202egnp.exe', i: 2 })].map((e) => JSON.stringify(e)).join('\n') + '\n');
    writeFileSync(other, JSON.stringify(httpCall({ path: '/plain', i: 3 })) + '\n');
    for (const args of [['stats', '--by', 'endpoint', file], ['catalog', file], ['catalog', '--format', 'markdown', file], ['diff', other, file]]) {
      const r = spawnSync(process.execPath, [cliBin, ...args], { encoding: 'utf8' });
      assert.ok(r.status === 0, `${args.join(' ')}: ${r.stderr}`);
      assert.doesNotMatch(r.stdout, /[\u0080-\u009f\u202e]/, `${args.join(' ')} prints a raw control:\n${r.stdout}`);
      const bs = args.includes('markdown') ? '\\\\' : '\\';
      assert.ok(r.stdout.includes(`/c1/${bs}x9b2J`) && r.stdout.includes(`/bidi/${bs}u202egnp.exe`), `${args.join(' ')}:\n${r.stdout}`);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('renderRows csv: a cell a spreadsheet would run as a formula starts with an apostrophe; numbers stay', () => {
  const columns = [
    { title: 'name', align: 'left' as const },
    { title: 'delta', align: 'right' as const },
  ];
  const rows = [
    ['=HYPERLINK("http://evil.example","x")', '-3'],
    ['@SUM(A1:A2)', '+1.5'],
    ['+cmd|calc', '12%'],
    ['-2+3', '-'],
    ['\tTAB', '1e3'],
    ['/api/users', '0'],
  ];
  const csv = renderRows(columns, rows, 'csv').trim().split('\n');
  assert.deepEqual(csv, [
    'name,delta',
    `"'=HYPERLINK(""http://evil.example"",""x"")",-3`,
    "'@SUM(A1:A2),+1.5",
    "'+cmd|calc,12%",
    "'-2+3,-",
    "'\tTAB,1e3",
    '/api/users,0',
  ]);
});

test('a 40-column pane: catalog gives up p95 rather than overflow, and the note under each table is wrapped to the pane too', () => {
  const capture = join(examplesDir, 'bookinfo-mix.pcap');
  for (const args of [['catalog', capture], ['stats', capture], ['stats', '--by', 'endpoint', capture]]) {
    const out = onTerminal(40, args);
    const lines = out.trimEnd().split('\n');
    for (const l of lines) assert.ok(displayWidth(l) <= 40, `${args.join(' ')}: line wider than 40 columns:\n${l}`);
    // The note names every hidden column, none broken in two.
    const note = lines.slice(lines.findIndex((l) => l.startsWith('('))).join(' ');
    assert.match(note, /^\(\d+ columns hidden to fit 40: .*\)$/);
    if (args[0] === 'catalog') {
      assert.match(lines[1], /^│ service +│ endpoint +│ calls │ error % │$/);
      assert.match(note, /protocol, p50 ms, p95 ms, p99 ms, statuses, first seen, last seen\)$/);
    }
  }
});

test('renderRows wrap columns: a too-wide table wraps their text onto more lines, widest first, and loses no word', () => {
  const columns = [{ title: 'service', wrap: true }, { title: 'change' }, { title: 'detail', wrap: true }];
  const detail = 'response 200 (breaking): removed $.name; added $.fullName; type changed $.averyveryverylongfieldname_without_spaces string→integer';
  const rows = [['reviews.bookinfo.svc.cluster.local:9080', 'schema ✗', detail], ['db:5432', 'vanished', 'vanished (1 call in the baseline)']];
  for (const width of [50, 80, 200]) {
    const out = renderRows(columns, rows, 'table', { width });
    const lines = out.trimEnd().split('\n');
    for (const l of lines) assert.ok(displayWidth(l) <= width, `width ${width}: line wider than the terminal:\n${l}`);
    // Each column read down its lines gives its text back (a wrapped word broken in two joins without a space).
    const cells = (col: number) => lines.slice(3, -1).map((l) => l.split('│')[col + 1].trim());
    // The second row starts where its service does; spaces aside, the first row's detail is all there, in order.
    const second = cells(0).indexOf('db:5432');
    assert.equal(cells(2).slice(0, second).join('').replace(/ /g, ''), detail.replace(/ /g, ''));
    assert.equal(cells(2).slice(second).join(' '), 'vanished (1 call in the baseline)');
    assert.ok(cells(0).join('').startsWith('reviews.bookinfo.svc.cluster.local:9080'.slice(0, 8)));
    assert.ok(!out.includes('…'), 'nothing cut');
    // No wrapping where the table fits: one line a row.
    if (width === 200) assert.equal(lines.length, 6);
  }
  // The narrowest a wrapped column gets is 12: a 40-column pane overflows (by 2) rather than show a letter or two a line.
  assert.ok(renderRows(columns, rows, "table", { width: 40 }).split("\n").every((l) => displayWidth(l) <= 42));
  // Without a width (a pipe) nothing wraps.
  assert.equal(renderRows(columns, rows, 'table').split('\n').length, 7);
});

test('diff on an 80-column terminal fits it, wrapping its detail; into a pipe each change is one line', async () => {
  const { mkdtempSync, writeFileSync, rmSync } = await import('node:fs');
  const { tmpdir } = await import('node:os');
  const { httpCall } = await import('../catalog/entries.js');
  const dir = mkdtempSync(join(tmpdir(), 'shark-diff-width-'));
  try {
    const write = (name: string, calls: ReturnType<typeof httpCall>[]) => {
      writeFileSync(join(dir, name), calls.map((e) => JSON.stringify(e)).join('\n') + '\n');
      return join(dir, name);
    };
    const svc = 'reviews-v2-canary.bookinfo.svc.cluster.local';
    const a = write('a.ndjson', [httpCall({ path: '/api/v1/products/reviews', responseBody: { id: 1, reviewerName: 'x', rating: 5 }, service: svc })]);
    const b = write('b.ndjson', [httpCall({ path: '/api/v1/products/reviews', responseBody: { id: 1, reviewer: { name: 'x' }, ratingStars: 5 }, service: svc })]);
    const out = onTerminal(80, ['diff', a, b]);
    const lines = out.trimEnd().split('\n');
    for (const l of lines) assert.ok(displayWidth(l) <= 80, `diff: line wider than 80 columns:\n${l}`);
    assert.ok(lines.length > 5, out);
    const piped = spawnSync(process.execPath, [cliBin, 'diff', a, b], { encoding: 'utf8' });
    assert.equal(piped.stdout.trimEnd().split('\n').length, 5, piped.stdout);
    assert.ok(displayWidth(piped.stdout.split('\n')[3]) > 80);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('stats --format csv on a terminal shows traffic escapes escaped; into a pipe the values stay as they are', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-csv-'));
  try {
    const file = join(dir, 'evil.ndjson');
    const entry = {
      id: '1-1', timestamp: 1_700_000_000_000, protocol: 'http', transport: 'tcp', elapsedTime: 1,
      src: { ip: '198.18.0.1', port: 40000 }, dst: { ip: '198.18.0.2', port: 80 },
      request: { method: 'GET', path: '/a\x1b[2J\u202eb' }, response: { status: 200 }, error: false,
    };
    writeFileSync(file, JSON.stringify(entry) + '\n');
    const args = ['stats', '--by', 'endpoint', '--format', 'csv', file];
    const shown = onTerminal(80, args);
    assert.doesNotMatch(shown, /[\x1b\u202e]/, 'no raw escape reaches the terminal'); // eslint-disable-line no-control-regex
    assert.ok(shown.includes('GET /a\\x1b[2J\\u202eb'), shown);
    const piped = spawnSync(process.execPath, [cliBin, ...args], { encoding: 'utf8' });
    assert.ok(piped.stdout.includes('GET /a\x1b[2J\u202eb'), 'a pipe gets the value as it is');
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
