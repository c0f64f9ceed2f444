// An entry file's line that would keep JSON.parse busy for seconds (which no
// signal can interrupt) is refused before it is parsed: one line on stderr
// naming it, and the entries around it kept. What counts is the values the
// line would build, not its bytes: a long string is cheap to parse.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { plainEntry } from '../helpers/plain-entry.js';
import { bytesHoldMoreValues, holdsMoreValues, MAX_JSON_VALUES } from '../../src/ndjson/value-count.js';
import { readProjectedNdjson } from '../../src/ndjson/read-projected.js';

const entry = plainEntry;

test('holdsMoreValues counts objects, arrays and items, not commas or brackets inside strings', () => {
  const items = (n: number, item: string) => '[' + Array(n).fill(item).join(',') + ']';
  assert.equal(holdsMoreValues(items(10, '1'), 10), false);
  assert.equal(holdsMoreValues(items(12, '1'), 10), true);
  assert.equal(holdsMoreValues(items(6, '{}'), 10), true);
  // A string of commas and brackets is one value, however long.
  assert.equal(holdsMoreValues(JSON.stringify({ body: ',{['.repeat(1000) }), 10), false);
  // Escaped quotes do not end a string; an escaped backslash before a quote does.
  assert.equal(holdsMoreValues(JSON.stringify({ body: '","'.repeat(1000) }), 10), false);
  assert.equal(holdsMoreValues(JSON.stringify({ body: '\\' }) + items(20, '1'), 10), true);
  // Past 4,096 escaped quotes strings are stepped through a character at a time: the same answers.
  const quoted = JSON.stringify({ body: JSON.stringify(Array(5000).fill({ a: '[x]' })) });
  assert.equal(holdsMoreValues(quoted, 10), false);
  assert.equal(holdsMoreValues(quoted + items(20, '1'), 10), true);
  assert.equal(holdsMoreValues(JSON.stringify({ body: '\\"'.repeat(5000) + '\\' }) + items(20, '1'), 10), true);
  // An unterminated string ends the count.
  assert.equal(holdsMoreValues('{"a":"' + ','.repeat(100), 10), false);
  // The same answers on a line's bytes, the line cut out of a larger buffer (non-ASCII text included).
  const texts = [items(10, '1'), items(12, '1'), JSON.stringify({ body: 'é",[{'.repeat(100) }), quoted + items(20, '1'), '{"a":"' + ','.repeat(100)];
  for (const t of texts) {
    const b = Buffer.from(`[[[[${t}]]]]`);
    assert.equal(bytesHoldMoreValues(b, 4, b.length - 4, 10), holdsMoreValues(t, 10), t.slice(0, 40));
  }
});

test('filter and merge skip a line of more JSON values than the bound, named on stderr, and keep the entries around it', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-costly-'));
  try {
    const many: Record<string, number> = {};
    for (let i = 0; i <= MAX_JSON_VALUES; i++) many[`k${i}`] = i;
    const withinBound: Record<string, number> = {};
    for (let i = 0; i < MAX_JSON_VALUES / 2; i++) withinBound[`k${i}`] = i;
    const bigString = 'x,'.repeat(MAX_JSON_VALUES);
    const file = join(dir, 'costly.ndjson');
    const lines = [
      entry('a'),
      entry('b', { extra: many }),
      entry('c', { extra: withinBound }),
      entry('d', { request: { method: 'POST', path: '/', url: '/', headers: {}, body: bigString } }),
    ];
    writeFileSync(file, lines.map((e) => JSON.stringify(e)).join('\n') + '\n');
    for (const command of ['filter', 'merge']) {
      const r = await runCli(command === 'filter' ? ['filter', '--no-redact', 'http', file] : ['merge', '--no-redact', file]);
      assert.equal(r.code, 0, r.stderr);
      const ids = r.stdout.trim().split('\n').map((l) => (JSON.parse(l) as { id: string }).id);
      assert.deepEqual(ids, ['a', 'c', 'd'], command);
      assert.match(r.stderr, new RegExp(`costly\\.ndjson: line 2: more than ${MAX_JSON_VALUES} JSON values in one line; skipped`));
      assert.doesNotMatch(r.stderr, /line [134]/);
    }
    // The readers that project a few fields from the bytes (`stats`, `map`, `catalog`) skip the same line:
    // they counted it where filter and merge did not.
    const bad: string[] = [];
    const seen: string[] = [];
    const { createReadStream } = await import('node:fs');
    for await (const batch of readProjectedNdjson(createReadStream(file), 'costly.ndjson', { id: true }, { onBadLine: (m) => bad.push(m) })) {
      for (const e of batch) seen.push(e.id);
    }
    assert.deepEqual(seen, ['a', 'c', 'd']);
    assert.deepEqual(bad, [`costly.ndjson: line 2: more than ${MAX_JSON_VALUES} JSON values in one line; skipped`]);
    const stats = await runCli(['stats', '--format', 'json', file]);
    assert.equal(stats.code, 0, stats.stderr);
    assert.match(stats.stderr, /line 2: more than \d+ JSON values in one line; skipped/);
    assert.match(stats.stdout, /"total":\{"name":"total","entries":3,/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
