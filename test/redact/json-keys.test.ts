import { test } from 'node:test';
import assert from 'node:assert/strict';
import { someJsonKey } from '../../src/redact/json-keys.js';

// The regex the scan replaced: its captures are the keys the redactor must be asked about.
const JSON_KEY = /\\{0,8}"([^"\\]{1,256})\\{0,8}"\s*:/g;

function regexKeys(s: string): string[] {
  const keys: string[] = [];
  JSON_KEY.lastIndex = 0;
  for (let m = JSON_KEY.exec(s); m; m = JSON_KEY.exec(s)) keys.push(m[1]);
  return keys;
}

function scannedKeys(s: string): string[] {
  const keys: string[] = [];
  someJsonKey(s, (k) => {
    keys.push(k);
    return false;
  });
  return keys;
}

test('json keys: the keys of JSON and of JSON held in strings, as the regex found them', () => {
  const doc = JSON.stringify({ user: 'a', password: 'b', nested: JSON.stringify({ token: 'x', deeper: JSON.stringify({ apiKey: 'y' }) }) });
  assert.deepEqual(scannedKeys(doc), ['user', 'password', 'nested', 'token', 'deeper', 'apiKey']);
  assert.deepEqual(scannedKeys(doc), regexKeys(doc));
  assert.deepEqual(scannedKeys('{"a"\u2028\u00a0 :1, "b" x: 2, "":3, "c"\t:4}'), ['a', 'c']);
});

test('json keys: the first key a test accepts ends the scan', () => {
  const seen: string[] = [];
  const found = someJsonKey('{"a":1,"secret":2,"b":3}', (k) => {
    seen.push(k);
    return k === 'secret';
  });
  assert.equal(found, true);
  assert.deepEqual(seen, ['a', 'secret']);
});

test('json keys: keys past 256 characters and quotes behind 9 backslashes are not keys', () => {
  const long = 'k'.repeat(257);
  assert.deepEqual(scannedKeys(`{"${long}":1,"${'k'.repeat(256)}":2}`), ['k'.repeat(256)]);
  assert.deepEqual(scannedKeys(`"a${'\\'.repeat(9)}":1 "b${'\\'.repeat(8)}":2`), regexKeys(`"a${'\\'.repeat(9)}":1 "b${'\\'.repeat(8)}":2`));
});

test('json keys: random texts of quotes, backslashes, spaces and colons give the regex keys', () => {
  // A small alphabet makes every edge (empty keys, runs of backslashes, spaces before colons) common.
  const alphabet = ['"', '\\', ':', ' ', '\u00a0', 'a', 'b', '{', ',', '\n', '\u2028', 'k'.repeat(120)];
  let seed = 12345;
  const next = () => {
    seed = (seed * 1103515245 + 12345) & 0x7fffffff;
    return seed;
  };
  for (let round = 0; round < 20000; round++) {
    let s = '';
    const length = next() % 40;
    for (let i = 0; i < length; i++) s += alphabet[next() % alphabet.length];
    assert.deepEqual(scannedKeys(s), regexKeys(s), JSON.stringify(s));
  }
});

test('json keys: linear on long runs of quotes, backslashes and spaces', () => {
  for (const unit of ['"', '\\', '"a', '"a"', '"a" ', 'a\\']) {
    const s = unit.repeat(1_000_000 / unit.length);
    const started = process.hrtime.bigint();
    scannedKeys(s);
    // A quadratic scan of a million characters takes minutes; a linear one, milliseconds.
    assert.ok(Number(process.hrtime.bigint() - started) / 1e6 < 2000, `run of ${JSON.stringify(unit)}`);
  }
});
