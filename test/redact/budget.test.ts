// The redactor's bounds on one entry: a string over 4 MB is cut before it is searched, and an entry
// whose search would take more than its work budget (a body of 300,000 keys) has what is not searched
// yet withheld, with a warning on the entry and a line on stderr. A signal is seen between entries
// only, so these bounds are what makes Ctrl-C prompt on an entry file of 60 MB lines.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, MAX_VALUE_CHARS, OVER_BUDGET_WARNING, REDACTED } from '../../src/redact/entry.js';
import { RedisScripts } from '../../src/redact/redis-scripts.js';
import { httpEntry } from './http-entry.js';

test('a body over 4 MB is cut to 4 MB before it is searched and says bodyTruncated; its start is still redacted', () => {
  const said: string[] = [];
  const redact = createRedactor([], { warn: (m) => said.push(m) });
  const body = `password=hunter2secret&x=${'lorem ipsum '.repeat(500_000)}`;
  const out = redact(httpEntry({ body, headers: { 'content-type': 'application/x-www-form-urlencoded' } }, { status: 200, statusText: 'OK', headers: {} }));
  const req = out.request as Record<string, any>;
  assert.equal(req.body.length <= MAX_VALUE_CHARS, true);
  assert.equal(req.bodyTruncated, true);
  assert.ok(req.body.startsWith(`password=${REDACTED}&x=lorem`), req.body.slice(0, 60));
  assert.equal((out.response as Record<string, any>).statusText, 'OK');
  assert.equal(said.length, 1);
  assert.match(said[0]!, /over 4 MB was cut/);
});

test('a body of 300,000 keys is withheld whole past the work budget, the fields before it kept, and the entry says so', () => {
  const said: string[] = [];
  const redact = createRedactor([], { warn: (m) => said.push(m) });
  const body: Record<string, string> = {};
  for (let i = 0; i < 300_000; i++) body[`k${i}`] = `v${i}`;
  const e = httpEntry({ headers: { 'x-keep': 'visible' }, body }, { status: 200, headers: {}, body: 'fine' });
  const out = redact(e);
  const req = out.request as Record<string, any>;
  assert.equal(req.body, REDACTED);
  assert.equal(req.method, 'POST');
  assert.equal(req.headers['x-keep'], 'visible');
  assert.equal((out.response as Record<string, any>).status, 200);
  assert.equal((out.response as Record<string, any>).body, REDACTED, 'not searched: withheld');
  assert.deepEqual(out.warnings, [OVER_BUDGET_WARNING]);
  assert.equal(said.length, 1);
  assert.match(said[0]!, /too large to search whole/);
  // The budget is the entry's: the next one is searched whole again.
  const small = httpEntry({ body: 'plain text' }, { status: 200, headers: {}, body: 'fine' });
  assert.equal(redact(small), small);
});

test('a JSON body text of 300,000 one-key objects is withheld unparsed (JSON.parse of it cannot be interrupted); one of 1,000 is searched', () => {
  const said: string[] = [];
  const redact = createRedactor([], { warn: (m) => said.push(m) });
  const items = (n: number) => `[{"password":"hunter2secret"},${Array.from({ length: n }, (_, i) => `{"k${i}":1}`).join(',')}]`;
  const big = items(300_000);
  assert.ok(big.length < MAX_VALUE_CHARS, 'under the 4 MB cut: only the value count withholds it');
  const out = redact(httpEntry({ headers: { 'x-keep': 'visible' }, body: big }, { status: 200, headers: {}, body: 'fine' }));
  const req = out.request as Record<string, any>;
  assert.equal(req.body, REDACTED);
  assert.equal(req.headers['x-keep'], 'visible');
  assert.deepEqual(out.warnings, [OVER_BUDGET_WARNING]);
  assert.equal(said.length, 1);
  assert.match(said[0]!, /too large to search whole/);
  const small = redact(httpEntry({ body: items(1000) }, { status: 200, headers: {}, body: 'fine' }));
  const body = (small.request as Record<string, any>).body as string;
  assert.ok(body.startsWith(`[{"password":"${REDACTED}"},{"k0":1}`), body.slice(0, 60));
  assert.equal(small.warnings, undefined);
});

test('a request object of 300,000 keys (an entry file from anywhere) is withheld whole with its summary', () => {
  const redact = createRedactor([], { warn: () => {} });
  const request: Record<string, unknown> = { method: 'GET' };
  for (let i = 0; i < 300_000; i++) request[`k${i}`] = `v${i}`;
  const e = { ...httpEntry({}), request: request as any, summary: 'GET /x?token=abc → 200' };
  const out = redact(e);
  assert.equal(out.request as unknown, REDACTED);
  assert.equal(out.summary, REDACTED);
  assert.deepEqual(out.warnings, [OVER_BUDGET_WARNING]);
  assert.equal(out.id, e.id);
});

test('a Redis function name or script SHA1 longer than 256 characters is not remembered: 4,096 such keys would hold gigabytes', () => {
  const scripts = new RedisScripts();
  scripts.learnFunction('set_pw', new Set([1]));
  scripts.learnFunction('f'.repeat(300), new Set([1]));
  scripts.learnScript('return 1', new Set([2]), 'a'.repeat(300));
  assert.deepEqual([...(scripts.functionArgv('set_pw') ?? [])], [1]);
  assert.equal(scripts.functionArgv('f'.repeat(300)), undefined);
  assert.equal(scripts.scriptArgv('a'.repeat(300)), undefined);
});
