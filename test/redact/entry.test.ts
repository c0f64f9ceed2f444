// Redaction: secrets never leave shark by default.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { spawnSync } from 'node:child_process';
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { gzipSync } from 'node:zlib';
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

test('names: normalised, whole or by a secret suffix; look-alikes and protocol fields stay', async () => {
  const { SensitiveNames } = await import('../../src/redact/names.js');
  const n = new SensitiveNames();
  for (const h of ['X-Api-Key', 'Authorization', 'Proxy-Authorization', 'Cookie', 'Set-Cookie', 'X-Amz-Security-Token', 'X-Goog-Api-Key', 'X-Jwt-Assertion', 'Authentication-Info', 'Ocp-Apim-Subscription-Key', 'X-CSRF-Token', 'X-Honeycomb-Team']) {
    assert.ok(n.test(h, 'header'), h);
  }
  for (const f of ['client_secret', 'access_token', 'refresh_token', 'id_token', 'apiKey', 'private_key', 'privateKey', 'db_password', 'JSESSIONID', 'PHPSESSID', 'signature', 'credentials', 'passwd']) {
    assert.ok(n.test(f, 'field'), f);
  }
  assert.ok(n.test('code', 'param') && !n.test('code', 'field'), 'the OAuth code is a URL parameter, not any JSON field');
  for (const f of ['keyboard', 'monkey', 'keyspace', 'max_tokens', 'token_type', 'content-length', 'etag', 'user-agent', 'x-request-id', 'www-authenticate', 'author']) {
    assert.ok(!n.test(f, 'field') && !(f.includes('-') && n.test(f, 'header')), f);
  }
  assert.ok(!n.test('monkey', 'field') && n.test('X-Monkey-Key', 'header'));
});

test('protocol structure stays: a Kafka apiKey, an AMQP routingKey, a Redis key', () => {
  const e = loginEntry();
  e.protocol = 'kafka';
  e.request = { apiKey: 3, apiKeyName: 'Metadata', sessionId: 7, clientId: 'app' };
  e.response = { correlationId: 1 };
  e.summary = 'Metadata v9 → ok';
  assert.equal(createRedactor()(e), e);
  e.protocol = 'amqp';
  e.request = { method: 'basic.publish', routingKey: 'orders.key', exchange: 'x' };
  assert.equal(createRedactor()(e), e);
});

test('a JSON key "__proto__" cannot smuggle a secret past the copy', () => {
  const e = loginEntry();
  e.request!.body = '{"__proto__":{"password":"proto-secret-1"},"a":{"__proto__":{"token":"proto-secret-2"}}}';
  const text = JSON.stringify(createRedactor()(e));
  assert.ok(!text.includes('proto-secret-1') && !text.includes('proto-secret-2'), text);
  // An entry read from NDJSON with a top-level "__proto__" field.
  const line = JSON.parse(JSON.stringify(loginEntry()).replace(/^\{/, '{"__proto__":{"password":"proto-secret-3"},'));
  const out = JSON.stringify(createRedactor()(line));
  assert.ok(!out.includes('proto-secret-3'), out);
});

test('JSON held in a JSON string, a URL with userinfo in a value, and a value under a sensitive name that is an object', () => {
  const e = loginEntry();
  e.request!.body = JSON.stringify({ wrapped: JSON.stringify({ refresh_token: 'inner-secret-1' }), dsn: 'postgres://app:dsn-secret-2@db:5432/x', auth: { scheme: 'basic', value: 'obj-secret-3' } });
  const out = createRedactor()(e);
  const text = JSON.stringify(out);
  for (const s of ['inner-secret-1', 'dsn-secret-2', 'obj-secret-3']) assert.ok(!text.includes(s), `${s}: ${text}`);
  // The object keeps its shape.
  assert.deepEqual(Object.keys(JSON.parse(out.request!.body).auth), ['scheme', 'value']);
});

test('SQL: every way PostgreSQL and MySQL spell a password literal, in the query and in the summary', async () => {
  const { redactSql } = await import('../../src/redact/commands.js');
  const cases: [string, string][] = [
    ["ALTER USER u WITH ENCRYPTED PASSWORD 'p1x'", "ALTER USER u WITH ENCRYPTED PASSWORD '[REDACTED]'"],
    ["CREATE USER 'u'@'%' IDENTIFIED WITH mysql_native_password BY 'p2x'", "CREATE USER 'u'@'%' IDENTIFIED WITH mysql_native_password BY '[REDACTED]'"],
    ["SET PASSWORD = PASSWORD('p3x')", "SET PASSWORD = PASSWORD('[REDACTED]')"],
    ["SET PASSWORD FOR 'u'@'h' = 'it''s p4'", "SET PASSWORD FOR 'u'@'h' = '[REDACTED]'"],
    ['CREATE ROLE r LOGIN PASSWORD $$p5x$$', 'CREATE ROLE r LOGIN PASSWORD $$[REDACTED]$$'],
    ["CREATE USER u PASSWORD 'cut-sho", "CREATE USER u PASSWORD '[REDACTED]"],
    ['SELECT password FROM users WHERE id = $1', 'SELECT password FROM users WHERE id = $1'],
    ["CREATE ROLE r PASSWORD NULL; SELECT 'identified'", "CREATE ROLE r PASSWORD NULL; SELECT 'identified'"],
  ];
  for (const [sql, want] of cases) assert.equal(redactSql(sql), want, sql);
  const e = loginEntry();
  e.protocol = 'postgresql';
  e.request = { type: 'query', query: "CREATE USER x WITH PASSWORD 'pg-secret-77' -- and a very long comment that the summary cuts off" };
  e.response = { commandTag: 'CREATE ROLE' };
  e.summary = "CREATE USER x WITH PASSWORD 'pg-sec… → CREATE ROLE";
  const out = createRedactor()(e);
  assert.ok(!JSON.stringify(out).includes('pg-sec'), JSON.stringify(out));
});

test('Redis: CONFIG SET/GET, ACL SETUSER, MIGRATE AUTH/AUTH2, HELLO AUTH; the key and the summary', () => {
  const e = loginEntry();
  e.protocol = 'redis';
  const run = (command: string, args: string[], value: unknown = 'OK') => {
    e.request = { command, args };
    e.response = { type: 'array', value };
    e.summary = `${command} ${args.join(' ')} → OK`;
    return createRedactor()(e);
  };
  assert.deepEqual(run('CONFIG', ['SET', 'maxmemory', '1gb', 'masterauth', 'r-secret-1']).request!.args, ['SET', 'maxmemory', '1gb', 'masterauth', REDACTED]);
  assert.deepEqual(run('CONFIG', ['GET', 'requirepass'], ['requirepass', 'r-secret-2']).response!.value, ['requirepass', REDACTED]);
  assert.deepEqual(run('ACL', ['SETUSER', 'bob', 'on', '>r-secret-3', '#'+'a'.repeat(64), '~*']).request!.args, ['SETUSER', 'bob', 'on', `>${REDACTED}`, `#${REDACTED}`, '~*']);
  assert.deepEqual(run('MIGRATE', ['h', '6379', '', '0', '5', 'AUTH2', 'u', 'r-secret-4', 'KEYS', 'k']).request!.args, ['h', '6379', '', '0', '5', 'AUTH2', 'u', REDACTED, 'KEYS', 'k']);
  const hello = run('HELLO', ['3', 'AUTH', 'default', 'r-secret-5']);
  assert.deepEqual(hello.request!.args, ['3', 'AUTH', 'default', REDACTED]);
  assert.ok(!hello.summary.includes('r-secret-5'), hello.summary);
});

test('Redis values are application data: JSON and form values, hash fields named like secrets, gzip\'d values; server replies stay', () => {
  const e = loginEntry();
  e.protocol = 'redis';
  const run = (command: string, args: string[], value: unknown = 'OK') => {
    e.request = { command, args, key: args[0] };
    e.response = { type: 'bulk', value };
    e.summary = `${command} ${args[0]} → ${JSON.stringify(value).slice(0, 40)}`;
    return createRedactor()(e);
  };
  assert.deepEqual(run('SET', ['s:1', '{"cart":2,"access_token":"rv-1"}']).request!.args, ['s:1', `{"cart":2,"access_token":"${REDACTED}"}`]);
  assert.deepEqual(run('SET', ['s:2', 'name=ann&password=rv-2']).request!.args, ['s:2', `name=ann&password=${REDACTED}`]);
  assert.deepEqual(run('HSET', ['u:1', 'password', 'rv-3', 'name', 'ann']).request!.args, ['u:1', 'password', REDACTED, 'name', 'ann']);
  // A long secret: the summary quoted only its start, which the summary search would not find.
  const long = 'rv-4-' + 'x'.repeat(80);
  const hget = run('HGET', ['u:1', 'api_key'], long);
  assert.equal(hget.response!.value, REDACTED);
  assert.equal(hget.summary, `HGET u:1 → ${REDACTED}`);
  assert.deepEqual(run('HMGET', ['u:1', 'name', 'secret'], ['ann', 'rv-5']).response!.value, ['ann', REDACTED]);
  assert.deepEqual(run('HGETALL', ['u:1'], ['name', 'ann', 'token', 'rv-6']).response!.value, ['name', 'ann', 'token', REDACTED]);
  assert.deepEqual(run('HGETALL', ['u:1'], { name: 'ann', token: 'rv-7' }).response!.value, { name: 'ann', token: REDACTED }, 'RESP3 map');
  // A gzip'd value, as the dissector shows binary: \xNN escapes.
  const gz = [...gzipSync('{"password":"rv-8"}')].map((b) => (b >= 0x20 && b < 0x7f ? String.fromCharCode(b) : `\\x${b.toString(16).padStart(2, '0')}`)).join('');
  assert.equal(run('GET', ['s:3'], gz).response!.value, REDACTED);
  assert.equal(run('GET', ['s:4'], [...gzipSync('{"theme":"dark"}')].map((b) => `\\x${b.toString(16).padStart(2, '0')}`).join('')).response!.value.startsWith('\\x1f\\x8b'), true, 'no secret: left');
  // Plain values and the server's own replies stay as they are.
  assert.deepEqual(run('SET', ['k', 'v-plain']).request!.args, ['k', 'v-plain']);
  const docs = { get: { summary: 'Returns the string value of a key.', arguments: [{ name: 'key', token: 'KEY' }] } };
  assert.equal(run('COMMAND', ['DOCS'], docs).response!.value, docs);
});

test('multipart: a part named like a secret is redacted, even in a body cut short; other parts stay', () => {
  const e = loginEntry();
  e.request!.body = '--b1\r\nContent-Disposition: form-data; name="note"\r\n\r\nhello\r\n--b1\r\nContent-Disposition: form-data; name="api_key"\r\n\r\nmp-secret-1';
  const body = createRedactor()(e).request!.body as string;
  assert.ok(!body.includes('mp-secret-1') && body.includes('hello'), body);
});

test('nesting deeper than the walk goes cannot hide a secret', () => {
  const e = loginEntry();
  let body = '{"password":"deep-secret-1"}';
  for (let i = 0; i < 100; i++) body = `{"a${i}":${body}}`;
  e.request!.body = body;
  const out = createRedactor()(e);
  assert.ok(!JSON.stringify(out).includes('deep-secret-1'));
  assert.ok((out.request!.body as string).startsWith('{"a99":{"a98":'), 'the shallow part stays');
});

test('gRPC: metadata by name, and message fields decoded with a schema by field name', () => {
  const e = loginEntry();
  e.protocol = 'grpc';
  e.request = {
    method: 'Login',
    path: '/auth.Auth/Login',
    headers: { 'content-type': 'application/grpc', 'x-goog-api-key': 'grpc-secret-1', 'x-user-agent-id': 'visible-id' },
    messages: [{ compressed: false, length: 30, type: 'auth.LoginRequest', decoded: { login: 'bob', password: 'grpc-secret-2', device: { refreshToken: 'grpc-secret-3' } } }],
  };
  e.response = { status: 200, trailers: { 'grpc-status': '0' }, messages: [{ compressed: false, length: 3, fields: [{ field: 1, wireType: 'len', value: 'ok' }] }] };
  e.summary = 'auth.Auth/Login → OK';
  const text = JSON.stringify(createRedactor()(e));
  for (const s of ['grpc-secret-1', 'grpc-secret-2', 'grpc-secret-3']) assert.ok(!text.includes(s), `${s}: ${text}`);
  assert.ok(text.includes('visible-id') && text.includes('"login":"bob"'), text);
});

test('what an attacker would try next: signature versions, fragments, padded or BOM-led JSON, JSON in a header, extra entry fields', () => {
  const e = loginEntry();
  e.request!.headers = { 'x-hub-signature-256': 'sha256=try-secret-1', 'x-auth-data': '{"token":"try-secret-2"}', 'x-original-url': '/cb#access_token=try-secret-3&state=ok' };
  e.request!.body = ' '.repeat(200) + '\ufeff{"password":"try-secret-4"}';
  (e as any).extra = { note: 'http://u:try-secret-5@h/', password: 'try-secret-6' };
  const out = createRedactor()(e);
  const text = JSON.stringify(out);
  for (let i = 1; i <= 6; i++) assert.ok(!text.includes(`try-secret-${i}`), `try-secret-${i}: ${text}`);
  assert.ok(text.includes('state=ok'));
});

test('Redis ACL replies and SENTINEL passwords; SQL REPLACE and connection strings', async () => {
  const { redactSql } = await import('../../src/redact/commands.js');
  const hash = 'ab'.repeat(32);
  const e = loginEntry();
  e.protocol = 'redis';
  e.request = { command: 'ACL', args: ['LIST'] };
  e.response = { type: 'array', value: [`user default on #${hash} ~* +@all`] };
  e.summary = 'ACL → 1 items';
  assert.equal((createRedactor()(e).response!.value as string[])[0], `user default on #${REDACTED} ~* +@all`);
  e.request = { command: 'SENTINEL', args: ['SET', 'mymaster', 'auth-pass', 'sentinel-secret-1'] };
  e.response = { type: 'simple', value: 'OK' };
  assert.deepEqual(createRedactor()(e).request!.args, ['SET', 'mymaster', 'auth-pass', REDACTED]);
  assert.equal(redactSql("ALTER USER u IDENTIFIED BY 'n3w' REPLACE 'old1'"), "ALTER USER u IDENTIFIED BY '[REDACTED]' REPLACE '[REDACTED]'");
  assert.equal(redactSql("SELECT dblink_connect('host=h password=pw9 dbname=d')"), "SELECT dblink_connect('host=h password=[REDACTED] dbname=d')");
  assert.equal(redactSql("SELECT * FROM u WHERE password=crypt('x1', password)"), "SELECT * FROM u WHERE password=crypt('[REDACTED]', password)");
  assert.equal(redactSql("SELECT id FROM u WHERE password = md5('x2')"), "SELECT id FROM u WHERE password = md5('[REDACTED]')");
  assert.equal(redactSql("REPLACE INTO t VALUES ('a')"), "REPLACE INTO t VALUES ('a')");
});

test('userinfo in a Host header or HTTP/2 authority (no scheme) is redacted', () => {
  const e = loginEntry();
  e.request!.host = 'admin:host-secret-1@api.internal';
  e.request!.authority = 'admin:host-secret-2@api.internal:8443';
  e.request!.headers.host = 'admin:host-secret-3@api.internal';
  const out = createRedactor()(e);
  assert.ok(!JSON.stringify(out).includes('host-secret'), JSON.stringify(out.request));
  assert.equal(out.request!.authority, 'admin:[REDACTED]@api.internal:8443');
});

test('pathological strings are scanned, not backtracked over (each would take minutes if quadratic)', () => {
  const e = loginEntry();
  const n = 200_000;
  e.request!.headers = { ['1'.repeat(n) + 'x']: 'v', 'x-a': '://'.repeat(n / 3) + '@', 'x-b': '?' + 'a='.repeat(n / 2) + '&token=q-secret-9' };
  e.request!.body = '{' + '"'.repeat(n) + '}';
  e.response!.body = '--b\r\n' + 'name="'.repeat(n / 6);
  e.summary = "PASSWORD = (".repeat(n / 12);
  e.protocol = 'postgresql';
  const out = createRedactor()(e);
  assert.ok(!JSON.stringify(out.request!.headers).includes('q-secret-9'));
});

test('an entry from elsewhere with a string or a list where the request should be is still searched', () => {
  const e = loginEntry();
  (e as any).request = 'GET http://u:odd-secret-1@h/?token=odd-secret-2';
  (e as any).response = [{ password: 'odd-secret-3' }, 'http://u:odd-secret-4@h'];
  const text = JSON.stringify(createRedactor()(e));
  for (let i = 1; i <= 4; i++) assert.ok(!text.includes(`odd-secret-${i}`), text);
});

test('protocol headers a secret suffix would catch stay readable (CORS flag, WebSocket nonce) unless the user names them', async () => {
  const { SensitiveNames } = await import('../../src/redact/names.js');
  const names = new SensitiveNames();
  for (const h of ['Access-Control-Allow-Credentials', 'Sec-WebSocket-Key', 'Sec-WebSocket-Accept']) assert.equal(names.test(h, 'header'), false, h);
  // The suffix rules still hold around them.
  assert.equal(names.test('X-Api-Key', 'header'), true);
  assert.equal(names.test('Proxy-Credentials', 'header'), true);
  assert.equal(new SensitiveNames(['sec-websocket-key']).test('Sec-WebSocket-Key', 'header'), true);
});
