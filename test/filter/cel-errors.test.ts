// KFL2's evaluation errors, as CEL's: `x / 0` and `1 + "a"` have no value, so an entry that meets
// one matches nothing (not even negated), `||`/`&&` and the macros absorb an error where another
// term decides, and every entry left out so is counted and told on stderr at the end of the run.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { Writable } from 'node:stream';
import { compileFilter } from '../../src/filter/index.js';
import { runFilter } from '../../src/filter/run.js';
import { runCli } from '../helpers/cli.js';

const http = { id: '1-1', protocol: 'http', request: { method: 'GET', path: '/a' }, response: { status: 200 } } as never;
const dns = { id: '3-1', protocol: 'dns', request: { questions: [{ name: 'a.svc', type: 'A' }] }, response: { answers: [] } } as never;
const redis = { id: '2-1', protocol: 'redis', request: { command: 'GET', key: 'k' }, response: { type: 'bulk' } } as never;

test('CEL evaluation errors: no match even negated, absorbed by a deciding term of || && exists all, counted with the first site', () => {
  // [expression, matches the HTTP entry, matches the Redis entry]
  const cases: Array<[string, boolean, boolean]> = [
    ['!(status_code / 0 == 1)', false, false],
    ['!(status_code % 0 == 1)', false, false],
    ['1 + "a" != 2', false, false],
    ['!(-"a" == 1)', false, false],
    ['!(true * 2 == 2)', false, false],
    ['status_code / 0 == 1 || http', true, false],
    ['http || status_code / 0 == 1', true, false],
    ['(1 / 0 == 1) && http', false, false],
    ['http && (1 / 0 == 1)', false, false],
    ['[1, 0].exists(x, 1 / x == 1)', true, true],
    ['[0, 2].all(x, 1 / x == 1)', false, false],
    ['!([1, 0].all(x, 1 / x == 1))', false, false],
    // What stays as it was: numbers, strings, lists; a missing field takes the other side's default.
    ['status_code / 2 == 100 || redis', true, true],
    ['"a" + redis_key == "ak"', false, true],
    ['request.path + "x" == "x"', false, true],
    ['[1] + [2] == [1, 2] && http', true, false],
    ['timestamp > now() - duration("5m") || true', true, true],
  ];
  for (const [q, onHttp, onRedis] of cases) {
    const f = compileFilter(q, { dialect: 'kfl2' });
    assert.equal(f.predicate(http), onHttp, `${q} on HTTP`);
    assert.equal(f.predicate(redis), onRedis, `${q} on Redis`);
    assert.ok(f.evalErrors, `${q}: has error sites`);
  }
  const f = compileFilter('http && status_code / 0 == 1 || 1 + "a" == 2', { dialect: 'kfl2' });
  f.predicate(http);
  f.predicate(redis);
  assert.deepEqual(f.evalErrors!(), { entries: 2, first: 'division by zero at column 21' });
  // No arithmetic: no error sites, no catching on the hot path.
  assert.equal(compileFilter('http && status_code >= 500').evalErrors, undefined);
});

test('a list index past the end, negative or not whole is a CEL error: no match even negated, counted with its column', () => {
  // [expression, matches HTTP, matches DNS, entries that met an error]
  const cases: Array<[string, boolean, boolean, number]> = [
    ['[1, 2][5] == 0', false, false, 2],
    ['!([1, 2][5] == 0)', false, false, 2],
    ['[1, 2][-1] == 2', false, false, 2],
    ['[1, 2][0.5] == 1', false, false, 2],
    ['[1, 2][5] == 0 || http', true, false, 1],
    ['!(dns_questions[0] == "b.svc")', false, true, 1],
    // In range, and a map key that is missing (its default, as before): no error.
    ['[1, 2][1] == 2 && [1, 2][size([1]) - 1] == 1', true, true, 0],
    ['request.headers["x-missing"] == ""', true, true, 0],
  ];
  for (const [q, onHttp, onDns, errors] of cases) {
    const f = compileFilter(q, { dialect: 'kfl2' });
    assert.equal(f.predicate(http), onHttp, `${q} on HTTP`);
    assert.equal(f.predicate(dns), onDns, `${q} on DNS`);
    assert.equal(f.evalErrors?.().entries ?? 0, errors, `${q}: entries that met an error`);
  }
  const f = compileFilter('status_code == 1 || [1, 2][5] == 0');
  f.predicate(http);
  assert.deepEqual(f.evalErrors!(), { entries: 1, first: 'index out of range at column 28' });
});

test('a division of ints is an int as in CEL, truncated toward zero; a double on either side divides as doubles', () => {
  const slow = { ...(http as object), elapsedTime: 1500 } as never; // 1,500,000 µs
  const cases: Array<[string, boolean]> = [
    ['7 / 2 == 3', true],
    ['-7 / 2 == -3', true],
    ['status_code / 3 == 66', true],
    ['elapsed_time / 1000000 == 1', true],
    ['7 / 2.0 == 3.5', true],
    ['7.0 / 2 == 3.5', true],
    ['1e1 / 4 == 2.5', true],
    ['double(status_code) / 400 == 0.5', true],
    ['-(7.0) / 2 == -3.5', true],
    ['(elapsed_time + 0.5) / 2 == 750000.25', true],
    ['7 % 2 == 1 && -7 % 2 == -1', true],
  ];
  for (const [q, want] of cases) assert.equal(compileFilter(q, { dialect: 'kfl2' }).predicate(slow), want, q);
});

test('filter tells how many entries met an evaluation error, on one thread and on workers', async () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-cel-errors-'));
  try {
    const file = join(dir, 'e.ndjson');
    writeFileSync(file, [http, redis, http].map((e) => JSON.stringify(e)).join('\n') + '\n');
    const warnings: string[] = [];
    let out = '';
    const stdout = new Writable({ write: (c, _e, cb) => ((out += String(c)), cb()) });
    await runFilter({ inputs: [file], expr: 'redis || status_code / 0 == 1', count: true, stdout, onWarning: (m) => warnings.push(m) });
    assert.equal(out.trim(), '1');
    const told = 'warning: 2 entries met an evaluation error of the expression (division by zero at column 22) and did not match';
    assert.deepEqual(warnings, [told]);
    const r = await runCli(['filter', '--workers', '2', 'redis || status_code / 0 == 1', file]);
    assert.equal(r.code, 0, r.stderr);
    assert.deepEqual(r.stdout.trim().split('\n').map((l) => JSON.parse(l).id), ['2-1']);
    assert.equal(r.stderr.trim(), `filter: ${told}`);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});
