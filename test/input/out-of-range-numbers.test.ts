// JSON.parse reads a number past a double's range (1e309, a 400-digit
// integer) as Infinity, which JSON.stringify writes as null: an entry line
// that was rewritten (redacted, merged) lost the number. It is written back
// as 1e309, the same value to every reader; a time or a size that large is no
// measure, and its line is skipped and named like any field of the wrong type.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createReadStream, mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { runCli } from '../helpers/cli.js';
import { plainEntry } from '../helpers/plain-entry.js';
import { entryJson } from '../../src/ndjson/stringify.js';
import { readProjectedNdjson } from '../../src/ndjson/read-projected.js';

test('entryJson writes an infinite number as 1e309 and leaves null, NaN and look-alike strings as JSON.stringify writes them', () => {
  const e = JSON.parse('{"a":[1e309,-1e400,null,"1e309"],"b":{"c":1' + '0'.repeat(400) + '},"d":"\\u0000shark-infinity-+"}') as Record<string, unknown>;
  assert.equal(entryJson(e), '{"a":[1e309,-1e309,null,"1e309"],"b":{"c":1e309},"d":"\\u0000shark-infinity-+"}');
  assert.deepEqual(JSON.parse(entryJson(e)), e);
  assert.equal(entryJson({ n: null, nan: NaN }), '{"n":null,"nan":null}');
  // Deeper than JSON.stringify recurses: the stack of its own keeps it too.
  const deep = '{"a":'.repeat(20_000) + '1e309' + '}'.repeat(20_000);
  assert.equal(entryJson(JSON.parse(deep)), deep);
});

test('filter rewriting a line keeps an out-of-range number, and every reader skips a line whose time is one', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-inf-'));
  try {
    const file = join(dir, 'inf.ndjson');
    // The password header makes redaction rewrite the line; the body number is the user's data.
    const kept = JSON.stringify(plainEntry('a', { request: { method: 'POST', path: '/', url: '/', headers: { password: 'hunter2' }, body: 'x' }, extra: [2] })).replace('"extra":[2]', '"extra":[1e309,-1e309]');
    const badTime = JSON.stringify(plainEntry('b')).replace('"elapsedTime":1', '"elapsedTime":1e309');
    writeFileSync(file, `${kept}\n${badTime}\n${JSON.stringify(plainEntry('c'))}\n`);
    const r = await runCli(['filter', 'http', file]);
    assert.equal(r.code, 0, r.stderr);
    const out = r.stdout.trim().split('\n');
    assert.equal(out.length, 2);
    assert.match(out[0], /"extra":\[1e309,-1e309\]/);
    assert.doesNotMatch(out[0], /hunter2/);
    assert.match(r.stderr, /inf\.ndjson: line 2: field elapsedTime is a number out of range \(JSON\.parse reads it as infinite\), expected a number; skipped/);
    // stats and map read the same fields from the line's bytes: the same line is skipped.
    const bad: string[] = [];
    const ids: string[] = [];
    for await (const batch of readProjectedNdjson(createReadStream(file), 'inf.ndjson', { id: true, elapsedTime: true }, { onBadLine: (m) => bad.push(m) })) {
      for (const e of batch) ids.push(e.id);
    }
    assert.deepEqual(ids, ['a', 'c']);
    assert.equal(bad.length, 1);
    assert.match(bad[0], /line 2: field elapsedTime is a number out of range/);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
