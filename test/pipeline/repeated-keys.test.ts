// repeatsKeys: whether an NDJSON line holds more than JSON.parse's entry of it
// (a key given twice), which `filter` must not write as it came.
import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { repeatsKeys } from '../../src/ndjson/repeated-keys.js';
import { cliBin } from '../helpers/paths.js';

const repeats = (line: string): boolean => repeatsKeys(line, JSON.parse(line));

test('lines shark writes repeat nothing, whatever they hold (colons in dates, addresses, bodies; escapes)', () => {
  const capture = new URL('../../examples/bookinfo-mix.pcap', import.meta.url).pathname;
  const r = spawnSync(process.execPath, [cliBin, 'dissect', capture], { encoding: 'utf8', maxBuffer: 1 << 28 });
  assert.equal(r.status, 0, r.stderr);
  const lines = r.stdout.trim().split('\n');
  assert.ok(lines.length > 100 && lines.some((l) => /"date":"[^"]*:/.test(l)), 'colons in strings are tried');
  for (const line of lines) assert.equal(repeats(line), false, line.slice(0, 120));
  const odd = { s: 'a:b\u0001:\ud800', [':k:']: [':', { x: '::' }], n: null, t: true, f: 1.5e-7 };
  assert.equal(repeats(JSON.stringify(odd)), false);
});

test('a key given twice at any depth is found, however spelled or spaced', () => {
  for (const line of [
    '{"a":1,"a":2}',
    '{"a":{"secret":"x"},"a":{}}',
    '{"a":[{"b":1,"b":1}]}',
    '{"a" :1 , "a"\t:\t2}',
    '{"\\u0061":1,"a":2}',
    '{"a":"x","\\u0061":"x"}',
    '{"h":{"k":"v:w"},"h":{"k":"v:w"}}',
  ]) {
    assert.equal(repeats(line), true, line);
  }
});

test('a line that differs from its entry only in spelling is not taken for one that repeats a key', () => {
  for (const line of ['{ "a" : 1 , "b" : [ 1 , 2 ] }', '{"a":"\\/x:y"}', '{"a":1e2,"b":"\\"q:\\""}']) assert.equal(repeats(line), false, line);
  // With a \u escape the line is compared with its entry written out: a different spelling counts as different.
  assert.equal(repeats('{"a":"\\u00e9"}'), true);
  assert.equal(repeats('{"a":"\\u0001"}'), false);
});
