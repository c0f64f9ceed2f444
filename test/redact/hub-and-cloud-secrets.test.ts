// Shapes the third secrets round found leaking (docs/security.md): a SignalR hub invocation, a body
// that is one header line (`X-Vault-Token: s.…` without a newline), AWS SSM parameters and Secrets
// Manager answers, a Vault KV v2 secret, a list of [name, value] pairs, and PostgreSQL's
// `format('… PASSWORD %L', $1, $2)`. Each with what must stay readable beside it, and inputs built to
// make the new scans slow.

import { test } from 'node:test';
import assert from 'node:assert/strict';
import { createRedactor, REDACTED } from '../../src/redact/entry.js';
import type { Entry } from '../../src/model/entry.js';
import { httpEntry } from './http-entry.js';

const redact = createRedactor([], { warn: () => {} });

function body(text: string, contentType = 'application/json', request: Record<string, any> = {}): string {
  return redact(httpEntry({ body: text, headers: { 'content-type': contentType }, ...request })).request!.body;
}

test('a SignalR invocation loses the arguments its target takes as secrets, in records apart by U+001E and in base64', () => {
  const login = '{"type":1,"invocationId":"1","target":"Login","arguments":["visible-user","hubSECRET1"]}\u001e{"type":6}\u001e';
  assert.equal(body(login), `{"type":1,"invocationId":"1","target":"Login","arguments":["visible-user","${REDACTED}"]}\u001e{"type":6}\u001e`);
  // A token alone (`Authenticate(token)`), and a record of another kind beside it with a sensitive key.
  assert.equal(body('{"type":1,"target":"Authenticate","arguments":["hubSECRET2"]}\u001e{"password":"hubSECRET3"}\u001e'), `{"type":1,"target":"Authenticate","arguments":["${REDACTED}"]}\u001e{"password":"${REDACTED}"}\u001e`);
  // The U+001E makes a body binary: kept as base64, decoded, searched and re-encoded.
  const b64 = redact(httpEntry({ body: Buffer.from(login).toString('base64'), bodyEncoding: 'base64' })).request!;
  assert.equal(Buffer.from(b64.body, 'base64').toString(), `{"type":1,"invocationId":"1","target":"Login","arguments":["visible-user","${REDACTED}"]}\u001e{"type":6}\u001e`);
  // Other targets keep their arguments; so does a stream item of type 2 (no target).
  const chat = httpEntry({ body: '{"type":1,"target":"SendMessage","arguments":["visible-user","visible-text"]}\u001e' });
  assert.equal(redact(chat), chat);
});

test('a body of one header line loses its value when the name is sensitive; prose and other headers stay', () => {
  assert.equal(body('X-Vault-Token: s.vaultSECRET1', 'text/plain'), `X-Vault-Token: ${REDACTED}`);
  assert.equal(body('X-Api-Key: apiSECRET2 \r', 'text/plain'), `X-Api-Key: ${REDACTED} \r`);
  for (const kept of ['X-Auth-Token: missing', 'X-Request-Id: 77aa-1', 'X-Vault-Token: not set here']) assert.equal(body(kept, 'text/plain'), kept);
});

test('AWS: an SSM SecureString and a parameter named as a secret lose their values, CloudFormation parameters too; Secrets Manager answers lose SecretString', () => {
  const ssm = JSON.stringify({
    Parameters: [
      { Name: '/prod/db/url', Type: 'SecureString', Value: 'postgres-ssmSECRET1' },
      { Name: '/prod/db/password', Type: 'String', Value: 'ssmSECRET2' },
      { Name: '/prod/region', Type: 'String', Value: 'visible-region' },
    ],
  });
  const out = JSON.parse(body(ssm));
  assert.deepEqual(out.Parameters.map((p: any) => [p.Name, p.Value]), [['/prod/db/url', REDACTED], ['/prod/db/password', REDACTED], ['/prod/region', 'visible-region']]);
  const stack = JSON.parse(body('{"Parameters":[{"ParameterKey":"DbPassword","ParameterValue":"cfnSECRET"},{"ParameterKey":"Env","ParameterValue":"visible-env"}]}'));
  assert.deepEqual(stack.Parameters.map((p: any) => p.ParameterValue), [REDACTED, 'visible-env']);
  assert.deepEqual(JSON.parse(body('{"ARN":"arn:aws:secretsmanager:visible","Name":"prod/db","SecretString":"smSECRET","VersionStages":["AWSCURRENT"]}')), { ARN: 'arn:aws:secretsmanager:visible', Name: 'prod/db', SecretString: REDACTED, VersionStages: ['AWSCURRENT'] });
  // A CloudWatch dimension is a name and a value too, and none of them is a secret.
  const dims = httpEntry({ body: '{"Dimensions":[{"Name":"InstanceId","Value":"i-visible"}]}' });
  assert.equal(redact(dims), dims);
});

test('Vault KV v2: a secret read and a secret written lose their values, their keys stay; the same shape elsewhere stays', () => {
  const read = {
    request_id: 'r1',
    lease_duration: 0,
    data: { data: { db: 'kvSECRET1', nested: { conn: 'kvSECRET2' } }, metadata: { created_time: '2024-01-01T00:00:00Z', destroyed: false, version: 3 } },
  };
  const e = httpEntry({ method: 'GET', path: '/v1/secret/data/app', url: '/v1/secret/data/app' }, { status: 200, headers: {}, body: JSON.stringify(read) });
  assert.deepEqual(JSON.parse(redact(e).response!.body).data, { data: { db: REDACTED, nested: { conn: REDACTED } }, metadata: read.data.metadata });
  assert.equal(body('{"data":{"db":"kvSECRET3"},"options":{"cas":2}}', 'application/json', { path: '/v1/kv/data/team/app', url: '/v1/kv/data/team/app' }), `{"data":{"db":"${REDACTED}"},"options":{"cas":2}}`);
  // Not a secret's path, or a body with more than data and options: an ordinary API's `data`.
  const other = httpEntry({ path: '/v1/reports/data/export', url: '/v1/reports/data/export', body: '{"data":{"db":"visible-db"},"format":"csv"}' });
  assert.equal(redact(other), other);
  const metadataOnly = httpEntry({ path: '/v1/secret/metadata/app', url: '/v1/secret/metadata/app', body: '{"data":{"db":"visible-db"}}' });
  assert.equal(redact(metadataOnly), metadataOnly);
});

test('a list of [name, value] pairs loses the values of sensitive names; data tables and plain lists stay', () => {
  assert.equal(body('{"headers":[["Authorization","Bearer pairSECRET1"],["Accept","*/*"],["Cookie",["a=pairSECRET2"]]]}'), `{"headers":[["Authorization","${REDACTED}"],["Accept","*/*"],["Cookie",["${REDACTED}"]]]}`);
  for (const kept of ['[["GET","/visible"],["POST","/visible2"]]', '{"rows":[["monkey","banana"],["b",2]]}', '{"required":["password","email"]}']) {
    const e = httpEntry({ body: kept, headers: { 'content-type': 'application/json' } });
    assert.equal(redact(e), e, kept);
  }
});

test('PostgreSQL format(): the arguments placed after PASSWORD, IDENTIFIED BY, password= or a sensitive column go, as Bind parameters and as literals', () => {
  const pg = (query: string, params: string[] | undefined): Entry => ({ ...httpEntry({}), protocol: 'postgresql', request: { query, ...(params ? { parameters: params } : {}) }, response: { status: 'SELECT 1' }, summary: query.slice(0, 60) });
  const bound = redact(pg("SELECT format('CREATE USER %I PASSWORD %L', $1, $2)", ['visible-user', 'fmtSECRET1'])).request!;
  assert.deepEqual(bound.parameters, ['visible-user', REDACTED]);
  assert.deepEqual(redact(pg("SELECT format('host=%s password=%s dbname=%s', $1, $2, $3)", ['visible-host', 'fmtSECRET2', 'visible-db'])).request!.parameters, ['visible-host', REDACTED, 'visible-db']);
  assert.deepEqual(redact(pg("SELECT format('UPDATE t SET api_token = %2$L WHERE id = %1$s', $1, $2)", ['7', 'fmtSECRET3'])).request!.parameters, ['7', REDACTED]);
  assert.equal(redact(pg("EXECUTE format('ALTER ROLE %I IDENTIFIED BY %L', 'visible-role', 'fmtSECRET4')", undefined)).request!.query, `EXECUTE format('ALTER ROLE %I IDENTIFIED BY %L', 'visible-role', '${REDACTED}')`);
  const plain = pg("SELECT format('SELECT %I FROM %I WHERE id = %L', $1, $2, $3)", ['visible-col', 'visible-table', '42']);
  assert.equal(redact(plain), plain);
});

test('the new scans stay linear on inputs built to make them slow', () => {
  const started = process.hrtime.bigint();
  body(`X-${'a-'.repeat(8000)}: x`, 'text/plain');
  body(`[${'['.repeat(1)}${' '.repeat(200_000)}x]`, 'application/json');
  // Records apart by U+001E with no newline: each search for the next newline must not run to the end
  // (it did at first: 120,000 records took 5 s, one walk takes under one).
  const records = process.hrtime.bigint();
  body(`${'{"a":1}\u001e'.repeat(120_000)}{"password":"x"}`, 'application/json');
  const recordsMs = Number(process.hrtime.bigint() - records) / 1e6;
  assert.ok(recordsMs < 3000, `records took ${recordsMs} ms`);
  body(`${'h.x:1:d:u:'.repeat(50_000)}\n${'a.b:5432:'.repeat(50_000)}`, 'text/plain');
  body(`${'"password"=>'.repeat(30_000)}${' :token => '.repeat(30_000)}`, 'text/plain');
  const pgq = `SELECT format('${'password %L '.repeat(5_000)}${'%'.repeat(20_000)}', $1)`;
  redact({ ...httpEntry({}), protocol: 'postgresql', request: { query: pgq, parameters: ['x'] }, response: null, summary: '' });
  const ms = Number(process.hrtime.bigint() - started) / 1e6;
  assert.ok(ms < 5000, `took ${ms} ms`);
});

test('a form field of type password loses its value whatever its name; its label and other fields stay', () => {
  const page = '<!DOCTYPE html><html><form><label>visible-label</label><input type="password" name="pw" value="formSECRET1"><input type="text" name="q" value="visible-q">visible-after</form></html>';
  assert.equal(body(page, 'text/html'), page.replace('formSECRET1', REDACTED));
  const empty = httpEntry({ body: '<input type="password" name="pw">visible-text', headers: { 'content-type': 'text/html' } });
  assert.equal(redact(empty), empty);
});

test('configuration as code and files: PHP and Ruby hashes, a .pgpass file, sqlcmd -P, alerting and wallet names; lookalikes stay', () => {
  // `=>` read as a separator: the value went, and before only the `>` did (in SQL's connection-string rule).
  assert.equal(body("<?php return ['db' => ['password' => 'phpSECRET1', 'host' => 'visible-host']];"), `<?php return ['db' => ['password' => '${REDACTED}', 'host' => 'visible-host']];`);
  assert.equal(body('Parameters: {"user"=>{"email"=>"visible@x", "password"=>"rbSECRET1"}}, :api_token => "rbSECRET2"'), `Parameters: {"user"=>{"email"=>"visible@x", "password"=>"${REDACTED}"}}, :api_token => "${REDACTED}"`);
  for (const kept of ['password => $pw', 'f = (password) => password.length', 'a:password => "visible"']) assert.equal(body(kept, 'text/plain'), kept);
  assert.equal(body('db.example:5432:app:appuser:pgpassSECRET1\r\n*:*:*:postgres:pgpassSECRET2\n10.0.0.7:6432:db:u:pg\\:SECRET3', 'text/plain'), `db.example:5432:app:appuser:${REDACTED}\r\n*:*:*:postgres:${REDACTED}\n10.0.0.7:6432:db:u:${REDACTED}`);
  for (const kept of ['user:1:profile:name:visible', '12:00:01 db:5432:a:b:visible', 'fe80::1:2:3:4', 'db.example:http:app:u:visible']) assert.equal(body(kept, 'text/plain'), kept);
  assert.equal(body('sqlcmd -S db -U visible-login -P sqlSECRET1 -Q "SELECT 1"', 'text/plain'), `sqlcmd -S db -U visible-login -P ${REDACTED} -Q "SELECT 1"`);
  const named = JSON.parse(body('{"service_key":"pdSECRET","license_key":"nrSECRET","serverKey":"fcmSECRET","mnemonic":"wSECRET abandon","privKey":"pkSECRET","securityAnswer":"saSECRET","routing_key":"visible.route"}'));
  assert.deepEqual(Object.values(named), [REDACTED, REDACTED, REDACTED, REDACTED, REDACTED, REDACTED, 'visible.route']);
});
