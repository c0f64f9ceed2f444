// Redaction: secrets never leave shark by default.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { cliBin } from '../helpers/paths.js';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';

const SECRETS = ['s3cr3t-bearer-token', 'cookie-session-4242', 'hunter2-password', 'q-token-777', 'form-pass-99', 'nested-jwt-abc', 'set-cookie-xyz'];

function loginEntry(): Entry {
  return {
    id: '1-1',
    timestamp: 1_700_000_000_000,
    protocol: 'http',
    transport: 'tcp',
    elapsedTime: 2,
    src: { ip: '10.0.0.1', port: 40000, name: '', namespace: 'shop', pod: 'web', service: '', node: '' },
    dst: { ip: '10.0.0.2', port: 8080, name: '', namespace: 'shop', pod: 'api', service: 'api', node: '' },
    request: {
      method: 'POST',
      path: '/login',
      url: '/login?next=%2Fhome&token=q-token-777',
      httpVersion: 'HTTP/1.1',
      headers: { host: 'api', authorization: 'Bearer s3cr3t-bearer-token', cookie: 'sid=cookie-session-4242', 'content-type': 'application/json', 'user-agent': 'curl/8' },
      query: { next: '/home', token: 'q-token-777' },
      body: JSON.stringify({ username: 'alice', password: 'hunter2-password', profile: { settings: [{ jwt: 'nested-jwt-abc' }] }, remember: true }),
    },
    response: {
      status: 302,
      headers: { location: '/home', 'set-cookie': ['sid=set-cookie-xyz; HttpOnly'] },
      body: 'user=alice&pass=form-pass-99&lang=en',
    },
    error: false,
    requestSize: 300,
    responseSize: 100,
    summary: 'POST /login?next=%2Fhome&token=q-token-777 → 302',
  };
}

test('every secret in headers, cookies, query, JSON body (nested) and form body is redacted', () => {
  const e = loginEntry();
  const before = JSON.stringify(e);
  const out = createRedactor()(e);
  const text = JSON.stringify(out);
  for (const s of SECRETS) assert.ok(!text.includes(s), `${s} leaked: ${text}`);
  // Non-secrets survive.
  assert.equal(out.request!.headers['user-agent'], 'curl/8');
  assert.equal(out.request!.headers.authorization, REDACTED);
  assert.equal(out.request!.query.next, '/home');
  assert.equal(out.request!.url, `/login?next=%2Fhome&token=${REDACTED}`);
  assert.deepEqual(JSON.parse(out.request!.body).remember, true);
  assert.equal(out.response!.body, `user=${REDACTED}&pass=${REDACTED}&lang=en`);
  // The input entry is not modified (copy on write).
  assert.equal(JSON.stringify(e), before);
});

test('an entry with nothing to redact comes back as the same object', () => {
  const e = loginEntry();
  e.request = { method: 'GET', path: '/x', url: '/x?page=2', headers: { accept: '*/*', 'user-agent': 'k' }, query: { page: '2' } };
  e.response = { status: 200, headers: {}, body: '{"items":[1,2]}' };
  e.summary = 'GET /x?page=2 → 200';
  const r = createRedactor();
  assert.equal(r(e), e);
});

test('protocol structure is not redacted by name (a Redis key stays)', () => {
  const e = loginEntry();
  e.protocol = 'redis';
  e.request = { command: 'GET', key: 'session:1', args: ['session:1'] };
  e.response = { type: 'bulk', value: 'x' };
  e.summary = 'GET session:1';
  assert.equal(createRedactor()(e), e);
});

test('extra keys and paths; disabled redactor', () => {
  const e = loginEntry();
  e.request!.headers['x-tenant'] = 'tenant-secret';
  const out = createRedactor(['X-Tenant', 'request.method'])(e);
  assert.equal(out.request!.headers['x-tenant'], REDACTED);
  assert.equal(out.request!.method, REDACTED);
  assert.equal(createRedactor([], { enabled: false })(e), e);
  const byPath = createRedactor([], { paths: ['request.headers["User-Agent"]'] })(e);
  assert.equal(byPath.request!.headers['user-agent'], REDACTED);
});

test('CLI: a POST with Authorization, Cookie and a JSON password leaves no secret anywhere in the output', () => {
  const dir = mkdtempSync(join(tmpdir(), 'shark-redact-'));
  try {
    const file = join(dir, 'in.ndjson');
    writeFileSync(file, JSON.stringify(loginEntry()) + '\n');
    const r = spawnSync(process.execPath, [cliBin, 'filter', 'http and request.method == "POST"', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(r.status, 0, r.stderr);
    assert.equal(r.stdout.trim().split('\n').length, 1);
    for (const s of SECRETS) assert.ok(!r.stdout.includes(s), `${s} leaked`);
    assert.ok(r.stdout.includes(REDACTED));
    // --no-redact says so and passes the line through untouched.
    const raw = spawnSync(process.execPath, [cliBin, 'filter', '--no-redact', 'http', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(raw.status, 0);
    assert.equal(raw.stdout, JSON.stringify(loginEntry()) + '\n');
    assert.match(raw.stderr, /redaction is off/);
    // KFL1's redact() helper.
    const helper = spawnSync(process.execPath, [cliBin, 'filter', '--no-redact', 'redact("request.headers.user-agent") and http', file], { encoding: 'utf8', timeout: 60_000 });
    assert.equal(JSON.parse(helper.stdout).request.headers['user-agent'], REDACTED);
  } finally {
    rmSync(dir, { recursive: true, force: true });
  }
});

test('JSON keys in any case or written with \\u escapes are still found', () => {
  const e = loginEntry();
  e.request!.body = '{"a":{"\\u0070assword":"esc-secret-1"}}';
  e.response!.body = '{"PassWord": "case-secret-2", "ok": 1}';
  const text = JSON.stringify(createRedactor()(e));
  assert.ok(!text.includes('esc-secret-1') && !text.includes('case-secret-2'), text);
});
