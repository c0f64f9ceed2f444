// Tables on a terminal narrower than they are: the least needed columns are
// left out (and named under the table) instead of every row wrapping in two.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { join } from 'node:path';
import { renderRows, displayWidth } from '../../src/output/table.js';
import { cliBin, examplesDir } from '../helpers/paths.js';

const visible = (s: string) => s.replace(/\x1b\[[0-9;]*m/g, ''); // eslint-disable-line no-control-regex

/** Run shark with a pseudo-terminal of `columns` columns as stdout (script(1)). */
function onTerminal(columns: number, args: string[]): string {
  const cmd = `stty cols ${columns}; NO_COLOR=1 '${process.execPath}' '${cliBin}' ${args.map((a) => `'${a}'`).join(' ')}`;
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
  const piped = spawnSync(process.execPath, [cliBin, 'stats', capture], { encoding: 'utf8' });
  assert.match(piped.stdout.split('\n')[1], /bytes in │ bytes out │.*│ max ms │$/);
  assert.doesNotMatch(piped.stdout, /hidden to fit/);
});
