// Secrets under no name of their own, found by where they sit: base64 of credentials or of a
// configuration line under a JSON key that says nothing, JSON-RPC parameters a method takes by
// position (and the answers that are secrets), a token as a WebSocket subprotocol after the item
// that names it, a token as a URL path segment after a reset, confirm or invite segment. Each with
// what must stay readable beside it.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import { httpEntry } from './http-entry.js';

const redact = createRedactor();
const b64 = (s: string) => Buffer.from(s).toString('base64');
const json = (request: unknown, response?: unknown) =>
  httpEntry({ body: JSON.stringify(request), headers: { 'content-type': 'application/json' } }, response === undefined ? null : { status: 200, headers: {}, body: JSON.stringify(response) });
const bodies = (request: unknown, response?: unknown) => {
  const e = redact(json(request, response));
  return [JSON.parse(e.request!.body), e.response ? JSON.parse(e.response.body) : undefined];
};

test('base64 under a plain JSON key: user:password and a configuration line go; a host:port, a URL and words stay', () => {
  assert.deepEqual(bodies({ data: b64('alice:s3cretPW!') })[0], { data: REDACTED });
  const [env] = bodies({ env: b64('DB_PASSWORD=envSECRET3') });
  assert.doesNotMatch(Buffer.from(env.env, 'base64').toString(), /envSECRET3/);
  for (const plain of [{ data: b64('localhost:8080') }, { data: b64('https://example.com/a') }, { id: 'ApplicationControllerV2' }, { data: b64('just some words here') }]) {
    const e = json(plain);
    assert.equal(redact(e), e, JSON.stringify(plain));
  }
});

test('JSON-RPC: a login, wallet passphrases, Odoo passwords by position; the answers of a login and dumpprivkey go', () => {
  assert.deepEqual(bodies({ jsonrpc: '2.0', id: 1, method: 'login', params: ['visible-user', 'hunterSECRET'] })[0].params, ['visible-user', REDACTED]);
  assert.deepEqual(bodies({ jsonrpc: '2.0', id: 1, method: 'personal_unlockAccount', params: ['0xabc', 'unlockSECRET', 300] })[0].params, ['0xabc', REDACTED, 300]);
  assert.deepEqual(bodies({ jsonrpc: '1.0', id: 'c', method: 'walletpassphrase', params: ['walletSECRET', 60] })[0].params, [REDACTED, 60]);
  const odoo = bodies({ jsonrpc: '2.0', method: 'call', params: { service: 'object', method: 'execute_kw', args: ['db', 2, 'odooSECRET', 'res.partner', 'search', [[]]] } })[0];
  assert.deepEqual(odoo.params.args, ['db', 2, REDACTED, 'res.partner', 'search', [[]]]);
  // Zabbix answers a login with the session token every later call sends.
  const [, zabbix] = bodies({ jsonrpc: '2.0', method: 'user.login', params: { user: 'Admin', password: 'x' }, id: 1 }, { jsonrpc: '2.0', result: '0424bd59b807674191e7d77572075f33', id: 1 });
  assert.deepEqual(zabbix, { jsonrpc: '2.0', result: REDACTED, id: 1 });
  const [, key] = bodies({ jsonrpc: '1.0', id: 'c', method: 'dumpprivkey', params: ['bc1qvisible'] }, { result: 'KwDiBf89QgGbjEhKnhXJuH7LrciVrZi3qYjgd9M7rFU73sVHnoWn', error: null, id: 'c' });
  assert.equal(key.result, REDACTED);
  // A batch: each call by its own method.
  const batch = bodies([{ jsonrpc: '2.0', id: 1, method: 'eth_blockNumber', params: [] }, { jsonrpc: '2.0', id: 2, method: 'personal_sign', params: ['0xdata', '0xabc', 'signSECRET'] }])[0];
  assert.deepEqual(batch[1].params, ['0xdata', '0xabc', REDACTED]);
  // Other methods and their answers stay.
  const balance = json({ jsonrpc: '2.0', method: 'eth_getBalance', params: ['0xabc', 'latest'], id: 1 }, { jsonrpc: '2.0', id: 1, result: '0x1234' });
  assert.equal(redact(balance), balance);
});

test('a token as a WebSocket subprotocol after the item that names it goes; subprotocol names stay', () => {
  const ws = (v: string) => redact(httpEntry({ method: 'GET', headers: { 'sec-websocket-protocol': v } })).request!.headers['sec-websocket-protocol'];
  assert.equal(ws('access_token, opaqueSECRET6abcdef'), `access_token, ${REDACTED}`);
  assert.equal(ws('Bearer, tok3nSECRET'), `Bearer, ${REDACTED}`);
  assert.equal(ws('graphql-transport-ws'), 'graphql-transport-ws');
  assert.equal(ws('chat, superchat'), 'chat, superchat');
});

test('a token as a path segment after reset, invite or token goes, in path, url and summary; words, ids and file names stay', () => {
  const path = (p: string) => {
    const e = redact(httpEntry({ method: 'GET', path: p, url: p }, null, `GET ${p} → 200`));
    assert.equal(e.request!.url, e.request!.path);
    assert.equal(e.summary, `GET ${e.request!.path} → 200`);
    return e.request!.path as string;
  };
  assert.equal(path('/reset/Zk3pQ9xLmN2vR7tY8wB4sD6fH1jK0aE5'), `/reset/${REDACTED}`);
  assert.equal(path('/reset/MQ/5z7-f3c8e9a1b2c3d4e5f6a7/'), `/reset/MQ/${REDACTED}/`);
  assert.equal(path('/invite/8f14e45fceea167a5a36dedd4bea2543?x=1'), `/invite/${REDACTED}?x=1`);
  assert.equal(path('/api/token/d3b07384-d9a0-4c1e-8b9a-2c1e4f5a6b7c'), `/api/token/${REDACTED}`);
  for (const p of ['/reset/done', '/token/refresh', '/verify/email', '/v1/auth/token/lookup-self', '/static/token/app.3f2a1b9c8d7e6f5a.js', '/api/v1/namespaces/default/pods/nginx-7c5ddbdf54-x2v9k', '/api/tokens/12345678901234567']) {
    assert.equal(path(p), p);
  }
});

test('MYSQL_PWD in a container env and the X-JFrog-Art-Api header go; a cwd stays', () => {
  const env = json({ env: [{ name: 'MYSQL_PWD', value: 'mysqlPwdSECRET' }, { name: 'CWD', value: '/visible' }] });
  assert.deepEqual(JSON.parse(redact(env).request!.body).env, [{ name: 'MYSQL_PWD', value: REDACTED }, { name: 'CWD', value: '/visible' }]);
  const jfrog = redact(httpEntry({ method: 'GET', headers: { 'x-jfrog-art-api': 'AKCp8jfrogSECRET' } }));
  assert.equal(jfrog.request!.headers['x-jfrog-art-api'], REDACTED);
});

test('JSON as a form field or a query parameter, percent-encoded, loses its secret pairs; other encoded values stay', () => {
  const form = (body: string) => redact(httpEntry({ body, headers: { 'content-type': 'application/x-www-form-urlencoded' } })).request!.body;
  const payload = `payload=${encodeURIComponent(JSON.stringify({ type: 'visible-type', password: 'formJsonSECRET1', nested: { api_token: 'tok9SECRET' } }))}`;
  assert.equal(decodeURIComponent(form(payload).slice('payload='.length)), JSON.stringify({ type: 'visible-type', password: REDACTED, nested: { api_token: REDACTED } }));
  const plain = `payload=${encodeURIComponent(JSON.stringify({ type: 'block_actions', channel: { name: 'visible' } }))}&a=%7Bnot json%7D`;
  assert.equal(form(plain), plain);
  const path = `/search?filter=${encodeURIComponent(JSON.stringify({ token: 'qJsonSECRET2', q: 'visible' }))}`;
  const e = redact(httpEntry({ method: 'GET', path, url: path }));
  assert.equal(decodeURIComponent(e.request!.path), `/search?filter=${JSON.stringify({ token: REDACTED, q: 'visible' })}`);
});

test('an Authorization header quoted in text loses its credentials whatever the scheme; prose and the fields after it stay', () => {
  const text = (body: string) => redact(httpEntry({ body, headers: { 'content-type': 'text/plain' } })).request!.body;
  assert.equal(text('log: Authorization: NTLM TlRMTVNTUAADntlmSECRET1 status=401'), `log: Authorization: NTLM ${REDACTED} status=401`);
  assert.equal(text('Authorization: SharedKey myaccount:ctzMq410TV3wS7upTBcunJTDLEJwMAZuFPfr0mrrA08='), `Authorization: SharedKey ${REDACTED}`);
  assert.equal(text('401 for Authorization: Digest username="a", realm="my realm", response="6629fae4" visible-after\nnext'), `401 for Authorization: Digest ${REDACTED} visible-after\nnext`);
  assert.equal(text(`curl -H 'Authorization: ApiKey abcSECRET7' https://x/visible`), `curl -H 'Authorization: ApiKey ${REDACTED}' https://x/visible`);
  assert.equal(text('Authorization: AWS AKIAIOSFODNN7EXAMPLE:frJIUN8DYpKDtOLCwo//yllqDzg='), `Authorization: AWS ${REDACTED}`);
  // Already redacted text stays as it is (it read `[REDACTED]]` before); prose stays.
  assert.equal(text('x=1 Authorization: Bearer [REDACTED], y=2'), 'x=1 Authorization: Bearer [REDACTED], y=2');
  for (const prose of ['the authorization: required field', 'see the Authorization: header for details']) assert.equal(text(prose), prose);
});
