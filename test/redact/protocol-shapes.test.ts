// Secrets that travel under no sensitive name of their own, found by where they sit: a prepared
// statement's parameters bound to a sensitive column, a Secret patched at its URL, a watch stream
// of Secrets, an LDAP filter on a password attribute, CQL that sets a password, a Redis stream
// entry's fields, a NATS CONNECT in another case, Rails-style nested form names. What is not a
// secret beside them stays.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { httpEntry } from './http-entry.js';

const redact = createRedactor();

function entry(protocol: string, request: Record<string, any>, response: Record<string, any> | null = null, summary = ''): Entry {
  return { ...httpEntry({}), protocol, request, response, summary };
}

test('PostgreSQL: Bind parameters bound to a sensitive column go, the rest stay; an error that quotes one loses it; startup options are read', () => {
  const update = redact(entry('postgresql', { type: 'extended', query: 'UPDATE users SET password_hash = $1, api_token = $2 WHERE id = $3', parameters: ['hashSECRET1', 'tokenSECRET2', '7'] }));
  assert.deepEqual(update.request!.parameters, [REDACTED, REDACTED, '7']);
  const insert = redact(entry('postgresql', { type: 'extended', query: 'INSERT INTO creds (owner, secret) VALUES ($1, $2)', parameters: ['visible-owner', 'insertSECRET'] }));
  assert.deepEqual(insert.request!.parameters, ['visible-owner', REDACTED]);
  // MySQL and JDBC placeholders count by order.
  const mysql = redact(entry('mysql', { query: 'UPDATE s SET refresh_token = ? WHERE id = ?', parameters: ['mysqlSECRET', 9] }));
  assert.deepEqual(mysql.request!.parameters, [REDACTED, 9]);
  const echoed = redact(
    entry('postgresql', { type: 'query', query: "SELECT 1 FROM users WHERE password = 'echoSECRET'" }, { error: { message: 'syntax error at or near "echoSECRET"' }, errorMessage: 'syntax error at or near "echoSECRET"' }),
  );
  assert.doesNotMatch(JSON.stringify(echoed), /echoSECRET/);
  assert.equal(echoed.response!.errorMessage, `syntax error at or near "${REDACTED}"`);
  const startup = redact(entry('postgresql', { type: 'startup', user: 'app', parameters: { user: 'app', options: '-c app.api_token=optSECRET -c search_path=visible' } }));
  assert.equal(startup.request!.parameters.options, `-c app.api_token=${REDACTED} -c search_path=visible`);
});

test('Kubernetes: a merge patch and a JSON patch sent to a Secret URL lose their values; a watch stream of Secrets (one JSON a line) too', () => {
  const merge = redact(httpEntry({ method: 'PATCH', path: '/api/v1/namespaces/x/secrets/db', body: '{"data":{"db-conn":"bWVyZ2VTRUNSRVQ="},"metadata":{"labels":{"app":"visible"}}}' }));
  assert.deepEqual(JSON.parse(merge.request!.body), { data: { 'db-conn': REDACTED }, metadata: { labels: { app: 'visible' } } });
  const patch = redact(httpEntry({ method: 'PATCH', path: '/api/v1/namespaces/x/secrets/db', body: '[{"op":"replace","path":"/data/db-pass","value":"cGF0Y2hTRUNSRVQ="},{"op":"add","path":"/metadata/labels/app","value":"visible"}]' }));
  assert.deepEqual(JSON.parse(patch.request!.body).map((o: any) => o.value), [REDACTED, 'visible']);
  // A ConfigMap patch keeps its data; a JSON patch of a sensitive member anywhere does not.
  const configMap = redact(httpEntry({ method: 'PATCH', path: '/api/v1/namespaces/x/configmaps/c', body: '[{"op":"replace","path":"/data/mode","value":"visible"},{"op":"replace","path":"/spec/password","value":"memberSECRET"}]' }));
  assert.deepEqual(JSON.parse(configMap.request!.body).map((o: any) => o.value), ['visible', REDACTED]);
  const events = [
    { type: 'ADDED', object: { kind: 'Secret', metadata: { name: 'visible-secret-name' }, data: { token: 'd2F0Y2hTRUNSRVQ=' } } },
    { type: 'MODIFIED', object: { kind: 'Secret', metadata: { name: 'db' }, data: { 'db-pass': 'd2F0Y2hTRUNSRVQy' } } },
  ];
  const watch = redact(httpEntry({ method: 'GET', path: '/api/v1/secrets?watch=1' }, { status: 200, body: events.map((e) => JSON.stringify(e)).join('\n') + '\n' }));
  const lines = watch.response!.body.split('\n');
  assert.equal(lines.length, 3);
  assert.equal(lines[2], '');
  assert.deepEqual(lines.slice(0, 2).map((l: string) => JSON.parse(l).object.data), [{ token: REDACTED }, { 'db-pass': REDACTED }]);
  assert.equal(JSON.parse(lines[0]).object.metadata.name, 'visible-secret-name');
  // Pretty-printed JSON cut short has newlines too, but is no stream of documents: read loosely as a whole, as before.
  const cut = redact(httpEntry({ body: '{\n  "pin": 123456,\n  "password": "prettySECRET",\n  "x": "visible-cut-here' }));
  assert.equal(cut.request!.body, `{\n  "pin": "${REDACTED}",\n  "password": "${REDACTED}",\n  "x": "visible-cut-here`);
});

test('LDAP filters on password attributes, CQL that sets a password, Redis stream fields, NATS CONNECT keys in any case', () => {
  const ldap = redact(entry('ldap', { operation: 'searchRequest', dn: 'dc=x', filter: '(&(uid=visible)(userPassword=ldapSECRET))' }, { resultCode: 'success' }, 'searchRequest "dc=x" (&(uid=visible)(userPassword=ldapSECRET)) → success'));
  assert.equal(ldap.request!.filter, `(&(uid=visible)(userPassword=${REDACTED}))`);
  assert.doesNotMatch(ldap.summary, /ldapSECRET/);
  const cql = redact(entry('cql', { opcode: 'QUERY', query: "CREATE ROLE bob WITH PASSWORD = 'cqlSECRET' AND LOGIN = true" }, null, "QUERY CREATE ROLE bob WITH PASSWORD = 'cqlSECRET' AND LOGIN = true → Void"));
  assert.equal(cql.request!.query, `CREATE ROLE bob WITH PASSWORD = '${REDACTED}' AND LOGIN = true`);
  assert.doesNotMatch(cql.summary, /cqlSECRET/);
  const xadd = redact(entry('redis', { command: 'XADD', args: ['events', 'MAXLEN', '~', '1000', '*', 'kind', 'visible', 'password', 'xaddSECRET'] }));
  assert.deepEqual(xadd.request!.args, ['events', 'MAXLEN', '~', '1000', '*', 'kind', 'visible', 'password', REDACTED]);
  const nats = redact(entry('nats', { op: 'CONNECT', connect: { User: 'visible', Pass: 'natsSECRET', verbose: false } }));
  assert.notEqual(nats.request!.connect.Pass, 'natsSECRET');
  assert.equal(nats.request!.connect.User, 'visible');
});

test('nested form names (Rails, PHP) are judged by their innermost name; more vendors names are secrets', () => {
  const form = redact(httpEntry({ body: 'user%5Bemail%5D=visible%40x.io&user%5Bpassword%5D=formSECRET&commit=Log+in', headers: { 'content-type': 'application/x-www-form-urlencoded' } }));
  assert.doesNotMatch(form.request!.body, /formSECRET/);
  assert.match(form.request!.body, /visible%40x\.io/);
  const query = redact(httpEntry({ path: '/login?user[password]=querySECRET&user[name]=visible', url: '/login?user[password]=querySECRET&user[name]=visible' }));
  assert.doesNotMatch(JSON.stringify(query), /querySECRET/);
  assert.match(query.request!.url, /user\[name\]=visible/);
  const vendors = redact(
    httpEntry({
      body: JSON.stringify({ AccessorID: 'visible-accessor', SecretID: 'consulSECRET', secret_id: 'approleSECRET', device_code: 'deviceSECRET', code_verifier: 'pkceSECRET', users: [{ name: 'x', user: { 'client-key-data': 'a2V5U0VDUkVU' } }] }),
      headers: { 'x-shopify-hmac-sha256': 'hmacSECRET' },
    }),
  );
  const text = JSON.stringify(vendors);
  for (const s of ['consulSECRET', 'approleSECRET', 'deviceSECRET', 'pkceSECRET', 'a2V5U0VDUkVU', 'hmacSECRET']) assert.doesNotMatch(text, new RegExp(s));
  assert.match(text, /visible-accessor/);
});
