// Known gaps of docs/security.md closed in the secrets round: a JSON-RPC answer sent as a WebSocket
// message of its own, a query string kept percent-encoded in a JSON string, passwords in COPY …
// PROGRAM, an escape string and a prepared statement's placeholders, the tokens of Negotiate, NTLM and
// SCRAM challenges; and base64 identifiers of two parts that were taken for `user:password`.
// Each with what must stay readable beside it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { httpEntry } from './http-entry.js';

function entry(protocol: string, request: Record<string, any>, response: Record<string, any> | null = null, summary = '', port = 40000): Entry {
  const e = httpEntry({});
  return { ...e, protocol, src: { ...e.src, port }, request, response, summary };
}
const ws = (from: 'client' | 'server', body: unknown, port = 40000) => entry('ws', { from, opcode: 'text', body: JSON.stringify(body) }, null, `${from} text 1 bytes`, port);
const bodyOf = (e: Entry) => JSON.parse(e.request!.body);

test('WebSocket JSON-RPC: the answer of a login or dumpprivkey sent as a message of its own loses its result; other answers stay', () => {
  const redact = createRedactor();
  const call = redact(ws('client', { jsonrpc: '2.0', id: 7, method: 'user.login', params: ['visible-user', 'loginSECRET'] }));
  assert.deepEqual(bodyOf(call).params, ['visible-user', REDACTED]);
  // Another call on the connection, answered before the login is: its answer stays.
  redact(ws('client', { jsonrpc: '2.0', id: 8, method: 'eth_blockNumber', params: [] }));
  assert.equal(bodyOf(redact(ws('server', { jsonrpc: '2.0', result: '0x10visible', id: 8 }))).result, '0x10visible');
  // The same id on another connection is another call.
  assert.equal(bodyOf(redact(ws('server', { jsonrpc: '2.0', result: 'otherConnVisible', id: 7 }, 40001))).result, 'otherConnVisible');
  assert.deepEqual(bodyOf(redact(ws('server', { jsonrpc: '2.0', result: 'tokenSECRET0424bd59', id: 7 }))), { jsonrpc: '2.0', result: REDACTED, id: 7 });
  // Answered once: a later answer with that id is judged as any message.
  assert.equal(bodyOf(redact(ws('server', { jsonrpc: '2.0', result: 'laterVisible', id: 7 }))).result, 'laterVisible');
  // A string id, in a batch; a number id and the same digits as a string are two ids.
  redact(ws('client', [{ jsonrpc: '1.0', id: 'k1', method: 'dumpprivkey', params: ['bc1qvisible'] }]));
  const batch = bodyOf(redact(ws('server', [{ result: 'L1aW4aubDFB7yfras2S1mN3bqg9nwySY8nkoLmJebSLDkeySECRET', error: null, id: 'k1' }, { result: 'visible-2', id: 2 }])));
  assert.deepEqual(batch, [{ result: REDACTED, error: null, id: 'k1' }, { result: 'visible-2', id: 2 }]);
  redact(ws('client', { jsonrpc: '2.0', id: 5, method: 'login', params: ['u', 'p'] }));
  assert.equal(bodyOf(redact(ws('server', { jsonrpc: '2.0', result: 'stringIdVisible', id: '5' }))).result, 'stringIdVisible');
});

test('WebSocket JSON-RPC: calls awaiting an answer are bounded; forgetting the oldest is told once per power of two', () => {
  const told: string[] = [];
  const redact = createRedactor([], { warn: (m) => told.push(m) });
  for (let i = 0; i < 4096 + 3; i++) redact(ws('client', { jsonrpc: '2.0', id: i, method: 'login', params: ['u', 'p'] }));
  assert.equal(told.length, 2, told.join('\n'));
  assert.match(told[0], /4,096 JSON-RPC calls awaiting a secret answer .* forgotten .*1 time so far/);
  // The oldest is forgotten, the newest still awaited.
  assert.equal(bodyOf(redact(ws('server', { result: 'forgottenVisible', id: 0 }))).result, 'forgottenVisible');
  assert.equal(bodyOf(redact(ws('server', { result: 'awaitedSECRET', id: 4098 }))).result, REDACTED);
});

test('a query string kept percent-encoded in a JSON string or a header loses its sensitive values, encoded once or twice; its other parameters stay', () => {
  const redact = createRedactor();
  const body = (b: unknown) => JSON.parse(redact(httpEntry({ body: JSON.stringify(b) })).request!.body);
  assert.deepEqual(body({ q: 'password%3DpctSECRET%26lang%3Dvisible' }), { q: `password%3D${REDACTED}%26lang%3Dvisible` });
  assert.deepEqual(body({ q: 'page%3D2%26api_key%3DpctSECRET7%26lang%3Dvisible' }), { q: `page%3D2%26api_key%3D${REDACTED}%26lang%3Dvisible` });
  assert.deepEqual(body({ next: 'https://app/cb?access_token%3DpctSECRET2%23frag' }), { next: `https://app/cb?access_token%3D${REDACTED}%23frag` });
  assert.deepEqual(body({ q: 'x%253Fapi_key%253DpctSECRET3%2526page%253D2' }), { q: `x%253Fapi_key%253D${REDACTED}%2526page%253D2` });
  assert.deepEqual(body({ q: 'a%3Fuser%5Bpassword%5D%3DpctSECRET4' }), { q: `a%3Fuser%5Bpassword%5D%3D${REDACTED}` });
  assert.deepEqual(body({ db: 'postgres%3A%2F%2Fapp%3ApctSECRET5%40db%2Fshop' }), { db: `postgres%3A%2F%2Fapp%3A${REDACTED}%40db%2Fshop` });
  const header = redact(httpEntry({ headers: { 'x-return-to': '/login%3Ftoken%3DpctSECRET6' } })).request!.headers['x-return-to'];
  assert.equal(header, `/login%3Ftoken%3D${REDACTED}`);
  // Names that are not secrets, and `=` signs that are no pair, stay.
  for (const plain of [{ q: 'passwordPolicy%3Dstrong%26sort%3Dname' }, { q: 'monkey%3Dvisible' }, { pad: 'abc%3D%3D' }, { q: '%3D%3Dvisible' }]) {
    const e = httpEntry({ body: JSON.stringify(plain) });
    assert.equal(redact(e), e, JSON.stringify(plain));
  }
});

test('SQL: a command COPY runs, an escape string and a prepared statement placeholders lose the password; the statement and account stay', () => {
  const redact = createRedactor();
  const copy = redact(entry('postgresql', { query: "COPY visible_t FROM PROGRAM 'PGPASSWORD=progSECRET1 psql -h db -c ''select 1'''" }, { commandTag: 'COPY 0' }, "COPY visible_t FROM PROGRAM 'PGPASSWORD=progSECRET1 psql -h db"));
  assert.doesNotMatch(JSON.stringify(copy), /progSECRET1/);
  assert.match(copy.request!.query, /^COPY visible_t FROM PROGRAM '.*psql -h db/);
  const curl = redact(entry('postgresql', { query: "COPY visible_t TO PROGRAM E'curl -u admin:progSECRET2 -T - http://files/x'" }));
  assert.doesNotMatch(curl.request!.query, /progSECRET2/);
  assert.match(curl.request!.query, /http:\/\/files\/x'$/);
  const plain = entry('postgresql', { query: "COPY visible_t FROM PROGRAM 'gzip -dc /data/visible.csv.gz'" });
  assert.equal(redact(plain), plain);
  const escape = redact(entry('postgresql', { query: "ALTER ROLE visible_role PASSWORD E'esc\\'SECRET3'" }, null, "ALTER ROLE visible_role PASSWORD E'esc\\'SECRET3'"));
  assert.equal(escape.request!.query, `ALTER ROLE visible_role PASSWORD E'${REDACTED}'`);
  assert.doesNotMatch(escape.summary, /SECRET3/);
  // Placeholders: the password, not the account (`FOR ?`).
  const setPassword = redact(entry('mysql', { query: 'SET PASSWORD FOR ? = ?', parameters: ['visible-account', 'placeSECRET4'] }));
  assert.deepEqual(setPassword.request!.parameters, ['visible-account', REDACTED]);
  const alter = redact(entry('mysql', { query: 'ALTER USER ? IDENTIFIED BY ?', parameters: ['visible-account', 'placeSECRET5'] }));
  assert.deepEqual(alter.request!.parameters, ['visible-account', REDACTED]);
  const wrapped = redact(entry('mysql', { query: 'SET PASSWORD = PASSWORD(?)', parameters: ['placeSECRET6'] }));
  assert.deepEqual(wrapped.request!.parameters, [REDACTED]);
  const select = entry('postgresql', { query: 'SELECT password_changed_at FROM users WHERE id = $1', parameters: ['42'] });
  assert.equal(redact(select), select);
});

test('challenges: Negotiate, NTLM and SCRAM tokens in WWW-Authenticate and Proxy-Authenticate go; schemes and realms stay', () => {
  const redact = createRedactor();
  const res = (headers: Record<string, string> | Array<{ name: string; value: string }>) => redact(httpEntry({}, { status: 401, headers })).response!.headers;
  assert.deepEqual(res({ 'www-authenticate': 'Negotiate oYGgMIGdoAMKAQChCwYJKoZIgvcSAQICooGIBIGFkrbSECRET=, Basic realm="visible-realm"' }), {
    'www-authenticate': `Negotiate ${REDACTED}, Basic realm="visible-realm"`,
  });
  assert.deepEqual(res({ 'Proxy-Authenticate': 'NTLM TlRMTVNTUAACAAAADAAMADgAAAAFgoqintlmSECRET' }), { 'Proxy-Authenticate': `NTLM ${REDACTED}` });
  assert.deepEqual(res({ 'WWW-Authenticate': 'SCRAM-SHA-256 realm="visible-realm", data="cj1yT2ZzSECRET"' }), { 'WWW-Authenticate': `SCRAM-SHA-256 realm="visible-realm", data="${REDACTED}"` });
  assert.deepEqual(res([{ name: 'WWW-Authenticate', value: 'Negotiate YIIGharSECRET' }]), [{ name: 'WWW-Authenticate', value: `Negotiate ${REDACTED}` }]);
  // Each value of a repeated header kept as a list (an entry from elsewhere).
  const listed = redact(httpEntry({}, { status: 401, headers: { 'WWW-Authenticate': ['Negotiate YIIGlistSECRET', 'Basic realm="visible-realm"'] } })).response!.headers;
  assert.deepEqual(listed, { 'WWW-Authenticate': [`Negotiate ${REDACTED}`, 'Basic realm="visible-realm"'] });
  // A challenge that carries no token, and a Bearer challenge's parameters, stay.
  for (const value of ['Negotiate', 'NTLM', 'Basic realm="visible"', 'Bearer realm="visible", error="invalid_token"', 'Digest realm="visible", nonce="abc", qop="auth"']) {
    const e = httpEntry({}, { status: 401, headers: { 'www-authenticate': value } });
    assert.equal(redact(e), e, value);
  }
});

test('base64 identifiers of two parts stay (GraphQL global ids, namespace:name under an id); user:password in base64 still goes', () => {
  const redact = createRedactor();
  const b64 = (t: string) => Buffer.from(t).toString('base64');
  for (const plain of [
    { id: b64('010:Repository1296269'), node_id: b64('04:User583231') },
    { id: b64('Post:3fa85f64-5717-4562-b3fc-2c963f66afa6') },
    { id: b64('default:my-service'), ownerRef: b64('kube-system:coredns-5d78c9869d'), parent_id: b64('shop:cart.v2') },
  ]) {
    const e = httpEntry({ body: JSON.stringify(plain) });
    assert.equal(redact(e), e, JSON.stringify(plain));
  }
  const body = (b: unknown) => JSON.parse(redact(httpEntry({ body: JSON.stringify(b) })).request!.body);
  // Under a name that says nothing, and under an id's name when the part after the colon looks like no name.
  assert.deepEqual(body({ data: b64('alice:hunter2') }), { data: REDACTED });
  assert.deepEqual(body({ id: b64('alice:S3cret!pw') }), { id: REDACTED });
  assert.deepEqual(body({ data: b64('default:my-service') }), { data: REDACTED });
});

test('password hashes in the Modular Crypt Format go whatever holds them (htpasswd, shadow, bcrypt, Argon2); the scheme, dollar amounts and SQL placeholders stay', () => {
  const redact = createRedactor();
  const text = (body: string) => redact(httpEntry({ body })).request!.body;
  assert.equal(text('visible-admin:$apr1$abc12345$htpwSECRETabcdefghijk\n'), `visible-admin:$apr1$${REDACTED}\n`);
  assert.equal(text('root:$6$saltsalt$shadowSECRETabcdefghijklmnopqrstuvwxyz0123:19000:0:99999:7:::\n'), `root:$6$${REDACTED}:19000:0:99999:7:::\n`);
  assert.deepEqual(JSON.parse(text(JSON.stringify({ visible: 'x', h: '$2y$10$N9qo8uLOickgx2ZMRZoMyeIjZAgcfl7p92ldGxad68LJZdL17lhWy' }))), { visible: 'x', h: `$2y$${REDACTED}` });
  assert.deepEqual(JSON.parse(text(JSON.stringify({ h: '$argon2id$v=19$m=65536,t=3,p=4$c29tZXNhbHQ$RdescudvJCsgt3ub+b+dWRWJTmaaJObG' }))), { h: `$argon2id$${REDACTED}` });
  for (const body of ['price is $5$ today and $6$ tomorrow; PS1=$HOME$PATH; echo $1$2', 'SELECT $1, $2 FROM t WHERE a = $3', JSON.stringify({ total: '$200.50', tag: '$1$visible' })]) {
    const e = httpEntry({ body });
    assert.equal(redact(e), e, body);
  }
});

test('an Oracle JDBC URL loses the password of its logon (user/password@), quoted or not; a URL without a logon stays', () => {
  const redact = createRedactor();
  const text = (body: string) => redact(httpEntry({ body })).request!.body;
  assert.deepEqual(JSON.parse(text(JSON.stringify({ url: 'jdbc:oracle:thin:visible_user/oraSECRET1@//db:1521/ORCL' }))), { url: `jdbc:oracle:thin:visible_user/${REDACTED}@//db:1521/ORCL` });
  assert.equal(text('spring.datasource.url=jdbc:oracle:thin:app/oraSECRET2@db:1521:XE\n'), `spring.datasource.url=jdbc:oracle:thin:app/${REDACTED}@db:1521:XE\n`);
  assert.equal(text('conn jdbc:oracle:oci:sys/"ora@SECRET3"@tns as sysdba'), `conn jdbc:oracle:oci:sys/${REDACTED}@tns as sysdba`);
  for (const url of ['jdbc:oracle:thin:@//db:1521/visible_svc', 'jdbc:oracle:thin:@(DESCRIPTION=(ADDRESS=(HOST=visible)))', 'oracle:thin/visible@x']) {
    const e = httpEntry({ body: JSON.stringify({ url }) });
    assert.equal(redact(e), e, url);
  }
});

test('the new scans stay linear: megabytes of equals signs, dollar signs, Oracle markers and challenges built to make them slow finish', { timeout: 60_000 }, () => {
  const redact = createRedactor([], { warn: () => {} });
  const n = 2_000_000;
  for (const body of ['%3D'.repeat(n / 3), `${'a'.repeat(100)}%3D`.repeat(n / 103), `${'%5B'.repeat(n / 3)}%3D`, '%3A%2F%2F'.repeat(n / 9) + '%40', '$2y$'.repeat(n / 4), `$argon2id$${'a$'.repeat(n / 2)}`, 'oracle:thin:'.repeat(n / 12) + '/@', `oracle:thin:a/${'b'.repeat(n)}@`]) {
    redact(httpEntry({ body }));
    redact(httpEntry({ body: JSON.stringify({ v: body }) }));
  }
  redact(httpEntry({}, { status: 401, headers: { 'www-authenticate': `${'Negotiate '.repeat(n / 10)}, ${'a'.repeat(n)}` } }));
  redact(entry('postgresql', { query: "COPY t FROM PROGRAM '".repeat(n / 22) }));
});
