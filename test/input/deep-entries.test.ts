// An entry file's line may nest far deeper than JSON.stringify can recurse:
// commands that write the entries they read anew must still write it, and
// every entry after it.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { plainEntry } from '../helpers/plain-entry.js';
import { deepJson, entryJson } from '../../src/ndjson/stringify.js';

const entry = plainEntry;

test('deepJson writes what JSON.stringify writes: key order, escapes, left-out members, arrays, numbers', () => {
  let nested: unknown = { leaf: ['a', 1.5, null, true, undefined, () => 1] };
  for (let i = 0; i < 300; i++) nested = i % 2 ? { [`k"${i}\n`]: nested, skip: undefined, n: -0, big: 1e21 } : [nested, 'é\u2028', {}, []];
  const values: unknown[] = [entry('1-1', { nested, nan: NaN, date: new Date(0) }), [], {}, 'x', 3];
  for (const v of values) assert.equal(deepJson(v), JSON.stringify(v));
  // Except an infinite number (JSON.parse of 1e309), which JSON.stringify writes as null: kept as 1e309 (out-of-range-numbers.test.ts).
  assert.equal(deepJson({ inf: [Infinity, -Infinity, NaN] }), '{"inf":[1e309,-1e309,null]}');
});

test('an entry nested 100,000 levels deep is written whole by merge --no-redact and dissect --no-redact, and the next entry too', async () => {
  // Before: JSON.stringify ran out of stack, an internal error (exit 70), nothing written.
  const depth = 100_000;
  const deep = '{"a":'.repeat(depth) + '1' + '}'.repeat(depth);
  const first = JSON.stringify(entry('1-1')).slice(0, -1) + `,"deep":${deep}}`;
  const second = JSON.stringify(entry('2-1'));
  assert.throws(() => JSON.stringify(JSON.parse(first)), RangeError);
  assert.equal(entryJson(JSON.parse(first)), first);
  const dir = mkdtempSync(join(tmpdir(), 's4k-deep-entries-'));
  try {
    const file = join(dir, 'deep.ndjson');
    writeFileSync(file, `${first}\n${second}\n`);
    for (const command of ['merge', 'dissect']) {
      const r = await runCli([command, '--no-redact', file]);
      assert.equal(r.code, 0, `${command}: ${r.stderr}`);
      assert.deepEqual(r.stdout.split('\n'), [first, second, ''], command);
    }
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
